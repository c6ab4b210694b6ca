package redact

import (
	"strings"
	"unicode"
)

// Redacted is the value that replaces a secret.
const Redacted = "[REDACTED]"

// IsSecret reports whether an attribute named key holds a secret by its
// name: whether its last word names one. logs.IsSecret documents the rule.
func IsSecret(key string) bool {
	var last, prev string
	for w := range words(key) {
		prev, last = last, w
	}
	switch last {
	case "password", "passwd", "passphrase", "secret", "token", "authorization", "auth",
		"apikey", "credential", "credentials", "cookie":
		return true
	case "key":
		return prev == "api" || prev == "private" || prev == "access"
	}
	return false
}

// words yields the lower-case words of key; see IsSecret.
func words(key string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		start := -1
		var prevLower bool
		for i, r := range key {
			alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
			upper := unicode.IsUpper(r)
			if start >= 0 && (!alnum || upper && prevLower) {
				if !yield(strings.ToLower(key[start:i])) {
					return
				}
				start = -1
			}
			if alnum && start < 0 {
				start = i
			}
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		}
		if start >= 0 {
			yield(strings.ToLower(key[start:]))
		}
	}
}
