package c2s_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
	"minimix/internal/xmpptest"
)

// TestShutdownEndsSessionsInParallel checks that Shutdown ends sessions
// side by side, not one after the other: every session's end hook waits
// until all of them are ending. One at a time, none would ever see the
// others, and each would wait out its timeout. The sessions hibernate
// first (no connection whose reader would end them), so that Shutdown
// itself ends them.
func TestShutdownEndsSessionsInParallel(t *testing.T) {
	const n = 4
	srv := startServer(t, func(cfg *c2s.Config) { cfg.ResumeTimeout = time.Hour })
	var mu sync.Mutex
	ending, together := 0, make(chan struct{})
	sawAll := 0
	srv.ended.hook = func(ctx context.Context, s router.Session) {
		mu.Lock()
		ending++
		if ending == n {
			close(together)
		}
		mu.Unlock()
		select {
		case <-together:
			mu.Lock()
			sawAll++
			mu.Unlock()
		case <-time.After(2 * time.Second):
		}
	}
	for i := range n {
		r := srv.login(t, "alice", fmt.Sprintf("r%d", i))
		r.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
		r.Expect(xmpptest.NSSM, "enabled")
		r.Kill()
	}
	waitFor(t, "hibernation", func() bool { return srv.Stats.Hibernated.Load() == n })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sawAll != n {
		t.Errorf("%d of %d sessions were ending at the same time", sawAll, n)
	}
}

// offlineRecorder is a router.Offline that records each message stored
// and whether its context was still live.
type offlineRecorder struct {
	mu     sync.Mutex
	stored []string // "body live" or "body cancelled"
}

func (o *offlineRecorder) StoreOffline(ctx context.Context, user jid.JID, el *xml.Element) error {
	state := "live"
	if ctx.Err() != nil {
		state = "cancelled"
	}
	o.mu.Lock()
	o.stored = append(o.stored, el.ChildText(xml.NSClient, "body")+" "+state)
	o.mu.Unlock()
	return ctx.Err()
}

func (o *offlineRecorder) Flush(ctx context.Context, s router.Session) (int, error) { return 0, nil }

// TestShutdownReroutesPastTheGrace shuts down with a grace that has run
// out already, as it does when thousands of sessions end within it: what
// a hibernated session held unacknowledged must still be stored offline,
// with a context the grace does not cancel.
func TestShutdownReroutesPastTheGrace(t *testing.T) {
	srv := startServer(t, func(cfg *c2s.Config) { cfg.ResumeTimeout = time.Hour })
	off := &offlineRecorder{}
	srv.router.SetOffline(off)
	r := srv.login(t, "alice", "phone")
	r.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	r.Expect(xmpptest.NSSM, "enabled")
	m := xml.New(xml.NSClient, "message", "from", "bob@localhost/r", "to", r.JID, "type", "chat")
	m.Append(xml.New(xml.NSClient, "body").AppendText("held"))
	srv.session(t, r.JID).Deliver(m)
	r.Expect(xmpptest.NSClient, "message") // read, never acknowledged
	r.Kill()
	waitFor(t, "hibernation", func() bool { return srv.Stats.Hibernated.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Shutdown(ctx) // reports that the grace ran out
	off.mu.Lock()
	defer off.mu.Unlock()
	if fmt.Sprint(off.stored) != "[held live]" {
		t.Fatalf("stored offline: %v, want the held message with a live context", off.stored)
	}
}
