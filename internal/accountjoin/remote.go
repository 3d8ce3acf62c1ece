package accountjoin

import (
	"context"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Rooms on other servers (docs/account-join.md, "Rooms on other
// servers"). The link to a room's server is what breaks: a server that
// restarts, or a network that drops the connection, may leave the room
// without the account in it and the account without a word of it. When
// the server-to-server link to a domain breaks, the server waits a little
// (the link comes back, or the peer finishes restarting), then asks each
// room there that the account is in whether it still is: a self-ping
// (XEP-0410) from the bare JID to its own occupant JID. A room that says
// no is joined again (rejoinKeeping): the same join with <history since> the
// last archived message of the room, while the joined sessions stay
// joined and see only what changed: messages they missed (once: the
// archive recognises the room's stanza-ids), occupants who came, left or
// changed, a new subject. A room that cannot be rejoined removes them
// with 110 and 333, as a room's own error would.

// pingTimeout bounds how long a self-ping may go unanswered before it
// counts as a failure to reach the room.
const pingTimeout = 60 * time.Second

// RemoteLinkLost is told that the server-to-server link to domain broke.
// After Config.SelfPingAfter every room there that the account is in is
// checked with a self-ping; calls while a check is pending add nothing.
func (s *Service) RemoteLinkLost(domain string) {
	if domain == s.cfg.Domain {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.linkChecks[domain] {
		return
	}
	s.linkChecks[domain] = true
	s.laterLocked(s.cfg.SelfPingAfter, func() {
		s.mu.Lock()
		delete(s.linkChecks, domain)
		s.mu.Unlock()
		s.selfPingDomain(domain)
	})
}

// CheckRooms self-pings, now, every joined room on domain: a cluster node
// calls it when another node died, whose rooms lost their occupants
// (docs/cluster.md); the rooms that no longer have the account are
// joined again.
func (s *Service) CheckRooms(domain string) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.selfPingDomain(domain)
	}
}

// selfPingDomain self-pings every joined room on domain.
func (s *Service) selfPingDomain(domain string) {
	for _, a := range s.snapshot() {
		a.mu.Lock()
		for _, rm := range a.rooms {
			if rm.jid.Domain == domain && rm.state == joined && rm.ping == "" {
				s.selfPing(a, rm, 1)
			}
		}
		s.release(a)
	}
}

// selfPing sends the account's self-ping to its occupant JID in rm; it is
// the attempt-th check since the link broke.
func (s *Service) selfPing(a *account, rm *room, attempt int) {
	rm.ping = newID("aj-ping-")
	rm.pingAttempt = attempt
	to := rm.jid.WithResource(rm.nick)
	iq := xml.New(xml.NSClient, stanza.IQ, "type", "get", "id", rm.ping, "from", a.jid.String(), "to", to.String())
	iq.Append(xml.New(nsPing, "ping"))
	id := rm.ping
	rm.pingTimer = time.AfterFunc(pingTimeout, func() {
		a.mu.Lock()
		defer s.release(a)
		if a.rooms[rm.jid] == rm && rm.ping == id {
			e := stanza.ErrorReply(iq, xmpperr.New(xmpperr.RemoteServerTimeout, "no answer to the self-ping"))
			s.pingAnswered(context.Background(), a, rm, e)
		}
	})
	a.queue(iq, to)
}

// pingAnswered takes the room's answer to a self-ping (XEP-0410 section
// 3.2): a result, or service-unavailable or feature-not-implemented from
// a client that does not do pings, say the account is in; an error about
// reaching the room's server tries again later; any other error
// (not-acceptable, item-not-found) says it is not, and the server joins
// again.
func (s *Service) pingAnswered(ctx context.Context, a *account, rm *room, el *xml.Element) {
	rm.ping = ""
	if rm.pingTimer != nil {
		rm.pingTimer.Stop()
		rm.pingTimer = nil
	}
	if el.Attr("type") != "error" {
		s.log.Info("self-ping: the account is still in the room", "account", a.jid.String(), "room", rm.jid.String())
		return
	}
	se := xmpperr.FromElement(el)
	switch {
	case se == nil:
	case se.Condition == xmpperr.ServiceUnavailable || se.Condition == xmpperr.FeatureNotImplemented:
		s.log.Info("self-ping: the account is still in the room", "account", a.jid.String(), "room", rm.jid.String())
		return
	case (se.Condition == xmpperr.RemoteServerNotFound || se.Condition == xmpperr.RemoteServerTimeout) && rm.pingAttempt < maxRejoinAttempts:
		n := rm.pingAttempt + 1
		s.log.Info("self-ping: the room's server cannot be reached; trying again", "account", a.jid.String(), "room", rm.jid.String(), "error", string(se.Condition))
		rm.pingTimer = time.AfterFunc(rejoinDelay(s.cfg.SelfPingAfter, n), func() {
			a.mu.Lock()
			defer s.release(a)
			if a.rooms[rm.jid] == rm && rm.state == joined && rm.ping == "" {
				s.selfPing(a, rm, n)
			}
		})
		return
	}
	cond := "none"
	if se != nil {
		cond = string(se.Condition)
	}
	s.log.Info("self-ping: the room no longer has the account; joining again", "account", a.jid.String(), "room", rm.jid.String(), "error", cond)
	s.rejoinKeeping(ctx, a, rm)
}

// rejoinKeeping joins rm again for the account while its sessions stay joined:
// the join goes out as a rejoin's does (the room probed first, history
// since the last archived message), and what the room answers reaches
// the sessions only where it differs from what they know (see
// occupantChanged, finishRejoin).
func (s *Service) rejoinKeeping(ctx context.Context, a *account, rm *room) {
	s.Stats.Rejoins.Add(1)
	if rm.state == joined {
		s.Stats.Joined.Add(-1)
	}
	rm.stopTimers()
	rm.state = joining
	rm.byServer = true
	rm.rejoining = true
	rm.stale, rm.staleSubject = rm.occupants, rm.subject
	rm.occupants, rm.order = make(map[string]*xml.Element), nil
	p := xml.New(xml.NSClient, stanza.Presence)
	if rm.sentShow != "" {
		p.Append(xml.New(xml.NSClient, "show").AppendText(rm.sentShow))
	}
	if rm.sentStatus != "" {
		p.Append(xml.New(xml.NSClient, "status").AppendText(rm.sentStatus))
	}
	s.probeRoom(a, rm, p, s.rejoinX(ctx, a.jid, rm.jid, rm.password))
}

// sendHeld sends what was held during a rejoin, now that the room has
// the account back.
func (s *Service) sendHeld(a *account, rm *room) {
	for _, h := range rm.held {
		a.queue(h.out, h.to)
	}
	rm.held = nil
}

// refuseHeld answers what was held during a rejoin that failed.
func (s *Service) refuseHeld(ctx context.Context, rm *room) {
	for _, h := range rm.held {
		if h.session.IsZero() || !stanza.IsRequest(h.orig) && h.orig.Local != stanza.Message {
			continue
		}
		e := stanza.ErrorReply(h.orig, xmpperr.New(xmpperr.ServiceUnavailable, "the room could not be rejoined"))
		e.SetAttr("from", h.to.String())
		e.SetAttr("to", h.session.String())
		s.deliver(h.session, e)
	}
	rm.held = nil
}

// RejoinRooms joins again, at once, every joined room of rooms for the
// accounts in them, keeping their sessions joined: the rooms lost their
// occupants (on a cluster, the node that ran them died), so no self-ping
// is needed to know. What the sessions say meanwhile is held until the
// room has the account back.
func (s *Service) RejoinRooms(rooms []jid.JID) {
	if len(rooms) == 0 {
		return
	}
	lost := make(map[jid.JID]bool, len(rooms))
	for _, r := range rooms {
		lost[r.Bare()] = true
	}
	ctx := context.Background()
	for _, a := range s.snapshot() {
		a.mu.Lock()
		for _, rm := range a.rooms {
			if lost[rm.jid] && rm.state == joined {
				rm.ping = ""
				s.log.Info("the room lost its occupants; joining again", "account", a.jid.String(), "room", rm.jid.String())
				s.rejoinKeeping(ctx, a, rm)
			}
		}
		s.release(a)
	}
}

// Resend sends el, which account had sent to room, again: on a cluster,
// what went to a room's node that died. During a rejoin it is held until
// the room has the account back. It reports false when the account is
// not in the room here.
func (s *Service) Resend(room, account jid.JID, el *xml.Element) bool {
	a := s.account(account.Bare(), false)
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer s.release(a)
	rm := a.rooms[room.Bare()]
	if rm == nil {
		return false
	}
	to, err := stanza.To(el)
	if err != nil {
		to = room.Bare()
	}
	if rm.rejoining && rm.state == joining && len(rm.held) < maxRejoinHeld {
		rm.held = append(rm.held, heldStanza{out: el, orig: el, to: to})
		return true
	}
	a.queue(el, to)
	return true
}

// occupantChanged reports whether an occupant's presence, received while
// rejoining, tells the joined sessions anything new; it forgets the
// occupant from those known before.
func (rm *room) occupantChanged(nick string, el *xml.Element) bool {
	if !rm.rejoining {
		return true
	}
	old, ok := rm.stale[nick]
	delete(rm.stale, nick)
	return !ok || !samePresence(old, el)
}

// samePresence compares two presences from a room but for their id.
func samePresence(a, b *xml.Element) bool {
	ca, cb := a.ShallowClone(), b.ShallowClone()
	ca.SetAttr("id", "")
	cb.SetAttr("id", "")
	return ca.String() == cb.String()
}

// finishRejoin ends a rejoin that kept the sessions joined, when its join
// sequence is complete: occupants that were there before and are not
// now left meanwhile, which the sessions learn.
func (s *Service) finishRejoin(a *account, rm *room) {
	if !rm.rejoining {
		return
	}
	for nick, p := range rm.stale {
		if nick == rm.nick {
			continue
		}
		left := xml.New(xml.NSClient, stanza.Presence, "from", rm.jid.WithResource(nick).String(), "to", a.jid.String(), "type", "unavailable")
		item := xml.New(nsMUCUser, "item", "affiliation", "none", "role", "none")
		if x := p.Child(nsMUCUser, "x"); x != nil {
			if it := x.Child(nsMUCUser, "item"); it != nil && it.Attr("jid") != "" {
				item.SetAttr("jid", it.Attr("jid"))
			}
		}
		s.fork(rm, left.Append(xml.New(nsMUCUser, "x").Append(item)))
	}
	rm.rejoining, rm.stale, rm.staleSubject = false, nil, nil
}

// subjectChanged reports whether a subject received while rejoining
// differs from the one the sessions have.
func (rm *room) subjectChanged(el *xml.Element) bool {
	return !rm.rejoining || rm.staleSubject == nil || rm.staleSubject.ChildText("", "subject") != el.ChildText("", "subject")
}

// dropSessions tells the joined sessions that the account is out of the
// room (110, 333): a rejoin that kept them failed.
func (s *Service) dropSessions(a *account, rm *room) {
	for full := range rm.sessions {
		p := selfUnavailable(rm.jid, rm.nick, full, "", rm.self)
		p.Child(nsMUCUser, "x").Append(xml.New(nsMUCUser, "status", "code", "333"))
		s.deliver(full, p)
	}
	rm.rejoining = false
	s.refuseHeld(context.Background(), rm)
}

// rejoinX is the <x/> of the server's own join: the password, and the
// history since the account's last archived message of the room (the
// newest 20 when there is none), so that nothing said meanwhile is lost.
func (s *Service) rejoinX(ctx context.Context, account, room jid.JID, password string) *xml.Element {
	x := xml.New(nsMUC, "x")
	if password != "" {
		x.Append(xml.New(nsMUC, "password").AppendText(password))
	}
	hist := xml.New(nsMUC, "history")
	if last, err := s.cfg.Archive.Last(ctx, account, room); err == nil && !last.IsZero() {
		hist.SetAttr("since", last.UTC().Format(time.RFC3339Nano))
	} else {
		hist.SetAttr("maxstanzas", "20")
	}
	return x.Append(hist)
}
