package crswatchdogconnector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crstel/crstel/collector/connector/crswatchdogconnector/internal/metadata"
)

// fileStorageHost starts contrib's file_storage extension on dir and
// returns a host that has it, under id.
func fileStorageHost(t *testing.T, id component.ID, dir string) component.Host {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), storagetest.NewStorageHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ext.Shutdown(context.Background()); err != nil {
			t.Errorf("file_storage Shutdown: %v", err)
		}
	})
	return storagetest.NewStorageHost().WithExtension(id, ext)
}

// w returns the harness's connector state.
func (h *harness) w() *watchdog { return h.logs.(*instance).w }

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	id := component.MustNewIDWithName("file_storage", "watchdog")
	host := fileStorageHost(t, id, dir)
	newCfg := func() *Config {
		cfg := createDefaultConfig().(*Config)
		cfg.Storage = &id
		cfg.CheckInterval = time.Minute // the test makes the checks
		return cfg
	}
	ctx := context.Background()
	now := time.Now()

	h1 := newHarness(t, newCfg(), host)
	d := act(4, now).in("p3")
	h1.send(t, d)
	if err := h1.w().tickAt(ctx, time.Now().Add(DefaultLostAfter+time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := h1.reports.SpanCount(); n != 2 {
		t.Fatalf("d lost: got %d spans, want 2", n)
	}
	a, b, c, e := act(1, now), act(2, now), act(3, now).in("p2"), act(5, now)
	h1.send(t, a, b, c, e)
	h1.send(t, e.ended(now))
	h1.shutdown(t) // writes the state

	h2 := newHarness(t, newCfg(), host)
	if got := len(h2.w().actions); got != 3 {
		t.Fatalf("reloaded: got %d open actions, want 3 (a, b, c)", got)
	}
	h2.send(t, d, e) // retries of records of actions reported lost or ended
	if err := h2.w().tickAt(ctx, time.Now().Add(DefaultLostAfter/2)); err != nil {
		t.Fatal(err)
	}
	if n := h2.reports.SpanCount(); n != 0 {
		t.Fatalf("half lost_after after the restart: got %d spans, want 0", n)
	}
	if err := h2.w().tickAt(ctx, time.Now().Add(DefaultLostAfter+time.Second)); err != nil {
		t.Fatal(err)
	}
	lost := map[pcommon.SpanID]string{}
	for _, s := range h2.spans() {
		if s.Name() == "generate_patch" {
			lost[s.SpanID()] = attrStr(s, "task.id")
		}
	}
	want := map[pcommon.SpanID]string{a.spanID(): "t-1", b.spanID(): "t-1", c.spanID(): "t-1"}
	if len(lost) != len(want) || lost[a.spanID()] != "t-1" || lost[b.spanID()] != "t-1" || lost[c.spanID()] != "t-1" {
		t.Errorf("lost after the restart: got %v, want %v (not d, reported before; not e, ended)", lost, want)
	}
	if n := h2.reports.SpanCount(); n != 6 {
		t.Errorf("got %d spans reported, want 6", n)
	}
}

func TestEncodeDecodeAction(t *testing.T) {
	a := &action{
		proc: &process{key: "i:p1", service: "patcher"}, labels: &labelSet{labelKey: labelKey{"patcher", "fuzzing"}},
		snap: []byte("snapshot"), start: 10, beat: -20, budget: time.Minute, overdue: true,
	}
	d, err := decodeAction(encodeAction(a))
	if err != nil {
		t.Fatal(err)
	}
	want := decoded{proc: "i:p1", service: "patcher", category: "fuzzing", start: 10, beat: -20, budget: int64(time.Minute), overdue: true, snap: []byte("snapshot")}
	if d.proc != want.proc || d.service != want.service || d.category != want.category || d.start != want.start ||
		d.beat != want.beat || d.budget != want.budget || d.overdue != want.overdue || string(d.snap) != string(want.snap) {
		t.Errorf("got %+v, want %+v", d, want)
	}
	for _, bad := range [][]byte{nil, {9}, {stateVersion, 200}, encodeAction(a)[:5]} {
		if _, err := decodeAction(bad); err == nil {
			t.Errorf("decodeAction(%v): nil error, want one", bad)
		}
	}
}

func TestStorageWithoutWalk(t *testing.T) {
	f := NewFactory()
	for _, tt := range []struct {
		id   component.ID
		host component.Host
		want string
	}{
		{storagetest.NewStorageID("mem"), storagetest.NewStorageHost().WithInMemoryStorageExtension("mem"), "cannot list its keys"},
		{storagetest.NewStorageID("mem"), storagetest.NewStorageHost(), "storage: no extension"},
		{storagetest.NewNonStorageID("mem"), storagetest.NewStorageHost().WithNonStorageExtension("mem"), "is not a storage extension"},
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.Storage = &tt.id
		c, err := f.CreateLogsToTraces(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(context.Background(), tt.host)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start: got %v, want an error containing %q", err, tt.want)
		}
		if err := c.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
}
