// Package sessiontest provides a router.Session for tests: one fake
// bound session that records what it is given, shared by the feature
// packages' tests instead of a copy in each.
package sessiontest

import (
	"sync"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// Session is a bound session without a connection. It records a copy of
// each stanza delivered to it (the original may change once delivered:
// the router stamps and forwards what it routes), with the fork it came
// with, until Take. It is safe for concurrent use.
type Session struct {
	jid   jid.JID
	state router.State

	mu        sync.Mutex
	got       []*xml.Element
	forks     []*router.Fork
	delivered int
	room      int  // deliveries it accepts in all; < 0: any number
	discard   bool // count deliveries only
}

var _ router.ForkSession = (*Session)(nil)

// New returns a session of the full JID full that accepts everything.
func New(full string) *Session { return NewJID(jid.MustParse(full)) }

// NewJID is New with a parsed JID.
func NewJID(full jid.JID) *Session { return &Session{jid: full, room: -1} }

// Available makes the session available with an empty presence of
// priority prio, as initial presence would, and returns it.
func (s *Session) Available(prio int) *Session {
	s.state.SetPresence(xml.New(xml.NSClient, "presence", "from", s.jid.String()), true, prio)
	return s
}

// Room makes the session accept n more deliveries and refuse the rest,
// as a session whose queue fills or which is cut off does. Room(0)
// refuses everything from now on.
func (s *Session) Room(n int) *Session {
	s.mu.Lock()
	s.room = s.delivered + n
	s.mu.Unlock()
	return s
}

// Discard makes the session count deliveries without keeping them, for
// benchmarks.
func (s *Session) Discard() *Session {
	s.mu.Lock()
	s.discard = true
	s.mu.Unlock()
	return s
}

// JID implements router.Session.
func (s *Session) JID() jid.JID { return s.jid }

// State implements router.Session.
func (s *Session) State() *router.State { return &s.state }

// Deliver implements router.Session.
func (s *Session) Deliver(el *xml.Element) bool { return s.DeliverForked(el, nil) }

// DeliverForked implements router.ForkSession.
func (s *Session) DeliverForked(el *xml.Element, f *router.Fork) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.room >= 0 && s.delivered >= s.room {
		return false
	}
	s.delivered++
	if !s.discard {
		s.got = append(s.got, el.Clone())
		s.forks = append(s.forks, f)
	}
	return true
}

// Take returns what the session received since the last Take, in order.
func (s *Session) Take() []*xml.Element {
	els, _ := s.TakeForked()
	return els
}

// TakeForked is Take with the fork each stanza came with, nil if none.
func (s *Session) TakeForked() ([]*xml.Element, []*router.Fork) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, f := s.got, s.forks
	s.got, s.forks = nil, nil
	return g, f
}

// Delivered returns how many deliveries the session accepted.
func (s *Session) Delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered
}
