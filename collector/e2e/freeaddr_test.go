package e2e

import "testing"

// TestFreeAddrDistinct: freeAddr never hands out an address twice, though
// the kernel may give a port just closed again (a collector once got the
// same port for its OTLP receiver and its metrics, and could not start).
func TestFreeAddrDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		addr := freeAddr(t)
		if seen[addr] {
			t.Fatalf("freeAddr handed out %s twice in %d calls", addr, len(seen)+1)
		}
		seen[addr] = true
	}
}
