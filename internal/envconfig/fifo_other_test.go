//go:build !unix

package envconfig_test

import "errors"

func mkfifoAt(string) error { return errors.New("no named pipes here") }
