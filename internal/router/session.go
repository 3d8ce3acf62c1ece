package router

import (
	"sync"
	"sync/atomic"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Session is a bound client session as the router sees it. Sessions are
// implemented by c2s (and by test fakes); the router never touches a
// socket.
type Session interface {
	// JID is the session's full JID; it never changes.
	JID() jid.JID
	// Deliver queues el for the client without blocking. It reports false
	// when the session can no longer take stanzas (closed, or its queue
	// overflowed and it is being disconnected); the caller then applies
	// the rules for an unavailable resource.
	Deliver(el *xml.Element) bool
	// State is the IM state features keep per session.
	State() *State
}

// Fork ties together the copies of one message that the router delivered
// to several sessions of an account at once (a message to the bare JID
// for equal-priority resources, RFC 6121 8.5.2.1.1). A session that ends
// with its copy undelivered hands the fork back to Reroute, which places
// the message elsewhere only if no copy reached a client and no other
// copy is still on its way, and then only once.
type Fork struct {
	sessions  []Session
	delivered atomic.Bool
	rerouted  atomic.Bool
}

// Delivered records that a copy reached its client (it was acknowledged,
// or written to a stream without acknowledgements).
func (f *Fork) Delivered() { f.delivered.Store(true) }

// ForkSession is a Session that keeps the fork of a forked copy, to give
// it back to Reroute. A Session without it is given forked copies with
// Deliver.
type ForkSession interface {
	Session
	// DeliverForked is Deliver for one copy of a forked message.
	DeliverForked(el *xml.Element, f *Fork) bool
}

// State is the per-session IM state that presence, roster, carbons and CSI
// read and write. It has its own lock so features never need the
// session's.
type State struct {
	mu        sync.Mutex
	available bool
	priority  int
	presence  *xml.Element // last broadcast available presence, from set
	// presenceSeq counts the changes of presence (and availability), so
	// that who sends a copy of it can tell whether it changed meanwhile
	// (SendPresence).
	presenceSeq     uint64
	carbons         bool
	rosterRequested bool
	directed        map[jid.JID]struct{}
	// changed, when set, is called after presence, carbons or the
	// roster request changed, outside the lock: a cluster node publishes
	// the session's new state to the others.
	changed func()
}

// OnChange sets f to be called after the presence, carbons or roster
// state changed. A cluster node sets it on its local sessions.
func (s *State) OnChange(f func()) {
	s.mu.Lock()
	s.changed = f
	s.mu.Unlock()
}

// Snapshot returns the state another node needs to stand in for the
// session: availability, priority, broadcast presence, carbons, and
// whether it fetched the roster.
func (s *State) Snapshot() (available bool, priority int, presence *xml.Element, carbons, rosterRequested bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.available, s.priority, s.presence, s.carbons, s.rosterRequested
}

// Restore sets what Snapshot returned, on the state of a session of
// another node.
func (s *State) Restore(available bool, priority int, presence *xml.Element, carbons, rosterRequested bool) {
	s.mu.Lock()
	s.available, s.priority, s.presence, s.carbons, s.rosterRequested = available, priority, presence, carbons, rosterRequested
	s.presenceSeq++
	s.mu.Unlock()
}

func (s *State) notify(f func()) {
	if f != nil {
		f()
	}
}

// Available reports whether the session has sent available presence, and
// its priority.
func (s *State) Available() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.available, s.priority
}

// SetPresence records the session's broadcast presence. A nil or
// unavailable presence makes the session unavailable. It returns whether
// the session was available before, so callers can tell initial presence.
func (s *State) SetPresence(p *xml.Element, available bool, priority int) (wasAvailable bool) {
	s.mu.Lock()
	wasAvailable = s.available
	s.available = available
	s.priority = priority
	if available {
		s.presence = p
	} else {
		s.presence = nil
	}
	s.presenceSeq++
	f := s.changed
	s.mu.Unlock()
	s.notify(f)
	return wasAvailable
}

// Presence returns the last broadcast available presence, or nil.
func (s *State) Presence() *xml.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence
}

func (s *State) presenceAndSeq() (*xml.Element, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence, s.presenceSeq
}

// SendPresence sends a copy of the session's current broadcast presence
// with send, which stamps it (from, to) and routes or delivers it, and
// reports whether there was one. It is for the copies sent on another
// goroutine than the session's own broadcast (a probe's answer, a new
// subscriber's or a new sibling resource's presence): the session may
// broadcast a newer presence to the same recipient between the read of
// its state and send, and the older copy would arrive last. So the
// presence is sent again until it did not change while it was being
// sent, and an unavailable presence (without from and to) is sent if
// the session became unavailable meanwhile: the recipient's last
// presence from the session is the newest (RFC 6121 4.4.2), whatever the
// order of the goroutines. send must not block on the session.
func (s *State) SendPresence(send func(p *xml.Element)) (sent bool) {
	p, seq := s.presenceAndSeq()
	for {
		if p == nil {
			if sent {
				send(xml.New(xml.NSClient, stanza.Presence, "type", "unavailable"))
			}
			return sent
		}
		send(p)
		sent = true
		next, nextSeq := s.presenceAndSeq()
		if nextSeq == seq {
			return true
		}
		p, seq = next, nextSeq
	}
}

// Carbons reports whether the session enabled message carbons.
func (s *State) Carbons() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.carbons
}

// SetCarbons enables or disables carbons for the session.
func (s *State) SetCarbons(on bool) {
	s.mu.Lock()
	changed := s.carbons != on
	s.carbons = on
	f := s.changed
	s.mu.Unlock()
	if changed {
		s.notify(f)
	}
}

// RosterRequested reports whether the session fetched the roster, which
// makes it an "interested resource" for roster pushes (RFC 6121 2.1.6).
func (s *State) RosterRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rosterRequested
}

// SetRosterRequested marks the session as interested in roster pushes.
func (s *State) SetRosterRequested() {
	s.mu.Lock()
	changed := !s.rosterRequested
	s.rosterRequested = true
	f := s.changed
	s.mu.Unlock()
	if changed {
		s.notify(f)
	}
}

// AddDirected remembers that the session sent directed presence to j, so
// that unavailable presence reaches j too (RFC 6121 4.6.3).
func (s *State) AddDirected(j jid.JID) {
	s.mu.Lock()
	if s.directed == nil {
		s.directed = make(map[jid.JID]struct{})
	}
	if len(s.directed) < maxDirected {
		s.directed[j] = struct{}{}
	}
	s.mu.Unlock()
}

// RemoveDirected forgets j.
func (s *State) RemoveDirected(j jid.JID) {
	s.mu.Lock()
	delete(s.directed, j)
	s.mu.Unlock()
}

// TakeDirected returns and clears the directed presence targets.
func (s *State) TakeDirected() []jid.JID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]jid.JID, 0, len(s.directed))
	for j := range s.directed {
		out = append(out, j)
	}
	s.directed = nil
	return out
}

// maxDirected bounds the directed-presence set a client can grow.
const maxDirected = 1000
