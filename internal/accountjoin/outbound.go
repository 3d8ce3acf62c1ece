package accountjoin

import (
	"context"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// FromSession implements router.Interceptor: it takes what a session
// sends to a room the account is in (or joins), and sends it as the
// account.
func (s *Service) FromSession(ctx context.Context, sess router.Session, el *xml.Element, to jid.JID) bool {
	if to.IsZero() || to.Local == "" || to.Domain == s.cfg.Domain {
		if el.Local == stanza.Presence && to.IsZero() {
			s.broadcastPresence(ctx, sess, el)
		}
		return false
	}
	full := sess.JID()
	if el.Local == stanza.Presence && el.Attr("type") == "" && el.Child(nsMUC, "x") != nil && to.Resource != "" {
		s.join(ctx, full, el, to)
		return true
	}
	a := s.lock(full.Bare())
	if a == nil {
		return false
	}
	defer s.release(a)
	rm := a.rooms[to.Bare()]
	if rm == nil {
		return false // not a room the account is in
	}
	if js := rm.sessions[full]; js != nil {
		js.active = s.cfg.Now()
	}
	switch el.Local {
	case stanza.Presence:
		s.sessionPresence(ctx, a, rm, full, el, to)
		return true
	case stanza.Message:
		return s.sessionMessage(ctx, a, rm, full, el, to)
	case stanza.IQ:
		return s.sessionIQ(ctx, a, rm, full, el, to)
	}
	return false
}

// sessionMessage handles a message from a session to a room or occupant.
func (s *Service) sessionMessage(ctx context.Context, a *account, rm *room, full jid.JID, el *xml.Element, to jid.JID) bool {
	typ := stanza.Type(el)
	if !rm.isJoined(full) {
		if typ == "groupchat" || to.Resource != "" {
			s.Stats.RefusedGroupchat.Add(1)
			s.reply(ctx, stanza.ErrorReply(el, xmpperr.New(xmpperr.NotAcceptable, "join the room first")))
			return true
		}
		return false // e.g. an invitation from a session that did not join
	}
	out := el.Clone()
	out.SetAttr("from", a.jid.String())
	if rm.rejoining && rm.state == joining {
		// The room is taking the account back (it had lost it): what
		// is said now would be refused, as from a non-occupant.
		if len(rm.held) >= maxRejoinHeld {
			s.reply(ctx, stanza.ErrorReply(el, xmpperr.New(xmpperr.ResourceConstraintC, "the room is being rejoined").WithType(xmpperr.Wait)))
			return true
		}
		rm.held = append(rm.held, heldStanza{out: out, orig: el, to: to, session: full})
	} else {
		a.queue(out, to)
	}
	rm.noteSent(el.Attr("id"), full)
	rm.lastActive = s.cfg.Now()
	if to.Resource != "" && typ != "groupchat" {
		// A private message: the account's other joined sessions see it
		// as sent, carbon-style, so every device shows the conversation,
		// and so do its other sessions that enabled carbons (XEP-0280
		// section 6 has sent private messages copied), rule 27. The copy
		// carries <x xmlns='…muc#user'/>, which XEP-0280 lets the server
		// add, so that clients know it for a private message even when
		// the sender left it out.
		sent := el
		if el.Child(stanza.NSMUCUser, "x") == nil {
			sent = el.Clone()
			sent.Append(xml.New(stanza.NSMUCUser, "x"))
		}
		for _, other := range s.cfg.Sessions.Sessions(a.jid) {
			j := other.JID()
			if j == full || !rm.isJoined(j) && !other.State().Carbons() {
				continue
			}
			other.Deliver(router.CarbonCopy(sent, "sent", j))
		}
	}
	return true
}

// sessionIQ handles an iq from a session to a room or occupant: a
// self-ping is answered here; anything else from a joined session goes
// out as the account with a mapped id.
func (s *Service) sessionIQ(ctx context.Context, a *account, rm *room, full jid.JID, el *xml.Element, to jid.JID) bool {
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		s.answerFromSession(a, full, el, to)
		return true
	}
	joinedHere := rm.isJoined(full)
	if typ == "get" && el.Child(nsPing, "ping") != nil && to.Resource != "" && to.Resource == rm.nick {
		// XEP-0410 self-ping: the account is in the room whatever this
		// session's link did, so the answer comes from our state.
		if joinedHere && rm.state == joined {
			s.reply(ctx, stanza.Result(el, nil))
		} else {
			s.reply(ctx, stanza.ErrorReply(el, xmpperr.New(xmpperr.NotAcceptable, "not joined")))
		}
		return true
	}
	if !joinedHere {
		return false // non-occupants may still query rooms (disco, register)
	}
	if len(a.iqs) >= maxPendingIQs {
		a.expireIQs(s.cfg.Now())
		if len(a.iqs) >= maxPendingIQs {
			s.reply(ctx, stanza.ErrorReply(el, xmpperr.New(xmpperr.ResourceConstraintC, "too many requests in flight")))
			return true
		}
	}
	id := newID("aj-")
	out := el.Clone()
	out.SetAttr("id", id)
	out.SetAttr("from", a.jid.String())
	p := pendingIQ{session: full, to: to, id: el.Attr("id"), expires: s.cfg.Now().Add(5 * time.Minute)}
	if q := out.Child(nsMAM, "query"); q != nil {
		// MAM results come as messages carrying queryid: rewrite it so
		// that they can go to this session only.
		p.queryID = q.Attr("queryid")
		q.SetAttr("queryid", id)
	}
	a.iqs[id] = p
	rm.lastActive = s.cfg.Now()
	a.queue(out, to)
	return true
}

// answerFromSession sends a session's answer to a request an occupant
// sent the account (occupantRequest) back to that occupant, as the
// account's, with the request's own id. Only the session asked may
// answer, and only to the occupant that asked; anything else goes
// nowhere (rooms send their own requests to the account).
func (s *Service) answerFromSession(a *account, full jid.JID, el *xml.Element, to jid.JID) {
	id := el.Attr("id")
	p, ok := a.inIQs[id]
	if !ok || p.session != full || p.from != to {
		return
	}
	delete(a.inIQs, id)
	out := el.Clone()
	out.SetAttr("id", p.id)
	out.SetAttr("from", a.jid.String())
	a.queue(out, to)
}

// refuseInbound answers the occupant's request p with se, as the account.
func (a *account) refuseInbound(p inboundIQ, se *xmpperr.StanzaError) {
	reply := xml.New(xml.NSClient, stanza.IQ, "type", "error", "id", p.id, "from", a.jid.String(), "to", p.from.String())
	reply.Append(se.Element(xml.NSClient))
	a.queue(reply, p.from)
}

func (a *account) expireIQs(now time.Time) {
	for id, p := range a.iqs {
		if now.After(p.expires) {
			delete(a.iqs, id)
		}
	}
	for id, p := range a.inIQs {
		if now.After(p.expires) {
			// The occupant that asked gave up long ago.
			delete(a.inIQs, id)
		}
	}
}

// sessionPresence handles presence from a session to a room the account
// is in: a leave, a nick change or a status update.
func (s *Service) sessionPresence(ctx context.Context, a *account, rm *room, full jid.JID, el *xml.Element, to jid.JID) {
	switch el.Attr("type") {
	case "unavailable":
		s.leave(ctx, a, rm, full, el)
		return
	case "":
	default:
		return // errors and subscriptions to rooms mean nothing here
	}
	js := rm.sessions[full]
	if js == nil {
		// Not joined (or still waiting): a presence without <x/> is not a
		// join (XEP-0045 7.2.1), so there is nothing to do.
		return
	}
	if to.Resource != "" && to.Resource != rm.nick && rm.state == joined {
		// Nick change (7.6): the account changes its nick; the room's 303
		// and new presence reach every joined session.
		p := xml.New(xml.NSClient, stanza.Presence, "from", a.jid.String(), "to", to.String())
		p.SetAttr("id", el.Attr("id"))
		for _, c := range el.Elements() {
			if c.Space != nsMUC {
				p.Append(c)
			}
		}
		a.queue(p, to)
		rm.noteSent(el.Attr("id"), full)
		return
	}
	js.presence = el
	s.updatePresence(ctx, a, rm)
}

// broadcastPresence notes a session's broadcast presence: it counts for
// the account's presence in every room the session joined.
func (s *Service) broadcastPresence(ctx context.Context, sess router.Session, el *xml.Element) {
	full := sess.JID()
	a := s.lock(full.Bare())
	if a == nil {
		return
	}
	defer s.release(a)
	for _, rm := range a.rooms {
		js := rm.sessions[full]
		if js == nil {
			continue
		}
		if el.Attr("type") == "unavailable" {
			// The client went unavailable without leaving: the account
			// stays; the session no longer counts.
			s.dropSession(ctx, a, rm, full)
			continue
		}
		js.presence = el
		js.active = s.cfg.Now()
		s.updatePresence(ctx, a, rm)
	}
}

// updatePresence sends the account's aggregated presence to the room when
// it changed: the most available joined session's show and status, or the
// configured offline show when none is joined. It never carries <x/>, so
// the room cannot take it for a join.
func (s *Service) updatePresence(ctx context.Context, a *account, rm *room) {
	if rm.state != joined {
		return
	}
	var best *xml.Element
	bestRank, bestPrio := -1, 0
	for _, js := range rm.sessions {
		r, p := showRank(js.presence), priority(js.presence)
		if r > bestRank || (r == bestRank && p > bestPrio) {
			best, bestRank, bestPrio = js.presence, r, p
		}
	}
	show, status := s.cfg.OfflineShow, ""
	if len(rm.sessions) > 0 {
		show, status = "", ""
		if best != nil {
			show = best.ChildText("", "show")
			status = best.ChildText("", "status")
		}
	}
	if rm.sentAny && show == rm.sentShow && status == rm.sentStatus {
		return
	}
	rm.sentAny, rm.sentShow, rm.sentStatus = true, show, status
	to := rm.jid.WithResource(rm.nick)
	p := xml.New(xml.NSClient, stanza.Presence, "from", a.jid.String(), "to", to.String())
	if show != "" {
		p.Append(xml.New(xml.NSClient, "show").AppendText(show))
	}
	if status != "" {
		p.Append(xml.New(xml.NSClient, "status").AppendText(status))
	}
	a.queue(p, to)
}

// reply delivers a stanza the feature answers a session with.
func (s *Service) reply(ctx context.Context, el *xml.Element) {
	if el == nil {
		return
	}
	to, err := stanza.To(el)
	if err != nil {
		return
	}
	s.deliver(to, el)
}

// deliver hands el to the session full, if it is still there. A session
// that went away is not an error: nothing is ever bounced to the room
// for it (bounces are what make rooms kick people).
func (s *Service) deliver(full jid.JID, el *xml.Element) bool {
	sess := s.cfg.Sessions.Get(full)
	if sess == nil {
		return false
	}
	return sess.Deliver(el)
}
