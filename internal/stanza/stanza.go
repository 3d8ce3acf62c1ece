// Package stanza gives names and builders for the three XMPP stanzas
// (message, presence, iq) over the generic xml.Element tree.
package stanza

import (
	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Stanza element names.
const (
	Message  = "message"
	Presence = "presence"
	IQ       = "iq"
)

// Common payload namespaces used across packages.
const (
	NSDelay     = "urn:xmpp:delay"
	NSStanzaID  = "urn:xmpp:sid:0"
	NSCarbons   = "urn:xmpp:carbons:2"
	NSForward   = "urn:xmpp:forward:0"
	NSHints     = "urn:xmpp:hints"
	NSMUC       = "http://jabber.org/protocol/muc"
	NSMUCUser   = "http://jabber.org/protocol/muc#user"
	NSDiscoInfo = "http://jabber.org/protocol/disco#info"
	NSDiscoItem = "http://jabber.org/protocol/disco#items"
)

// IsStanza reports whether e is a message, presence or iq in a stanza
// namespace (jabber:client or jabber:server).
func IsStanza(e *xml.Element) bool {
	if e.Space != xml.NSClient && e.Space != xml.NSServer {
		return false
	}
	switch e.Local {
	case Message, Presence, IQ:
		return true
	}
	return false
}

// Type returns the type attribute, with RFC defaults applied: "normal" for
// message and "available" for presence when absent.
func Type(e *xml.Element) string {
	t := e.Attr("type")
	if t == "" {
		switch e.Local {
		case Message:
			return "normal"
		case Presence:
			return "available"
		}
	}
	return t
}

// To parses the to attribute; the zero JID when absent.
func To(e *xml.Element) (jid.JID, error) {
	s := e.Attr("to")
	if s == "" {
		return jid.JID{}, nil
	}
	return jid.Parse(s)
}

// From parses the from attribute; the zero JID when absent.
func From(e *xml.Element) (jid.JID, error) {
	s := e.Attr("from")
	if s == "" {
		return jid.JID{}, nil
	}
	return jid.Parse(s)
}

// IsRequest reports whether e is an iq get or set, which must be answered.
func IsRequest(e *xml.Element) bool {
	if e.Local != IQ {
		return false
	}
	t := e.Attr("type")
	return t == "get" || t == "set"
}

// ErrorReply returns the error response to e: to and from swapped, type
// error, the original payload kept for messages and presences (RFC 6120
// 8.3.1 allows it, and clients match on it) but not for iqs.
// It returns nil when e is itself an error, which must never be answered.
func ErrorReply(e *xml.Element, se *xmpperr.StanzaError) *xml.Element {
	if e.Attr("type") == "error" {
		return nil
	}
	r := xml.New(e.Space, e.Local)
	if id := e.Attr("id"); id != "" {
		r.SetAttr("id", id)
	}
	r.SetAttr("type", "error")
	r.SetAttr("from", e.Attr("to"))
	r.SetAttr("to", e.Attr("from"))
	if e.Local != IQ {
		for _, c := range e.Children {
			if c.Elem != nil {
				r.Children = append(r.Children, c)
			}
		}
	}
	r.Append(se.Element(e.Space))
	return r
}

// Result returns the result iq for the request iq with optional payload.
func Result(iq *xml.Element, payload *xml.Element) *xml.Element {
	r := xml.New(iq.Space, IQ, "type", "result", "id", iq.Attr("id"))
	r.SetAttr("from", iq.Attr("to"))
	r.SetAttr("to", iq.Attr("from"))
	r.Append(payload)
	return r
}

// NewIQ builds an iq of type typ with one payload.
func NewIQ(typ, id, from, to string, payload *xml.Element) *xml.Element {
	e := xml.New(xml.NSClient, IQ, "type", typ, "id", id)
	e.SetAttr("from", from)
	e.SetAttr("to", to)
	return e.Append(payload)
}

// Delay returns a XEP-0203 <delay/> element.
func Delay(from, stamp string) *xml.Element {
	d := xml.New(NSDelay, "delay", "stamp", stamp)
	d.SetAttr("from", from)
	return d
}
