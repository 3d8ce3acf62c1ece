package c2s_test

import (
	"slices"
	"testing"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/router"
	"minimix/internal/xml"
	"minimix/internal/xmpptest"
)

// TestCleanCloseWhileWriting closes a resumable session's stream cleanly
// while the server is writing to it. The reader has answered the close;
// before it tells the session, the writer tries to write a stanza and
// fails on the closed connection. A clean close ends the session
// whoever notices the closed connection first: it must not hibernate
// (contacts would see the user online for the whole resumption window).
func TestCleanCloseWhileWriting(t *testing.T) {
	writeFailed := make(chan struct{}, 1)
	srv := startServer(t, func(cfg *c2s.Config) {
		cfg.ResumeTimeout = time.Hour
		c2s.WithTestHooks(cfg, c2s.TestHooks{
			ReadEnded: func(s router.Session) {
				s.Deliver(xml.New(xml.NSClient, "message", "from", "bob@localhost/r", "to", s.JID().String()))
				select {
				case <-writeFailed:
				case <-time.After(5 * time.Second):
				}
			},
			WriteFailed: func() { writeFailed <- struct{}{} },
		})
	})
	r := srv.login(t, "alice", "phone")
	r.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	r.Expect(xmpptest.NSSM, "enabled")
	r.Close()
	waitFor(t, "the session to end", func() bool {
		return srv.Stats.Hibernated.Load() != 0 || len(srv.ended.list()) != 0
	})
	if n := srv.Stats.Hibernated.Load(); n != 0 {
		t.Fatalf("a cleanly closed session hibernates (%d hibernated)", n)
	}
	if got := srv.ended.list(); !slices.Equal(got, []string{"alice@localhost/phone"}) {
		t.Errorf("ended sessions %v", got)
	}
}
