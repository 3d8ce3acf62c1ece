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
				r.receivedCarbons(el, to, s)
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
	delivered := 0
	for _, s := range targets {
		if s.Deliver(el) {
			delivered++
		}
	}
	r.Stats.DeliveredLocal.Add(uint64(delivered))
	if delivered == 0 {
		// Every chosen session went away between choice and delivery.
		r.undeliverable(ctx, el, from, bare, typ, archived)
		return
	}
	r.receivedCarbons(el, bare, targets...)
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
	if err := r.offline.StoreOffline(ctx, bare, el); err != nil {
		r.log.Info("offline store refused message", "to", bare.String(), "err", err)
		// The error must read exactly like the one for an account that
		// does not exist (8.5.1), so it cannot carry the archive id the
		// recipient's account stamped.
		stanza.RemoveStanzaIDs(el, bare)
		r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		return
	}
	r.Stats.Offline.Add(1)
}

// Reroute delivers a message that a session accepted but could not hand
// to its client (queue overflow, connection lost without resumption) as
// if it had been addressed to the bare JID, skipping the dead session:
// another resource or offline storage gets it, so nothing is silently
// lost (RFC 6121 and XEP-0198 section 5).
func (r *Router) Reroute(ctx context.Context, el *xml.Element, dead Session) {
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
	if err := r.offline.StoreOffline(ctx, bare, el); err != nil {
		r.log.Warn("reroute: offline store refused message", "to", bare.String(), "err", err)
		r.Bounce(ctx, el, xmpperr.New(xmpperr.RecipientUnavailable, ""))
		return
	}
	r.Stats.Offline.Add(1)
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
