//go:build !linux

package fuzz

import "context"

// watchOnce is not supported without inotify: the Watcher polls.
func (*Watcher) watchOnce(context.Context) error { return errUnsupported }
