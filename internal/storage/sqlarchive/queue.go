// Package sqlarchive is the archive logic the SQL backends share
// (internal/storage/sqlite and internal/storage/postgres): the
// write-behind queue with its one committing goroutine, and the query
// that merges an owner's own records with the room messages of its
// memberships by position and pages them (XEP-0313 over XEP-0059).
// docs/archive.md describes the design.
//
// A backend gives the SQL of its dialect and a few small functions over
// its driver (database/sql, pgx): Backend writes a batch, Querier reads.
// What differs between the backends stays with them: how positions are
// handed out, how a batch reaches the database (prepared statements in a
// transaction; column arrays in one pipelined round trip), and the
// statements' text where the planners need it.
package sqlarchive

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/storage"
)

// The archive is written behind its callers. Every message between two
// local accounts is archived twice and every room message once, on the
// goroutine that routes it; a commit per record would make routing wait
// for the database. So records, and the memberships that say which room
// records are an account's, are queued with their position and one writer
// goroutine commits whatever is queued as one batch, again and again
// while writes keep coming.
//
// What a kill -9 can lose is what is queued and not yet committed: at
// most MaxQueue operations, and in practice what arrived during one
// commit (milliseconds). Readers wait for the positions that concern
// their archive and were queued before they were called (SyncOwner),
// never for an empty queue, so a steady stream of writes cannot starve
// them.

// Backend is what the queue needs of a database.
type Backend interface {
	// Position returns the position of the next operation queued; last
	// is the one handed out before. It is called with the queue locked.
	Position(ctx context.Context, last int64) (int64, error)
	// Begin starts writing one batch. Only the writer goroutine calls
	// it, one batch at a time, so the Batch may be reused.
	Begin() (Batch, error)
}

// Batch writes one batch's operations, in position order, and then the
// number of records each owner gained, in owner order (so that two
// nodes' batches lock their counters in one order). Either Commit or
// Abort ends it. Its methods do no reads: the write path is hot.
type Batch interface {
	Archive(seq int64, rec *storage.ArchiveRecord) error
	Room(seq int64, rec *storage.RoomMessage) error
	Open(seq int64, account, room string) error
	Close(seq int64, account, room string) error
	Count(owner string, records int64) error
	Commit() error
	Abort()
}

// Queue is the write-behind queue; its zero value is not usable: call
// Init.
type Queue struct {
	name    string // the backend, in errors and logs
	backend Backend

	mu    sync.Mutex
	space *sync.Cond // broadcast when operations leave the queue
	ops   []Op
	// last is the newest position handed out; committed the newest one
	// written (or given up on), so every operation up to it is done.
	// done is closed and replaced whenever committed advances.
	last, committed int64
	done            chan struct{}
	busy            bool // a writer goroutine runs
	closed          bool
	writer          sync.WaitGroup
	// lastOf holds, for each owner with writes in the queue, the
	// position of its newest (its own records, or its memberships);
	// lastRoom that of the newest room record. A reader of one archive
	// waits for those alone (SyncOwner), not for the queue.
	lastOf   map[string]int64
	lastRoom int64
	// pending holds the keys of queued AppendArchive records, so that a
	// second append of the same id fails before its commit.
	pending  map[string]struct{}
	failures atomic.Uint64

	// Owned by the writer goroutine: the records each owner gains in the
	// batch being written, and its owners sorted.
	counts map[string]int64
	owners []string
}

// Init makes q ready; name names the backend in errors and logs, last
// is the newest position already in the database (0 if positions do not
// continue a counter).
func (q *Queue) Init(name string, b Backend, last int64) {
	q.name, q.backend = name, b
	q.space = sync.NewCond(&q.mu)
	q.done = make(chan struct{})
	q.pending = make(map[string]struct{})
	q.lastOf = make(map[string]int64)
	q.counts = make(map[string]int64)
	q.last, q.committed = last, last
}

// PendingKey is the key of an AppendArchive record in Op.Checked.
func PendingKey(owner, id string) string { return owner + "\x00" + id }

// Enqueue gives op the next position and queues it, starting the writer
// if none runs. It waits while the queue is full. A Checked op whose key
// is queued already fails with storage.ErrExists.
func (q *Queue) Enqueue(ctx context.Context, op Op) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ops) >= MaxQueue && !q.closed {
		q.space.Wait()
	}
	if q.closed {
		return 0, ErrClosed
	}
	if op.Checked != "" {
		if _, dup := q.pending[op.Checked]; dup {
			return 0, storage.ErrExists
		}
	}
	seq, err := q.backend.Position(ctx, q.last)
	if err != nil {
		return 0, err
	}
	if op.Checked != "" {
		q.pending[op.Checked] = struct{}{}
	}
	q.last = seq
	op.Seq = seq
	switch op.Kind {
	case KindArchive:
		q.lastOf[op.Rec.Owner] = seq
	case KindRoom:
		q.lastRoom = seq
	default:
		q.lastOf[op.Account] = seq
	}
	q.ops = append(q.ops, op)
	if !q.busy {
		q.startWriter()
	}
	return seq, nil
}

// startWriter starts the writer goroutine. q.mu is held.
func (q *Queue) startWriter() {
	q.busy = true
	q.writer.Add(1)
	go q.write()
}

// IsPending reports whether an AppendArchive record with key is queued.
func (q *Queue) IsPending(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.pending[key]
	return ok
}

// Locked runs fn with the queue locked: no position is handed out
// meanwhile.
func (q *Queue) Locked(fn func() error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return fn()
}

// Hold keeps the writer from starting until Release, so that what is
// queued in between is one batch (for tests).
func (q *Queue) Hold() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.busy = true
}

// Release starts the writer that Hold kept back.
func (q *Queue) Release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.startWriter()
}

// write commits queued operations until the queue is empty.
func (q *Queue) write() {
	defer q.writer.Done()
	var spare []Op
	for {
		q.mu.Lock()
		batch := q.ops
		if len(batch) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		q.ops = spare[:0]
		q.space.Broadcast()
		q.mu.Unlock()

		q.commit(batch)

		q.mu.Lock()
		for i := range batch {
			if batch[i].Checked != "" {
				delete(q.pending, batch[i].Checked)
			}
		}
		q.committed = batch[len(batch)-1].Seq
		for owner, seq := range q.lastOf {
			if seq <= q.committed {
				delete(q.lastOf, owner)
			}
		}
		close(q.done)
		q.done = make(chan struct{})
		q.mu.Unlock()
		clear(batch) // drop the stanzas before the slice is reused
		spare = batch
	}
}

// commit writes batch. A transient failure (a lost connection, a lock
// held too long, a deadlock with another node) gets one more try; if the
// batch still fails, each operation is written on its own, so that one
// bad row costs only itself.
func (q *Queue) commit(batch []Op) {
	err := q.commitOps(batch)
	if err == nil {
		return
	}
	time.Sleep(50 * time.Millisecond)
	if err = q.commitOps(batch); err == nil {
		return
	}
	slog.Warn(q.name+": archive batch failed; writing its records one by one", "records", len(batch), "err", err)
	for i := range batch {
		if err := q.commitOps(batch[i : i+1]); err != nil {
			q.failures.Add(1)
			slog.Error(q.name+": archive write lost", "what", batch[i].Describe(), "err", err)
		}
	}
}

// commitOps writes ops as one batch.
func (q *Queue) commitOps(ops []Op) error {
	b, err := q.backend.Begin()
	if err != nil {
		return err
	}
	clear(q.counts)
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case KindArchive:
			err = b.Archive(op.Seq, &op.Rec)
			q.counts[op.Rec.Owner]++
		case KindRoom:
			err = b.Room(op.Seq, &op.Room)
		case KindOpen:
			err = b.Open(op.Seq, op.Account, op.RoomJID)
		case KindClose:
			err = b.Close(op.Seq, op.Account, op.RoomJID)
		}
		if err != nil {
			b.Abort()
			return fmt.Errorf("%s: %w", op.Describe(), err)
		}
	}
	if len(q.counts) > 0 {
		q.owners = q.owners[:0]
		for o := range q.counts {
			q.owners = append(q.owners, o)
		}
		slices.Sort(q.owners)
		for _, o := range q.owners {
			if err := b.Count(o, q.counts[o]); err != nil {
				b.Abort()
				return fmt.Errorf("count records of %s: %w", o, err)
			}
		}
	}
	if err := b.Commit(); err != nil {
		if len(ops) == 1 {
			return fmt.Errorf("%s: %w", ops[0].Describe(), err)
		}
		return err
	}
	return nil
}

// Wait waits until every operation up to seq is written.
func (q *Queue) Wait(ctx context.Context, seq int64) error {
	for {
		q.mu.Lock()
		committed, done := q.committed, q.done
		q.mu.Unlock()
		if committed >= seq {
			return nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for archive writes: %w", q.name, ctx.Err())
		}
	}
}

// Sync waits until everything queued before the call is written
// (storage.RoomArchive's SyncArchive).
func (q *Queue) Sync(ctx context.Context) error {
	q.mu.Lock()
	last := q.last
	q.mu.Unlock()
	return q.Wait(ctx, last)
}

// SyncOwner waits until everything queued before the call that can be
// part of owner's archive is written: its own records, its memberships
// and, if shared, room records.
func (q *Queue) SyncOwner(ctx context.Context, owner string, shared bool) error {
	q.mu.Lock()
	seq := q.lastOf[owner]
	if shared {
		seq = max(seq, q.lastRoom)
	}
	q.mu.Unlock()
	return q.Wait(ctx, seq)
}

// SyncRooms waits until every room record queued before the call is
// written.
func (q *Queue) SyncRooms(ctx context.Context) error {
	q.mu.Lock()
	seq := q.lastRoom
	q.mu.Unlock()
	return q.Wait(ctx, seq)
}

// Close writes what is queued, refuses further writes and waits for the
// writer goroutine to end.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.space.Broadcast()
	q.mu.Unlock()
	q.Sync(context.Background())
	q.writer.Wait()
}

// Failures counts archive writes that could not be made.
func (q *Queue) Failures() uint64 { return q.failures.Load() }

// Len returns how many archive writes are queued or being written and
// not yet committed (the admin page's archive queue).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.last - q.committed)
}
