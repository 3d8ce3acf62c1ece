// Package ping answers XMPP Ping (XEP-0199) for the server and for
// accounts, so clients can check their connection and the path to a
// contact's server.
package ping

import (
	"context"

	"minimix/internal/iq"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0199 namespace.
const NS = "urn:xmpp:ping"

// Register answers pings to the server, to an account from itself and
// to an account from others, and advertises urn:xmpp:ping on all three.
// Ping has no state, so there is no constructor.
//
// A ping to an account's bare JID is answered by the server on the
// account's behalf, as RFC 6121 section 8.5 has it do for every iq to a
// bare JID. Whether the account exists is not checked here: that is for
// whoever routes iqs to accounts, the same for every iq (RFC 6121
// section 8.5.1 answers service-unavailable).
func Register(m *iq.Mux) {
	targets := iq.Server | iq.Self | iq.Account
	m.Handle(NS, "ping", targets, pong)
	m.Feature(targets, NS)
}

func pong(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "ping is get only")
	}
	return nil, nil
}
