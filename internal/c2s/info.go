package c2s

import (
	"slices"
	"strings"
	"time"

	"minimix/internal/jid"
)

// SessionInfo describes one session, for operators (the admin page).
type SessionInfo struct {
	JID       jid.JID
	Transport string // "starttls", "tls" (direct TLS, XEP-0368), "tcp" (no TLS), "websocket", "bosh"
	Remote    string // the client's address; "" while hibernated
	Bound     time.Time
	// Inactive is the client's CSI state (XEP-0352).
	Inactive bool
	// SM says stream management is on; Hibernated that the connection is
	// gone and the session awaits resumption.
	SM         bool
	Hibernated bool
}

// SessionInfos returns the sessions of the bare JID account (every
// session when account is zero), ordered by JID.
func (s *Server) SessionInfos(account jid.JID) []SessionInfo {
	s.mu.Lock()
	list := make([]*Session, 0, len(s.sessions))
	for se := range s.sessions {
		if account.IsZero() || se.jid.Bare() == account {
			list = append(list, se)
		}
	}
	s.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, se := range list {
		se.mu.Lock()
		if se.phase == phaseEnded {
			se.mu.Unlock()
			continue
		}
		in := SessionInfo{JID: se.jid, Bound: se.bound, Inactive: se.inactive, SM: se.sm, Hibernated: se.phase == phaseHibernated}
		if c := se.c; c != nil && !in.Hibernated {
			in.Transport = c.transportName()
			if c.remote.IsValid() {
				in.Remote = c.remote.String()
			}
		}
		se.mu.Unlock()
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.JID.String(), b.JID.String()) })
	return out
}

// transportName says how the client reached the server.
func (c *conn) transportName() string {
	switch {
	case c.fr != nil:
		return c.frInfo.Transport
	case c.directTLS:
		return "tls"
	case c.tls != nil:
		return "starttls"
	default:
		return "tcp"
	}
}
