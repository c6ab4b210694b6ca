package crswatchdogconnector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/crstel/crstel/internal/envconfig"
)

// Defaults of the configuration.
const (
	// DefaultLostAfter is the default of Config.LostAfter.
	DefaultLostAfter = time.Minute
	// DefaultMaxTracked is the default of Config.MaxTracked.
	DefaultMaxTracked = 1_000_000
	// DefaultCheckInterval is the default of Config.CheckInterval.
	DefaultCheckInterval = 5 * time.Second
)

// Config is the configuration of the crs_watchdog connector. Its zero
// configuration in a collector's file (crs_watchdog: alone) reports a
// process lost after a minute without heartbeats, with no budgets but
// those the actions carry, and keeps its state in memory.
type Config struct {
	// LostAfter is how long a process may send no heartbeat for any of
	// its actions before its open actions are reported lost; default 1m.
	LostAfter time.Duration `mapstructure:"lost_after"`
	// Budgets are the budgets by category, in the syntax of the library's
	// CRSTEL_OVERDUE: "llm=10m,building=30m,fuzzing=0", keys a category,
	// llm (spans with gen_ai.operation.name) or default, 0 for none. An
	// action's own crstel.watchdog.budget attribute comes first; default
	// none.
	Budgets string `mapstructure:"budgets"`
	// MaxTracked bounds the actions tracked; past it the action heard of
	// least recently is forgotten and counted as an eviction; default
	// 1,000,000.
	MaxTracked int `mapstructure:"max_tracked"`
	// Storage is the component ID of a storage extension (file_storage)
	// that keeps the tracked actions and the reported ones across
	// restarts; default none (memory only). The extension's client must
	// support walking its keys, as file_storage's does.
	Storage *component.ID `mapstructure:"storage"`
	// CheckInterval is how often the connector looks for lost actions,
	// emits its reports and metrics, and writes its state to Storage;
	// default 5s, at most lost_after.
	CheckInterval time.Duration `mapstructure:"check_interval"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		LostAfter:     DefaultLostAfter,
		MaxTracked:    DefaultMaxTracked,
		CheckInterval: DefaultCheckInterval,
	}
}

// Validate checks the configuration, naming the setting that is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.LostAfter <= 0 {
		errs = append(errs, fmt.Errorf("lost_after: %s; want a positive duration, such as 1m", c.LostAfter))
	}
	if _, err := parseBudgets(c.Budgets); err != nil {
		errs = append(errs, err)
	}
	if c.MaxTracked < 1 {
		errs = append(errs, fmt.Errorf("max_tracked: %d; want 1 or more", c.MaxTracked))
	}
	switch {
	case c.CheckInterval <= 0:
		errs = append(errs, fmt.Errorf("check_interval: %s; want a positive duration, such as 5s", c.CheckInterval))
	case c.LostAfter > 0 && c.CheckInterval > c.LostAfter:
		errs = append(errs, fmt.Errorf("check_interval: %s is longer than lost_after (%s); want at most lost_after", c.CheckInterval, c.LostAfter))
	}
	return errors.Join(errs...)
}

// parseBudgets parses the budgets setting with the grammar of the
// library's CRSTEL_OVERDUE, so that both read the same values the same way.
func parseBudgets(v string) (map[string]time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	env, err := envconfig.ReadVars(func(name string) (string, bool) {
		return v, name == envconfig.Overdue
	}, envconfig.Overdue)
	if err != nil {
		// The message names the variable; name the setting instead.
		msg := strings.TrimPrefix(err.Error(), "crstel: invalid environment: "+envconfig.Overdue+"="+strconv.Quote(v)+": ")
		return nil, fmt.Errorf("budgets: %s", msg)
	}
	return env.Overdue, nil
}
