// Package presence implements RFC 6121 sections 3 and 4: presence
// subscriptions with their pending states and pre-approval (the tables of
// Appendix A), availability broadcast to subscribers, probes, directed
// presence, and what happens when a session comes online (offline
// messages and pending subscription requests) or goes away.
//
// The router hands it every presence a local session sends
// (SessionPresence) and every presence addressed to a local account
// (Presence). Whatever it sends goes back through the router, so a
// subscription between two local accounts travels the same path as one
// with a remote contact: out of one account's SessionPresence, into the
// other's Presence. No lock is held while routing; roster changes are
// serialised by roster.Service.Update, which never routes.
package presence

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"minimix/internal/jid"
	"minimix/internal/offline"
	"minimix/internal/roster"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Store is what presence reads; writes go through roster.Service.
type Store interface {
	// RosterItems returns all items of user (a localpart).
	RosterItems(ctx context.Context, user string) ([]storage.RosterItem, string, error)
	// RosterItem returns storage.ErrNotFound when user has no item for
	// contact (a bare JID).
	RosterItem(ctx context.Context, user, contact string) (storage.RosterItem, error)
	AccountExists(ctx context.Context, username string) (bool, error)
}

// Config is what a Service is built from.
type Config struct {
	// Domain is the local domain whose accounts this service acts for;
	// empty means the router's.
	Domain  string
	Store   Store
	Router  *router.Router
	Roster  *roster.Service
	Offline *offline.Service // optional: no offline messages to flush
	Logger  *slog.Logger

	// Optional hooks for features that follow availability, such as PEP
	// (XEP-0163), which sends last items on presence and learns entity
	// capabilities from it. They run on the sender's goroutine after the
	// presence was handled, and must be quick.
	//
	// OnAvailable sees each broadcast available presence of a local
	// session (from stamped); initial says it is the session's first.
	OnAvailable func(ctx context.Context, sess router.Session, p *xml.Element, initial bool)
	// OnUnavailable is told when a local session that was available
	// sends unavailable presence or ends.
	OnUnavailable func(ctx context.Context, sess router.Session)
	// OnInbound sees available, unavailable and error presence addressed
	// to a local account by another entity, before it is delivered.
	OnInbound func(ctx context.Context, el *xml.Element, from, to jid.JID)

	// Blocked, when set, reports whether the local account user (a bare
	// JID) blocks contact (XEP-0191): nothing the service sends on the
	// account's behalf, broadcasts, probes and subscription answers
	// included, goes to a blocked contact, which sees the account offline.
	Blocked func(user, contact jid.JID) bool
}

// Service handles presence for the local accounts. It keeps no state of
// its own: availability lives in each session's router.State and
// subscriptions in the roster. It is safe for concurrent use.
type Service struct {
	domain  string
	store   Store
	r       *router.Router
	roster  *roster.Service
	offline *offline.Service
	log     *slog.Logger

	onAvailable   func(ctx context.Context, sess router.Session, p *xml.Element, initial bool)
	onUnavailable func(ctx context.Context, sess router.Session)
	onInbound     func(ctx context.Context, el *xml.Element, from, to jid.JID)
	isBlocked     func(user, contact jid.JID) bool
}

// New returns a Service.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	domain := cfg.Domain
	if domain == "" {
		domain = cfg.Router.Domain()
	}
	return &Service{
		domain:  domain,
		store:   cfg.Store,
		r:       cfg.Router,
		roster:  cfg.Roster,
		offline: cfg.Offline,
		log:     log,

		onAvailable:   cfg.OnAvailable,
		onUnavailable: cfg.OnUnavailable,
		onInbound:     cfg.OnInbound,
		isBlocked:     cfg.Blocked,
	}
}

// SessionPresence handles a presence sent by the local session sess; to is
// its parsed to (zero when absent). It implements the sending half of
// router.Handlers.
func (s *Service) SessionPresence(ctx context.Context, sess router.Session, el *xml.Element, to jid.JID) {
	typ := el.Attr("type")
	if to.IsZero() {
		switch typ {
		case "":
			s.available(ctx, sess, el)
		case "unavailable":
			s.unavailable(ctx, sess, el)
		default:
			// Subscription stanzas need a contact; probes and errors
			// from a client to nobody mean nothing (RFC 6121 4.3: only
			// servers probe).
			s.log.Debug("presence: ignoring untargeted presence", "from", sess.JID().String(), "type", typ)
		}
		return
	}
	switch typ {
	case subscribe, subscribed, unsubscribe, unsubscribed:
		s.outboundSubscription(ctx, sess, el, typ, to)
	case "", "unavailable":
		s.directed(ctx, sess, el, typ, to)
	case "error":
		c := el.ShallowClone()
		c.SetAttr("from", sess.JID().String())
		s.r.Route(ctx, c, sess.JID(), to)
	default:
		// "probe": RFC 6121 4.3 reserves probes to servers; a client's
		// probe could reveal presence it is not entitled to.
		s.log.Debug("presence: ignoring client presence", "from", sess.JID().String(), "type", typ)
	}
}

// SessionEnded sends unavailable presence on behalf of a session that
// ended without saying so (RFC 6121 4.5.2), to its subscribers, the
// account's other resources and everyone it sent directed presence to.
// It implements c2s.Hooks.
func (s *Service) SessionEnded(ctx context.Context, sess router.Session) {
	s.unavailable(ctx, sess, xml.New(xml.NSClient, stanza.Presence, "type", "unavailable"))
}

// available handles broadcast available presence (RFC 6121 4.2 and 4.4).
func (s *Service) available(ctx context.Context, sess router.Session, el *xml.Element) {
	full := sess.JID()
	user := full.Bare()
	prio := priority(el)
	p := el.ShallowClone()
	p.SetAttr("to", "")
	p.SetAttr("from", full.String())

	st := sess.State()
	wasAvailable, oldPrio := st.Available()
	st.SetPresence(p, true, prio)

	items, err := s.items(ctx, user)
	if err != nil {
		s.log.Error("presence: broadcast without roster", "from", full.String(), "err", err)
	}
	for _, it := range items {
		if hasFrom(it.Subscription) {
			s.routeTo(ctx, p, full, it.Contact)
		}
	}
	if !wasAvailable {
		// Initial presence (4.2.2): learn the contacts' presence.
		for _, it := range items {
			if hasTo(it.Subscription) {
				probe := xml.New(xml.NSClient, stanza.Presence, "type", "probe", "from", user.String())
				s.routeTo(ctx, probe, user, it.Contact)
			}
		}
	}
	// The account is subscribed to itself: every available resource,
	// the sender included, gets the update (4.2.2, 4.4.2).
	for _, other := range s.r.Registry().Sessions(user) {
		if avail, _ := other.State().Available(); !avail {
			continue
		}
		c := p.ShallowClone()
		c.SetAttr("to", other.JID().String())
		other.Deliver(c)
		if !wasAvailable && other != sess {
			// And the new resource learns about its siblings.
			other.State().SendPresence(func(op *xml.Element) {
				c := op.ShallowClone()
				c.SetAttr("from", other.JID().String())
				c.SetAttr("to", full.String())
				sess.Deliver(c)
			})
		}
	}
	if !wasAvailable {
		s.redeliverRequests(sess, items)
	}
	// XEP-0160: offline messages go to the first resource that becomes
	// available with a non-negative priority, which may be a resource
	// raising its priority from below zero.
	if s.offline != nil && prio >= 0 && (!wasAvailable || oldPrio < 0) {
		if _, err := s.offline.Flush(ctx, sess); err != nil {
			s.log.Error("presence: offline messages not flushed", "to", full.String(), "err", err)
		}
	}
	if s.onAvailable != nil {
		s.onAvailable(ctx, sess, p, !wasAvailable)
	}
}

// redeliverRequests delivers the subscription requests the user has not
// answered to a resource that just became available (RFC 6121 3.1.3).
func (s *Service) redeliverRequests(sess router.Session, items []storage.RosterItem) {
	for _, it := range items {
		if !it.PendingIn || len(it.PendingInStanza) == 0 {
			continue
		}
		el, err := stanza.Decode(it.PendingInStanza, stanza.Presence)
		if err != nil {
			s.log.Warn("presence: stored subscription request unreadable", "user", sess.JID().Bare().String(), "contact", it.Contact, "err", err)
			continue
		}
		sess.Deliver(el)
	}
}

// unavailable handles the session's broadcast unavailable presence, sent
// by the client or on its behalf (RFC 6121 4.5).
func (s *Service) unavailable(ctx context.Context, sess router.Session, el *xml.Element) {
	full := sess.JID()
	user := full.Bare()
	p := el.ShallowClone()
	p.SetAttr("to", "")
	p.SetAttr("from", full.String())

	st := sess.State()
	wasAvailable, _ := st.Available()
	st.SetPresence(nil, false, 0)
	directed := st.TakeDirected()

	sent := make(map[jid.JID]bool)
	if wasAvailable {
		items, err := s.items(ctx, user)
		if err != nil {
			s.log.Error("presence: unavailable broadcast without roster", "from", full.String(), "err", err)
		}
		for _, it := range items {
			if hasFrom(it.Subscription) {
				if to := s.routeTo(ctx, p, full, it.Contact); !to.IsZero() {
					sent[to] = true
				}
			}
		}
		for _, other := range s.r.Registry().Sessions(user) {
			if avail, _ := other.State().Available(); avail && other != sess {
				c := p.ShallowClone()
				c.SetAttr("to", other.JID().String())
				other.Deliver(c)
			}
		}
	}
	// Directed presence is undone whether or not the session had been
	// broadcasting (4.6.3).
	for _, to := range directed {
		if sent[to] || s.blocked(full, to) {
			continue
		}
		c := p.ShallowClone()
		c.SetAttr("to", to.String())
		s.r.Route(ctx, c, full, to)
	}
	if wasAvailable && s.onUnavailable != nil {
		s.onUnavailable(ctx, sess)
	}
}

// directed handles available or unavailable presence the session sends to
// one entity (RFC 6121 4.6). Targets that do not get the user's broadcast
// anyway are remembered, so that they learn when the session goes away.
func (s *Service) directed(ctx context.Context, sess router.Session, el *xml.Element, typ string, to jid.JID) {
	full := sess.JID()
	user := full.Bare()
	if to.Bare() != user {
		st := sess.State()
		if typ == "unavailable" {
			st.RemoveDirected(to)
		} else if !s.isSubscriber(ctx, user, to) {
			st.AddDirected(to)
		}
	}
	c := el.ShallowClone()
	c.SetAttr("from", full.String())
	c.SetAttr("to", to.String())
	s.r.Route(ctx, c, full, to)
}

// isSubscriber reports whether to's bare JID has a subscription to user's
// presence. A storage error counts as no, so that the target is
// remembered and told about unavailability rather than left hanging.
func (s *Service) isSubscriber(ctx context.Context, user, to jid.JID) bool {
	it, err := s.store.RosterItem(ctx, user.Local, to.Bare().String())
	return err == nil && hasFrom(it.Subscription)
}

// items returns user's roster items.
func (s *Service) items(ctx context.Context, user jid.JID) ([]storage.RosterItem, error) {
	items, _, err := s.store.RosterItems(ctx, user.Local)
	return items, err
}

// routeTo routes a copy of p from from to contact (a bare JID string from
// the roster) and returns the parsed contact, zero if it does not parse.
func (s *Service) routeTo(ctx context.Context, p *xml.Element, from jid.JID, contact string) jid.JID {
	to, err := jid.Parse(contact)
	if err != nil {
		s.log.Warn("presence: unusable roster contact", "contact", contact, "err", err)
		return jid.JID{}
	}
	if s.blocked(from, to) {
		return jid.JID{}
	}
	c := p.ShallowClone()
	c.SetAttr("from", from.String())
	c.SetAttr("to", to.String())
	s.r.Route(ctx, c, from, to)
	return to
}

// blocked reports whether the account of from blocks to, so that
// nothing is sent to it on the account's behalf.
func (s *Service) blocked(from, to jid.JID) bool {
	return s.isBlocked != nil && s.isBlocked(from.Bare(), to)
}

// priority reads <priority/> (RFC 6121 4.7.2.3): an integer from -128 to
// 127, 0 when absent. Out-of-range values are clamped and garbage counts
// as 0, since rejecting the whole presence would be harsher than the
// mistake.
func priority(el *xml.Element) int {
	c := el.Child(el.Space, "priority")
	if c == nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(c.Text()))
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			if strings.HasPrefix(strings.TrimSpace(c.Text()), "-") {
				return -128
			}
			return 127
		}
		return 0
	}
	return max(-128, min(127, n))
}
