package muc

import (
	"context"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// ghostConditions are the errors that say a real JID is no longer there
// to receive the room's traffic (XEP-0045 section 18.1, business rules):
// the session ended, its server is gone, or it refuses room traffic. An
// occupant whose real JID answers with one of them is a ghost.
var ghostConditions = map[xmpperr.Condition]bool{
	xmpperr.Gone:                 true,
	xmpperr.ItemNotFound:         true,
	xmpperr.RecipientUnavailable: true,
	xmpperr.Redirect:             true,
	xmpperr.RemoteServerNotFound: true,
	xmpperr.RemoteServerTimeout:  true,
	xmpperr.ServiceUnavailable:   true,
}

// onError handles an error stanza to a room or occupant JID: an answer
// to a relayed iq goes back to the requester; a delivery error from an
// occupant's real JID removes that session from the room, with status
// 333 to everyone (section 7.x business rules, XEP-0045 1.35). A presence
// of type error from an occupant's real JID removes it whatever it
// carries, an <error/> child or none, as Prosody does: a client that
// answers the room's presence with an error is not taking part.
func (s *Service) onError(ctx context.Context, el *xml.Element, from, to jid.JID) {
	r := s.lookup(to.Local)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer s.release(ctx, r)
	if r.destroyed {
		return
	}
	if el.Local == stanza.IQ && to.Resource != "" && s.relayAnswer(r, el, from, to) {
		return
	}
	o := r.byReal[from]
	if o == nil {
		return
	}
	se := xmpperr.FromElement(el)
	cond := "none"
	switch {
	case se != nil && ghostConditions[se.Condition]:
		cond = string(se.Condition)
	case el.Local == stanza.Presence:
		if se != nil {
			cond = string(se.Condition)
		}
	default:
		return
	}
	s.log.Info("muc: removing ghost occupant", "room", r.jidS, "nick", o.nick, "real", from.String(), "stanza", el.Local, "error", cond)
	s.removeSession(r, o, from, &change{typ: "unavailable", codes: []string{"333"}})
}
