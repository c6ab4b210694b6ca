package crs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
)

// Limits of task metadata, chosen so that the metadata and crstel's own
// attributes fit in the OpenTelemetry SDK's default limit of 128 attributes
// per span, and in a W3C baggage header of 8192 bytes for the usual few
// keys.
const (
	// MaxMetadataKeys is the largest number of entries in a [Metadata].
	MaxMetadataKeys = 64
	// MaxMetadataKeyLen is the longest metadata key, in bytes.
	MaxMetadataKeyLen = 128
	// MaxMetadataValueLen is the longest metadata value, in bytes.
	MaxMetadataValueLen = 4096
)

// Metadata is the metadata of a CRS task: the string-to-string map of the
// TaskDetail that the CRS API received, such as
//
//	crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}
//
// The specification requires every span of the task to carry each entry as
// an attribute.
type Metadata map[string]string

// Validate checks every entry of m and returns all problems joined, each
// wrapping [ErrInvalidMetadata] and naming the key: an empty key, a key or
// value that is not valid UTF-8 or longer than its limit, a key in the crs.
// namespace (it would overwrite the specification's own attributes, such as
// crs.action.name), or more than [MaxMetadataKeys] entries. A nil or empty
// Metadata is valid.
func (m Metadata) Validate() error {
	if len(m) <= MaxMetadataKeys && m.allValid() {
		return nil // without sorting the keys
	}
	var errs []error
	if len(m) > MaxMetadataKeys {
		errs = append(errs, fmt.Errorf("%w: %d entries, more than %d", ErrInvalidMetadata, len(m), MaxMetadataKeys))
	}
	keys := m.sortedKeys()
	listed := 0
	for _, k := range keys {
		if err := validateEntry(k, m[k]); err != nil {
			if listed == maxListed {
				errs = append(errs, fmt.Errorf("%w: further problems not listed", ErrInvalidMetadata))
				break
			}
			errs = append(errs, err)
			listed++
		}
	}
	return errors.Join(errs...)
}

// maxListed is how many bad entries an error of Validate lists.
const maxListed = 10

// ValidateEntry checks one metadata entry as [Metadata.Validate] checks
// each: it returns nil if key and value make a valid entry, or an error
// wrapping [ErrInvalidMetadata] that names the key. It is for code that
// holds entries outside a map, such as attributes being built.
func ValidateEntry(key, value string) error { return validateEntry(key, value) }

func validateEntry(k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: empty key (value %s)", ErrInvalidMetadata, quote(v))
	case len(k) > MaxMetadataKeyLen:
		return fmt.Errorf("%w: key %s longer than %d bytes", ErrInvalidMetadata, quote(k), MaxMetadataKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("%w: key %s is not valid UTF-8", ErrInvalidMetadata, quote(k))
	case reservedKey(k):
		return fmt.Errorf("%w: key %s is reserved for the specification's attributes", ErrInvalidMetadata, quote(k))
	case len(v) > MaxMetadataValueLen:
		return fmt.Errorf("%w: value of %s is %d bytes, more than %d", ErrInvalidMetadata, quote(k), len(v), MaxMetadataValueLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: value of %s is not valid UTF-8", ErrInvalidMetadata, quote(k))
	}
	return nil
}

// reservedKey reports whether a metadata key is in a namespace the
// specification (crs., fuzz.corpus.) or crstel (crstel.) owns, where it
// would clash with their attributes.
func reservedKey(k string) bool {
	return strings.HasPrefix(k, "crs.") || strings.HasPrefix(k, "fuzz.corpus.") || strings.HasPrefix(k, "crstel.")
}

// allValid reports whether every entry of m is valid.
func (m Metadata) allValid() bool {
	for k, v := range m {
		if validateEntry(k, v) != nil {
			return false
		}
	}
	return true
}

func (m Metadata) sortedKeys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Attributes returns m as span attributes, sorted by key. Entries that
// [Metadata.Validate] rejects are repaired or left out, never passed on
// broken: a value over the limit is cut to [MaxMetadataValueLen] bytes and
// invalid UTF-8 in a value is replaced; entries whose key is empty,
// reserved, too long or not valid UTF-8 are left out (repairing a key could
// make two keys one); only the first [MaxMetadataKeys] keys in sorted order
// are kept. Call Validate to learn what was repaired.
func (m Metadata) Attributes() []attribute.KeyValue {
	if len(m) == 0 {
		return nil
	}
	kvs := make([]attribute.KeyValue, 0, len(m))
	for k, v := range m {
		if k == "" || len(k) > MaxMetadataKeyLen || !utf8.ValidString(k) || reservedKey(k) {
			continue
		}
		kvs = append(kvs, attribute.String(k, cutUTF8(v, MaxMetadataValueLen)))
	}
	// Sorted in place: no slice of keys to sort first.
	slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	if len(kvs) > MaxMetadataKeys {
		return slices.Clone(kvs[:MaxMetadataKeys]) // not the room of the rest
	}
	return kvs
}

// cutUTF8 returns s with invalid UTF-8 replaced and cut to at most n bytes
// on a rune boundary.
func cutUTF8(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
