package muc

import (
	"context"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// delivery is one stanza waiting in an outbox.
type delivery struct {
	el       *xml.Element
	from, to jid.JID
}

// outbox is an ordered queue of stanzas to route, guarded by its owner's
// mutex (a room's, or the service's for replies that concern no room),
// with at most one goroutine routing it at a time.
//
// The service never routes on the goroutine that handed it a stanza.
// That goroutine may hold locks of its own while it routes to the
// service (account-based group chat holds the account's while it sends
// the account's join), and what the room answers can go straight back
// to it (the account's own presence, a bounce, an invitation to another
// room); routing from a goroutine of the outbox's own breaks every such
// cycle, and the one drainer per outbox keeps the order in which a
// room's events were queued, the same for every occupant.
type outbox struct {
	q        []delivery
	spare    []delivery // a drained queue, reused
	draining bool
}

// push queues el; the owner's mutex is held.
func (ob *outbox) push(el *xml.Element, from, to jid.JID) {
	ob.q = append(ob.q, delivery{el: el, from: from, to: to})
}

// flush makes sure a goroutine is routing ob; mu, ob's owner's mutex, is
// held by the caller, who unlocks it after.
func (s *Service) flush(mu *sync.Mutex, ob *outbox) {
	if ob.draining || len(ob.q) == 0 {
		return
	}
	ob.draining = true
	s.begin()
	go s.drain(mu, ob)
}

// drain routes ob until it is empty.
func (s *Service) drain(mu *sync.Mutex, ob *outbox) {
	defer s.end()
	ctx := context.Background()
	mu.Lock()
	for len(ob.q) > 0 {
		batch := ob.q
		ob.q = ob.spare[:0]
		mu.Unlock()
		for i := range batch {
			d := &batch[i]
			s.cfg.Router.Route(ctx, d.el, d.from, d.to)
			*d = delivery{}
		}
		mu.Lock()
		if cap(batch) <= maxSpareOutbox {
			ob.spare = batch[:0]
		} else {
			ob.spare = nil
		}
	}
	ob.draining = false
	mu.Unlock()
}

// route queues a stanza that concerns no room (a reply from the service
// itself, an error about a room that does not exist).
func (s *Service) route(el *xml.Element, from, to jid.JID) {
	s.outMu.Lock()
	s.out.push(el, from, to)
	s.flush(&s.outMu, &s.out)
	s.outMu.Unlock()
}

// begin and end count the goroutines routing an outbox.
func (s *Service) begin() {
	s.actMu.Lock()
	if s.active == 0 {
		s.quiet = make(chan struct{})
	}
	s.active++
	s.actMu.Unlock()
}

func (s *Service) end() {
	s.actMu.Lock()
	s.active--
	if s.active == 0 {
		close(s.quiet)
	}
	s.actMu.Unlock()
}

// idle waits until no goroutine routes an outbox, so that everything
// queued so far has been routed: for Shutdown, and for tests.
func (s *Service) idle(ctx context.Context) error {
	for {
		s.actMu.Lock()
		if s.active == 0 {
			s.actMu.Unlock()
			return nil
		}
		quiet := s.quiet
		s.actMu.Unlock()
		select {
		case <-quiet:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
