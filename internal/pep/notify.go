package pep

import (
	"context"

	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

type eventKind int

const (
	eventPublish eventKind = iota
	eventRetract
	eventDelete
	eventPurge
)

// event is one notification to send after a commit.
type event struct {
	kind eventKind
	node string
	cfg  NodeConfig // the node's configuration when it happened
	item Item       // eventPublish
	id   string     // eventRetract
}

// payload returns the <event/> of e.
func (e *event) payload(owner jid.JID) *xml.Element {
	ev := xml.New(NSEvent, "event")
	switch e.kind {
	case eventPublish:
		ev.Append(xml.New(NSEvent, "items", "node", e.node).Append(eventItem(owner, e.item, e.cfg.DeliverPayloads)))
	case eventRetract:
		ev.Append(xml.New(NSEvent, "items", "node", e.node).Append(xml.New(NSEvent, "retract", "id", e.id)))
	case eventDelete:
		ev.Append(xml.New(NSEvent, "delete", "node", e.node))
	case eventPurge:
		ev.Append(xml.New(NSEvent, "purge", "node", e.node))
	}
	return ev
}

func eventItem(owner jid.JID, it Item, withPayload bool) *xml.Element {
	return pubsub.EventItem(it, owner.String(), withPayload)
}

// message wraps an <event/> in the notification message from owner.
func message(owner jid.JID, cfg *NodeConfig, ev *xml.Element) *xml.Element {
	return pubsub.Message(owner.String(), cfg, ev)
}

// notify sends each event to every session that wants the node's
// notifications and may see them.
func (s *Service) notify(ctx context.Context, owner jid.JID, events []event) {
	if len(events) == 0 {
		return
	}
	subs := s.interest.subscribers(owner)
	if len(subs) == 0 {
		return
	}
	access := s.newAccess(ctx, owner)
	for i := range events {
		e := &events[i]
		if !e.cfg.DeliverNotifications {
			continue
		}
		var ev *xml.Element
		for _, sub := range subs {
			if !s.caps.wants(sub.caps, e.node) || access.check(sub.jid, &e.cfg) != nil {
				continue
			}
			if ev == nil {
				ev = e.payload(owner)
			}
			s.send(ctx, owner, sub.jid, message(owner, &e.cfg, ev))
		}
	}
}

// send delivers el, from owner's service, to the session full: directly
// when it is local, so that a session that has just gone does not turn it
// into a message to all of the account's other sessions; through the
// router otherwise.
func (s *Service) send(ctx context.Context, owner, full jid.JID, el *xml.Element) {
	el.SetAttr("to", full.String())
	if full.Domain == s.domain {
		if sess := s.r.Registry().Get(full); sess != nil {
			sess.Deliver(el)
		}
		return
	}
	s.r.Route(ctx, el, owner, full)
}

// access decides who may see owner's nodes (XEP-0060 section 4.5), with
// owner's roster read at most once.
type access struct {
	s      *Service
	ctx    context.Context
	owner  jid.JID
	roster map[string]storage.Subscription // nil until read
	err    error
}

func (s *Service) newAccess(ctx context.Context, owner jid.JID) *access {
	return &access{s: s, ctx: ctx, owner: owner}
}

// check returns nil when who may see a node configured as cfg, else the
// error XEP-0060 section 6.5.9 gives for retrieving its items.
func (a *access) check(who jid.JID, cfg *NodeConfig) *xmpperr.StanzaError {
	bare := who.Bare()
	if bare == a.owner {
		return nil
	}
	b := bare.String()
	for _, o := range cfg.Outcasts {
		if o == b {
			return forbidden("you are blocked from this node")
		}
	}
	for _, m := range cfg.Members {
		if m == b {
			return nil
		}
	}
	switch cfg.AccessModel {
	case AccessOpen:
		return nil
	case AccessPresence:
		if a.subscribed(b) {
			return nil
		}
		return Error(xmpperr.NotAuthorizedC, "presence-subscription-required",
			"the node is for contacts subscribed to the owner's presence")
	default:
		return Error(xmpperr.NotAllowed, "closed-node", "the node is for its owner and members only")
	}
}

// subscribed reports whether contact (a bare JID) is subscribed to the
// owner's presence. A storage error counts as no: nothing is shown that
// could not be checked.
func (a *access) subscribed(contact string) bool {
	if a.roster == nil && a.err == nil {
		items, _, err := a.s.store.RosterItems(a.ctx, a.owner.Local)
		if err != nil {
			a.err = err
			a.s.log.Error("pep: roster unavailable for an access check", "owner", a.owner.String(), "err", err)
			return false
		}
		a.roster = make(map[string]storage.Subscription, len(items))
		for _, it := range items {
			a.roster[it.Contact] = it.Subscription
		}
	}
	sub := a.roster[contact]
	return sub == storage.SubFrom || sub == storage.SubBoth
}
