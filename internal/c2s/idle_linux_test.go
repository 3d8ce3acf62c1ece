package c2s_test

import (
	"runtime"
	"strings"
	"testing"

	"minimix/internal/xml"
)

// sessionGoroutines counts the goroutines reading or writing for c2s
// sessions.
func sessionGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "c2s.(*Session).readLoop") || strings.Contains(g, "c2s.(*Session).writeLoop") || strings.Contains(g, "c2s.(*conn).read(") {
			n++
		}
	}
	return n
}

// TestIdleSessionsHaveNoGoroutine checks that on Linux idle sessions are
// parked in the server's poller with no goroutine of their own, and that
// a parked session still gets what the client sends and what is
// delivered to it, and ends when the client closes its stream.
func TestIdleSessionsHaveNoGoroutine(t *testing.T) {
	const n = 20
	srv := startServer(t)
	clients := make([]string, 0, n)
	raws := srv.loginMany(t, n)
	for _, r := range raws {
		clients = append(clients, r.JID)
	}
	waitFor(t, "readers to park", func() bool { return sessionGoroutines() == 0 })

	// Delivered while parked: the writer runs and ends.
	s := srv.session(t, clients[0])
	s.Deliver(xml.New(xml.NSClient, "message", "from", "bob@localhost/r", "to", clients[0]))
	raws[0].Expect("jabber:client", "message")
	// Sent while parked: the reader comes back and handles it.
	raws[1].Send("<presence/>")
	waitFor(t, "the presence to be handled", func() bool {
		srv.handlers.mu.Lock()
		defer srv.handlers.mu.Unlock()
		return len(srv.handlers.presences) == 1
	})
	for _, r := range raws {
		r.Close()
	}
	waitFor(t, "every session to end", func() bool { return len(srv.ended.list()) == n })
}
