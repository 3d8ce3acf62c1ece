package accountjoin

import (
	"context"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// A session that joins a room the account is in is answered from local
// state (rule 2): the occupants and the subject are in memory, but the
// history comes from the account's archive, and reading storage under the
// account's lock would stall everything the account's rooms send it (a
// room's drainer waits on that lock). So the join is answered in two
// steps: beginSynthesis, under the lock, notes the session as pending and
// starts the read; finishSynthesis, under the lock again, sends the join
// sequence with the history read. Room messages that arrive in between
// are held for the session and sent after the history, less those the
// history already had, so the session sees every message once and in
// order.

// maxHeld bounds the room messages held for one pending session; past it
// they are dropped for that session (they stay in the archive).
const maxHeld = 1000

// pendingSynth is a join waiting for its history.
type pendingSynth struct {
	w     waiter
	held  []*xml.Element
	start time.Time
}

// beginSynthesis answers w's join from local state once its history is
// read. a.mu is held.
func (s *Service) beginSynthesis(a *account, rm *room, w waiter) {
	if rm.synth == nil {
		rm.synth = make(map[jid.JID]*pendingSynth)
	}
	rm.synth[w.full] = &pendingSynth{w: w, start: time.Now()}
	h := parseHistory(w.x)
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.syntheses.Add(1) // under s.mu, so never after Shutdown waits
	}
	s.mu.Unlock()
	if closed {
		return // the server is stopping: the session will not be answered
	}
	go func() {
		defer s.syntheses.Done()
		ctx := context.Background()
		history := s.history(ctx, a.jid, rm.jid, h)
		a.mu.Lock()
		defer s.release(a)
		s.finishSynthesis(ctx, a, rm, w.full, history)
	}()
}

// finishSynthesis sends the pending session full its join sequence with
// history, then what was held for it, and counts it joined. a.mu is held.
func (s *Service) finishSynthesis(ctx context.Context, a *account, rm *room, full jid.JID, history []HistoryItem) {
	ps := rm.synth[full]
	if ps == nil {
		return // it left or ended meanwhile
	}
	delete(rm.synth, full)
	switch {
	case a.rooms[rm.jid] != rm:
		// The membership ended meanwhile (a kick, a destroy, a leave):
		// the session was never in.
		s.deliver(full, selfUnavailable(rm.jid, rm.nick, full, ps.w.id, rm.self))
		return
	case rm.state != joined:
		// The account is joining again (after a 332): the session waits
		// for that join like any other.
		rm.waiting = append(rm.waiting, ps.w)
		return
	}
	s.synthesise(a, rm, ps.w, history)
	seen := make(map[string]bool, len(history))
	for _, h := range history {
		if id := stanza.StanzaID(h.Stanza, a.jid); id != "" {
			seen[id] = true
		}
	}
	for _, m := range ps.held {
		if id := stanza.StanzaID(m, a.jid); id == "" || !seen[id] {
			s.deliver(full, m)
		}
	}
	if _, ok := rm.sessions[full]; !ok {
		s.Stats.JoinedSessions.Add(1)
	}
	rm.sessions[full] = newJoinedSession(full, ps.w.presence, s.cfg.Now())
	a.joinedGen++
	s.Stats.Synthesised.Add(1)
	s.Stats.SynthNanos.Add(uint64(time.Since(ps.start)))
	s.updatePresence(ctx, a, rm)
}

// hold keeps a room message for the sessions whose join is pending. el
// may be changed afterwards: each gets its own copy.
func (s *Service) hold(rm *room, el *xml.Element) {
	if el.Local != stanza.Message || isSubjectMessage(el) {
		return // presence and the subject are part of the synthesised join
	}
	for full, ps := range rm.synth {
		if len(ps.held) < maxHeld {
			ps.held = append(ps.held, forkTo(el, full.String()))
		}
	}
}
