package crstel

import (
	"cmp"
	"fmt"
	"time"

	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/watchdog"
)

// Defaults of the span lifecycle records: OTLP log records that carry an
// action still open, so that a collector sees the actions of a process
// that dies before they end. See [WithLifecycleInterval].
const (
	// DefaultLifecycleInterval is the initial delay and the interval of
	// lifecycle heartbeats.
	DefaultLifecycleInterval = 5 * time.Second
	// DefaultLifecycleMax is the most open actions that get lifecycle
	// heartbeats at once.
	DefaultLifecycleMax = watchdog.DefaultLifecycleMax
)

// lifecycleConfig is the part of config for lifecycle records.
type lifecycleConfig struct {
	interval    time.Duration
	intervalSet bool
	max         int
	maxSet      bool
}

// WithLifecycleInterval sets the initial delay and the interval of span
// lifecycle records: an action (or an LLM call) still open d after its
// start sends a heartbeat record then, and every d after, and an ended
// record when it ends; actions that end sooner send nothing. 0 or less
// turns them off; otherwise d is from 100 ms to an hour. It overrides
// CRSTEL_HEARTBEAT (a duration, or "off"). The default is
// [DefaultLifecycleInterval].
//
// Each record is an OTLP log record, exported with Setup's log records
// (so none are made with OTEL_LOGS_EXPORTER=none), in the format of
// OpenTelemetry Python contrib's partial-span processor: the attributes
// span.state ("heartbeat" or "ended") and log.body.type ("json/v1"), and a
// body that is the span as OTLP JSON TracesData, with its attributes so
// far and the action's budget as crstel.watchdog.budget (seconds). The
// record's own trace and span ids are the span's. Records come on the
// watchdog's check ([WithWatchdogInterval]), so up to one check late.
//
// This is not [WithHeartbeat], which says that an action promises calls
// of [Heartbeat] and has it reported as stalled when it misses one.
func WithLifecycleInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.lifecycle.interval, c.lifecycle.intervalSet = d, true })
}

// WithLifecycleMax sets the most open actions that send lifecycle
// heartbeats at once, from 1 to 262,144: the oldest. The others are
// counted, each check that leaves one out, in one summary record with the
// attribute crstel.lifecycle.omitted (their number) and no span.state. It
// overrides CRSTEL_HEARTBEAT_MAX. The default is [DefaultLifecycleMax].
func WithLifecycleMax(n int) Option {
	return optionFunc(func(c *config) { c.lifecycle.max, c.lifecycle.maxSet = n, true })
}

// validate returns the problems of the lifecycle options.
func (c lifecycleConfig) validate() []error {
	var errs []error
	if c.intervalSet && c.interval > 0 {
		if err := envconfig.LifecycleIntervalRange.Check(c.interval); err != nil {
			errs = append(errs, fmt.Errorf("crstel: WithLifecycleInterval(%v): %w, or 0 (off)", c.interval, err))
		}
	}
	if c.maxSet {
		if err := envconfig.LifecycleMaxRange.Check(int64(c.max)); err != nil {
			errs = append(errs, fmt.Errorf("crstel: WithLifecycleMax(%d): %w", c.max, err))
		}
	}
	return errs
}

// lifecycleSettings returns the watchdog's lifecycle settings: the
// options, then CRSTEL_HEARTBEAT and CRSTEL_HEARTBEAT_MAX, then the
// defaults. An Interval of 0 means off.
func lifecycleSettings(cfg config, env envconfig.Config) watchdog.Lifecycle {
	interval := DefaultLifecycleInterval
	switch {
	case cfg.lifecycle.intervalSet:
		interval = max(cfg.lifecycle.interval, 0)
	case env.HeartbeatOff:
		interval = 0
	case env.Heartbeat > 0:
		interval = env.Heartbeat
	}
	n := cmp.Or(env.HeartbeatMax, DefaultLifecycleMax)
	if cfg.lifecycle.maxSet {
		n = cfg.lifecycle.max
	}
	return watchdog.Lifecycle{Interval: interval, Max: n}
}
