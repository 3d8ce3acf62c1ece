package accountjoin

import (
	"context"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// ToLocal implements router.Interceptor: it takes what a room the account
// is in sends to the account's bare JID, and forks it to the sessions that
// joined.
func (s *Service) ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool {
	if to.Local == "" || !to.IsBare() || from.Local == "" {
		return false
	}
	a := s.account(to, false)
	if a == nil {
		reply := s.stray(el)
		if reply != nil {
			s.cfg.Sender.Route(ctx, reply, to, from)
		}
		return reply != nil || strayPresence(el)
	}
	a.mu.Lock()
	defer s.release(a)
	if el.Local == stanza.IQ || el.Local == stanza.Message {
		if s.mappedReply(ctx, a, el, from) {
			return true
		}
	}
	rm := a.rooms[from.Bare()]
	if rm == nil {
		if reply := s.stray(el); reply != nil {
			a.queue(reply, from)
			return true
		}
		return strayPresence(el)
	}
	switch el.Local {
	case stanza.Presence:
		s.roomPresence(ctx, a, rm, el, from)
		return true
	case stanza.Message:
		return s.roomMessage(ctx, a, rm, el, from)
	case stanza.IQ:
		if rm.probe != "" && el.Attr("id") == rm.probe && from == rm.jid {
			s.probeAnswered(ctx, a, rm, el)
			return true
		}
		if rm.ping != "" && el.Attr("id") == rm.ping && from == rm.jid.WithResource(rm.nick) {
			s.pingAnswered(ctx, a, rm, el)
			return true
		}
		return s.occupantRequest(ctx, a, rm, el, from)
	}
	return false
}

// accountPayloads are the requests an occupant may send the account that
// the server answers for the account itself (a room relays vCard requests
// to the bare JID on purpose).
var accountPayloads = map[string]bool{"vcard-temp": true}

// occupantRequest passes an iq request from an occupant to the account
// (which the room relays to the account's real JID, the bare one) on to
// one joined session, the most available and then the most recently
// active, under a random id; answerFromSession sends its answer back. With
// no session joined the account answers service-unavailable (rule 23).
func (s *Service) occupantRequest(ctx context.Context, a *account, rm *room, el *xml.Element, from jid.JID) bool {
	if t := el.Attr("type"); t != "get" && t != "set" || from.Resource == "" {
		return false // answers are mapped replies or nobody's; the room's own requests are the account's
	}
	if p := el.FirstElement(); p != nil && accountPayloads[p.Space] {
		return false
	}
	refuse := func(se *xmpperr.StanzaError) bool {
		reply := stanza.ErrorReply(el, se)
		reply.SetAttr("from", a.jid.String())
		reply.SetAttr("to", from.String())
		a.queue(reply, from)
		return true
	}
	target := rm.answerer()
	if target.IsZero() {
		return refuse(xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
	if len(a.inIQs) >= maxPendingIQs {
		a.expireIQs(s.cfg.Now())
		if len(a.inIQs) >= maxPendingIQs {
			return refuse(xmpperr.New(xmpperr.ResourceConstraintC, "too many requests in flight").WithType(xmpperr.Wait))
		}
	}
	id := newID("aj-in-")
	out := el.Clone()
	out.SetAttr("id", id)
	out.SetAttr("to", target.String())
	if !s.deliver(target, out) {
		return refuse(xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
	a.inIQs[id] = inboundIQ{session: target, from: from, id: el.Attr("id"), expires: s.cfg.Now().Add(5 * time.Minute)}
	return true
}

// stray answers room traffic for an account with no state for the room:
// a groupchat message gets service-unavailable (rule 18, RFC 6121 8.5.2),
// so that a room that still lists the account drops it by its own rules.
func (s *Service) stray(el *xml.Element) *xml.Element {
	if el.Local == stanza.Message && stanza.Type(el) == "groupchat" {
		return stanza.ErrorReply(el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
	return nil
}

// strayPresence reports whether el is occupant presence from a room the
// account is not in: it must not reach sessions that never joined.
func strayPresence(el *xml.Element) bool {
	return el.Local == stanza.Presence && el.Child(nsMUCUser, "x") != nil
}

// mappedReply returns an iq result or MAM result that answers what a
// session asked a room, to that session alone, with its own ids. Only the
// address the request went to (from) may answer it.
func (s *Service) mappedReply(ctx context.Context, a *account, el *xml.Element, from jid.JID) bool {
	if el.Local == stanza.IQ {
		t := el.Attr("type")
		if t != "result" && t != "error" {
			return false
		}
		p, ok := a.iqs[el.Attr("id")]
		if !ok || p.to != from {
			return false
		}
		delete(a.iqs, el.Attr("id"))
		out := el.Clone()
		out.SetAttr("id", p.id)
		out.SetAttr("to", p.session.String())
		if fin := out.Child(nsMAM, "fin"); fin != nil && fin.HasAttr("queryid") {
			fin.SetAttr("queryid", p.queryID)
		}
		s.deliver(p.session, out)
		return true
	}
	res := el.Child(nsMAM, "result")
	if res == nil {
		return false
	}
	p, ok := a.iqs[res.Attr("queryid")]
	if !ok || p.to.Bare() != from {
		return false
	}
	out := el.Clone()
	out.SetAttr("to", p.session.String())
	out.Child(nsMAM, "result").SetAttr("queryid", p.queryID)
	s.deliver(p.session, out)
	return true
}

// roomPresence handles a presence from the room: occupants coming and
// going, the account's own presence, and the account's removal.
func (s *Service) roomPresence(ctx context.Context, a *account, rm *room, el *xml.Element, from jid.JID) {
	typ := el.Attr("type")
	codes := statusCodes(el)
	if typ == "error" {
		switch rm.state {
		case joining:
			s.joinFailed(ctx, a, rm, el)
		default:
			// An error for a nick change goes to the session that asked
			// for it (e.g. 409); one for the account's status update to
			// every joined session.
			s.forkError(rm, el)
		}
		return
	}
	if codes["110"] || rm.isOwnOccupant(from) {
		s.selfPresence(ctx, a, rm, el, from, typ, codes)
		return
	}
	// Another occupant.
	nick := from.Resource
	changed := rm.occupantChanged(nick, el)
	if typ == "unavailable" {
		// Also a nick change (303): the new presence follows and adds
		// the occupant back under its new nick.
		rm.setOccupant(nick, nil)
	} else if nick != "" {
		rm.setOccupant(nick, el)
	}
	if changed {
		s.fork(rm, el)
	}
}

// selfPresence handles the room's presence about the account itself.
func (s *Service) selfPresence(ctx context.Context, a *account, rm *room, el *xml.Element, from jid.JID, typ string, codes map[string]bool) {
	if typ == "unavailable" && rm.state == joining {
		// A room answers a join with an available presence or an
		// error: this is the late answer to the account's previous
		// leave, which timed out before the new join went out.
		s.log.Debug("late answer to a leave during a join", "account", a.jid.String(), "room", rm.jid.String())
		return
	}
	if typ == "unavailable" {
		switch {
		case codes["303"]:
			// Nick change: 303 carries the new nick; the new
			// self-presence follows.
			if x := el.Child(nsMUCUser, "x"); x != nil {
				if it := x.Child(nsMUCUser, "item"); it != nil && it.Attr("nick") != "" {
					rm.nick = it.Attr("nick")
				}
			}
			s.forkSelf(a, rm, el)
			s.persist(ctx, a, rm)
		case rm.state == leaving:
			s.finishLeave(ctx, a, rm, el)
		default:
			// Removed by the room (307 kick, 301 ban, 321/322
			// affiliation, 332 shutdown, 333 error, or <destroy/>):
			// every joined session learns it with codes and reason
			// intact (rule 17), as its own presence (110, which some
			// rooms leave out of a destroy).
			s.forkSelf(a, rm, el, "110")
			for _, w := range rm.waiting {
				s.deliver(w.full, selfCopy(el, a.jid, w.full, w.id, "110"))
			}
			if codes["332"] || codes["333"] {
				// The room went away (a restart, ours included) or lost
				// the account: the membership stays stored as it is,
				// LastActive included, and the server rejoins.
				s.unlink(a, rm)
				s.scheduleRejoin(a, rm.record(a.jid), rm.attempts+1)
				return
			}
			s.forget(ctx, a, rm)
		}
		return
	}
	// Available self-presence.
	nick := from.Resource
	firstSelf := rm.state == joining
	rm.nick = nick
	rm.self = el
	rm.attempts = 0
	if firstSelf {
		rm.joinCodes = rm.joinCodes[:0]
		for _, c := range []string{"100", "170"} {
			if codes[c] {
				rm.joinCodes = append(rm.joinCodes, c)
			}
		}
		rm.state = joined
		s.Stats.Joined.Add(1)
		rm.probe = ""
		rm.stopTimers()
		if codes["201"] && rm.live.IsZero() && len(rm.waiting) == 0 {
			// The server's own join created the room: it vanished
			// between the probe and the join, or the service does not
			// answer disco#info. Undo it (rule 24): destroy the new room,
			// still locked and empty, and end the membership.
			s.log.Info("room no longer existed; destroying the one our rejoin created", "account", a.jid.String(), "room", rm.jid.String())
			s.dropSessions(a, rm)
			iq := xml.New(xml.NSClient, stanza.IQ, "type", "set", "id", newID("aj-undo-"), "from", a.jid.String(), "to", rm.jid.String())
			d := xml.New(nsMUCOwner, "destroy").Append(xml.New(nsMUCOwner, "reason").AppendText("The room no longer existed; a server does not re-create rooms for its accounts."))
			iq.Append(xml.New(nsMUCOwner, "query").Append(d))
			a.queue(iq, rm.jid)
			s.forget(ctx, a, rm)
			return
		}
		s.sendHeld(a, rm)
		// The live session is joined from here on: history and subject
		// reach it as the room sends them.
		if !rm.live.IsZero() {
			if i := rm.isWaiting(rm.live); i >= 0 {
				w := rm.waiting[i]
				var extra []string
				if w.nick != nick && !codes["210"] {
					extra = append(extra, "210")
				}
				s.deliver(w.full, selfCopy(el, a.jid, w.full, w.id, extra...))
				rm.sessions[w.full] = newJoinedSession(w.full, w.presence, s.cfg.Now())
				a.joinedGen++
				s.Stats.JoinedSessions.Add(1)
			}
		}
		rm.timer = time.AfterFunc(completeTimeout, func() {
			a.mu.Lock()
			defer s.release(a)
			if a.rooms[rm.jid] == rm && len(rm.waiting) > 0 {
				s.completeJoin(context.Background(), a, rm)
			}
		})
		s.persist(ctx, a, rm)
		if codes["201"] && rm.live.IsZero() {
			// The server's own join created the room for sessions that
			// joined while it was in flight: none of them receives the
			// 201 to configure it, so accept the default configuration
			// (XEP-0045 10.1.2, instant room) rather than leave it
			// locked to everyone else.
			iq := xml.New(xml.NSClient, stanza.IQ, "type", "set", "id", newID("aj-instant-"), "from", a.jid.String(), "to", rm.jid.String())
			iq.Append(xml.New(nsMUCOwner, "query").Append(xml.New(nsDataForm, "x", "type", "submit")))
			a.queue(iq, rm.jid)
		}
		return
	}
	s.forkSelf(a, rm, el)
}

// forkSelf sends the account's own room presence to every joined session
// with the session's own JID in the item.
func (s *Service) forkSelf(a *account, rm *room, el *xml.Element, extraCodes ...string) {
	for full := range rm.sessions {
		s.deliver(full, selfCopy(el, a.jid, full, "", extraCodes...))
		s.Stats.Forked.Add(1)
	}
	if n := len(rm.sessions); n > 1 {
		s.Stats.Saved.Add(uint64(n - 1))
	}
}

// fork sends a room stanza to every joined session (rule 7), and during
// the account's join to the session whose join it answers (rule 1).
func (s *Service) fork(rm *room, el *xml.Element) {
	s.hold(rm, el)
	s.forkJoining(rm, el)
	for full, js := range rm.sessions {
		s.deliver(full, forkTo(el, js.to))
		s.Stats.Forked.Add(1)
	}
	if n := len(rm.sessions); n > 1 {
		s.Stats.Saved.Add(uint64(n - 1))
	}
}

// forkOwned is fork for a stanza that nothing else holds (the room's copy
// for the account): the last session gets el itself, readdressed, rather
// than a copy. A room message reaches most accounts' one session, and
// this is then all it costs.
func (s *Service) forkOwned(rm *room, el *xml.Element) {
	s.hold(rm, el)
	s.forkJoining(rm, el)
	n, i := len(rm.sessions), 0
	for full, js := range rm.sessions {
		i++
		c := el
		if i < n {
			c = el.ShallowClone()
		}
		c.SetAttr("to", js.to)
		s.deliver(full, c)
		s.Stats.Forked.Add(1)
	}
	if n > 1 {
		s.Stats.Saved.Add(uint64(n - 1))
	}
}

// forkJoining sends a room stanza to the session whose join the room is
// answering, if it is not joined yet.
func (s *Service) forkJoining(rm *room, el *xml.Element) {
	if !rm.live.IsZero() && !rm.isJoined(rm.live) && rm.isWaiting(rm.live) >= 0 {
		s.deliver(rm.live, forkTo(el, rm.live.String()))
	}
}

// forkError delivers the room's error for a stanza a session sent to that
// session alone, matched by the id it went out with; an error that
// matches none of them reaches every joined session.
func (s *Service) forkError(rm *room, el *xml.Element) {
	senders := rm.takeSent(el.Attr("id"))
	if len(senders) == 0 {
		s.fork(rm, el)
		return
	}
	for _, full := range senders {
		s.deliver(full, forkTo(el, full.String()))
	}
}

// roomMessage handles a message from the room: groupchat (archived once
// for the account, then forked), the subject, private messages and
// errors.
func (s *Service) roomMessage(ctx context.Context, a *account, rm *room, el *xml.Element, from jid.JID) bool {
	typ := stanza.Type(el)
	switch typ {
	case "groupchat":
		if isSubjectMessage(el) {
			rm.adoptedLast = time.Time{} // an adopted rejoin's history is over
			rm.subject = el
			if rm.subjectChanged(el) {
				s.fork(rm, el)
			} else {
				s.forkJoining(rm, el)
			}
			if rm.state == joined {
				s.finishRejoin(a, rm)
			}
			if rm.state == joined && len(rm.waiting) > 0 {
				s.completeJoin(ctx, a, rm)
			} else if rm.state == joined {
				rm.live = jid.JID{}
			}
			return true
		}
		stanza.RemoveStanzaIDs(el, a.jid) // forged: only the account's archive says so
		ref, err := s.cfg.Archive.Groupchat(ctx, a.jid, rm.jid, el)
		if err != nil {
			s.Stats.ArchiveFailures.Add(1)
			s.log.Error("archive room message for account", "account", a.jid.String(), "room", rm.jid.String(), "err", err)
		}
		if ref.ID != "" {
			stanza.AddStanzaIDString(el, a.jidS, ref.ID)
		}
		if ref.Dup && (ref.Order <= rm.delivered || rm.adoptedDelivered(el)) {
			// The joined sessions had it: the room repeats its history
			// after taking the account back (rule 21: nothing doubled).
			// A session whose join is under way asked for that history.
			s.forkJoining(rm, el)
			return true
		}
		rm.delivered = max(rm.delivered, ref.Order)
		s.watched(ctx, a, rm, el)
		s.forkOwned(rm, el)
		return true
	case "error":
		// An error for something a session sent to the room (rejected
		// message, not allowed PM).
		s.forkError(rm, el)
		return true
	default:
		if from.Resource == "" {
			// From the room itself (invitations, declines, config change
			// notices in a normal message): ordinary delivery.
			return false
		}
		// A private message from an occupant: every joined session.
		s.watched(ctx, a, rm, el)
		s.fork(rm, el)
		return true
	}
}

// watched tells Config.OnRoomMessage of a message that reached the
// account, before forkOwned readdresses it.
func (s *Service) watched(ctx context.Context, a *account, rm *room, el *xml.Element) {
	if s.cfg.OnRoomMessage != nil {
		s.cfg.OnRoomMessage(ctx, a.jid, rm.jid, rm.nick, el)
	}
}
