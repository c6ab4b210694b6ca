//go:build race

package logs_test

const raceEnabled = true
