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
//
// The queue is a chain of fixed-size blocks from a pool: a flood's
// backlog grows by linking blocks, never by copying what is queued (a
// slice grown anew for each batch spent a tenth of a room of 50's CPU in
// growslice), and an idle room holds no block at all.
type outbox struct {
	head, tail *block
	draining   bool
}

// outboxBlock is the number of deliveries in a block: a room of a
// hundred occupants' message fits in one.
const outboxBlock = 128

type block struct {
	d    [outboxBlock]delivery
	n    int
	next *block
}

var blocks = sync.Pool{New: func() any { return new(block) }}

// push queues el; the owner's mutex is held.
func (ob *outbox) push(el *xml.Element, from, to jid.JID) {
	b := ob.tail
	if b == nil || b.n == outboxBlock {
		b = blocks.Get().(*block)
		if ob.tail == nil {
			ob.head = b
		} else {
			ob.tail.next = b
		}
		ob.tail = b
	}
	b.d[b.n] = delivery{el: el, from: from, to: to}
	b.n++
}

// flush makes sure a goroutine is routing ob; mu, ob's owner's mutex, is
// held by the caller, who unlocks it after.
func (s *Service) flush(mu *sync.Mutex, ob *outbox) {
	if ob.draining || ob.head == nil {
		return
	}
	ob.draining = true
	s.begin()
	go s.drain(mu, ob)
}

// drain routes ob until it is empty, taking what is queued a chain at a
// time so that the owner's mutex is not held while routing.
func (s *Service) drain(mu *sync.Mutex, ob *outbox) {
	defer s.end()
	ctx := context.Background()
	mu.Lock()
	for ob.head != nil {
		chain := ob.head
		ob.head, ob.tail = nil, nil
		mu.Unlock()
		for b := chain; b != nil; {
			for i := range b.n {
				d := &b.d[i]
				s.cfg.Router.Route(ctx, d.el, d.from, d.to)
				*d = delivery{}
			}
			next := b.next
			b.n, b.next = 0, nil
			blocks.Put(b)
			b = next
		}
		mu.Lock()
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
