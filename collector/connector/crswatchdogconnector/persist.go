package crswatchdogconnector

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Keys of the storage: "a" and the hex ids of an open action, "d" and
// those of an action closed.
const (
	actionPrefix = "a"
	donePrefix   = "d"
	stateVersion = 1
)

// openStorage returns the client of the storage extension cfg.Storage
// names.
func openStorage(ctx context.Context, host component.Host, id component.ID, cfg *Config) (storage.Client, error) {
	ext, ok := host.GetExtensions()[*cfg.Storage]
	if !ok {
		return nil, fmt.Errorf("storage: no extension %s in the collector's configuration", cfg.Storage)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %s is not a storage extension", cfg.Storage)
	}
	client, err := se.GetClient(ctx, component.KindConnector, id, "")
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", cfg.Storage, err)
	}
	if _, ok := client.(storage.Walker); !ok {
		_ = client.Close(ctx)
		return nil, fmt.Errorf("storage: extension %s cannot list its keys (storage.Walker), which reloading needs; use file_storage", cfg.Storage)
	}
	return client, nil
}

// flushOps returns the storage operations that save what changed since
// the last call, under w.mu.
func (w *watchdog) flushOps() []*storage.Operation {
	if w.client == nil || len(w.dirty) == 0 {
		return nil
	}
	ops := make([]*storage.Operation, 0, len(w.dirty))
	for id := range w.dirty {
		h := hex.EncodeToString(id[:])
		if a := w.actions[id]; a != nil {
			ops = append(ops, storage.SetOperation(actionPrefix+h, encodeAction(a)))
		} else {
			ops = append(ops, storage.DeleteOperation(actionPrefix+h))
		}
		if at, ok := w.done[id]; ok {
			ops = append(ops, storage.SetOperation(donePrefix+h, binary.AppendVarint(nil, at.UnixNano())))
		} else {
			ops = append(ops, storage.DeleteOperation(donePrefix+h))
		}
	}
	clear(w.dirty)
	return ops
}

// encodeAction encodes what a restart needs of a.
func encodeAction(a *action) []byte {
	b := make([]byte, 0, 64+len(a.snap))
	b = append(b, stateVersion)
	b = appendString(b, a.proc.key)
	b = appendString(b, a.proc.service)
	b = appendString(b, a.labels.category)
	b = binary.AppendVarint(b, a.start)
	b = binary.AppendVarint(b, a.beat)
	b = binary.AppendVarint(b, int64(a.budget))
	if a.overdue {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return append(b, a.snap...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("corrupt state")

// decoded is an action as stored.
type decoded struct {
	proc, service, category string
	start, beat, budget     int64
	overdue                 bool
	snap                    []byte
}

func decodeAction(b []byte) (d decoded, err error) {
	if len(b) == 0 || b[0] != stateVersion {
		return d, errCorrupt
	}
	b = b[1:]
	str := func() string {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			err = errCorrupt
			return ""
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s
	}
	num := func() int64 {
		v, k := binary.Varint(b)
		if k <= 0 {
			err = errCorrupt
			return 0
		}
		b = b[k:]
		return v
	}
	d.proc, d.service, d.category = str(), str(), str()
	d.start, d.beat, d.budget = num(), num(), num()
	if err != nil || len(b) < 1 {
		return d, errCorrupt
	}
	d.overdue = b[0] == 1
	d.snap = slices.Clone(b[1:])
	return d, nil
}

// load reloads the state saved in w.client. Every process reloaded gets
// a full lost_after from now to send a heartbeat: the collector heard
// nothing while it was down.
func (w *watchdog) load(ctx context.Context, now time.Time) error {
	var dones []doneEntry
	bad := 0
	err := w.client.(storage.Walker).Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		var id actionID
		if len(key) != 1+2*len(id) {
			return nil, nil
		}
		if _, err := hex.Decode(id[:], []byte(key[1:])); err != nil {
			return nil, nil
		}
		switch key[:1] {
		case donePrefix:
			at, k := binary.Varint(value)
			if k <= 0 {
				bad++
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			}
			dones = append(dones, doneEntry{id, time.Unix(0, at)})
		case actionPrefix:
			d, err := decodeAction(value)
			if err != nil {
				bad++
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			}
			w.restoreAction(id, d, now)
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("storage: reloading the state: %w", err)
	}
	slices.SortFunc(dones, func(a, b doneEntry) int { return a.at.Compare(b.at) })
	for _, e := range dones {
		if _, ok := w.done[e.id]; !ok {
			w.done[e.id] = e.at
			w.doneQ = append(w.doneQ, e)
		}
	}
	// An action both open and closed (a crash between the two writes) is
	// closed.
	for id := range w.done {
		if a := w.actions[id]; a != nil {
			w.remove(a)
		}
	}
	for w.head != nil && len(w.actions) > w.cfg.MaxTracked {
		w.evict()
	}
	for len(w.done) > w.cfg.MaxTracked {
		w.forgetOldestDone()
	}
	clear(w.dirty)
	if bad > 0 {
		w.logger.Warn(fmt.Sprintf("crs_watchdog: %d corrupt entries in the storage; deleted", bad))
	}
	return nil
}

// restoreAction tracks an action reloaded, under w.mu.
func (w *watchdog) restoreAction(id actionID, d decoded, now time.Time) {
	p := w.procs[d.proc]
	if p == nil {
		p = &process{key: d.proc, service: d.service}
		w.procs[d.proc] = p
	}
	p.seen = now
	a := &action{
		id: id, snap: d.snap, start: d.start, beat: d.beat, heard: now,
		budget: time.Duration(d.budget), overdue: d.overdue,
		labels: w.labelsFor(d.service, d.category),
	}
	a.labels.open++
	p.add(a)
	w.actions[id] = a
	w.pushBack(a)
}
