package accountjoin

import (
	"context"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// joinTimeout bounds how long sessions wait for a room that does not
// answer a join; completeTimeout how long after the self-presence they
// wait for the subject that ends the join sequence.
const (
	joinTimeout     = 60 * time.Second
	completeTimeout = 10 * time.Second
	leaveTimeout    = 10 * time.Second
)

// join handles a session's join (presence with <x xmlns=muc/>).
func (s *Service) join(ctx context.Context, full jid.JID, el *xml.Element, to jid.JID) {
	a := s.account(full.Bare(), true)
	a.mu.Lock()
	defer s.release(a)
	rj := to.Bare()
	x := el.Child(nsMUC, "x")
	w := waiter{full: full, id: el.Attr("id"), x: x, nick: to.Resource, presence: el}
	rm := a.rooms[rj]
	switch {
	case rm == nil:
		s.startJoin(ctx, a, rj, []waiter{w})
	case rm.state == leaving:
		// A join while the account's leave is in flight waits for the
		// room's answer to the leave (or leaveTimeout); finishLeave then
		// sends it. Sent now, the room's late unavailable for the leave
		// would read as the new membership's end.
		fallthrough
	case rm.state == joining:
		if i := rm.isWaiting(full); i >= 0 {
			rm.waiting[i] = w
		} else {
			rm.waiting = append(rm.waiting, w)
		}
	case rm.isJoined(full) && to.Resource != rm.nick:
		// Presence to another nick from a session that joined is a nick
		// change (7.6), <x/> or not: mcabber sends one with it.
		s.sessionPresence(ctx, a, rm, full, el, to)
	case rm.synth[full] != nil:
		rm.synth[full].w = w // a repeated join while the first is answered
	default: // joined
		rm.lastActive = s.cfg.Now()
		s.beginSynthesis(a, rm, w)
	}
}

// startJoin makes the account join room rj for the sessions waiting, the
// first of which receives the room's answer as it comes (rule 1).
func (s *Service) startJoin(ctx context.Context, a *account, rj jid.JID, waiting []waiter) {
	w := waiting[0]
	rm := newRoom(rj, w.nick)
	if w.x != nil {
		rm.password = w.x.ChildText(nsMUC, "password")
	}
	rm.live = w.full
	rm.waiting = waiting
	rm.lastActive = s.cfg.Now()
	rm.since = rm.lastActive
	a.rooms[rj] = rm
	s.Stats.AccountJoins.Add(1)
	s.sendJoin(ctx, a, rm, w.presence, w.x)
}

// sendJoin sends the account's join to the room: the session's presence
// from the bare JID, with its <x/> children (history, password).
func (s *Service) sendJoin(ctx context.Context, a *account, rm *room, el, x *xml.Element) {
	to := rm.jid.WithResource(rm.nick)
	p := xml.New(xml.NSClient, stanza.Presence, "from", a.jid.String(), "to", to.String())
	p.SetAttr("id", el.Attr("id"))
	for _, c := range el.Elements() {
		if c.Space == nsMUC && c.Local == "x" {
			continue
		}
		p.Append(c)
	}
	if x != nil {
		p.Append(x.Clone())
	} else {
		p.Append(xml.New(nsMUC, "x"))
	}
	// The join carries the account's first presence in the room.
	rm.sentAny, rm.sentShow, rm.sentStatus = true, el.ChildText("", "show"), el.ChildText("", "status")
	rm.timer = time.AfterFunc(joinTimeout, func() { s.joinTimedOut(a, rm) })
	// What the room sends from here on (history included) is the
	// account's; a rejoin keeps the interval it never left.
	if err := s.cfg.Archive.Joined(ctx, a.jid, rm.jid); err != nil {
		s.log.Error("begin account membership in archive", "account", a.jid.String(), "room", rm.jid.String(), "err", err)
	}
	a.outbox = append(a.outbox, outgoing{el: p, to: to, server: rm.byServer})
}

func (s *Service) joinTimedOut(a *account, rm *room) {
	a.mu.Lock()
	defer s.release(a)
	if a.rooms[rm.jid] != rm || rm.state != joining {
		return
	}
	ctx := context.Background()
	s.log.Info("account join timed out", "account", a.jid.String(), "room", rm.jid.String())
	errp := xml.New(xml.NSClient, stanza.Presence, "from", rm.jid.WithResource(rm.nick).String(), "type", "error")
	errp.Append(xmpperr.New(xmpperr.RemoteServerTimeout, "the room did not answer").Element(xml.NSClient))
	s.joinFailed(ctx, a, rm, errp)
}

// joinFailed gives every waiting session the room's error, each with its
// own join id, and forgets the room (rule 5). A join the server made on
// its own that meets a temporary error (type wait: a busy or rate-limiting
// room, no answer) keeps the stored membership and is tried again later.
func (s *Service) joinFailed(ctx context.Context, a *account, rm *room, errp *xml.Element) {
	if se := xmpperr.FromElement(errp); rm.byServer && se != nil && se.Condition == xmpperr.ItemNotFound && len(rm.waiting) > 0 {
		// The server's own join found the room gone (a service that
		// does not create rooms for it, NoCreate), but a session asked
		// to join meanwhile: its join goes out as its own, and may
		// create the room.
		w := rm.waiting[0]
		rm.byServer = false
		rm.live, rm.nick = w.full, w.nick
		if w.x != nil {
			rm.password = w.x.ChildText(nsMUC, "password")
		}
		rm.stopTimers()
		s.sendJoin(ctx, a, rm, w.presence, w.x)
		return
	}
	for _, w := range rm.waiting {
		c := errp.Clone()
		c.SetAttr("to", w.full.String())
		c.SetAttr("id", w.id)
		s.deliver(w.full, c)
	}
	rm.waiting = nil
	s.dropSessions(a, rm) // a rejoin that kept them (rejoinKeeping) failed
	if se := xmpperr.FromElement(errp); rm.byServer && temporary(se) {
		s.log.Info("rejoin refused for now; retrying later", "account", a.jid.String(), "room", rm.jid.String(), "error", string(se.Condition))
		s.unlink(a, rm)
		s.scheduleRejoin(a, rm.record(a.jid), rm.attempts+1)
		return
	}
	if rm.byServer {
		cond := "none"
		if se := xmpperr.FromElement(errp); se != nil {
			cond = string(se.Condition)
		}
		s.log.Info("rejoin refused; the membership ends", "account", a.jid.String(), "room", rm.jid.String(), "error", cond)
	}
	s.forget(ctx, a, rm)
}

// temporary reports whether a room's refusal of the server's own join may
// pass: an error of type wait (a busy or rate-limiting room, no answer),
// or the room's server out of reach (remote-server-not-found is of type
// cancel, but a server whose name does not resolve now may tomorrow).
func temporary(se *xmpperr.StanzaError) bool {
	return se != nil && (se.Type == xmpperr.Wait || se.Condition == xmpperr.RemoteServerNotFound || se.Condition == xmpperr.RemoteServerTimeout)
}

// forget drops the account's state for a room, stored and in memory: the
// membership ended, and the room's messages from now on are not the
// account's.
func (s *Service) forget(ctx context.Context, a *account, rm *room) {
	s.unlink(a, rm)
	s.storeLater(storeWrite{account: a.jid, room: rm.jid})
	if err := s.cfg.Archive.Left(ctx, a.jid, rm.jid); err != nil {
		s.log.Error("end account membership in archive", "account", a.jid.String(), "room", rm.jid.String(), "err", err)
	}
}

// unlink drops the account's state for a room from memory only: the stored
// membership and its interval in the archive stay, for a rejoin.
func (s *Service) unlink(a *account, rm *room) {
	rm.stopTimers()
	if rm.state == joined {
		s.Stats.Joined.Add(-1)
		rm.state = leaving // counted once, however often dropped
	}
	if a.rooms[rm.jid] == rm {
		delete(a.rooms, rm.jid)
		a.joinedGen++
		s.Stats.AccountJoins.Add(-1)
		s.Stats.JoinedSessions.Add(-int64(len(rm.sessions)))
		for id, p := range a.inIQs {
			if p.from.Bare() == rm.jid {
				delete(a.inIQs, id) // the account is no longer there to answer
			}
		}
	}
}

// record is the membership as stored.
func (rm *room) record(account jid.JID) Record {
	return Record{Account: account, Room: rm.jid, Nick: rm.nick, Password: rm.password, Bookmark: rm.bookmark, LastActive: rm.lastActive}
}

// persist stores the membership so that it survives a restart, unless
// storage holds it as it is (a rejoin after a restart changes nothing).
func (s *Service) persist(ctx context.Context, a *account, rm *room) {
	rec := rm.record(a.jid)
	if rec == rm.saved {
		return
	}
	s.storeLater(storeWrite{put: true, rec: rec})
	rm.saved = rec
}

// completeJoin runs when the room's join sequence ended (the subject
// arrived, or it was late): the live session is already joined; every
// other waiter gets the sequence synthesised from what the live join
// brought.
func (s *Service) completeJoin(ctx context.Context, a *account, rm *room) {
	rm.stopTimers()
	waiting := rm.waiting
	rm.waiting = nil
	for _, w := range waiting {
		if w.full == rm.live {
			continue
		}
		s.beginSynthesis(a, rm, w)
	}
	rm.live = jid.JID{}
	s.updatePresence(ctx, a, rm)
}

// synthesise answers a session's join from local state (rule 2): every
// occupant's presence, then its own (110, its join id, 210 if it asked
// for another nick) last among presences, then history from the
// account's archive as its <history/> asks, then the subject.
func (s *Service) synthesise(a *account, rm *room, w waiter, history []HistoryItem) {
	for _, nick := range rm.order {
		if nick == rm.nick {
			continue
		}
		if p := rm.occupants[nick]; p != nil {
			s.deliver(w.full, forkTo(withoutEventCodes(p), w.full.String()))
		}
	}
	if rm.self != nil {
		// The cached self-presence may carry codes of past events (201
		// from the room's creation, 210 from an earlier join or nick
		// change): this join is a new event, with codes of its own.
		extra := append([]string{"110"}, rm.joinCodes...)
		if w.nick != rm.nick {
			extra = append(extra, "210")
		}
		self := selfCopy(withoutEventCodes(rm.self), a.jid, w.full, w.id, extra...)
		// The room's last self-presence shows the account's aggregate
		// (xa while no session was joined); the joiner sees its own
		// presence, which the account's next update tells the room.
		self.RemoveFunc(func(c *xml.Element) bool {
			return c.Space == xml.NSClient && (c.Local == "show" || c.Local == "status" || c.Local == "priority")
		})
		if w.presence != nil {
			for _, c := range w.presence.Elements() {
				if c.Space == xml.NSClient && (c.Local == "show" || c.Local == "status") {
					self.Append(c)
				}
			}
		}
		s.deliver(w.full, self)
	}
	for _, m := range history {
		s.deliver(w.full, m.Stanza)
	}
	if rm.subject != nil {
		s.deliver(w.full, forkTo(rm.subject, w.full.String()))
	} else {
		s.deliver(w.full, emptySubject(rm.jid, w.full))
	}
}

// history reads the room's recent messages from the account's archive,
// bounded as the join's <history/> asks (XEP-0045 7.2.13), with
// <delay from=room>. It reads storage: it runs without the account's
// lock (synthesis.go).
func (s *Service) history(ctx context.Context, account, room jid.JID, h historyLimits) []HistoryItem {
	if h.none {
		return nil
	}
	max := s.cfg.HistoryMax
	if h.maxStanza >= 0 && h.maxStanza < max {
		max = h.maxStanza
	}
	var since time.Time
	if h.seconds >= 0 {
		since = s.cfg.Now().Add(-time.Duration(h.seconds) * time.Second)
	}
	if h.since != "" {
		if t, err := time.Parse(time.RFC3339Nano, h.since); err == nil && t.After(since) {
			since = t
		}
	}
	items, err := s.cfg.Archive.History(ctx, account, room, max, since)
	if err != nil {
		s.log.Error("read room history from account archive", "account", account.String(), "room", room.String(), "err", err)
		return nil
	}
	if h.maxChars > 0 {
		// Keep the newest messages whose serialised size fits.
		total, start := 0, len(items)
		for i := len(items) - 1; i >= 0; i-- {
			total += len(items[i].Stanza.AppendXML(nil, xml.NSClient))
			if total > h.maxChars {
				break
			}
			start = i
		}
		items = items[start:]
	}
	for i := range items {
		m := items[i].Stanza
		m.SetAttr("to", "")
		m.RemoveChildren(stanza.NSDelay, "delay")
		m.Append(stanza.Delay(room.String(), items[i].Stamp.UTC().Format("2006-01-02T15:04:05.000Z")))
		items[i].Stanza = m
	}
	return items
}

// leave handles a session's leave (rules 13 and 14).
func (s *Service) leave(ctx context.Context, a *account, rm *room, full jid.JID, el *xml.Element) {
	if rm.synth[full] != nil {
		delete(rm.synth, full)
		s.deliver(full, selfUnavailable(rm.jid, rm.nick, full, el.Attr("id"), rm.self))
		return
	}
	if i := rm.isWaiting(full); i >= 0 {
		rm.waiting = append(rm.waiting[:i], rm.waiting[i+1:]...)
		if !rm.isJoined(full) {
			s.deliver(full, selfUnavailable(rm.jid, rm.nick, full, el.Attr("id"), rm.self))
			return
		}
		// The live session: joined at the room's self-presence, and
		// waiting only for the end of the join sequence (the subject).
	}
	if !rm.isJoined(full) {
		return
	}
	if len(rm.sessions) > 1 || rm.bookmark || rm.state != joined {
		s.deliver(full, selfUnavailable(rm.jid, rm.nick, full, el.Attr("id"), rm.self))
		s.dropSession(ctx, a, rm, full)
		return
	}
	// The last joined session leaves: the account leaves for real, and
	// the room's own answer (110) goes to this session.
	delete(rm.sessions, full)
	a.joinedGen++
	s.Stats.JoinedSessions.Add(-1)
	if rm.state == joined {
		s.Stats.Joined.Add(-1)
	}
	rm.state = leaving
	rm.leaver, rm.leaverID = full, el.Attr("id")
	to := rm.jid.WithResource(rm.nick)
	p := xml.New(xml.NSClient, stanza.Presence, "from", a.jid.String(), "to", to.String(), "type", "unavailable")
	if st := el.Child("", "status"); st != nil {
		p.Append(st)
	}
	rm.stopTimers()
	rm.timer = time.AfterFunc(leaveTimeout, func() { s.leaveTimedOut(a, rm) })
	a.queue(p, to)
}

// leaveTimedOut ends a leave the room did not answer in time.
func (s *Service) leaveTimedOut(a *account, rm *room) {
	a.mu.Lock()
	defer s.release(a)
	if a.rooms[rm.jid] == rm && rm.state == leaving {
		s.finishLeave(context.Background(), a, rm, nil)
	}
}

// finishLeave completes the account's leave: the leaving session gets the
// room's unavailable self-presence (or one of ours when the room did not
// answer), and the state is forgotten. Joins that came while the leave was
// in flight go to the room now.
func (s *Service) finishLeave(ctx context.Context, a *account, rm *room, roomAnswer *xml.Element) {
	if !rm.leaver.IsZero() {
		if roomAnswer != nil {
			s.deliver(rm.leaver, selfCopy(roomAnswer, a.jid, rm.leaver, rm.leaverID))
		} else {
			s.deliver(rm.leaver, selfUnavailable(rm.jid, rm.nick, rm.leaver, rm.leaverID, rm.self))
		}
	}
	queued := rm.waiting
	rm.waiting = nil
	s.forget(ctx, a, rm)
	if len(queued) > 0 {
		s.startJoin(ctx, a, rm.jid, queued)
	}
}

// dropSession removes a session from a room without touching the room.
func (s *Service) dropSession(ctx context.Context, a *account, rm *room, full jid.JID) {
	if _, ok := rm.sessions[full]; ok {
		delete(rm.sessions, full)
		a.joinedGen++
		s.Stats.JoinedSessions.Add(-1)
		rm.lastActive = s.cfg.Now()
		s.persist(ctx, a, rm)
		s.updatePresence(ctx, a, rm)
	}
}

// SessionEnded is called when a session ends without leaving its rooms
// (stream closed, stream management timeout): the account stays in every
// room (rule 15) and the session simply stops receiving.
func (s *Service) SessionEnded(ctx context.Context, full jid.JID) {
	a := s.lock(full.Bare())
	if a == nil {
		return
	}
	defer s.release(a)
	for _, rm := range a.rooms {
		if i := rm.isWaiting(full); i >= 0 {
			rm.waiting = append(rm.waiting[:i], rm.waiting[i+1:]...)
		}
		delete(rm.synth, full)
		if rm.live == full {
			rm.live = jid.JID{}
		}
		s.dropSession(ctx, a, rm, full)
	}
	for id, p := range a.iqs {
		if p.session == full {
			delete(a.iqs, id)
		}
	}
	for id, p := range a.inIQs {
		if p.session == full {
			// It will not answer: the occupant that asked hears so now.
			delete(a.inIQs, id)
			a.refuseInbound(p, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		}
	}
}
