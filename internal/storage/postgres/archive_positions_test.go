package postgres

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeSequence is archive_seq for the allocator alone: reservations
// take the next n values, and a test may hold them back.
type fakeSequence struct {
	mu    sync.Mutex
	next  int64
	calls int
	gate  chan struct{} // when not nil, the next reservation waits for it
	held  chan struct{} // closed when that reservation waits
}

func (f *fakeSequence) reserve(ctx context.Context, n int) ([]span, error) {
	f.mu.Lock()
	gate := f.gate
	f.gate = nil // it holds back one reservation
	f.mu.Unlock()
	if gate != nil {
		close(f.held)
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	s := span{f.next + 1, f.next + int64(n)}
	f.next += int64(n)
	return []span{s}, nil
}

// settle waits until no background reservation runs.
func settle(p *positions) {
	for {
		p.mu.Lock()
		busy := p.fetching
		p.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPositions(t *testing.T) {
	ctx := t.Context()
	seq := &fakeSequence{}
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	p := newPositions(seq.reserve)
	p.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	defer p.close()

	var last int64
	take := func(what string) int64 {
		t.Helper()
		v, err := p.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v <= last {
			t.Fatalf("%s: position %d after %d", what, v, last)
		}
		last = v
		return v
	}

	// The first range is reserved when none is left; the next one in the
	// background when half of it is used.
	take("first")
	if seq.calls != 1 {
		t.Fatalf("%d reservations for the first position", seq.calls)
	}
	for range 200 {
		take("steady")
		settle(p)
	}
	// 201 positions from ranges of 256: the second range was reserved
	// ahead, in the background, and the first is still in use.
	if seq.calls != 2 || last != 201 {
		t.Errorf("after 201 positions: %d reservations, last %d; want 2, 201", seq.calls, last)
	}
	// Used up within a quarter of the age limit: the next range is
	// larger.
	for range 100 {
		take("burst")
		settle(p)
	}
	if p.size <= 256 {
		t.Errorf("range size %d after a burst, want more than 256", p.size)
	}

	// A stale range is replaced in the background; positions go on from
	// it (unique still) until the fresh one is there, then from that.
	advance(2 * maxRangeAge)
	seq.mu.Lock()
	reservedBefore := seq.next
	seq.mu.Unlock()
	take("stale")
	settle(p)
	if v := take("fresh"); v <= reservedBefore {
		t.Errorf("after a stale range: position %d, not from a range reserved after %d", v, reservedBefore)
	}

	// A synchronous reservation (advance) while a background one is held
	// back: the background one, reserved later but begun before, is
	// dropped, so positions never go back.
	seq.mu.Lock()
	seq.gate, seq.held = make(chan struct{}), make(chan struct{})
	gate, held := seq.gate, seq.held
	seq.mu.Unlock()
	advance(2 * maxRangeAge)
	take("stale again") // starts a background reservation, held at the gate
	<-held
	if err := p.advance(ctx); err != nil {
		t.Fatal(err)
	}
	seq.mu.Lock()
	afterAdvance := seq.next
	seq.mu.Unlock()
	v := take("after advance")
	close(gate)
	settle(p)
	for range 50 {
		take("after the dropped reservation")
	}
	if v > afterAdvance {
		t.Errorf("first position after advance %d is past the range it reserved (up to %d)", v, afterAdvance)
	}

	// Closed: no more positions.
	p.close()
	if _, err := p.next(ctx); err == nil {
		t.Error("next after close succeeded")
	}
}
