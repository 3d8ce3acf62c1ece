package router

import (
	"context"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// deliverMessage applies RFC 6121 section 8.5 to a message addressed to a
// local account (bare or full JID).
func (r *Router) deliverMessage(ctx context.Context, el *xml.Element, from, to jid.JID) {
	typ := stanza.Type(el)
	archived := false
	// XEP-0359 section 5: a <stanza-id/> claiming to be by the recipient's
	// account can only be forged, and clients trust it; it goes whether
	// or not the message is archived (and stamped) below.
	stanza.RemoveStanzaIDs(el, to.Bare())
	if !to.IsBare() {
		if s := r.reg.Get(to); s != nil {
			// 8.5.3.1: a connected resource gets it whatever its presence.
			if typ != "error" && typ != "groupchat" {
				r.archiveIncoming(ctx, el, from, to)
				archived = true
			}
			if s.Deliver(el) {
				r.Stats.DeliveredLocal.Add(1)
				r.receivedCarbons(el, from, to, s)
				r.watched(ctx, el, from, to)
				return
			}
		}
		// 8.5.3.2: no such resource.
		switch typ {
		case "groupchat":
			r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
			return
		case "error":
			return
		}
		// normal, chat, headline: treat as if sent to the bare JID.
	}
	bare := to.Bare()
	if !r.h.AccountExists(ctx, bare.Local) {
		// 8.5.1: no such account. The same error as a full offline store
		// below, so that the reply does not reveal whether it exists.
		if typ != "headline" {
			r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		}
		return
	}
	if typ == "groupchat" {
		// 8.5.2.1.3 and 8.5.2.2.3: groupchat to a bare JID is an error,
		// whether or not resources are available. (Account-based group
		// chat intercepts room traffic before it gets here.)
		r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		return
	}
	targets := r.bareTargets(bare, typ)
	if len(targets) == 0 {
		r.undeliverable(ctx, el, from, bare, typ, archived)
		return
	}
	if typ != "headline" && typ != "error" && !archived {
		r.archiveIncoming(ctx, el, from, bare)
		archived = true
	}
	var fork *Fork
	if len(targets) > 1 && (typ == "chat" || typ == "normal") {
		// Each target gets the same message: if one dies with its copy
		// undelivered, Reroute must know the others have theirs.
		fork = &Fork{sessions: targets}
	}
	delivered := 0
	for _, s := range targets {
		var ok bool
		if fs, isFork := s.(ForkSession); isFork && fork != nil {
			ok = fs.DeliverForked(el, fork)
		} else {
			ok = s.Deliver(el)
		}
		if ok {
			delivered++
		}
	}
	r.Stats.DeliveredLocal.Add(uint64(delivered))
	if delivered == 0 {
		// Every chosen session went away between choice and delivery.
		r.undeliverable(ctx, el, from, bare, typ, archived)
		return
	}
	r.receivedCarbons(el, from, bare, targets...)
	r.watched(ctx, el, from, to)
}

// watched tells the Watcher, if any, that el reached the account of to.
func (r *Router) watched(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if r.watcher != nil {
		r.watcher.MessageDelivered(ctx, el, from, to)
	}
}

// bareTargets chooses the sessions that get a message to a bare JID: for
// chat and normal the available resources with the highest non-negative
// priority (8.5.2.1.1), for headline every available resource with
// non-negative priority (8.5.2.1.2), for error the highest priority ones.
func (r *Router) bareTargets(bare jid.JID, typ string) []Session {
	sessions := r.reg.Sessions(bare)
	var out []Session
	best := -1
	for _, s := range sessions {
		avail, prio := s.State().Available()
		if !avail || prio < 0 {
			continue
		}
		if typ == "headline" {
			out = append(out, s)
			continue
		}
		switch {
		case prio > best:
			best = prio
			out = append(out[:0], s)
		case prio == best:
			out = append(out, s)
		}
	}
	return out
}

// undeliverable handles a message to an existing account with no
// available resource (8.5.2.2): chat and normal are stored offline when
// possible, everything else is dropped silently as the RFC says.
func (r *Router) undeliverable(ctx context.Context, el *xml.Element, from, bare jid.JID, typ string, archived bool) {
	switch typ {
	case "chat", "normal":
	default:
		return
	}
	if !storable(el) {
		return
	}
	if r.offline == nil {
		r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		return
	}
	if !archived {
		r.archiveIncoming(ctx, el, from, bare)
	}
	if err := r.storeOffline(ctx, el, bare, typ, nil); err != nil {
		r.log.InfoContext(ctx, "offline store refused message", "to", bare.String(), "err", err)
		// The error must read exactly like the one for an account that
		// does not exist (8.5.1), so it cannot carry the archive id the
		// recipient's account stamped.
		stanza.RemoveStanzaIDs(el, bare)
		r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
}

// storeOffline keeps el for the account bare, which had no available
// resource when the router looked, and then closes the race with the
// account coming online: a resource whose initial presence made it
// available and flushed offline storage between that look and the store
// would not see el until its next login. Presence makes a session
// available and then flushes; storeOffline stores and then looks. Of two
// such sequences at least one sees the other's first step, so either the
// flush finds el or the look finds the resource and flushes again. A
// second flush is serialised with the first and finds nothing it already
// delivered, so nothing arrives twice. dead, when not nil, is a session
// going away that must not be flushed to.
func (r *Router) storeOffline(ctx context.Context, el *xml.Element, bare jid.JID, typ string, dead Session) error {
	if err := r.offline.StoreOffline(ctx, bare, el); err != nil {
		return err
	}
	r.Stats.Offline.Add(1)
	if r.watcher != nil {
		if from, err := stanza.From(el); err == nil {
			r.watched(ctx, el, from, bare)
		}
	}
	for _, s := range r.bareTargets(bare, typ) {
		if s == dead {
			continue
		}
		if _, err := r.offline.Flush(ctx, s); err != nil {
			// Stored, and flushed at the next availability.
			r.log.Warn("offline: flush to a resource that came online failed", "to", s.JID().String(), "err", err)
		}
		break
	}
	return nil
}

// Reroute delivers a message that a session accepted but could not hand
// to its client (queue overflow, connection lost without resumption) as
// if it had been addressed to the bare JID, skipping the dead session:
// another resource or offline storage gets it, so nothing is silently
// lost (RFC 6121 and XEP-0198 section 5). fork is the Fork the session
// was given the message with, nil if it was not forked: a forked copy is
// placed elsewhere only when no copy was delivered and none is still
// queued on another live session, and then once for all copies.
func (r *Router) Reroute(ctx context.Context, el *xml.Element, dead Session, fork *Fork) {
	if el.Local != stanza.Message {
		if stanza.IsRequest(el) {
			r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		}
		return
	}
	typ := stanza.Type(el)
	if typ != "chat" && typ != "normal" {
		return
	}
	if el.Child(stanza.NSCarbons, "received") != nil || el.Child(stanza.NSCarbons, "sent") != nil {
		// A carbon copy: the original reached another session already.
		return
	}
	if el.Child(stanza.NSMUCUser, "x") != nil {
		// A room's private message forked to this session by
		// account-based group chat: the account's other joined sessions
		// had their own copy, and the room must never get it back.
		return
	}
	if fork != nil && !r.lastCopy(fork, dead) {
		return
	}
	bare := dead.JID().Bare()
	var targets []Session
	for _, s := range r.bareTargets(bare, typ) {
		if s != dead {
			targets = append(targets, s)
		}
	}
	for _, s := range targets {
		if s.Deliver(el) {
			return
		}
	}
	if !storable(el) || r.offline == nil {
		return
	}
	if err := r.storeOffline(ctx, el, bare, typ, dead); err != nil {
		r.log.Warn("reroute: offline store refused message", "to", bare.String(), "err", err)
		r.Bounce(ctx, el, xmpperr.New(xmpperr.RecipientUnavailable, ""))
	}
}

// lastCopy reports whether the forked copy that dead could not deliver is
// the one to reroute: no copy reached a client, every other session given
// a copy has left the registry (a session leaves it before it reroutes,
// so of two dying together at least one sees the other gone), and no
// other copy was rerouted already.
func (r *Router) lastCopy(fork *Fork, dead Session) bool {
	if fork.delivered.Load() {
		return false
	}
	for _, s := range fork.sessions {
		if s != dead && r.reg.Get(s.JID()) == s {
			return false // that copy is still on its way
		}
	}
	return fork.rerouted.CompareAndSwap(false, true)
}

// storable reports whether a message is worth keeping offline: it has
// content a user would miss (XEP-0160 and XEP-0334 hints).
func storable(el *xml.Element) bool {
	if el.Child(stanza.NSHints, "no-store") != nil {
		return false
	}
	if el.Child(stanza.NSHints, "store") != nil {
		return true
	}
	for _, c := range el.Elements() {
		switch c.Local {
		case "body", "subject":
			return true
		case "x":
			if c.Space == "jabber:x:conference" || c.Space == stanza.NSMUCUser {
				return true // invitations
			}
		case "encrypted":
			return true
		}
	}
	return false
}

// archiveIncoming stores a message in the receiving account's archive
// and stamps the delivered copy with <stanza-id by=account>. Any such
// element the sender put there was removed by deliverMessage.
func (r *Router) archiveIncoming(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if r.archiver == nil {
		return
	}
	bare := to.Bare()
	if id := r.archiver.Archive(ctx, bare, from, el, true); id != "" {
		stanza.AddStanzaID(el, bare, id)
	}
}
