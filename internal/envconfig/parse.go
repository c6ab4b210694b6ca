package envconfig

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
)

// ParseHeaders parses the value of a headers variable, "k1=v1,k2=v2" with
// URL-encoded values, as the OTLP exporters do, and checks that gRPC sends
// every entry (see [CheckHeader]). Unlike the exporters, it refuses what
// they would log, drop or fail every export with: an empty entry or one
// without '=', a key that is not a gRPC metadata key, a bad %-escape, a key
// given twice. Its error names an entry by its key, or by its position when
// the key itself is broken; it never holds a value.
func ParseHeaders(v string) (map[string]string, error) {
	out := make(map[string]string)
	seen := make(map[string]bool)
	for i, entry := range strings.Split(v, ",") {
		pos := i + 1
		rawKey, rawVal, ok := strings.Cut(entry, "=")
		key := strings.TrimSpace(rawKey)
		switch {
		case strings.TrimSpace(entry) == "":
			return nil, fmt.Errorf("entry %d is empty: want key=value pairs separated by commas, values URL-encoded", pos)
		case !ok:
			return nil, fmt.Errorf("entry %d has no '=': want key=value, such as Authorization=Basic%%20<base64> (not \"Authorization: ...\")", pos)
		}
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("entry %d: %v", pos, err)
		}
		// As the exporters do: decode, then trim.
		val, err := url.PathUnescape(rawVal)
		if err != nil {
			return nil, fmt.Errorf("the value of %q has a bad %%-escape: want %%XX with two hex digits, such as %%20 for a space", key)
		}
		val = strings.TrimSpace(val)
		if err := checkValue(key, val); err != nil {
			return nil, err
		}
		if lk := strings.ToLower(key); seen[lk] {
			return nil, fmt.Errorf("%q is given twice: gRPC would send both values", key)
		} else {
			seen[lk] = true
		}
		out[key] = val
	}
	return out, nil
}

// CheckHeader checks a header as gRPC metadata: a key of ASCII letters,
// digits, '-', '_' and '.' that gRPC does not reserve, and a value of
// printable ASCII (any bytes for a "-bin" key), without CR, LF, NUL or
// other control bytes, which gRPC refuses, failing every export. Its error
// names the key if it is valid, and never holds the value.
func CheckHeader(key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return checkValue(key, value)
}

// checkKey checks a header's key; its error does not show a broken key,
// which may hold a secret (a value put where the key goes).
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key: want key=value")
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("the key has a byte gRPC refuses at offset %d: want a key of ASCII letters, digits, '-', '_' and '.'", i)
		}
	}
	switch strings.ToLower(key) {
	case "content-type", "user-agent", "te", "grpc-encoding", "grpc-message", "grpc-message-type", "grpc-status", "grpc-timeout":
		return fmt.Errorf("%q is reserved by gRPC, which would not send it", key)
	}
	return nil
}

// checkValue checks the value of key, and never shows it.
func checkValue(key, value string) error {
	if strings.HasSuffix(strings.ToLower(key), "-bin") {
		return nil // binary: gRPC encodes it
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("the value of %q has a byte gRPC refuses at offset %d (CR, LF, NUL, another control byte, or not ASCII): want printable ASCII, URL-encoded in the variable", key, i)
		}
	}
	return nil
}

// headerValues returns the values of a headers variable ("k1=v1,k2=v2"),
// raw and URL-decoded, as the exporter may show either.
func headerValues(v string) []string {
	var out []string
	for kv := range strings.SplitSeq(v, ",") {
		_, val, ok := strings.Cut(kv, "=")
		if val = strings.TrimSpace(val); !ok || val == "" {
			continue
		}
		out = append(out, val)
		if dec, err := url.PathUnescape(val); err == nil && dec != val {
			out = append(out, dec)
		}
	}
	return out
}

// parseResource parses OTEL_RESOURCE_ATTRIBUTES as the SDK's environment
// detector does ("k1=v1,k2=v2", values URL-decoded), but refuses what it
// reports through otel.Handle, once per provider, or keeps undecoded: an
// empty entry or one without '=', an empty key, a bad %-escape. Its error
// names the entry by its key, or its position; never its value.
func parseResource(v string) ([]attribute.KeyValue, error) {
	var out []attribute.KeyValue
	for i, entry := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return nil, fmt.Errorf("entry %d has no '=': want key=value pairs separated by commas, values URL-encoded", i+1)
		case k == "":
			return nil, fmt.Errorf("entry %d has an empty key: want key=value pairs, values URL-encoded", i+1)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("the value of %q has a bad %%-escape: want %%XX with two hex digits, such as %%20 for a space", k)
		}
		out = append(out, attribute.String(k, dec))
	}
	return out, nil
}

// parseBudgets parses "key=duration,key=duration", where a key is a
// category, "llm" or "default", and a duration is a Go duration of
// BudgetRange or 0.
func parseBudgets(v string) (map[string]time.Duration, error) {
	valid := []string{"default", "llm"}
	for _, c := range crs.Categories() {
		valid = append(valid, string(c))
	}
	out := make(map[string]time.Duration)
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, d, ok := strings.Cut(item, "=")
		k, d = strings.TrimSpace(k), strings.TrimSpace(d)
		if !ok {
			return nil, fmt.Errorf("%s: want key=duration, such as building=30m", strconv.Quote(item))
		}
		if !slices.Contains(valid, k) {
			return nil, fmt.Errorf("unknown key %s: want one of %s", strconv.Quote(k), strings.Join(valid, ", "))
		}
		dur, err := time.ParseDuration(d)
		if d == "0" {
			dur, err = 0, nil
		}
		if err != nil || dur != 0 && BudgetRange.Check(dur) != nil {
			return nil, fmt.Errorf("%s=%s: want a duration %s, such as 30m, or 0 for none", k, strconv.Quote(d), BudgetRange.Want())
		}
		out[k] = dur
	}
	return out, nil
}

// parseCapture checks OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
// with the grammar of genai.ParseCapture (package genai imports crstel in
// its tests, so this package cannot import it; a test of the root package
// checks that both agree). Package genai reads the variable itself and
// takes a value it does not know as "no content"; Setup refuses it, so that
// a typo does not silently leave capture off.
func parseCapture(_ *reader, v string) error {
	switch strings.ToUpper(v) {
	case "", "FALSE", "NO_CONTENT", "0", "TRUE", "SPAN_ONLY", "1", "EVENT_ONLY", "SPAN_AND_EVENT":
		return nil
	}
	return fmt.Errorf("want true, false, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT or NO_CONTENT")
}

// maxPEM bounds the PEM files read: a CA bundle is a few hundred KiB.
const maxPEM = 4 << 20

// readPEM reads a certificate or key file. Only a regular file of at most
// 4 MiB is read: the SDK reads the whole file too, and /dev/zero or a FIFO
// would exhaust memory or block Setup. Errors never hold the contents.
func readPEM(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%v: want a readable PEM file", pathError(err))
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("not a regular file: want a readable PEM file")
	case fi.Size() > maxPEM:
		return nil, fmt.Errorf("%d bytes: want a PEM file of at most %d bytes", fi.Size(), maxPEM)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%v: want a readable PEM file", pathError(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err != nil || len(b) > maxPEM {
		return nil, fmt.Errorf("reading it: want a readable PEM file of at most %d bytes", maxPEM)
	}
	if !strings.Contains(string(b), "-----BEGIN ") {
		return nil, fmt.Errorf("no PEM block in the file: want a PEM file")
	}
	return b, nil
}

// pathError returns the reason of an *os.PathError, without the path, which
// the message shows already.
func pathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
