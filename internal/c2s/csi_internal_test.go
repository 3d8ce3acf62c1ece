package c2s

import (
	"fmt"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// newDetachedSession returns a session of a server with the given send
// queue that has no connection: nothing is written unless the test
// drains it.
func newDetachedSession(t *testing.T, sendQueue int) *Session {
	t.Helper()
	r := router.New(router.Config{Domain: "localhost", Registry: router.NewRegistry()})
	srv := New(Config{Domain: "localhost", Router: r, SendQueue: sendQueue})
	s := newSession(srv, jid.MustParse("alice@localhost/phone"), "test")
	r.Registry().Add(s)
	srv.addSession(s)
	return s
}

// drainForTest does what the writer does for a client that reads
// everything: it takes every stanza waiting to be written.
func drainForTest(s *Session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.out) - s.written
	clear(s.out)
	s.out = s.out[:0]
	s.written = 0
	return n
}

// TestCSIFlushFitsTheQueue checks that presences held while the client
// is inactive never add up to more than its send queue takes: a client
// that reads everything it is sent is not disconnected for the presences
// the server held back from it.
func TestCSIFlushFitsTheQueue(t *testing.T) {
	const queue = 16
	s := newDetachedSession(t, queue)
	s.setInactive(true)
	written := 0
	for i := range 5 * queue {
		p := xml.New(xml.NSClient, "presence", "from", fmt.Sprintf("contact%d@localhost/r", i), "to", "alice@localhost/phone")
		if !s.Deliver(p) {
			t.Fatalf("presence %d refused while the client reads everything", i)
		}
		written += drainForTest(s)
	}
	s.setInactive(false)
	m := xml.New(xml.NSClient, "message", "from", "bob@localhost/r", "to", "alice@localhost/phone")
	if !s.Deliver(m) {
		t.Fatalf("after <active/> the session refuses a message: the flush overflowed its queue")
	}
	flushed := drainForTest(s) - 1
	if written+flushed != 5*queue {
		t.Errorf("the client got %d presences, want every one of the %d senders'", written+flushed, 5*queue)
	}
}
