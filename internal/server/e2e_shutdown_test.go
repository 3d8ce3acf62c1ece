package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// TestE2EShutdownReleasesDataDir: once Shutdown returns, nothing of the
// server holds a file in data_dir open or writes there any more, so the
// directory can be removed (or a new server started on it) at once.
// The reads a server makes as it starts, and a client's reads in every
// other round, run for the first time on that database just before the
// shutdown: they prepare their statements on connections of their own,
// which the SQLite store's Close once left open ("TempDir RemoveAll
// cleanup: directory not empty" in about one test run in 400 under
// -race). xmpptest checks the same after every test server's shutdown.
func TestE2EShutdownReleasesDataDir(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	for round := range 4 {
		var c *xmpptest.Client
		if round%2 == 1 {
			c = loginAs(t, srv, "alice")
			for i, q := range []string{
				`<query xmlns='jabber:iq:roster'/>`,
				`<vCard xmlns='vcard-temp'/>`,
				`<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`,
				`<query xmlns='urn:xmpp:mam:2'/>`,
				`<blocklist xmlns='urn:xmpp:blocking'/>`,
			} {
				if r := c.IQ(t, fmt.Sprintf(`<iq type='get' id='q%d'>%s</iq>`, i, q)); r.Attr("type") != "result" {
					t.Fatalf("round %d: %s: %s", round, q, r)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := srv.Server.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: shutdown: %v", round, err)
		}
		open, ok := xmpptest.OpenFilesUnder(srv.Config.DataDir)
		if !ok {
			t.Skip("no /proc/self/fd to list open files")
		}
		if len(open) > 0 {
			t.Fatalf("round %d: files in data_dir open after Shutdown returned: %v", round, open)
		}
		if c != nil {
			c.Close()
		}
		srv.Restart(t)
	}
}

// TestE2EConcurrentShutdowns: of two Shutdown calls at once (a signal
// during a shutdown, a test's cleanup after its own), neither returns
// before the server has stopped: the second once returned at once, with
// the store still open (the MUC's TestE2EShutdown332 and its cleanup).
func TestE2EConcurrentShutdowns(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	for round := range 3 {
		loginAs(t, srv, "alice")
		type result struct {
			err  error
			open []string
		}
		results := make(chan result, 2)
		shutdown := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := srv.Server.Shutdown(ctx)
			open, _ := xmpptest.OpenFilesUnder(srv.Config.DataDir)
			results <- result{err, open}
		}
		go shutdown()
		go shutdown()
		for _, r := range []result{<-results, <-results} {
			if r.err != nil {
				t.Fatalf("round %d: shutdown: %v", round, r.err)
			}
			if len(r.open) > 0 {
				t.Fatalf("round %d: a Shutdown returned with files in data_dir open: %v", round, r.open)
			}
		}
		srv.Restart(t)
	}
}
