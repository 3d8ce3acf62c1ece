package router

import (
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// carbonEligible reports whether a message is copied to the account's
// other carbons-enabled sessions (XEP-0280 section 6): chat messages,
// normal messages with a body, IM payloads or an invitation (direct,
// XEP-0249, or mediated), never ones marked private or no-copy, never
// copies of copies, never MUC groupchat. Private messages from a room's
// occupants are a separate case (receivedCarbons).
func carbonEligible(el *xml.Element) bool {
	switch stanza.Type(el) {
	case "chat":
	case "normal":
		if el.Child("", "body") == nil && !imPayload(el) && !invitation(el) {
			return false
		}
	case "error":
		// Errors for eligible messages are eligible, but we cannot know
		// the original type; copy those that carry a body.
		if el.Child("", "body") == nil {
			return false
		}
	default:
		return false
	}
	for _, c := range el.Children {
		if c.Elem == nil {
			continue
		}
		switch {
		case c.Elem.Space == stanza.NSCarbons:
			return false // private, received or sent
		case c.Elem.Space == stanza.NSHints && c.Elem.Local == "no-copy":
			return false
		}
	}
	return true
}

// nsConference is XEP-0249's direct invitation.
const nsConference = "jabber:x:conference"

// invitation reports whether el invites to a room: a direct invitation
// (XEP-0249) or a mediated one (XEP-0045 7.8.2), both of which XEP-0280
// section 6 has copied.
func invitation(el *xml.Element) bool {
	if el.Child(nsConference, "x") != nil {
		return true
	}
	x := el.Child(stanza.NSMUCUser, "x")
	return x != nil && (x.Child(stanza.NSMUCUser, "invite") != nil || x.Child(stanza.NSMUCUser, "decline") != nil)
}

// mucPrivate reports whether el, received from from, is a private
// message from a room's occupant: from a full JID, with the
// <x xmlns='…muc#user'/> a MUC service adds, and no invitation.
// XEP-0280 section 6 says not to copy it: the service sends it to every
// session of the nick already, and a session not in the room could not
// answer it.
func mucPrivate(el *xml.Element, from jid.JID) bool {
	return !from.IsBare() && el.Child(stanza.NSMUCUser, "x") != nil && !invitation(el)
}

// imPayload reports whether el carries what XEP-0280 4.1 calls payloads
// typically used in IM: receipts, chat markers, chat states.
func imPayload(el *xml.Element) bool {
	for _, c := range el.Elements() {
		switch c.Space {
		case "urn:xmpp:receipts", "urn:xmpp:chat-markers:0", "http://jabber.org/protocol/chatstates":
			return true
		}
	}
	return false
}

// CarbonCopy wraps a copy of el in <direction><forwarded/></direction>
// (XEP-0280) for the session own: direction is "sent" or "received". The
// copy matters: the original goes on to be routed and may be stamped
// (stanza-id) while own's writer serialises the carbon.
func CarbonCopy(el *xml.Element, direction string, own jid.JID) *xml.Element {
	fwd := xml.New(stanza.NSForward, "forwarded").Append(el.Clone())
	w := xml.New(stanza.NSCarbons, direction).Append(fwd)
	m := xml.New(xml.NSClient, stanza.Message, "from", own.Bare().String(), "to", own.String())
	m.SetAttr("type", el.Attr("type"))
	return m.Append(w)
}

// receivedCarbons copies an inbound message that reached the sessions
// got (of account to.Bare()) to every other session with carbons enabled.
func (r *Router) receivedCarbons(el *xml.Element, from, to jid.JID, got ...Session) {
	if !carbonEligible(el) || mucPrivate(el, from) {
		return
	}
	for _, s := range r.reg.Sessions(to.Bare()) {
		if contains(got, s) || !s.State().Carbons() {
			continue
		}
		if s.Deliver(CarbonCopy(el, "received", s.JID())) {
			r.Stats.Carbons.Add(1)
		}
	}
}

// sentCarbons copies a message sent by session from to the account's
// other sessions with carbons enabled.
func (r *Router) sentCarbons(from Session, el *xml.Element, to jid.JID) {
	if !carbonEligible(el) || to.Bare() == from.JID().Bare() {
		// A message to one's own account reaches the other sessions as
		// an inbound message, with received carbons.
		return
	}
	for _, s := range r.reg.Sessions(from.JID().Bare()) {
		if s == from || !s.State().Carbons() {
			continue
		}
		if s.Deliver(CarbonCopy(el, "sent", s.JID())) {
			r.Stats.Carbons.Add(1)
		}
	}
}

func contains(list []Session, s Session) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
