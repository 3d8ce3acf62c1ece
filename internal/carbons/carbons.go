// Package carbons lets a session turn Message Carbons (XEP-0280) on and
// off. The copies themselves are made by the router (router/carbons.go),
// which reads the flag this package sets on the session's state.
package carbons

import (
	"context"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0280 namespace.
const NS = stanza.NSCarbons

// Sessions finds a bound session by full JID; *router.Registry is one.
type Sessions interface {
	Get(full jid.JID) router.Session
}

// Service answers carbons enable and disable requests.
type Service struct {
	sessions Sessions
}

// New returns a Service that finds requesting sessions in sessions.
func New(sessions Sessions) *Service {
	return &Service{sessions: sessions}
}

// Register answers <enable/> and <disable/> sent by a session to its own
// account (XEP-0280's examples carry no to) or to the server (which some
// clients address), and advertises urn:xmpp:carbons:2 on both, as
// XEP-0280 section 3 has clients ask the server.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "enable", iq.Self|iq.Server, func(ctx context.Context, req iq.Request) (*xml.Element, error) {
		return nil, s.set(req, true)
	})
	m.Handle(NS, "disable", iq.Self|iq.Server, func(ctx context.Context, req iq.Request) (*xml.Element, error) {
		return nil, s.set(req, false)
	})
	m.Feature(iq.Self|iq.Server, NS)
}

// set changes the flag of the requesting session. The setting belongs to
// one session, so a request that does not come from a bound local
// session (a bare JID, a remote entity, a session already gone) is
// refused with not-allowed.
func (s *Service) set(req iq.Request, on bool) error {
	if req.Type != "set" {
		return xmpperr.New(xmpperr.BadRequest, "carbons are enabled and disabled with set")
	}
	var sess router.Session
	if !req.From.IsBare() {
		sess = s.sessions.Get(req.From)
	}
	if sess == nil {
		return xmpperr.New(xmpperr.NotAllowed, "carbons are a setting of a bound session")
	}
	sess.State().SetCarbons(on)
	return nil
}
