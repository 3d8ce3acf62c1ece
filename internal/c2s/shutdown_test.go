package c2s_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/router"
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
