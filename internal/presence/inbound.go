package presence

import (
	"context"
	"errors"

	"minimix/internal/jid"
	"minimix/internal/roster"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Presence handles a presence addressed to a local account's bare or full
// JID, from a local or remote entity. It implements the receiving half of
// router.Handlers. Presence for an account that does not exist is
// dropped without a trace, so that its existence is not revealed.
func (s *Service) Presence(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if to.Domain != s.domain || to.Local == "" {
		return
	}
	typ := el.Attr("type")
	switch typ {
	case subscribe, subscribed, unsubscribe, unsubscribed:
		s.inboundSubscription(ctx, el, typ, from, to.Bare())
	case "probe":
		s.probe(ctx, from, to)
	case "", "unavailable", "error":
		if s.onInbound != nil {
			s.onInbound(ctx, el, from, to)
		}
		// Availability is delivered whether or not the sender is a
		// contact: it may be directed presence (4.6.3), and the user's
		// client decides what to show.
		s.deliver(el, to)
	}
}

// deliver hands el to the session to addresses, or to every available
// resource when to is bare (RFC 6121 8.5.2.1.1 and 8.5.3.1 for presence:
// priority only matters for messages).
func (s *Service) deliver(el *xml.Element, to jid.JID) int {
	if !to.IsBare() {
		if sess := s.r.Registry().Get(to); sess != nil && sess.Deliver(el) {
			return 1
		}
		return 0
	}
	n := 0
	for _, sess := range s.r.Registry().Sessions(to) {
		if avail, _ := sess.State().Available(); avail && sess.Deliver(el) {
			n++
		}
	}
	return n
}

// inboundSubscription applies a contact's subscription stanza to the
// user's roster (Appendix A.3) and does what it requires.
func (s *Service) inboundSubscription(ctx context.Context, el *xml.Element, typ string, from, user jid.JID) {
	contact := from.Bare()
	if contact.IsZero() || contact == user {
		return
	}
	if !s.accountExists(ctx, user) {
		return
	}
	// Stamped with bare JIDs: the subscription is between accounts, and
	// the copy kept for redelivery must not name a resource that is gone.
	el = el.ShallowClone()
	el.SetAttr("from", contact.String())
	el.SetAttr("to", user.String())
	var req []byte
	if typ == subscribe {
		req = stanza.Encode(el)
	}
	var a action
	err := s.roster.Update(ctx, user, contact, func(it *storage.RosterItem, exists bool) roster.Change {
		before := *it
		a = inbound(typ, it, exists, req)
		return decide(before, *it, exists)
	})
	switch {
	case errors.Is(err, roster.ErrFull):
		// A stranger's request would not fit; dropping it is what the
		// user would see of a refused request anyway.
		s.log.Info("presence: roster full, subscription request dropped", "user", user.String(), "from", contact.String())
		return
	case err != nil:
		s.log.Error("presence: inbound subscription not applied", "user", user.String(), "from", contact.String(), "type", typ, "err", err)
		return
	}
	if a.autoReply {
		s.send(ctx, subscribed, user, contact)
	}
	if a.sendPresence {
		s.sendPresence(ctx, user, contact)
	}
	if a.deliver {
		// RFC 6121 3.1.3: to every available resource, whatever its
		// priority; with none, the stored request waits for login.
		s.deliver(el, user)
	}
	if a.sendUnavailable {
		for _, other := range s.r.Registry().Sessions(user) {
			if avail, _ := other.State().Available(); avail {
				s.send(ctx, "unavailable", other.JID(), contact)
			}
		}
	}
}

// outboundSubscription applies a subscription stanza the user sends
// (Appendix A.2), pushes the roster change and routes what must go to the
// contact, stamped with the user's bare JID (RFC 6121 3.1.2).
func (s *Service) outboundSubscription(ctx context.Context, sess router.Session, el *xml.Element, typ string, to jid.JID) {
	user := sess.JID().Bare()
	contact := to.Bare()
	if contact == user {
		// An account is implicitly subscribed to itself.
		return
	}
	var a action
	err := s.roster.Update(ctx, user, contact, func(it *storage.RosterItem, exists bool) roster.Change {
		before := *it
		a = outbound(typ, it)
		return decide(before, *it, exists)
	})
	switch {
	case errors.Is(err, roster.ErrFull):
		s.r.Bounce(ctx, el, xmpperr.New(xmpperr.ResourceConstraintC, "the roster is full").WithType(xmpperr.Cancel))
		return
	case err != nil:
		s.log.Error("presence: outbound subscription not applied", "user", user.String(), "to", contact.String(), "type", typ, "err", err)
		s.r.Bounce(ctx, el, xmpperr.New(xmpperr.InternalServerErrorC, ""))
		return
	}
	if a.route && !s.blocked(user, contact) {
		c := el.ShallowClone()
		c.SetAttr("from", user.String())
		c.SetAttr("to", contact.String())
		s.r.Route(ctx, c, user, contact)
	}
	if a.sendPresence {
		s.sendPresence(ctx, user, contact)
	}
	if a.sendUnavailable {
		for _, other := range s.r.Registry().Sessions(user) {
			if avail, _ := other.State().Available(); avail {
				s.send(ctx, "unavailable", other.JID(), contact)
			}
		}
	}
}

// probe answers a presence probe (RFC 6121 4.3.2). A prober without a
// subscription, and one probing an account that does not exist, gets
// unsubscribed: the same answer in both cases, so that it reveals
// nothing, and one that lets a server with a stale subscription repair
// it. A subscriber gets the last presence of each available resource,
// or unavailable when there is none.
func (s *Service) probe(ctx context.Context, from, to jid.JID) {
	if from.IsZero() {
		return
	}
	user := to.Bare()
	if from.Bare() == user {
		return
	}
	it, err := s.store.RosterItem(ctx, user.Local, from.Bare().String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		s.log.Error("presence: probe not answered", "user", user.String(), "from", from.String(), "err", err)
		return
	}
	if err != nil || !hasFrom(it.Subscription) {
		s.send(ctx, unsubscribed, user, from)
		return
	}
	answered := false
	for _, sess := range s.r.Registry().Sessions(user) {
		if !to.IsBare() && sess.JID() != to {
			continue
		}
		if s.routeNewest(ctx, sess, from) {
			answered = true
		}
	}
	if !answered {
		s.send(ctx, "unavailable", to, from)
	}
}

// sendPresence sends the current presence of each of user's available
// resources to contact, which just became a subscriber (RFC 6121 3.1.5).
func (s *Service) sendPresence(ctx context.Context, user, contact jid.JID) {
	if s.blocked(user, contact) {
		return
	}
	for _, sess := range s.r.Registry().Sessions(user) {
		s.routeNewest(ctx, sess, contact)
	}
}

// routeNewest routes sess's current presence to to, and reports whether
// it had one; if it changes meanwhile, to gets the newer one last
// (router.State.SendPresence).
func (s *Service) routeNewest(ctx context.Context, sess router.Session, to jid.JID) bool {
	return sess.State().SendPresence(func(p *xml.Element) {
		c := p.ShallowClone()
		c.SetAttr("from", sess.JID().String())
		c.SetAttr("to", to.String())
		s.r.Route(ctx, c, sess.JID(), to)
	})
}

// send routes a payload-less presence of type typ.
func (s *Service) send(ctx context.Context, typ string, from, to jid.JID) {
	if s.blocked(from, to) {
		return
	}
	p := xml.New(xml.NSClient, stanza.Presence, "type", typ, "from", from.String(), "to", to.String())
	s.r.Route(ctx, p, from, to)
}

// accountExists reports whether user's account exists; a storage error
// counts as no, since presence has no one to report it to.
func (s *Service) accountExists(ctx context.Context, user jid.JID) bool {
	ok, err := s.store.AccountExists(ctx, user.Local)
	if err != nil {
		s.log.Error("presence: account lookup failed", "user", user.String(), "err", err)
		return false
	}
	return ok
}
