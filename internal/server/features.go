package server

import (
	"context"
	"errors"
	"fmt"

	"minimix/internal/accountjoin"
	"minimix/internal/iq"

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
	joins    *accountjoin.Service // nil when account_join is disabled
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

	if aj := s.cfg.AccountJoin; aj.Enabled {
		f.joins = accountjoin.New(accountjoin.Config{
			Domain:         s.cfg.Domain,
			IdleLeaveAfter: aj.IdleLeaveAfter.Duration,
			OfflineShow:    aj.OfflineShow,
			Sessions:       s.Registry,
			Sender:         r,
			Store:          joinStore{store},
			Archive:        joinArchive{mam: f.archive, store: store},
			Logger:         log.With("component", "accountjoin"),
		})
		r.AddInterceptor(f.joins)
		m.Feature(iq.Self|iq.Account, accountjoin.NS, mam.NSGroupchatAvailable)
	}
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

// start starts what runs in the background; account joins rejoin their
// rooms here, after every component (the MUC service) is routable.
func (f *features) start(ctx context.Context) error {
	if f.joins != nil {
		if err := f.joins.Start(ctx); err != nil {
			return fmt.Errorf("rejoin rooms: %w", err)
		}
	}
	return nil
}

func (f *features) shutdown(ctx context.Context) error {
	var errs []error
	if f.joins != nil {
		if err := f.joins.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("account joins: %w", err))
		}
	}
	return errors.Join(errs...)
}
