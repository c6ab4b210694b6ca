//go:build !unix

package main

// nestedComponent is TestCostsNestedSubprocesses' processes, which measure
// CPU time with getrusage: unix only.
func nestedComponent(string) {}
