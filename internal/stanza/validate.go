package stanza

import (
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Validate checks what RFC 6120 8.1 and 8.2 require of a stanza, from a
// client or a peer server: an iq's id and type and its one payload, and
// the types of messages and presences.
func Validate(el *xml.Element) *xmpperr.StanzaError {
	switch el.Local {
	case IQ:
		if el.Attr("id") == "" {
			return xmpperr.New(xmpperr.BadRequest, "an iq needs an id")
		}
		switch el.Attr("type") {
		case "get", "set":
			if len(el.Elements()) != 1 {
				return xmpperr.New(xmpperr.BadRequest, "an iq get or set needs exactly one child")
			}
		case "result", "error":
		default:
			return xmpperr.New(xmpperr.BadRequest, "unknown iq type")
		}
	case Message:
		switch el.Attr("type") {
		case "", "normal", "chat", "groupchat", "headline", "error":
		default:
			return xmpperr.New(xmpperr.BadRequest, "unknown message type")
		}
	case Presence:
		switch el.Attr("type") {
		case "", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "error":
		default:
			return xmpperr.New(xmpperr.BadRequest, "unknown presence type")
		}
	}
	return nil
}
