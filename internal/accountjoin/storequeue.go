package accountjoin

import (
	"context"
	"sync"

	"minimix/internal/jid"
)

// Memberships are stored behind the account's lock: a write queued under
// the lock keeps its order with the account's other writes, and one
// goroutine makes it afterwards. Writing under the lock would make every
// room that sends the account something wait for the disk (a room's
// drainer waits on that lock).

// storeWrite is one queued membership write: a put of rec, or the delete
// of account's membership in room.
type storeWrite struct {
	put           bool
	rec           Record
	account, room jid.JID
}

// storeQueue holds the queued writes; one goroutine runs while there are
// any, and done is closed whenever it stops (flushStore waits for that;
// Shutdown does).
type storeQueue struct {
	mu   sync.Mutex
	ops  []storeWrite
	busy bool
	done chan struct{}
}

// storeLater queues w; the caller holds the account's lock, which keeps
// the account's writes in order.
func (s *Service) storeLater(w storeWrite) {
	q := &s.store
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ops = append(q.ops, w)
	if !q.busy {
		q.busy = true
		q.done = make(chan struct{})
		go s.writeStore()
	}
}

// writeStore makes the queued writes until none is left.
func (s *Service) writeStore() {
	q := &s.store
	for {
		q.mu.Lock()
		ops := q.ops
		q.ops = nil
		if len(ops) == 0 {
			q.busy = false
			close(q.done)
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		ctx := context.Background()
		for _, w := range ops {
			if w.put {
				if err := s.cfg.Store.PutJoin(ctx, w.rec); err != nil {
					s.log.Error("store account join", "account", w.rec.Account.String(), "room", w.rec.Room.String(), "err", err)
				}
				continue
			}
			if err := s.cfg.Store.DeleteJoin(ctx, w.account, w.room); err != nil {
				s.log.Error("forget account join", "account", w.account.String(), "room", w.room.String(), "err", err)
			}
		}
	}
}

// flushStore waits until every write queued before it is made, or ctx
// ends.
func (s *Service) flushStore(ctx context.Context) error {
	q := &s.store
	for {
		q.mu.Lock()
		busy, done := q.busy, q.done
		q.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
