package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// TestShutdownKeepsHeldMessagesPastTheGrace shuts down with a grace that
// has already run out, as happens when thousands of sessions end within
// it: what a hibernated session held unacknowledged must still reach
// offline storage, and arrive at the next login.
func TestShutdownKeepsHeldMessagesPastTheGrace(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	bob := srv.Login(t, "bob", "bob-secret", "")
	alice, _ := smLogin(t, srv, "alice", "phone")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>held over shutdown</body></message>")
	alice.ExpectStanza("message", 5*time.Second, xmpptest.IsMessage("held over shutdown"))
	alice.Kill() // read, never acknowledged
	waitFor(t, "hibernation", func() bool { return srv.C2S.Stats.Hibernated.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Server.Shutdown(ctx) // reports the grace ran out; that is the point
	srv.Restart(t)

	stored, err := srv.Store().OfflineMessages(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range stored {
		found = found || strings.Contains(string(m.Stanza), "held over shutdown")
	}
	if !found {
		t.Fatalf("the held message is not in offline storage after shutdown (%d stored)", len(stored))
	}
}
