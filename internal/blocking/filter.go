package blocking

import (
	"context"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// FromSession implements router.Interceptor: a stanza an account's session
// sends to a JID the account blocks does not leave the server. A message,
// an iq request and a directed presence come back with not-acceptable and
// <blocked/> (XEP-0191 section 3.3); errors and iq results, which must
// never be answered, are dropped. Presence that only takes something away
// from the contact (unsubscribe, unsubscribed) is let through to the
// presence service, so that the account can still clean up its roster: it
// changes the roster, and presence sends nothing to a blocked contact
// (Blocks).
func (s *Service) FromSession(ctx context.Context, sess router.Session, el *xml.Element, to jid.JID) bool {
	if to.IsZero() {
		return false
	}
	from := sess.JID()
	l := s.list(from.Local)
	if l == nil || from.Domain != s.cfg.Domain || exempt(from, to, s.cfg.Domain) || !l.matches(to) {
		return false
	}
	typ := el.Attr("type")
	switch {
	case el.Local == stanza.Presence && (typ == "unsubscribe" || typ == "unsubscribed"):
		return false
	case typ == "error" || el.Local == stanza.IQ && typ == "result":
		s.Stats.Refused.Add(1)
		return true
	}
	s.Stats.Refused.Add(1)
	// From the contact, as in section 3.3's example: the stanza did not
	// reach it.
	reply := stanza.ErrorReply(el, xmpperr.New(xmpperr.NotAcceptable, "").WithType(xmpperr.Cancel).WithApp(xml.New(NSErrors, "blocked")))
	reply.SetAttr("from", to.String())
	reply.SetAttr("to", from.String())
	sess.Deliver(reply)
	return true
}

// ToLocal implements router.Interceptor: a stanza from a JID the account
// blocks does not reach it (XEP-0191 section 3.3). Presence of any type is
// dropped without an answer; a message of type normal or chat is answered
// with service-unavailable, so that the account looks offline, and any
// other (groupchat, headline, error) dropped; an iq get or set is answered
// with service-unavailable and any other iq dropped.
//
// A private message from a room occupant (it carries the room's
// <x xmlns='http://jabber.org/protocol/muc#user'/>) is dropped rather than
// answered: a room takes an error from an occupant's real JID for a sign
// that the occupant is gone (XEP-0045 section 18.1, ghosts) and would
// remove the account from the room, which is not what blocking one
// occupant asks for.
func (s *Service) ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool {
	if to.Local == "" || from.IsZero() {
		return false
	}
	l := s.list(to.Local)
	if l == nil || exempt(to, from, s.cfg.Domain) || !l.matches(from) {
		return false
	}
	s.Stats.Blocked.Add(1)
	typ := stanza.Type(el)
	answer := false
	switch el.Local {
	case stanza.Message:
		answer = (typ == "chat" || typ == "normal") && el.Child(stanza.NSMUCUser, "x") == nil
	case stanza.IQ:
		answer = typ == "get" || typ == "set"
	}
	if answer {
		reply := stanza.ErrorReply(el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		if reply != nil {
			reply.SetAttr("from", to.String())
			reply.SetAttr("to", from.String())
			s.cfg.Sender.Route(ctx, reply, to, from)
		}
	}
	return true
}
