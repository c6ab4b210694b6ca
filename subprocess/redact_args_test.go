package subprocess_test

import (
	"os"
	"slices"
	"testing"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/logs"
	"github.com/crstel/crstel/subprocess"
)

// TestWithRedactArgs: the function given makes the recorded command line
// from a copy of cmd.Args, in place of RedactArgs; nil from it records no
// command line; a nil function is ignored.
func TestWithRedactArgs(t *testing.T) {
	t.Parallel()
	// mask replaces every argument after the command in place, which must
	// not change cmd.Args.
	mask := func(args []string) []string {
		for i := 1; i < len(args); i++ {
			args[i] = "ARG"
		}
		return args
	}
	none := func([]string) []string { return nil }
	raw := []string{os.Args[0], "--password=hunter2", "-v"}
	tests := []struct {
		name string
		// redact is given to WithRedactArgs, wrapped to see its argument;
		// nil gives WithRedactArgs(nil).
		redact func([]string) []string
		// nilAfter adds WithRedactArgs(nil) after it.
		nilAfter bool
		wantArgs []string // nil: no process.command_args
		wantSeen []string // what redact got; nil: not called
	}{
		{name: "custom", redact: mask, wantArgs: []string{os.Args[0], "ARG", "ARG"}, wantSeen: raw},
		{name: "nil result", redact: none, wantSeen: raw},
		{name: "nil function", wantArgs: []string{os.Args[0], "--password=" + logs.Redacted, "-v"}},
		{name: "nil function after custom", redact: mask, nilAfter: true, wantArgs: []string{os.Args[0], "ARG", "ARG"}, wantSeen: raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			var seen []string
			var opts []subprocess.Option
			if tt.redact != nil {
				opts = append(opts, subprocess.WithRedactArgs(func(args []string) []string {
					seen = slices.Clone(args)
					return tt.redact(args)
				}))
			} else {
				opts = append(opts, subprocess.WithRedactArgs(nil))
			}
			if tt.nilAfter {
				opts = append(opts, subprocess.WithRedactArgs(nil))
			}
			cmd := childCmd(t, "echo", raw[1:]...)
			ctx := crstel.WithTask(rec.Context(t.Context()), task1)
			if err := subprocess.Run(ctx, crs.Building, "build", cmd, opts...); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !slices.Equal(cmd.Args, raw) {
				t.Errorf("cmd.Args after Run = %q, want %q unchanged", cmd.Args, raw)
			}
			if !slices.Equal(seen, tt.wantSeen) {
				t.Errorf("the function got %q, want %q", seen, tt.wantSeen)
			}
			a := crsteltest.Attrs(only(t, rec.Ended()))
			v, ok := a[subprocess.CommandArgsKey]
			switch {
			case tt.wantArgs == nil && ok:
				t.Errorf("%s = %q, want none", subprocess.CommandArgsKey, v.AsStringSlice())
			case tt.wantArgs != nil && !slices.Equal(v.AsStringSlice(), tt.wantArgs):
				t.Errorf("%s = %q (set: %v), want %q", subprocess.CommandArgsKey, v.AsStringSlice(), ok, tt.wantArgs)
			}
			// Only the command line is left out.
			if got := a[subprocess.ExecutablePathKey].AsString(); got != cmd.Path {
				t.Errorf("%s = %q, want %q", subprocess.ExecutablePathKey, got, cmd.Path)
			}
		})
	}
}
