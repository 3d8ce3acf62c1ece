package server

import (
	"context"
	"log/slog"

	"minimix/internal/accounts"
	"minimix/internal/adminweb"
	"minimix/internal/jid"
	"minimix/internal/storage"
	"minimix/internal/xmpperr"
)

// errorRingSize is how many recent warnings and errors the admin page's
// status shows.
const errorRingSize = 50

// withErrorRing returns log, keeping its warnings and errors in a ring
// for the admin page as well.
func withErrorRing(log *slog.Logger) (*slog.Logger, *adminweb.ErrorRing) {
	ring := adminweb.NewErrorRing(errorRingSize)
	return slog.New(ring.Handler(log.Handler())), ring
}

// buildAdminPage makes the web admin page of [admin_page], or nil.
func (s *Server) buildAdminPage(checkPassword func(ctx context.Context, user, password string) (string, bool, error)) *adminweb.Handler {
	c := s.cfg.AdminPage
	if !c.Enabled || s.cfg.HTTP.Listen == "" {
		return nil
	}
	return adminweb.New(adminweb.Config{
		Backend:                       adminBackend{s: s, check: checkPassword},
		Domain:                        s.cfg.Domain,
		Admins:                        s.cfg.Admins,
		SessionTimeout:                c.SessionTimeout.Duration,
		LoginFailuresPerMinute:        c.LoginFailuresPerMinute,
		AddressLoginFailuresPerMinute: c.AddressLoginFailuresPerMinute,
		Errors:                        s.errors,
		Logger:                        s.log.With("component", "adminweb"),
	})
}

// adminBackend is the server as the admin page sees it.
type adminBackend struct {
	s     *Server
	check func(ctx context.Context, user, password string) (string, bool, error)
}

func (b adminBackend) CheckPassword(ctx context.Context, user, password string) (string, bool, error) {
	return b.check(ctx, user, password)
}

func (b adminBackend) Status() adminweb.Status {
	s := b.s
	st := adminweb.Status{
		Version:      Version,
		Domain:       s.cfg.Domain,
		Sessions:     s.C2S.Stats.Sessions.Load(),
		Connections:  s.C2S.Stats.Connections.Load(),
		Hibernated:   s.C2S.Stats.Hibernated.Load(),
		ArchiveQueue: -1,
		AccountJoins: -1,
		Rooms:        -1,
		S2S:          -1,
	}
	s.mu.Lock()
	st.Started = s.startedAt
	for _, l := range s.listeners {
		kind := "c2s STARTTLS"
		switch {
		case l.component:
			kind = "components (XEP-0114)"
		case l.s2s && l.directTLS:
			kind = "s2s direct TLS"
		case l.s2s:
			kind = "s2s STARTTLS"
		case l.directTLS:
			kind = "c2s direct TLS (XEP-0368)"
		}
		st.Listeners = append(st.Listeners, adminweb.Listener{Kind: kind, Addr: l.ln.Addr().String()})
	}
	if s.httpLn != nil {
		st.Listeners = append(st.Listeners, adminweb.Listener{Kind: "http", Addr: s.httpLn.Addr().String()})
	}
	s.mu.Unlock()
	if q, ok := s.store.(interface{ ArchiveQueue() int }); ok {
		st.ArchiveQueue = q.ArchiveQueue()
	}
	if j := s.features.joins; j != nil {
		st.AccountJoins = j.Stats.AccountJoins.Load()
	}
	if m := s.features.muc; m != nil {
		st.Rooms = m.Rooms()
	}
	if s.S2S != nil {
		st.S2S = len(s.S2S.List())
	}
	return st
}

func (b adminBackend) Accounts(ctx context.Context) ([]string, error) { return b.s.Accounts.List(ctx) }

func (b adminBackend) AccountExists(ctx context.Context, local string) (bool, error) {
	return b.s.store.AccountExists(ctx, local)
}

func (b adminBackend) AddAccount(ctx context.Context, name, password string) error {
	return b.s.Accounts.Add(ctx, name, password)
}

func (b adminBackend) SetPassword(ctx context.Context, name, password string) error {
	if err := b.mustExist(ctx, name); err != nil {
		return err
	}
	return b.s.Accounts.SetPassword(ctx, name, password)
}

func (b adminBackend) DeleteAccount(ctx context.Context, name string) error {
	if err := b.mustExist(ctx, name); err != nil {
		return err
	}
	return b.s.Accounts.Delete(ctx, name)
}

// mustExist keeps a password reset from creating credentials for a name
// without an account, and says so for a delete.
func (b adminBackend) mustExist(ctx context.Context, name string) error {
	local, err := accounts.Prepare(name)
	if err != nil {
		return err
	}
	ok, err := b.s.store.AccountExists(ctx, local)
	if err != nil {
		return err
	}
	if !ok {
		return storage.ErrNotFound
	}
	return nil
}

func (b adminBackend) Sessions(account jid.JID) []adminweb.Session {
	infos := b.s.C2S.SessionInfos(account)
	out := make([]adminweb.Session, 0, len(infos))
	for _, in := range infos {
		se := adminweb.Session{JID: in.JID, Transport: in.Transport, Remote: in.Remote, Inactive: in.Inactive,
			SM: in.SM, Hibernated: in.Hibernated, Bound: in.Bound}
		if rs := b.s.Registry.Get(in.JID); rs != nil {
			if p := rs.State().Presence(); p != nil {
				if c := p.Child("http://jabber.org/protocol/caps", "c"); c != nil {
					se.Client = c.Attr("node")
				}
			}
		}
		out = append(out, se)
	}
	return out
}

func (b adminBackend) EndSession(full jid.JID) int {
	return b.s.C2S.End(full, xmpperr.Stream(xmpperr.PolicyViolation, "session ended by an administrator"))
}

func (b adminBackend) Joins(account jid.JID) []adminweb.Join {
	j := b.s.features.joins
	if j == nil {
		return nil
	}
	list := j.List(account)
	if list == nil {
		list = []adminweb.Join{}
	}
	return list
}

func (b adminBackend) Leave(ctx context.Context, account, room jid.JID) bool {
	j := b.s.features.joins
	return j != nil && j.Leave(ctx, account, room)
}

func (b adminBackend) Rooms() ([]adminweb.Room, bool) {
	m := b.s.features.muc
	if m == nil {
		return nil, false
	}
	return m.RoomInfos(), true
}

func (b adminBackend) DestroyRoom(ctx context.Context, room jid.JID, reason string) bool {
	m := b.s.features.muc
	return m != nil && m.Destroy(ctx, room, reason)
}

func (b adminBackend) MetricValues(names ...string) (map[string]float64, error) {
	return b.s.Metrics.Values(names...)
}

// startAdminPage starts the page's metric sampler; Shutdown stops it.
func (s *Server) startAdminPage() {
	if s.adminPage == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopAdminPage = cancel
	s.serveWG.Go(func() { s.adminPage.Run(ctx) })
}
