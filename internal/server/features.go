package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"minimix/internal/accountjoin"
	"minimix/internal/adhoc"
	"minimix/internal/iq"

	"minimix/internal/avatar"
	"minimix/internal/blocking"
	"minimix/internal/bookmarks"
	"minimix/internal/carbons"
	"minimix/internal/disco"
	"minimix/internal/entitytime"
	"minimix/internal/extdisco"
	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/memtrim"
	"minimix/internal/muc"
	"minimix/internal/offline"
	"minimix/internal/pep"
	"minimix/internal/ping"
	"minimix/internal/presence"
	"minimix/internal/private"
	"minimix/internal/pubsubsvc"
	"minimix/internal/push"
	"minimix/internal/register"
	"minimix/internal/roster"
	"minimix/internal/storage"
	"minimix/internal/upload"
	"minimix/internal/vcard"
	"minimix/internal/version"
	"minimix/internal/xml"
)

// features holds the IM feature services and implements router.Handlers
// and c2s.Hooks by delegating to them.
type features struct {
	s         *Server
	roster    *roster.Service
	presence  *presence.Service
	offline   *offline.Service
	archive   *mam.Archive
	disco     *disco.Service
	joins     *accountjoin.Service // nil when account_join is disabled
	pep       *pep.Service
	bookmarks *bookmarks.Service
	muc       *muc.Service // nil when muc.domain is ""
	adhoc     *adhoc.Service
	pubsub    *pubsubsvc.Service // nil when pubsub.domain is ""
	blocking  *blocking.Service
	push      *push.Service   // nil when push.enabled is false
	upload    *upload.Service // nil when upload.domain or http.listen is ""

	exists sync.Map // local -> time.Time: accounts known to exist until then

	// stopRetention ends the archive's retention loop and the memory
	// trimmer; retention is done when both have.
	stopRetention context.CancelFunc
	retention     sync.WaitGroup
}

// buildFeatures creates every feature, registers their iq handlers and
// hooks them into the router.
func (s *Server) buildFeatures(ctx context.Context) (*features, error) {
	f := &features{s: s}
	log := s.log
	r := s.Router
	store := s.store

	f.roster = roster.New(store, r, log.With("component", "roster"))
	f.roster.SetMaxItems(s.cfg.Roster.MaxItems)
	if s.cfg.C2S.OfflineMax > 0 {
		// offline_max = 0 keeps no offline messages (offline.New would
		// read 0 as no limit): messages to an account with no available
		// resource are refused, as the router does without an Offline.
		f.offline = offline.New(store, r, s.cfg.C2S.OfflineMax, s.cfg.Domain, log.With("component", "offline"))
	}
	f.pep = pep.New(pep.Config{
		Domain:          s.cfg.Domain,
		Store:           store,
		Router:          r,
		MaxNodes:        s.cfg.PEP.MaxNodes,
		MaxItems:        s.cfg.PEP.MaxItems,
		MaxPayloadBytes: s.cfg.PEP.MaxPayloadBytes,
		Logger:          log.With("component", "pep"),
	})
	f.bookmarks = bookmarks.New(s.cfg.Domain, f.pep, log.With("component", "bookmarks"))
	f.blocking = blocking.New(blocking.Config{
		Domain:      s.cfg.Domain,
		Store:       store,
		Sessions:    s.Registry,
		Sender:      r,
		Subscribers: f.presenceSubscribers,
		MaxItems:    s.cfg.Blocking.MaxItems,
		Logger:      log.With("component", "blocking"),
	})
	// First among the interceptors: what a blocked JID sends is stopped
	// before anything else sees it, account-based group chat included.
	r.AddInterceptor(f.blocking)
	f.presence = presence.New(presence.Config{
		Domain:  s.cfg.Domain,
		Store:   store,
		Router:  r,
		Roster:  f.roster,
		Offline: f.offline,
		Logger:  log.With("component", "presence"),
		// PEP learns entity capabilities from presence and sends last
		// items on it (XEP-0163).
		OnAvailable:   f.pep.SessionAvailable,
		OnUnavailable: f.pep.SessionUnavailable,
		OnInbound:     f.pep.ContactPresence,
		Blocked:       f.blocking.Blocks,
	})
	f.archive = mam.New(store, f.inRoster, log.With("component", "mam"))
	f.archive.SetPageSizes(s.cfg.MAM.DefaultPageSize, s.cfg.MAM.MaxPageSize)

	r.SetHandlers(f)
	if f.offline != nil {
		r.SetOffline(f.offline)
		s.Mux.Feature(iq.Server, offline.Feature)
	}
	r.SetArchiver(f.archive)

	m := s.Mux
	f.roster.Register(m)
	f.disco = disco.New(store)
	f.disco.Register(m)
	f.disco.AddAccountIdentity("pubsub", "pep", "")
	f.disco.AddServerIdentity("pubsub", "pep", "")
	f.disco.SetAccountNodes(f.pep.Nodes)
	f.pep.Register(m)
	f.bookmarks.Register(m)
	f.blocking.Register(m)
	r.AddInterceptor(f.pep) // answers to its capabilities queries
	ping.Register(m)
	version.New(Version, "").Register(m)
	entitytime.New(nil).Register(m)
	vc := vcard.New(store, 0)
	vc.Register(m)
	// XEP-0398 conversion between the PEP and vCard avatars, and the
	// XEP-0153 hash in presence: an interceptor ahead of account-based
	// group chat, so that the joins it sends carry the hash too.
	av := avatar.New(s.cfg.Domain, f.pep, vc, log.With("component", "avatar"))
	av.Register(m)
	r.AddInterceptor(av)
	priv := private.New(store, 0, 0)
	priv.Handle(private.Key(xml.New(bookmarks.NSLegacy, "storage")), f.bookmarks)
	priv.Register(m)
	carbons.New(s.Registry).Register(m)
	register.New(register.Config{
		SetPassword: func(ctx context.Context, user, password string) error {
			return accountError(s.Accounts.SetPassword(ctx, user, password))
		},
		Remove: s.Accounts.Delete,
		Logger: log.With("component", "register"),
	}).Register(m)
	f.archive.Register(m, f.sendToSession)
	f.adhoc = f.buildAdhoc()
	ext, err := s.buildExtDisco()
	if err != nil {
		return nil, err
	}
	ext.Register(m)

	if d := s.cfg.MUC.Domain; d != "" {
		svc, err := s.buildMUC(f)
		if err != nil {
			return nil, err
		}
		f.muc = svc
		r.AddComponent(d, svc)
		if err := f.disco.AddServerItem(d, "Chatrooms"); err != nil {
			return nil, err
		}
	}

	if err := f.buildPubSub(); err != nil {
		return nil, err
	}
	if f.upload, err = s.buildUpload(); err != nil {
		return nil, err
	}
	if f.upload != nil {
		r.AddComponent(s.cfg.Upload.Domain, f.upload)
		if err := f.disco.AddServerItem(s.cfg.Upload.Domain, "HTTP File Upload"); err != nil {
			return nil, err
		}
	}

	if pc := s.cfg.Push; pc.Enabled {
		rooms, _ := push.ParseSetting(pc.Rooms) // validated
		f.push = push.New(push.Config{
			Domain:           s.cfg.Domain,
			Store:            store,
			Sessions:         s.Registry,
			Sender:           r,
			Rooms:            f.pushRoomSettings,
			RoomDefault:      rooms,
			IncludeSender:    pc.IncludeSender,
			IncludeBody:      pc.IncludeBody,
			MaxRegistrations: pc.MaxRegistrations,
			Queue:            pc.Queue,
			Timeout:          pc.Timeout.Duration,
			MaxFailures:      pc.MaxFailures,
			Logger:           log.With("component", "push"),
		})
		f.push.Register(m)
		// The router tells it of delivered messages; as an interceptor it
		// takes the app servers' answers to its publishes.
		r.SetWatcher(f.push)
		r.AddInterceptor(f.push)
		f.bookmarks.OnBookmarksChanged = f.bookmarksChanged
	}

	if aj := s.cfg.AccountJoin; aj.Enabled {
		var onRoomMessage func(ctx context.Context, account, room jid.JID, nick string, el *xml.Element)
		if f.push != nil {
			// A room message that reaches the account may wake its phone.
			onRoomMessage = f.push.RoomMessage
		}
		mucDomain := s.cfg.MUC.Domain
		f.joins = accountjoin.New(accountjoin.Config{
			Domain:         s.cfg.Domain,
			IdleLeaveAfter: aj.IdleLeaveAfter.Duration,
			OfflineShow:    aj.OfflineShow,
			HistoryMax:     aj.HistoryMax,
			Sessions:       s.Registry,
			Sender:         r,
			Store:          joinStore{store},
			Archive:        joinArchive{mam: f.archive, store: store},
			OnRoomMessage:  onRoomMessage,
			SelfPingAfter:  aj.SelfPingAfter.Duration,
			Logger:         log.With("component", "accountjoin"),
			// The local MUC service never creates a room for the server's
			// own join (muc.Config.ExemptJoin).
			NoCreate: func(room jid.JID) bool { return mucDomain != "" && room.Domain == mucDomain },
		})
		r.AddInterceptor(f.joins)
		m.Feature(iq.Self|iq.Account, accountjoin.NS, mam.NSGroupchatAvailable)
		f.bookmarks.OnBookmarksChanged = f.bookmarksChanged
	}
	return f, nil
}

// inRoster reports whether with is in owner's roster, for the archive's
// "roster" preference.
func (f *features) inRoster(ctx context.Context, owner, with jid.JID) bool {
	_, err := f.s.store.RosterItem(ctx, owner.Local, with.Bare().String())
	return err == nil
}

// presenceSubscribers lists the contacts with a subscription to user's
// presence, for the blocking command's presence rules.
func (f *features) presenceSubscribers(ctx context.Context, user jid.JID) ([]jid.JID, error) {
	items, _, err := f.s.store.RosterItems(ctx, user.Local)
	if err != nil {
		return nil, err
	}
	var out []jid.JID
	for _, it := range items {
		if it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth {
			continue
		}
		if j, err := jid.Parse(it.Contact); err == nil {
			out = append(out, j)
		}
	}
	return out, nil
}

// pushRoomSettings reads an account's per-room notification settings from
// its bookmarks (XEP-0492 in XEP-0402's extensions), for push.
func (f *features) pushRoomSettings(ctx context.Context, account jid.JID) (map[jid.JID]push.Notify, error) {
	bms, err := f.bookmarks.Bookmarks(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make(map[jid.JID]push.Notify)
	for _, b := range bms {
		if n, ok := push.ParseNotify(b.Extensions); ok {
			out[b.Room] = n
		}
	}
	return out, nil
}

// sendToSession delivers el to exactly the session to (MAM results).
func (f *features) sendToSession(ctx context.Context, to jid.JID, el *xml.Element) {
	if s := f.s.Registry.Get(to); s != nil {
		s.Deliver(el)
	}
}

// start starts what runs in the background; account joins rejoin their
// rooms here, after every component (the MUC service) is routable. When
// a step fails, what started before it is stopped again.
func (f *features) start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.s.cfg.ShutdownGrace.Duration)
			defer cancel()
			if serr := f.shutdown(sctx); serr != nil {
				f.s.log.Error("stopping features after a failed start", "err", serr)
			}
		}
	}()
	if err := f.blocking.Start(ctx); err != nil {
		return err
	}
	if f.push != nil {
		if err := f.push.Start(ctx); err != nil {
			return err
		}
	}
	if err := f.archive.LoadMemberships(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stopRetention = cancel
	f.retention.Go(func() { f.archive.RunRetention(rctx, f.s.cfg.MAM.Retention.Duration) })
	// The loops that live as long as the features: they end with
	// stopRetention too.
	f.retention.Go(func() { memtrim.New(time.Second, f.s.log).Run(rctx) })
	if f.muc != nil {
		if err := f.muc.Start(ctx); err != nil {
			return err
		}
	}
	if err := f.startPubSub(ctx); err != nil {
		return err
	}
	if err := f.startUpload(ctx); err != nil {
		return err
	}
	if f.joins != nil {
		if err := f.joins.Start(ctx); err != nil {
			return fmt.Errorf("rejoin rooms: %w", err)
		}
		if err := f.autojoinAll(ctx); err != nil {
			return fmt.Errorf("autojoin bookmarks: %w", err)
		}
	}
	return nil
}

func (f *features) shutdown(ctx context.Context) error {
	var errs []error
	if f.joins != nil {
		// Before the MUC service: the 332 it sends every occupant as it
		// stops still reaches the accounts' joined sessions, but the
		// account joins, stopped, schedule no rejoin and keep their
		// stored memberships as they are for the next start.
		if err := f.joins.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("account joins: %w", err))
		}
	}
	if f.muc != nil {
		if err := f.muc.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("muc: %w", err))
		}
	}
	if f.stopRetention != nil {
		f.stopRetention()
		f.retention.Wait()
	}
	if f.upload != nil {
		if err := f.upload.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if f.pubsub != nil {
		if err := f.pubsub.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pubsub: %w", err))
		}
	}
	if f.push != nil {
		// Last: what the others did on their way out may still push, and
		// components (app servers) are connected until the streams go.
		if err := f.push.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// buildExtDisco makes external service discovery (XEP-0215) of
// [external_services].
func (s *Server) buildExtDisco() (*extdisco.Discovery, error) {
	c := s.cfg.ExternalServices
	secret := []byte(c.Secret)
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("external_services.secret_file: %w", err)
		}
		secret = bytes.TrimSpace(b)
		if len(secret) == 0 {
			return nil, fmt.Errorf("external_services.secret_file %s is empty", c.SecretFile)
		}
	}
	services := make([]extdisco.Service, len(c.Services))
	for i, sv := range c.Services {
		services[i] = extdisco.Service{
			Type: sv.Type, Host: sv.Host, Port: sv.Port, Transport: sv.Transport, Name: sv.Name,
			Secret: sv.Secret, Username: sv.Username, Password: sv.Password,
		}
	}
	return extdisco.New(extdisco.Config{
		Domain:   s.cfg.Domain,
		Services: services,
		Secret:   secret,
		TTL:      c.CredentialTTL.Duration,
	}), nil
}

// buildMUC makes the multi-user chat service of [muc].
func (s *Server) buildMUC(f *features) (*muc.Service, error) {
	c := s.cfg.MUC
	secret, err := loadSecret(filepath.Join(s.cfg.DataDir, "muc.secret"))
	if err != nil {
		return nil, err
	}
	var admins []jid.JID
	for _, a := range append(slices.Clone(s.cfg.Admins), c.Admins...) {
		j, err := jid.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("muc admin %q: %w", a, err)
		}
		admins = append(admins, j)
	}
	svc, err := muc.New(muc.Config{
		Domain:         c.Domain,
		ServerDomain:   s.cfg.Domain,
		HistoryDefault: c.HistoryDefault,
		MaxOccupants:   c.MaxOccupants,
		Creation:       c.RestrictRoomCreation,
		Admins:         admins,
		Limits: muc.Limits{
			CreateBurst: c.CreateBurst, CreateInterval: c.CreateInterval.Duration,
			JoinBurst: c.JoinBurst, JoinInterval: c.JoinInterval.Duration,
			HistoryLength: c.HistoryLength, MaxHistoryLength: c.MaxHistoryLength,
			MaxSessionsPerNick: c.MaxSessionsPerNick, MaxNickLength: c.MaxNickLength,
			VoiceRequestBurst: c.VoiceRequestBurst, VoiceRequestInterval: c.VoiceRequestInterval.Duration,
		},
		Secret:  secret,
		Router:  s.Router,
		Store:   s.store,
		Archive: f.archive,
		Logger:  s.log.With("component", "muc"),
		// The account-join service's own rejoins are the server's work:
		// not rate-limited as a stranger's joins are.
		ExemptJoin: accountjoin.IsServerJoin,
	})
	if err != nil {
		return nil, fmt.Errorf("muc: %w", err)
	}
	return svc, nil
}

// remoteLinkLost is told that a stream with the server of remote broke:
// account joins check the rooms there.
func (f *features) remoteLinkLost(remote string) {
	if f.joins != nil {
		f.joins.RemoteLinkLost(remote)
	}
}
