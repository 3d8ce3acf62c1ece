package cluster

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// roomLeaseWait bounds the pause between attempts to find a room's owner
// while JetStream cannot answer (about 16 s in all).
const roomLeaseWait = 8 * time.Second

// maxHops bounds how often a stanza for a room or an account is passed
// on between nodes whose views of a lease differ for a moment.
const maxHops = 3

// Rooms is the router component of the MUC domain on a cluster node:
// each room is owned by one node at a time (its lease), which runs it;
// the others pass what they route to the room on to the owner. When the
// owner is gone the first node with a stanza for the room takes the
// lease, and Config.Acquired loads the room from storage there.
type Rooms struct {
	n     *Node
	inner router.Component
}

// Rooms returns the component that runs the rooms of inner (the MUC
// service) on the nodes that own them. It must be called before Start.
func (n *Node) Rooms(inner router.Component) *Rooms {
	n.rooms = &Rooms{n: n, inner: inner}
	return n.rooms
}

// RouteStanza implements router.Component.
func (r *Rooms) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	r.route(ctx, el, from, to, 0)
}

func (r *Rooms) route(ctx context.Context, el *xml.Element, from, to jid.JID, hops int) {
	if to.Local == "" {
		// The service itself (disco, unique room names): any node.
		r.inner.RouteStanza(ctx, el, from, to)
		return
	}
	n := r.n
	holder, err := n.Holder(ctx, LeaseRoom, to.Bare(), acquireAlways)
	for wait := 250 * time.Millisecond; err != nil && wait <= roomLeaseWait; wait *= 2 {
		// JetStream answers nothing while its streams elect new
		// leaders (a server died): a few seconds.
		n.log.Warn("cluster: no owner for a room yet; trying again", "room", to.Bare().String(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		holder, err = n.Holder(ctx, LeaseRoom, to.Bare(), acquireAlways)
	}
	if err != nil {
		n.log.Warn("cluster: no owner for a room", "room", to.Bare().String(), "err", err)
		// Not service-unavailable: to a self-ping (XEP-0410) that says
		// the occupant is in; this says the room could not be reached.
		n.cfg.Router.Bounce(ctx, el, xmpperr.New(xmpperr.RemoteServerTimeout, "the room's node cannot be reached"))
		return
	}
	if holder == n.id {
		r.inner.RouteStanza(ctx, el, from, to)
		return
	}
	if hops >= maxHops {
		n.log.Warn("cluster: a room stanza went round the nodes", "room", to.Bare().String(), "hops", hops)
		n.cfg.Router.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, "the room's node cannot be reached"))
		return
	}
	h := nats.Header{hdrKind: {kindRoom}, hdrTo: {to.String()}, hdrFrom: {from.String()}, hdrHops: {strconv.Itoa(hops + 1)}}
	if err := n.publish(holder, h, el, true); err != nil {
		n.cfg.Router.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, "the room's node cannot be reached"))
	}
}

// Accounts wraps the account-join interceptor on a cluster node: one node
// at a time acts for an account's room memberships (its lease), and the
// others pass what concerns them on to it: what the account's sessions
// send to rooms, and what rooms send to the account. When that node is
// gone another takes the lease and adopts the memberships
// (Config.Acquired), so the account stays in its rooms.
type Accounts struct {
	n      *Node
	inner  router.Interceptor
	domain string
}

// Accounts returns the interceptor that runs inner (account joins) on the
// node holding each account's lease. It must be called before Start.
func (n *Node) Accounts(inner router.Interceptor, domain string) *Accounts {
	n.accounts = &Accounts{n: n, inner: inner, domain: domain}
	return n.accounts
}

// FromSession implements router.Interceptor.
func (a *Accounts) FromSession(ctx context.Context, s router.Session, el *xml.Element, to jid.JID) bool {
	return a.fromSession(ctx, s, el, to, 0)
}

func (a *Accounts) fromSession(ctx context.Context, s router.Session, el *xml.Element, to jid.JID, hops int) bool {
	n := a.n
	account := s.JID().Bare()
	if to.IsZero() || to.Local == "" || to.Domain == a.domain {
		// Not for a room; but broadcast presence changes the account's
		// presence in its rooms, where its node sees it.
		if el.Local == "presence" && to.IsZero() && router.Local(s) {
			if holder, _ := n.Holder(ctx, LeaseAccount, account, acquireTakeOver); holder != "" && holder != n.id {
				n.sendSession(holder, s.JID(), el, to, kindPresence, 0)
				return false
			}
		}
		return a.inner.FromSession(ctx, s, el, to)
	}
	mode := acquireTakeOver
	if el.Local == "presence" && el.Attr("type") == "" && to.Resource != "" && el.Child(nsMUC, "x") != nil {
		mode = acquireAlways // a join: the account gets a node to act for it
	}
	holder, err := n.Holder(ctx, LeaseAccount, account, mode)
	if err != nil {
		n.log.Warn("cluster: no node for an account", "account", account.String(), "err", err)
		n.cfg.Router.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, "the account's node cannot be reached"))
		return true
	}
	if holder == "" || holder == n.id || hops >= maxHops {
		return a.inner.FromSession(ctx, s, el, to)
	}
	n.sendSession(holder, s.JID(), el, to, kindSession, hops+1)
	return true
}

// ToLocal implements router.Interceptor.
func (a *Accounts) ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool {
	n := a.n
	if to.Local == "" || !to.IsBare() || from.Local == "" {
		return a.inner.ToLocal(ctx, el, from, to)
	}
	mode := acquireTakeOver
	if from.Domain != a.domain {
		// From a room, maybe of an account whose lease this node has
		// not seen yet (it was just taken for the join the room
		// answers): the bucket is asked.
		mode = acquireLookup
	}
	holder, err := n.Holder(ctx, LeaseAccount, to, mode)
	if err != nil || holder == "" || holder == n.id {
		return a.inner.ToLocal(ctx, el, from, to)
	}
	if err := n.SendRoute(holder, el, from, to); err != nil {
		return a.inner.ToLocal(ctx, el, from, to)
	}
	return true
}

// nsMUC is XEP-0045's namespace, whose <x/> marks a join.
const nsMUC = "http://jabber.org/protocol/muc"

// sendSession sends what the session full sent to the node acting for its
// account.
func (n *Node) sendSession(node string, full jid.JID, el *xml.Element, to jid.JID, kind string, hops int) {
	h := nats.Header{hdrKind: {kind}, hdrFrom: {full.String()}, hdrHops: {strconv.Itoa(hops)}, hdrNode: {n.id}}
	if !to.IsZero() {
		h.Set(hdrTo, to.String())
	}
	_ = n.publish(node, h, el, true)
}

// sessionStanza handles what a session of another node sent, passed on
// because this node acts for its account: the account-join interceptor
// sees it as if the session were local, and what it does not take is
// routed from here as the session's node would have.
func (n *Node) sessionStanza(ctx context.Context, kind, from string, el *xml.Element, full, to jid.JID, hops int) {
	var s router.Session = n.cfg.Registry.Get(full)
	if s == nil && from != "" {
		// Not mirrored yet (its registry entry is on the way, and the
		// client joined a room at once): mirrored now, so that what the
		// account join forks to it reaches it.
		s = n.provisional(full, from)
	}
	if s == nil {
		return
	}
	if kind == kindPresence {
		if n.accounts != nil {
			n.accounts.inner.FromSession(ctx, s, el, to)
		}
		return
	}
	if n.accounts != nil && n.accounts.fromSession(ctx, s, el, to, hops) {
		return
	}
	n.cfg.Router.FromSession(ctx, s, el, to)
}
