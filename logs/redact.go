package logs

import (
	"log/slog"

	"github.com/crstel/crstel/internal/redact"
)

// Redacted is the value that replaces a secret.
const Redacted = redact.Redacted

// IsSecret reports whether an attribute named key holds a secret by its
// name. The key is split into lower-case words at every character that is
// not a letter or a digit and between a lower-case letter and an upper-case
// one ("X-Api-Key", "db.password", "apiKey" and "OPENAI_API_KEY" all end in
// words that name a secret). It is a secret if its last word is one of
//
//	password passwd passphrase secret token authorization auth
//	apikey credential credentials cookie
//
// or its last two words are "api key", "private key" or "access key". The
// rule looks at the last word so that "access_token", "client_secret" and
// "Authorization" are secrets while "max_tokens", "token_count" and
// "secret_name" are not. (The rule lives in an internal package, so that
// crstel's audit trail applies the same one.)
func IsSecret(key string) bool { return redact.IsSecret(key) }

// RedactSecrets is the default redaction of a [Handler]: it returns the
// string [Redacted] in place of v if [IsSecret] says key names a secret,
// and v otherwise. A group named as a secret is redacted whole.
func RedactSecrets(key string, v slog.Value) slog.Value {
	if IsSecret(key) {
		return slog.StringValue(Redacted)
	}
	return v
}

// redactor applies a redaction function to attributes.
type redactor struct {
	f func(key string, v slog.Value) slog.Value
	// byKey tells that f is RedactSecrets, which changes a value only if
	// IsSecret says so: attributes are then rebuilt only when needed.
	byKey bool
}

// needed reports whether redaction may change an attribute of r.
func (r redactor) needed(rec slog.Record) bool {
	if !r.byKey {
		return rec.NumAttrs() > 0
	}
	needed := false
	rec.Attrs(func(a slog.Attr) bool {
		needed = secretIn(a)
		return !needed
	})
	return needed
}

// secretIn reports whether a, or a member of it, has a secret key or a
// value to resolve.
func secretIn(a slog.Attr) bool {
	switch a.Value.Kind() {
	case slog.KindLogValuer:
		return true
	case slog.KindGroup:
		if IsSecret(a.Key) {
			return true
		}
		for _, m := range a.Value.Group() {
			if secretIn(m) {
				return true
			}
		}
		return false
	}
	return IsSecret(a.Key)
}

// attr returns a redacted, with its value resolved, and whether it differs
// from a (if unsure, true).
func (r redactor) attr(a slog.Attr) (slog.Attr, bool) {
	v, changed := a.Value, false
	if v.Kind() == slog.KindLogValuer {
		v, changed = v.Resolve(), true
	}
	var nv slog.Value
	if r.byKey { // RedactSecrets, with IsSecret asked once
		if IsSecret(a.Key) {
			return slog.String(a.Key, Redacted), true
		}
		nv = v
	} else {
		nv, changed = r.f(a.Key, v), true
		if nv.Kind() == slog.KindLogValuer {
			nv = nv.Resolve()
		}
	}
	if nv.Kind() != slog.KindGroup {
		return slog.Attr{Key: a.Key, Value: nv}, changed
	}
	members, mchanged := r.attrs(nv.Group())
	if mchanged {
		nv = slog.GroupValue(members...)
	}
	return slog.Attr{Key: a.Key, Value: nv}, changed || mchanged
}

// attrs returns as redacted, and whether any changed. If none did, it
// returns as itself.
func (r redactor) attrs(as []slog.Attr) ([]slog.Attr, bool) {
	var out []slog.Attr
	for i, a := range as {
		ra, changed := r.attr(a)
		if changed && out == nil {
			out = make([]slog.Attr, i, len(as))
			copy(out, as[:i])
		}
		if out != nil {
			out = append(out, ra)
		}
	}
	if out == nil {
		return as, false
	}
	return out, true
}
