package c2s

import (
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Client state indication (XEP-0352): while the client says it is
// inactive, presence updates are held and coalesced per sender (only the
// latest matters) and flushed when it becomes active; messages and
// everything else go through at once.
//
// Held presences are part of the send queue: they count against
// SendQueue like stanzas waiting to be written, so moving them into the
// queue never makes it overflow and a client that reads what it is sent
// is never cut off for what the server held back. At most half the queue
// is held; a presence from one more sender first flushes what is held,
// as if the client had become active for a moment.

// heldMaxLocked is how many senders' presences may be held at once.
func (s *Session) heldMaxLocked() int { return max(1, s.srv.cfg.SendQueue/2) }

func (s *Session) setInactive(inactive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inactive = inactive
	if !inactive {
		s.flushHeldLocked()
	}
}

// flushHeldLocked moves the held presences into the queue, in the order
// their senders were first held.
func (s *Session) flushHeldLocked() {
	if len(s.heldKeys) == 0 {
		return
	}
	for _, k := range s.heldKeys {
		if el := s.held[k]; el != nil {
			s.outSeq++
			s.out = append(s.out, outItem{el: el, seq: s.outSeq})
		}
	}
	s.held = nil
	s.heldKeys = nil
	s.writeLocked()
}

// holdLocked keeps el back if it is a presence update that can wait and
// the queue has room for it.
func (s *Session) holdLocked(el *xml.Element) bool {
	if el.Local != stanza.Presence {
		return false
	}
	switch el.Attr("type") {
	case "", "unavailable":
	default:
		return false // subscriptions, errors and probes matter now
	}
	if x := el.Child(stanza.NSMUCUser, "x"); x != nil {
		for _, st := range x.Elements() {
			if st.Local == "status" && st.Attr("code") == "110" {
				return false // the client's own room presence
			}
		}
	}
	key := el.Attr("from")
	if _, ok := s.held[key]; ok {
		s.held[key] = el // replaces the older one: the queue does not grow
		return true
	}
	if s.queuedLocked() >= s.srv.cfg.SendQueue {
		return false // no room: the caller's overflow rule applies
	}
	if len(s.heldKeys) >= s.heldMaxLocked() {
		s.flushHeldLocked()
	}
	if s.held == nil {
		s.held = make(map[string]*xml.Element)
	}
	s.heldKeys = append(s.heldKeys, key)
	s.held[key] = el
	return true
}
