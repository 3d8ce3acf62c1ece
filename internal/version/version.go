// Package version answers Software Version (XEP-0092) for the server.
package version

import (
	"context"

	"minimix/internal/iq"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0092 namespace.
const NS = "jabber:iq:version"

// Name is the software name the server reports.
const Name = "minimix"

// Service answers jabber:iq:version requests to the server.
type Service struct {
	version string
	os      string
}

// New returns a Service reporting version (the build's version; "unknown"
// when empty, as XEP-0092 requires the element) and os, which is left out
// when empty. Leaving the operating system out is the sensible default:
// anyone on the network may ask, and an exact OS string only helps an
// attacker pick exploits (XEP-0092's security considerations ask for a
// way to turn it off); set it only on servers where the operator wants
// it public.
func New(version, os string) *Service {
	if version == "" {
		version = "unknown"
	}
	return &Service{version: version, os: os}
}

// Register answers version requests to the server and advertises
// jabber:iq:version there. Requests to accounts are not answered by the
// server: XEP-0092 asks a client, so they go to a full JID.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "query", iq.Server, s.query)
	m.Feature(iq.Server, NS)
}

func (s *Service) query(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "software version is get only")
	}
	q := xml.New(NS, "query").Append(
		xml.New(NS, "name").AppendText(Name),
		xml.New(NS, "version").AppendText(s.version),
	)
	if s.os != "" {
		q.Append(xml.New(NS, "os").AppendText(s.os))
	}
	return q, nil
}
