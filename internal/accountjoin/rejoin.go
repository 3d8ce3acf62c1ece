package accountjoin

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// maxRejoinAttempts bounds the rejoins after a room dropped the account
// for a shutdown (332) or an error (333).
const maxRejoinAttempts = 8

// rejoinDelay is the backoff before attempt n (1, 2, ...): first doubling,
// at most 10 minutes.
func rejoinDelay(first time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// scheduleRejoin rejoins a room after a backoff. The stored membership is
// left as it is: a restart in the meantime rejoins too.
func (s *Service) scheduleRejoin(a *account, r Record, attempt int) {
	if attempt > maxRejoinAttempts {
		s.log.Info("giving up rejoining room until the next start", "account", a.jid.String(), "room", r.Room.String())
		if err := s.cfg.Archive.Left(context.Background(), a.jid, r.Room); err != nil {
			s.log.Error("end account membership in archive", "account", a.jid.String(), "room", r.Room.String(), "err", err)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return // our own shutdown: the next start rejoins
	}
	s.laterLocked(rejoinDelay(s.cfg.RejoinBackoff, attempt), func() {
		s.rejoinAttempt(context.Background(), r, attempt, true)
	})
}

// laterLocked runs f after d, on a goroutine of its own, unless the
// service has shut down by then; Shutdown stops what has not started and
// waits for what has. s.mu is held.
func (s *Service) laterLocked(d time.Duration, f func()) {
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.rejoins, t)
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		f()
	})
	s.rejoins[t] = struct{}{}
}

// rejoinAll rejoins recs on a few goroutines, one per core, each taking
// whole accounts (an account's rooms are rejoined in their stored order,
// and its lock is not fought over). Joins to local rooms are handled on
// the caller's goroutine up to the room's lock, so one goroutine would
// leave every other core idle through a start with many memberships.
// It returns when every join has gone out.
func (s *Service) rejoinAll(ctx context.Context, recs []Record) {
	workers := min(runtime.GOMAXPROCS(0), 8, (len(recs)+63)/64)
	if workers <= 1 {
		for _, r := range recs {
			s.rejoin(ctx, r)
		}
		return
	}
	// Accounts dealt out in turn: whole accounts per goroutine, and the
	// goroutines about equally loaded.
	parts := make([][]Record, workers)
	worker := make(map[jid.JID]int)
	for _, r := range recs {
		i, ok := worker[r.Account]
		if !ok {
			i = len(worker) % workers
			worker[r.Account] = i
		}
		parts[i] = append(parts[i], r)
	}
	var wg sync.WaitGroup
	for _, part := range parts {
		wg.Go(func() {
			for _, r := range part {
				s.rejoin(ctx, r)
			}
		})
	}
	wg.Wait()
}

// rejoin joins a stored membership again at startup. A record without
// LastActive (stored by an older server) counts as active now, so that
// the idle sweep does not take it for idle since ever.
func (s *Service) rejoin(ctx context.Context, r Record) {
	stored := true
	if r.LastActive.IsZero() {
		r.LastActive, stored = s.cfg.Now(), false
	}
	s.rejoinAttempt(ctx, r, 0, stored)
}

// rejoinAttempt sends the account's join with <history since=...> from its
// last archived room message, so nothing said while it was away is lost;
// the archive de-duplicates by the room's stanza-id.
//
// stored says r is what storage holds, so that the join need not write it
// again.
func (s *Service) rejoinAttempt(ctx context.Context, r Record, attempt int, stored bool) {
	a := s.account(r.Account, true)
	a.mu.Lock()
	defer s.release(a)
	if rm := a.rooms[r.Room]; rm != nil {
		return // a session joined meanwhile
	}
	rm := newRoom(r.Room, r.Nick)
	rm.byServer = true
	rm.password = r.Password
	rm.bookmark = r.Bookmark
	rm.lastActive = r.LastActive
	rm.attempts = attempt
	rm.since = s.cfg.Now()
	if stored {
		rm.saved = r
	}
	a.rooms[r.Room] = rm
	s.Stats.AccountJoins.Add(1)
	s.Stats.Rejoins.Add(1)
	x := s.rejoinX(ctx, r.Account, r.Room, r.Password)
	p := xml.New(xml.NSClient, stanza.Presence)
	if show := s.cfg.OfflineShow; show != "" {
		p.Append(xml.New(xml.NSClient, "show").AppendText(show))
	}
	if s.cfg.NoCreate != nil && s.cfg.NoCreate(r.Room) {
		s.sendJoin(ctx, a, rm, p, x)
		return
	}
	s.probeRoom(a, rm, p, x)
}

// probeRoom asks the room whether it exists before the server's own join
// (rule 24): XEP-0045 joins create the rooms they enter, and a server
// must not bring back a room that its members let go. The join (p, x)
// goes out when the room answers (probeAnswered).
func (s *Service) probeRoom(a *account, rm *room, p, x *xml.Element) {
	rm.probe = newID("aj-probe-")
	rm.joinEl, rm.joinX = p, x
	iq := xml.New(xml.NSClient, stanza.IQ, "type", "get", "id", rm.probe, "from", a.jid.String(), "to", rm.jid.String())
	iq.Append(xml.New(stanza.NSDiscoInfo, "query"))
	rm.timer = time.AfterFunc(joinTimeout, func() { s.joinTimedOut(a, rm) })
	a.queue(iq, rm.jid)
}

// probeAnswered takes the room's answer to probeRoom. A room that is gone
// (item-not-found, gone) ends the membership, unless a session asked to
// join meanwhile: that join is the session's own and goes out as such,
// free to create the room as any client's may. A temporary error is a
// failed join (retried later); anything else lets the join go out.
func (s *Service) probeAnswered(ctx context.Context, a *account, rm *room, el *xml.Element) {
	rm.probe = ""
	rm.stopTimers()
	join, x := rm.joinEl, rm.joinX
	rm.joinEl, rm.joinX = nil, nil
	if el.Attr("type") == "error" {
		se := xmpperr.FromElement(el)
		switch {
		case se != nil && (se.Condition == xmpperr.ItemNotFound || se.Condition == xmpperr.Gone):
			if len(rm.waiting) == 0 {
				s.log.Info("room no longer exists; the membership ends", "account", a.jid.String(), "room", rm.jid.String())
				s.dropSessions(a, rm)
				s.forget(ctx, a, rm)
				return
			}
			w := rm.waiting[0]
			rm.byServer = false
			rm.live, rm.nick = w.full, w.nick
			if w.x != nil {
				rm.password = w.x.ChildText(nsMUC, "password")
			}
			join, x = w.presence, w.x
		case temporary(se):
			errp := xml.New(xml.NSClient, stanza.Presence, "from", rm.jid.WithResource(rm.nick).String(), "type", "error")
			errp.Append(se.Element(xml.NSClient))
			s.joinFailed(ctx, a, rm, errp)
			return
		}
	}
	s.sendJoin(ctx, a, rm, join, x)
}

// Join makes the account join a room on its own (an autojoin bookmark or
// an operator), whether or not any session is online.
func (s *Service) Join(ctx context.Context, owner, room jid.JID, nick, password string, bookmark bool) {
	a := s.account(owner, true)
	a.mu.Lock()
	rm := a.rooms[room.Bare()]
	if rm != nil {
		if bookmark && !rm.bookmark {
			rm.bookmark = true
			s.persist(ctx, a, rm)
		}
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	s.rejoinAttempt(ctx, Record{Account: owner, Room: room.Bare(), Nick: nick, Password: password, Bookmark: bookmark, LastActive: s.cfg.Now()}, 0, false)
}

// Leave makes the account leave a room (operators, bookmark removal):
// every joined session gets its unavailable self-presence, and the room
// gets the account's leave.
func (s *Service) Leave(ctx context.Context, owner, room jid.JID) bool {
	left := s.leaveRoom(ctx, owner, room, false)
	s.flushStore(ctx) // an operator's leave is stored when it returns
	return left
}

// LeaveAll makes the account leave every room it is in (the account is
// being deleted), as Leave does each, and returns how many.
func (s *Service) LeaveAll(ctx context.Context, owner jid.JID) int {
	a := s.lock(owner)
	if a == nil {
		return 0
	}
	rooms := make([]jid.JID, 0, len(a.rooms))
	for r := range a.rooms {
		rooms = append(rooms, r)
	}
	s.release(a)
	n := 0
	for _, r := range rooms {
		if s.Leave(ctx, owner, r) {
			n++
		}
	}
	s.flushStore(ctx) // stored when it returns: the account may be deleted next
	return n
}

// leaveRoom is Leave, restricted to rooms joined by bookmark when
// onlyBookmarked is set (checked under the same lock as the leave).
func (s *Service) leaveRoom(ctx context.Context, owner, room jid.JID, onlyBookmarked bool) bool {
	a := s.lock(owner)
	if a == nil {
		return false
	}
	defer s.release(a)
	rm := a.rooms[room.Bare()]
	if rm == nil || (onlyBookmarked && !rm.bookmark) {
		return false
	}
	for full := range rm.sessions {
		s.deliver(full, selfUnavailable(rm.jid, rm.nick, full, "", rm.self))
	}
	for _, w := range rm.waiting {
		s.deliver(w.full, selfUnavailable(rm.jid, rm.nick, w.full, w.id, rm.self))
	}
	to := rm.jid.WithResource(rm.nick)
	p := xml.New(xml.NSClient, stanza.Presence, "from", a.jid.String(), "to", to.String(), "type", "unavailable")
	s.forget(ctx, a, rm)
	a.queue(p, to)
	return true
}

// sweep leaves rooms in which no session of the account has been joined
// for longer than IdleLeaveAfter (rule 19), bookmarked rooms excepted.
func (s *Service) sweep() {
	defer s.wg.Done()
	every := min(max(s.cfg.IdleLeaveAfter/10, time.Second), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.leaveIdle(context.Background())
		}
	}
}

func (s *Service) leaveIdle(ctx context.Context) {
	now := s.cfg.Now()
	type target struct{ account, room jid.JID }
	var idle []target
	for _, a := range s.snapshot() {
		a.mu.Lock()
		for _, rm := range a.rooms {
			if rm.bookmark || len(rm.sessions) > 0 || len(rm.waiting) > 0 || rm.state != joined {
				continue
			}
			if now.Sub(rm.lastActive) > s.cfg.IdleLeaveAfter {
				idle = append(idle, target{a.jid, rm.jid})
			}
		}
		a.mu.Unlock()
	}
	for _, t := range idle {
		s.log.Info("leaving idle room", "account", t.account.String(), "room", t.room.String())
		s.Leave(ctx, t.account, t.room)
	}
}

// Unbookmark handles an autojoin bookmark switched off or removed: a room
// the account is in because of a bookmark is left (every joined session
// gets its unavailable self-presence); a room joined only by sessions is
// left alone.
func (s *Service) Unbookmark(ctx context.Context, owner, room jid.JID) bool {
	return s.leaveRoom(ctx, owner, room, true)
}

// SetCluster sets Config.Claim and Config.OnJoined; it must be called
// before Start.
func (s *Service) SetCluster(claim func(ctx context.Context, account jid.JID), onJoined func(account jid.JID, gen uint64, joined map[string][]string)) {
	s.cfg.Claim, s.cfg.OnJoined = claim, onJoined
}

// Adopt makes this server act for the stored memberships of account, as
// Start does for every account: a cluster node calls it when it takes
// over the account from a node that died or stopped. The account rejoins
// each room with the history since its last archived message, so that
// nothing said meanwhile is lost, and the archive de-duplicates what it
// had. joined are the sessions that were joined to each room (room →
// full JIDs, as Config.OnJoined reported them); those still bound
// (Sessions.Get) stay joined, so they go on receiving the room without
// seeing it leave. prevAlive, if not zero, is when the previous node was
// last known alive: messages archived after it (by other nodes, for
// their accounts) it cannot have delivered, so the rejoin's history
// forks them to the sessions.
func (s *Service) Adopt(ctx context.Context, account jid.JID, joined map[string][]string, prevAlive time.Time) error {
	recs, err := s.cfg.Store.ListJoins(ctx)
	if err != nil {
		return fmt.Errorf("accountjoin: adopt %s: %w", account, err)
	}
	for _, r := range recs {
		if r.Account != account {
			continue
		}
		s.log.Info("adopting an account's membership", "account", account.String(), "room", r.Room.String(), "sessions", len(joined[r.Room.String()]))
		s.rejoin(ctx, r)
		var fulls []jid.JID
		for _, f := range joined[r.Room.String()] {
			full, err := jid.Parse(f)
			if err != nil || full.Bare() != account || s.cfg.Sessions.Get(full) == nil {
				continue
			}
			fulls = append(fulls, full)
		}
		if len(fulls) == 0 {
			continue
		}
		last, err := s.cfg.Archive.Last(ctx, account, r.Room)
		if err != nil {
			s.log.Error("accountjoin: adopt: newest archived room message", "account", account.String(), "room", r.Room.String(), "err", err)
		}
		if !prevAlive.IsZero() && last.After(prevAlive) {
			last = prevAlive
		}
		a := s.account(account, true)
		a.mu.Lock()
		if rm := a.rooms[r.Room]; rm != nil {
			// What the room repeats of its history up to the newest
			// message archived before, the previous node delivered:
			// not forked again (roomMessage).
			rm.adoptedLast = last
			for _, full := range fulls {
				if _, ok := rm.sessions[full]; !ok {
					rm.sessions[full] = newJoinedSession(full, xml.New(xml.NSClient, stanza.Presence), s.cfg.Now())
					s.Stats.JoinedSessions.Add(1)
					a.joinedGen++
				}
			}
		}
		s.release(a)
	}
	return nil
}

// adoptedDelivered reports whether el, a room message replayed as
// history during an adopted rejoin, is one the joined sessions received
// through the node that acted for the account before (Adopt).
func (r *room) adoptedDelivered(el *xml.Element) bool {
	if r.adoptedLast.IsZero() {
		return false
	}
	d := el.Child(stanza.NSDelay, "delay")
	if d == nil {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, d.Attr("stamp"))
	return err == nil && !t.After(r.adoptedLast)
}
