package server

import (
	"context"

	"minimix/internal/adhoc"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// buildAdhoc makes the server's ad-hoc commands (XEP-0050): ping for
// everyone and service administration (XEP-0133) for the admins.
func (f *features) buildAdhoc() *adhoc.Service {
	s := f.s
	svc := adhoc.New(adhoc.Config{
		Domain:         s.cfg.Domain,
		SessionTimeout: s.cfg.Adhoc.SessionTimeout.Duration,
		MaxSessions:    s.cfg.Adhoc.MaxSessions,
		Logger:         s.log.With("component", "adhoc"),
	})
	svc.Add(adhoc.PingCommand())
	for _, c := range adhoc.AdminCommands(adhoc.AdminConfig{
		Domain:   s.cfg.Domain,
		IsAdmin:  func(from jid.JID) bool { return s.admins.Load().bare[from.Bare()] },
		Accounts: adminAccounts{s},
		Sessions: adminSessions{s},
	}) {
		svc.Add(c)
	}
	svc.Register(s.Mux)
	f.disco.AddServerNodes(svc)
	return svc
}

// adminAccounts gives the administration commands the account manager,
// the same path as minimix user: deleting an account also ends its
// sessions and rooms (Accounts.OnDelete).
type adminAccounts struct{ s *Server }

func (a adminAccounts) Add(ctx context.Context, name, password string) error {
	return accountError(a.s.Accounts.Add(ctx, name, password))
}

func (a adminAccounts) Delete(ctx context.Context, name string) error {
	return a.s.Accounts.Delete(ctx, name)
}

func (a adminAccounts) SetPassword(ctx context.Context, name, password string) error {
	return accountError(a.s.Accounts.SetPassword(ctx, name, password))
}

func (a adminAccounts) List(ctx context.Context) ([]string, error) { return a.s.Accounts.List(ctx) }

// adminSessions gives the administration commands the bound sessions.
type adminSessions struct{ s *Server }

func (a adminSessions) Online() []jid.JID {
	var out []jid.JID
	a.s.Registry.All(func(se router.Session) bool {
		out = append(out, se.JID())
		return true
	})
	return out
}

func (a adminSessions) End(j jid.JID) int {
	return a.s.C2S.End(j, xmpperr.Stream(xmpperr.PolicyViolation, "session ended by an administrator"))
}

func (a adminSessions) Deliver(to jid.JID, el *xml.Element) bool {
	se := a.s.Registry.Get(to)
	return se != nil && se.Deliver(el)
}
