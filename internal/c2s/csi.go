package c2s

import (
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Client state indication (XEP-0352): while the client says it is
// inactive, presence updates are held and coalesced per sender (only the
// latest matters) and flushed when it becomes active; messages and
// everything else go through at once.

// maxHeld bounds the senders whose presence is held; past it presences
// are delivered normally rather than grow without bound.
const maxHeld = 2000

func (s *Session) setInactive(inactive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inactive = inactive
	if inactive || len(s.heldKeys) == 0 {
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
	s.signalLocked()
}

// holdLocked keeps el back if it is a presence update that can wait.
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
	if s.held == nil {
		s.held = make(map[string]*xml.Element)
	}
	if _, ok := s.held[key]; !ok {
		if len(s.heldKeys) >= maxHeld {
			return false
		}
		s.heldKeys = append(s.heldKeys, key)
	}
	s.held[key] = el
	return true
}
