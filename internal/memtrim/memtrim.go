// Package memtrim gives the memory of a burst back to the operating
// system once the server has gone quiet.
//
// The Go runtime keeps the heap it grew to for as long as it expects to
// need it: with the default GOGC a heap of live data L may hold about 2L
// of memory, and the background scavenger only returns what lies above
// that goal. After a thousand clients log in (SCRAM, TLS handshakes,
// roster pushes), the server's live data is their idle sessions, but its
// resident memory stays near the peak of the burst until the next one. An
// operator who measures the memory an idle session costs (VmRSS before and
// after) sees the burst, not the sessions. Trimmer watches the allocation
// rate; the first quiet interval after a busy one, when enough freed heap
// is held, it returns it (runtime/debug.FreeOSMemory: one collection and
// a release, once per burst, never while the server is busy).
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// quietRate is the allocation rate, in bytes per second, below which
	// the server counts as quiet: an idle server answering pings and
	// keepalives allocates far less.
	quietRate = 256 << 10
	// minHeld is the least freed heap worth a collection to return.
	minHeld = 4 << 20
)

// Sample is what the trimmer reads of the runtime.
type Sample struct {
	Allocs uint64 // bytes allocated since the process started
	Live   uint64 // live heap after the last collection
	Held   uint64 // heap memory held from the OS that holds no object
}

// Trimmer decides when to return memory. The zero value is not usable;
// use New.
type Trimmer struct {
	interval time.Duration
	read     func() Sample
	free     func()
	log      *slog.Logger

	last  Sample
	busy  bool // an interval since the last trim allocated at the busy rate
	first bool
}

// New returns a trimmer that samples every interval.
func New(interval time.Duration, log *slog.Logger) *Trimmer {
	return &Trimmer{interval: interval, read: readRuntime, free: debug.FreeOSMemory, log: log, first: true}
}

// Run samples until ctx ends.
func (t *Trimmer) Run(ctx context.Context) {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Step()
		}
	}
}

// Step takes one sample and trims when the server just went quiet; it
// reports whether it trimmed.
func (t *Trimmer) Step() bool {
	s := t.read()
	prev := t.last
	t.last = s
	if t.first {
		t.first = false
		return false
	}
	quiet := s.Allocs-prev.Allocs < uint64(quietRate*t.interval.Seconds())
	if !quiet {
		t.busy = true
		return false
	}
	if !t.busy || s.Held < max(minHeld, s.Live/4) {
		return false
	}
	t.busy = false
	start := time.Now()
	t.free()
	if t.log != nil {
		t.log.Debug("returned freed heap to the OS after a burst", "held_bytes", s.Held, "live_bytes", s.Live, "took", time.Since(start))
	}
	return true
}

var names = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
}

func readRuntime() Sample {
	ms := make([]metrics.Sample, len(names))
	for i, n := range names {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	return Sample{Allocs: v(0), Live: v(1), Held: v(2) + v(3)}
}
