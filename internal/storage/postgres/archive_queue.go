package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// The archive is written behind its callers, as on SQLite
// (internal/storage/sqlite/archive_queue.go): records and memberships are
// queued with their position, and one writer goroutine per node commits
// whatever is queued as one batch, again and again while writes keep
// coming. A batch is one round trip: its statements are pipelined and run
// as one implicit transaction. Each kind of row is one multi-row INSERT
// from arrays (unnest), a statement prepared once per connection whatever
// the batch's size (BenchmarkArchiveWriter compares it with COPY).
//
// What a kill -9 of a node can lose is what that node had queued and not
// yet committed: at most maxArchiveQueue operations, in practice what
// arrived during one commit. Readers wait for the positions that concern
// their archive and were queued on this node before they were called;
// what other nodes queued they see once it is committed.

// maxArchiveQueue bounds the operations waiting to be written; a caller
// that finds the queue full waits.
const maxArchiveQueue = 4096

// opKind says what an archiveOp writes.
type opKind uint8

const (
	opArchive opKind = iota // an owner's own record
	opRoom                  // a room's shared record
	opOpen                  // an account's interval in a room begins
	opClose                 // and ends
)

// archiveOp is one queued write. seq is its position: the record's, or
// the boundary of the interval.
type archiveOp struct {
	seq  int64
	kind opKind
	// checked is the pending key of an AppendArchive record, "" otherwise.
	checked string
	rec     storage.ArchiveRecord // opArchive
	room    storage.RoomMessage   // opRoom
	// account and roomJID name the membership of opOpen and opClose.
	account, roomJID string
}

// archiveQueue is the state of the write-behind queue, guarded by mu.
type archiveQueue struct {
	mu    sync.Mutex
	space *sync.Cond // broadcast when operations leave the queue
	ops   []archiveOp
	// last is the newest position queued; committed the newest one
	// written (or given up on). done is closed and replaced whenever
	// committed advances.
	last, committed int64
	done            chan struct{}
	busy            bool // a writer goroutine runs
	closed          bool
	writer          sync.WaitGroup
	// lastOf holds, for each owner with writes in the queue, the
	// position of its newest; lastRoom that of the newest room record.
	lastOf   map[string]int64
	lastRoom int64
	// pending holds the owner and id of queued AppendArchive records.
	pending  map[string]struct{}
	failures atomic.Uint64
}

var errArchiveClosed = errors.New("postgres: archive is closed")

func (db *DB) initArchiveQueue(ctx context.Context) error {
	q := &db.archive
	q.space = sync.NewCond(&q.mu)
	q.done = make(chan struct{})
	q.pending = make(map[string]struct{})
	q.lastOf = make(map[string]int64)
	// The first range is reserved now, so that the first record queued
	// does not wait for it.
	return db.positions.advance(ctx)
}

// enqueue gives op the next position and queues it, starting the writer
// if none runs. It waits while the queue is full.
func (db *DB) enqueue(ctx context.Context, op archiveOp) (int64, error) {
	q := &db.archive
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ops) >= maxArchiveQueue && !q.closed {
		q.space.Wait()
	}
	if q.closed {
		return 0, errArchiveClosed
	}
	if op.checked != "" {
		if _, dup := q.pending[op.checked]; dup {
			return 0, storage.ErrExists
		}
	}
	seq, err := db.positions.next(ctx)
	if err != nil {
		return 0, err
	}
	if op.checked != "" {
		q.pending[op.checked] = struct{}{}
	}
	q.last = seq
	op.seq = seq
	switch op.kind {
	case opArchive:
		q.lastOf[op.rec.Owner] = seq
	case opRoom:
		q.lastRoom = seq
	default:
		q.lastOf[op.account] = seq
	}
	q.ops = append(q.ops, op)
	if !q.busy {
		q.busy = true
		q.writer.Add(1)
		go db.writeArchive()
	}
	return seq, nil
}

// isPending reports whether an AppendArchive record with key is queued.
func (q *archiveQueue) isPending(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.pending[key]
	return ok
}

// writeArchive commits queued operations until the queue is empty.
func (db *DB) writeArchive() {
	q := &db.archive
	defer q.writer.Done()
	var spare []archiveOp
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

		db.commitArchive(batch)

		q.mu.Lock()
		for i := range batch {
			if batch[i].checked != "" {
				delete(q.pending, batch[i].checked)
			}
		}
		q.committed = batch[len(batch)-1].seq
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

// commitArchive writes batch in one transaction. A transient failure (a
// lost connection, a deadlock with another node, a failover of the
// database) gets one more try; if the batch still fails, each operation
// is written on its own, so that one bad row costs only itself.
func (db *DB) commitArchive(batch []archiveOp) {
	err := db.commitOps(batch)
	if err == nil {
		return
	}
	time.Sleep(50 * time.Millisecond)
	if err = db.commitOps(batch); err == nil {
		return
	}
	slog.Warn("postgres: archive batch failed; writing its records one by one", "records", len(batch), "err", err)
	for i := range batch {
		if err := db.commitOps(batch[i : i+1]); err != nil {
			db.archive.failures.Add(1)
			slog.Error("postgres: archive write lost", "what", batch[i].describe(), "err", err)
		}
	}
}

// describe names op in logs without its content.
func (op *archiveOp) describe() string {
	switch op.kind {
	case opArchive:
		return fmt.Sprintf("record %s of %s", op.rec.ID, op.rec.Owner)
	case opRoom:
		return fmt.Sprintf("record %s of room %s", op.room.ID, op.room.Room)
	case opOpen:
		return fmt.Sprintf("membership of %s in %s from %d", op.account, op.roomJID, op.seq)
	default:
		return fmt.Sprintf("end of membership of %s in %s at %d", op.account, op.roomJID, op.seq)
	}
}

// The statements of a batch.
const (
	insertArchiveSQL = `INSERT INTO archive_messages
		(seq, owner, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
			$7::boolean[], $8::text[], $9::bytea[])`
	// A room message stored before under the same id (derived from the
	// room's stanza-id by mam.roomMessageID) keeps its first position,
	// stamp and stanza, as on SQLite: a room's history replayed after a
	// restart is written again and must not move in its members'
	// archives (storagetest's RoomMessageRepeat). One exception, for a
	// cluster: the nodes whose accounts are in one room each store its
	// messages, and positions of different nodes are ordered only
	// roughly, so the first copy can land before the interval that
	// another node opened for its account before the message was said.
	// The later copy then moves the record to its own position, but only
	// if that brings it into an interval of the room that began between
	// the two positions and takes it out of none that ended between them
	// (TestClusterRoomCopies). Copies in one batch (one node's) are one:
	// DISTINCT ON keeps the first, as an upsert may not touch a row
	// twice in one statement.
	insertRoomSQL = `INSERT INTO room_messages AS m (seq, room, id, stamp, from_nick, origin_stanza_id, stanza)
		SELECT DISTINCT ON (room, id) * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bytea[])
			AS r(seq, room, id, stamp, from_nick, origin_stanza_id, stanza) ORDER BY room, id, seq
		ON CONFLICT (room, id) DO UPDATE SET seq = EXCLUDED.seq
		WHERE EXCLUDED.seq > m.seq
			AND EXISTS (SELECT 1 FROM room_memberships i WHERE i.room = m.room
				AND i.from_seq >= m.seq AND i.from_seq < EXCLUDED.seq)
			AND NOT EXISTS (SELECT 1 FROM room_memberships i WHERE i.room = m.room
				AND i.from_seq < m.seq AND i.to_seq > m.seq AND i.to_seq <= EXCLUDED.seq)`
	// An interval opens only if none is open, so that opening twice (a
	// rejoin after a restart, or on another node) keeps the one interval.
	openSQL = `INSERT INTO room_memberships (account, room, from_seq, to_seq) VALUES ($1, $2, $3, NULL)
		ON CONFLICT (account, room) WHERE to_seq IS NULL DO NOTHING`
	closeSQL = `UPDATE room_memberships SET to_seq = $1 WHERE account = $2 AND room = $3 AND to_seq IS NULL`
	// Owners come sorted, so that two nodes' batches lock their counters
	// in one order and cannot deadlock.
	countSQL = `INSERT INTO archive_counts (owner, records)
		SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1
		ON CONFLICT (owner) DO UPDATE SET records = archive_counts.records + excluded.records`
)

// archiveRows are a batch's records as the columns insertArchiveSQL
// binds.
type archiveRows struct {
	seq                           []int64
	owner, id, with, nick, origin []string
	stamp                         []int64
	groupchat                     []bool
	stanza                        [][]byte
}

func (r *archiveRows) add(seq int64, rec *storage.ArchiveRecord) {
	r.seq = append(r.seq, seq)
	r.owner = append(r.owner, rec.Owner)
	r.id = append(r.id, rec.ID)
	r.stamp = append(r.stamp, rec.Stamp.UnixMicro())
	r.with = append(r.with, rec.With)
	r.nick = append(r.nick, rec.FromNick)
	r.groupchat = append(r.groupchat, rec.Groupchat)
	r.origin = append(r.origin, rec.OriginStanzaID)
	r.stanza = append(r.stanza, nonNil(rec.Stanza))
}

// roomRows are a batch's room records as insertRoomSQL binds them.
type roomRows struct {
	seq                    []int64
	room, id, nick, origin []string
	stamp                  []int64
	stanza                 [][]byte
}

func (r *roomRows) add(seq int64, rec *storage.RoomMessage) {
	r.seq = append(r.seq, seq)
	r.room = append(r.room, rec.Room)
	r.id = append(r.id, rec.ID)
	r.stamp = append(r.stamp, rec.Stamp.UnixMicro())
	r.nick = append(r.nick, rec.FromNick)
	r.origin = append(r.origin, rec.OriginStanzaID)
	r.stanza = append(r.stanza, nonNil(rec.Stanza))
}

// useCopy makes commitOps write records with COPY in an explicit
// transaction instead: BenchmarkArchiveWriter measures both.
var useCopy = false

// commitOps writes ops as one batch: one round trip, one implicit
// transaction, no reads.
func (db *DB) commitOps(ops []archiveOp) error {
	ctx := context.Background()
	if useCopy {
		return db.commitOpsCopy(ctx, ops)
	}
	var (
		b      pgx.Batch
		arch   archiveRows
		rooms  roomRows
		counts = make(map[string]int64)
	)
	for i := range ops {
		op := &ops[i]
		switch op.kind {
		case opArchive:
			arch.add(op.seq, &op.rec)
			counts[op.rec.Owner]++
		case opRoom:
			rooms.add(op.seq, &op.room)
		case opOpen:
			b.Queue(openSQL, op.account, op.roomJID, op.seq)
		case opClose:
			b.Queue(closeSQL, op.seq, op.account, op.roomJID)
		}
	}
	if len(arch.seq) > 0 {
		b.Queue(insertArchiveSQL, arch.seq, arch.owner, arch.id, arch.stamp, arch.with, arch.nick,
			arch.groupchat, arch.origin, arch.stanza)
		owners := make([]string, 0, len(counts))
		for o := range counts {
			owners = append(owners, o)
		}
		slices.Sort(owners)
		ns := make([]int64, len(owners))
		for i, o := range owners {
			ns[i] = counts[o]
		}
		b.Queue(countSQL, owners, ns)
	}
	if len(rooms.seq) > 0 {
		b.Queue(insertRoomSQL, rooms.seq, rooms.room, rooms.id, rooms.stamp, rooms.nick, rooms.origin, rooms.stanza)
	}
	if err := db.pool.SendBatch(ctx, &b).Close(); err != nil {
		if len(ops) == 1 {
			return fmt.Errorf("%s: %w", ops[0].describe(), err)
		}
		return err
	}
	return nil
}

// waitArchive waits until every operation up to seq is written.
func (db *DB) waitArchive(ctx context.Context, seq int64) error {
	q := &db.archive
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
			return fmt.Errorf("postgres: waiting for archive writes: %w", ctx.Err())
		}
	}
}

// SyncArchive implements storage.RoomArchive: it waits for what this
// node queued.
func (db *DB) SyncArchive(ctx context.Context) error {
	db.archive.mu.Lock()
	last := db.archive.last
	db.archive.mu.Unlock()
	return db.waitArchive(ctx, last)
}

// syncOwner waits until everything queued on this node before the call
// that can be part of owner's archive is written: its own records, its
// memberships and, if shared, room records.
func (db *DB) syncOwner(ctx context.Context, owner string, shared bool) error {
	q := &db.archive
	q.mu.Lock()
	seq := q.lastOf[owner]
	if shared {
		seq = max(seq, q.lastRoom)
	}
	q.mu.Unlock()
	return db.waitArchive(ctx, seq)
}

// closeArchive writes what is queued and refuses further writes.
func (db *DB) closeArchive() {
	q := &db.archive
	q.mu.Lock()
	q.closed = true
	q.space.Broadcast()
	q.mu.Unlock()
	db.SyncArchive(context.Background())
	q.writer.Wait()
}

// ArchiveWriteFailures counts archive writes that could not be made.
func (db *DB) ArchiveWriteFailures() uint64 { return db.archive.failures.Load() }

// commitOpsCopy writes ops in a transaction with COPY for the records and
// a batch for the rest: BEGIN, a COPY per table, the batch and COMMIT
// are round trips of their own.
func (db *DB) commitOpsCopy(ctx context.Context, ops []archiveOp) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var (
			b      pgx.Batch
			arch   [][]any
			rooms  [][]any
			counts = make(map[string]int64)
		)
		for i := range ops {
			op := &ops[i]
			switch op.kind {
			case opArchive:
				r := &op.rec
				arch = append(arch, []any{op.seq, r.Owner, r.ID, r.Stamp.UnixMicro(), r.With, r.FromNick, r.Groupchat, r.OriginStanzaID, nonNil(r.Stanza)})
				counts[r.Owner]++
			case opRoom:
				r := &op.room
				rooms = append(rooms, []any{op.seq, r.Room, r.ID, r.Stamp.UnixMicro(), r.FromNick, r.OriginStanzaID, nonNil(r.Stanza)})
			case opOpen:
				b.Queue(openSQL, op.account, op.roomJID, op.seq)
			case opClose:
				b.Queue(closeSQL, op.seq, op.account, op.roomJID)
			}
		}
		if len(arch) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"archive_messages"},
				[]string{"seq", "owner", "id", "stamp", "with_jid", "from_nick", "groupchat", "origin_stanza_id", "stanza"},
				pgx.CopyFromRows(arch)); err != nil {
				return err
			}
			owners := make([]string, 0, len(counts))
			for o := range counts {
				owners = append(owners, o)
			}
			slices.Sort(owners)
			ns := make([]int64, len(owners))
			for i, o := range owners {
				ns[i] = counts[o]
			}
			b.Queue(countSQL, owners, ns)
		}
		if len(rooms) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"room_messages"},
				[]string{"seq", "room", "id", "stamp", "from_nick", "origin_stanza_id", "stanza"},
				pgx.CopyFromRows(rooms)); err != nil {
				return err
			}
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

// ArchiveQueue returns how many archive writes are queued or being
// written and not yet committed (the admin page's archive queue).
func (db *DB) ArchiveQueue() int {
	q := &db.archive
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.last - q.committed)
}
