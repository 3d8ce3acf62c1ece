package server

import (
	"context"

	"minimix/internal/carbons"
	"minimix/internal/disco"
	"minimix/internal/entitytime"
	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/offline"
	"minimix/internal/ping"
	"minimix/internal/presence"
	"minimix/internal/private"
	"minimix/internal/register"
	"minimix/internal/roster"
	"minimix/internal/vcard"
	"minimix/internal/version"
	"minimix/internal/xml"
)

// features holds the IM feature services and implements router.Handlers
// and c2s.Hooks by delegating to them.
type features struct {
	s        *Server
	roster   *roster.Service
	presence *presence.Service
	offline  *offline.Service
	archive  *mam.Archive
	disco    *disco.Service
}

// buildFeatures creates every feature, registers their iq handlers and
// hooks them into the router.
func (s *Server) buildFeatures(ctx context.Context) (*features, error) {
	f := &features{s: s}
	log := s.log
	r := s.Router
	store := s.store

	f.roster = roster.New(store, r, log.With("component", "roster"))
	f.offline = offline.New(store, r, s.cfg.C2S.OfflineMax, s.cfg.Domain, log.With("component", "offline"))
	f.presence = presence.New(presence.Config{
		Domain:  s.cfg.Domain,
		Store:   store,
		Router:  r,
		Roster:  f.roster,
		Offline: f.offline,
		Logger:  log.With("component", "presence"),
	})
	f.archive = mam.New(store, f.inRoster, log.With("component", "mam"))

	r.SetHandlers(f)
	r.SetOffline(f.offline)
	r.SetArchiver(f.archive)

	m := s.Mux
	f.roster.Register(m)
	f.disco = disco.New(store)
	f.disco.Register(m)
	ping.Register(m)
	version.New(Version, "").Register(m)
	entitytime.New(nil).Register(m)
	vcard.New(store, 0).Register(m)
	private.New(store, 0, 0).Register(m)
	carbons.New(s.Registry).Register(m)
	register.New(register.Config{
		SetPassword: s.Accounts.SetPassword,
		Remove:      s.Accounts.Delete,
	}).Register(m)
	f.archive.Register(m, f.sendToSession)
	return f, nil
}

// inRoster reports whether with is in owner's roster, for the archive's
// "roster" preference.
func (f *features) inRoster(ctx context.Context, owner, with jid.JID) bool {
	_, err := f.s.store.RosterItem(ctx, owner.Local, with.Bare().String())
	return err == nil
}

// sendToSession delivers el to exactly the session to (MAM results).
func (f *features) sendToSession(ctx context.Context, to jid.JID, el *xml.Element) {
	if s := f.s.Registry.Get(to); s != nil {
		s.Deliver(el)
	}
}

func (f *features) shutdown(ctx context.Context) error { return nil }
