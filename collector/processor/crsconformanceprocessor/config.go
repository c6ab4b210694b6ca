package crsconformanceprocessor

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"

	"github.com/crstel/crstel/crs/conform"
)

// Mode says what the processor does about a finding of a rule.
type Mode string

// The modes.
const (
	// ModeObserve counts the finding in the processor's metrics and
	// changes nothing.
	ModeObserve Mode = "observe"
	// ModeMark counts the finding and adds it to the item's crstel.invalid
	// attribute, as crstel's Go library marks its own invalid spans.
	ModeMark Mode = "mark"
	// ModeRepair counts the finding and repairs the item where a repair is
	// safe (see the README), recording it in crstel.repaired; a finding
	// without a safe repair is marked.
	ModeRepair Mode = "repair"
	// ModeDrop counts the finding and drops the item.
	ModeDrop Mode = "drop"
)

// modes lists the modes, in the order error messages name them.
var modes = []Mode{ModeObserve, ModeMark, ModeRepair, ModeDrop}

// DefaultMaxServiceNames is the default of Config.MaxServiceNames.
const DefaultMaxServiceNames = 100

// Config is the configuration of the crs_conformance processor. Its zero
// configuration in a collector's file (crs_conformance: alone) marks every
// finding and repairs by inheritance.
type Config struct {
	// Mode is the mode of every rule that Rules does not name; default
	// mark.
	Mode Mode `mapstructure:"mode"`
	// Rules overrides the mode per rule, keyed by the rule's id (such as
	// type_mismatch; see package conform).
	Rules map[string]Mode `mapstructure:"rules"`
	// Inherit copies crs.action.category, crs.action.name and the task
	// metadata from the nearest ancestor action in the batch into a span
	// (or a log record) that lacks them, before checking; default true.
	// Rules in mode observe are never repaired so: missing_attribute for
	// the category and name, missing_metadata for the metadata.
	Inherit bool `mapstructure:"inherit"`
	// RequiredMetadata are task metadata keys every item must carry;
	// default none.
	RequiredMetadata []string `mapstructure:"required_metadata"`
	// TraceMetadata are the task metadata keys reported missing from an
	// item when another item of its trace in the batch carries them;
	// default round.id, task.id, team.id. An empty list turns that rule
	// off.
	TraceMetadata []string `mapstructure:"trace_metadata"`
	// MaxServiceNames bounds the distinct values of the service.name
	// attribute of the processor's metrics: names seen after that many
	// are counted as "other"; default 100.
	MaxServiceNames int `mapstructure:"max_service_names"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Mode:            ModeMark,
		Inherit:         true,
		TraceMetadata:   slices.Clone(conform.DefaultTraceMetadata),
		MaxServiceNames: DefaultMaxServiceNames,
	}
}

// Validate checks the configuration, naming the setting that is wrong.
func (c *Config) Validate() error {
	var errs []error
	if !slices.Contains(modes, c.Mode) {
		errs = append(errs, fmt.Errorf("mode: unknown mode %q; want one of %s", c.Mode, modeList()))
	}
	for _, rule := range slices.Sorted(maps.Keys(c.Rules)) {
		if !slices.Contains(conform.Rules(), conform.Rule(rule)) {
			errs = append(errs, fmt.Errorf("rules: unknown rule %q; the rules are %s", rule, ruleList()))
			continue
		}
		if m := c.Rules[rule]; !slices.Contains(modes, m) {
			errs = append(errs, fmt.Errorf("rules::%s: unknown mode %q; want one of %s", rule, m, modeList()))
		}
	}
	errs = append(errs, validateKeys("required_metadata", c.RequiredMetadata)...)
	errs = append(errs, validateKeys("trace_metadata", c.TraceMetadata)...)
	if c.MaxServiceNames < 1 {
		errs = append(errs, fmt.Errorf("max_service_names: %d; want 1 or more", c.MaxServiceNames))
	}
	return errors.Join(errs...)
}

// validateKeys checks a list of metadata keys of the setting name.
func validateKeys(name string, keys []string) []error {
	var errs []error
	for i, k := range keys {
		switch {
		case strings.TrimSpace(k) == "":
			errs = append(errs, fmt.Errorf("%s[%d]: empty key", name, i))
		case strings.HasPrefix(k, "crs.") || strings.HasPrefix(k, "fuzz.corpus."):
			errs = append(errs, fmt.Errorf("%s[%d]: %q is in the specification's namespace, not task metadata", name, i, k))
		case slices.Contains(keys[:i], k):
			errs = append(errs, fmt.Errorf("%s[%d]: %q is listed twice", name, i, k))
		}
	}
	return errs
}

// mode returns the mode of rule.
func (c *Config) mode(rule conform.Rule) Mode {
	if m, ok := c.Rules[string(rule)]; ok {
		return m
	}
	return c.Mode
}

func modeList() string {
	var s []string
	for _, m := range modes {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}

func ruleList() string {
	var s []string
	for _, r := range conform.Rules() {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}
