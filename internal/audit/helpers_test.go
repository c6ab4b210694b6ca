package audit_test

import (
	"crypto/sha256"
	"encoding/hex"
)

func sha(line string) string {
	s := sha256.Sum256([]byte(line))
	return hex.EncodeToString(s[:])
}
