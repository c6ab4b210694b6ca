package subprocess

import (
	"regexp"
	"strings"

	"github.com/crstel/crstel/logs"
)

// RedactArgs is the default redaction of a command line (see
// [WithRedactArgs]). It returns args with the values of secrets replaced by
// logs.Redacted, where a secret is what logs.IsSecret says of a name:
//
//	--password=hunter2, TOKEN=abc          the value after the "="
//	--api-key abc, -token abc              the argument after the flag
//	"Authorization: Bearer abc"            a header's value (curl -H)
//	https://user:pass@host/?token=abc      a URL's password, secret query values
//
// args[0], the command, is kept as it is. It redacts too much rather than
// too little: "--no-token file" loses "file".
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := 1; i < len(out); i++ {
		a := out[i]
		if strings.Contains(a, "://") {
			out[i] = redactURLs(a)
			continue
		}
		if name, value, ok := strings.Cut(a, "="); ok && value != "" && logs.IsSecret(strings.TrimLeft(name, "-")) {
			out[i] = name + "=" + logs.Redacted
			continue
		}
		if name, value, ok := strings.Cut(a, ":"); ok && strings.TrimSpace(value) != "" && !strings.ContainsAny(name, " \t/") &&
			logs.IsSecret(name) {
			out[i] = name + ": " + logs.Redacted
			continue
		}
		if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && logs.IsSecret(strings.TrimLeft(a, "-")) && i+1 < len(out) {
			out[i+1] = logs.Redacted
			i++
		}
	}
	return out
}

var (
	// userinfo matches the password of a URL's user info.
	userinfo = regexp.MustCompile(`(://[^/?#@:\s]*):[^/?#@\s]*@`)
	// queryParam matches a query parameter: its separator, name and value.
	queryParam = regexp.MustCompile(`([?&;])([^=&;#\s]+)=([^&;#\s]*)`)
)

// redactURLs redacts the passwords and the secret query values of the
// URLs in s.
func redactURLs(s string) string {
	s = userinfo.ReplaceAllString(s, "$1:"+logs.Redacted+"@")
	return queryParam.ReplaceAllStringFunc(s, func(m string) string {
		sub := queryParam.FindStringSubmatch(m)
		if logs.IsSecret(sub[2]) {
			return sub[1] + sub[2] + "=" + logs.Redacted
		}
		return m
	})
}
