package server_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// fakeClock is the c2s read limiter's clock in tests: time stands still
// until the test moves it, so that what a throttled client gets through
// does not depend on the machine's speed.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	auto    bool // every wait ends at once, the clock jumping ahead
	timers  []fakeTimer
	waiting chan struct{} // a token per wait begun
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), waiting: make(chan struct{}, 1000)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if f.auto {
		f.now = f.now.Add(d)
		ch <- f.now
		return ch
	}
	f.timers = append(f.timers, fakeTimer{f.now.Add(d), ch})
	f.waiting <- struct{}{}
	return ch
}

// runFree makes every wait, pending or to come, end at once.
func (f *fakeClock) runFree() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auto = true
	for _, t := range f.timers {
		if t.at.After(f.now) {
			f.now = t.at
		}
		t.ch <- f.now
	}
	f.timers = nil
}

// awaitWait returns once a read is waiting for the clock.
func (f *fakeClock) awaitWait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-f.waiting:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no read waited for the rate limit", what)
	}
}

// TestE2EReadRateLimit (issue 10 item 12): a client that sends faster
// than limits.c2s_bytes_per_second is slowed down, not cut off: the
// server stops reading it once its burst is spent, and reads on as time
// passes; nothing it sent is lost or reordered. The server's admins are
// not limited.
func TestE2EReadRateLimit(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := xmpptest.StartWithLog(t, &logs, xmpptest.WithConfig(func(c *config.Config) {
		c.Limits.C2SBytesPerSecond = 1024
		c.Limits.C2SBurstBytes = 16384
		c.Admins = []string{"root@localhost"}
	}))
	for _, u := range []string{"alice", "bob", "root"} {
		srv.AddUser(t, u, pw(u))
	}
	clk := newFakeClock()
	srv.C2S.SetClock(clk)
	alice := loginAs(t, srv, "alice")
	bob := loginAs(t, srv, "bob")
	root := loginAs(t, srv, "root")

	// 40 messages of about 1 KiB: more than the burst left after login.
	const n = 40
	pad := strings.Repeat("x", 1000)
	for i := range n {
		alice.SendRaw(t, fmt.Sprintf(`<message to='%s' type='chat' id='m%d'><body>m%d %s</body></message>`, bob.JID, i, i, pad))
	}
	clk.awaitWait(t, "alice's flood")
	// Everything alice's stream got through before the wait has been
	// routed; root's headline goes behind it in bob's queue.
	var got []string
	root.SendRaw(t, `<message to='`+bob.JID.String()+`' type='headline'><body>barrier</body></message>`)
	for barrier := false; !barrier; {
		select {
		case m := <-bob.In:
			if m.XMLName.Local == "message" && strings.HasPrefix(m.Attr("id"), "m") {
				got = append(got, m.Attr("id"))
			}
			barrier = isBody("barrier")(m)
		case <-time.After(10 * time.Second):
			t.Fatalf("the barrier did not reach bob")
		}
	}
	collectBodies := func(upTo int) {
		t.Helper()
		for len(got) < upTo {
			select {
			case m := <-bob.In:
				if m.XMLName.Local == "message" && strings.HasPrefix(m.Attr("id"), "m") {
					got = append(got, m.Attr("id"))
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("bob got %d of %d messages", len(got), upTo)
			}
		}
	}
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("with the clock stopped bob got %d of %d messages; the burst should let some and only some through", len(got), n)
	}
	if srv.C2S.Stats.Overflows.Load() != 0 {
		t.Fatalf("a throttled client was cut off")
	}
	t.Logf("%d of %d messages read before the limit held alice back", len(got), n)

	// The admin floods as much with the clock still stopped: not limited.
	for i := range n {
		root.SendRaw(t, fmt.Sprintf(`<message to='%s' type='chat' id='r%d'><body>r%d %s</body></message>`, bob.JID, i, i, pad))
	}
	adminGot := 0
	for adminGot < n {
		select {
		case m := <-bob.In:
			if strings.HasPrefix(m.Attr("id"), "r") {
				adminGot++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the admin's messages were held back: bob got %d of %d", adminGot, n)
		}
	}

	// Time passes: the rest of alice's messages come, all and in order.
	clk.runFree()
	collectBodies(n)
	for i, id := range got {
		if id != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d is %s: lost or reordered (%v)", i, id, got)
		}
	}
	if th := srv.C2S.Stats.ReadThrottled.Load(); th != 1 {
		t.Errorf("%d connections throttled, want 1 (alice's)", th)
	}
	if !strings.Contains(logs.String(), "client sends faster than limits.c2s_bytes_per_second") {
		t.Errorf("the throttling was not logged:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a server's log and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
