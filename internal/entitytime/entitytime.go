// Package entitytime answers Entity Time (XEP-0202) for the server.
package entitytime

import (
	"context"
	"time"

	"minimix/internal/iq"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0202 namespace.
const NS = "urn:xmpp:time"

// utcLayout is the XEP-0082 DateTime profile in UTC with milliseconds,
// which XEP-0082 allows and which makes the answer useful for clock-skew
// estimates.
const utcLayout = "2006-01-02T15:04:05.000Z"

// Service answers urn:xmpp:time requests to the server.
type Service struct {
	now func() time.Time
}

// New returns a Service reading the time from now (time.Now when nil;
// tests pass a fixed clock).
func New(now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{now: now}
}

// Register answers time requests to the server and advertises
// urn:xmpp:time there. Requests to accounts are not answered: an
// account's time is its client's, asked at a full JID.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "time", iq.Server, s.query)
	m.Feature(iq.Server, NS)
}

// query always reports offset +00:00: the server's local zone says where
// its machine is and nothing a client needs, since the offset only
// matters for a person's local time.
func (s *Service) query(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "entity time is get only")
	}
	return xml.New(NS, "time").Append(
		xml.New(NS, "tzo").AppendText("+00:00"),
		xml.New(NS, "utc").AppendText(s.now().UTC().Format(utcLayout)),
	), nil
}
