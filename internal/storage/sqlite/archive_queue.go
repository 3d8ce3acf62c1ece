package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/storage"
)

// The archive is written behind its callers. Every message between two
// local accounts is archived twice and every room message once, on the
// goroutine that routes it; a commit per record would make routing wait
// for the disk. So records, and the memberships that say which room
// records are an account's, are queued with the next sequence number and
// one writer goroutine commits whatever is queued in one transaction,
// again and again while writes keep coming.
//
// What a kill -9 can lose is what is queued and not yet committed: at
// most maxArchiveQueue operations, and in practice what arrived during
// one commit (milliseconds). Readers wait for the sequence number that
// was current when they were called (waitArchive), never for an empty
// queue, so a steady stream of writes cannot starve them.

// maxArchiveQueue bounds the operations waiting to be written; a caller
// that finds the queue full waits, which is the back-pressure a disk
// slower than the traffic needs.
const maxArchiveQueue = 4096

// opKind says what an archiveOp writes.
type opKind uint8

const (
	opArchive opKind = iota // an owner's own record
	opRoom                  // a room's shared record
	opOpen                  // an account's interval in a room begins
	opClose                 // and ends
)

// archiveOp is one queued write. seq is its sequence number: the record's
// position, or the boundary of the interval.
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
	// last is the newest sequence number handed out; committed the
	// newest one written (or given up on), so every operation up to it
	// is done. done is closed and replaced whenever committed advances.
	last, committed int64
	done            chan struct{}
	busy            bool // a writer goroutine runs
	closed          bool
	// lastOf holds, for each owner with writes in the queue, the
	// sequence number of its newest (its own records, or its
	// memberships); lastRoom that of the newest room record. A reader of
	// one archive waits for those alone (syncOwner), not for the queue.
	lastOf   map[string]int64
	lastRoom int64
	// pending holds the owner and id of queued AppendArchive records,
	// so that a second append of the same id fails before its commit.
	pending  map[string]struct{}
	failures atomic.Uint64
	// stmts are opSQL and countSQL prepared once: preparing them for
	// every batch would cost more than a small batch's inserts.
	stmts [5]*sql.Stmt
}

// countSQL adds a batch's records to an owner's count.
const countSQL = `INSERT INTO archive_counts (owner, records) VALUES (?, ?)
	ON CONFLICT (owner) DO UPDATE SET records = records + excluded.records`

var errArchiveClosed = errors.New("sqlite: archive is closed")

// initArchiveQueue sets the sequence counter past every position in the
// database.
func (db *DB) initArchiveQueue(ctx context.Context) error {
	q := &db.archive
	q.space = sync.NewCond(&q.mu)
	q.done = make(chan struct{})
	q.pending = make(map[string]struct{})
	q.lastOf = make(map[string]int64)
	var last sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT max(m) FROM (
		SELECT max(seq) AS m FROM archive_messages
		UNION ALL SELECT max(seq) FROM room_messages
		UNION ALL SELECT max(from_seq) FROM room_memberships
		UNION ALL SELECT max(to_seq) FROM room_memberships
		UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'archive_messages')`).Scan(&last)
	if err != nil {
		return fmt.Errorf("read archive position: %w", err)
	}
	q.last, q.committed = last.Int64, last.Int64
	for i, text := range append(opSQL[:], countSQL) {
		if q.stmts[i], err = db.sql.PrepareContext(ctx, text); err != nil {
			return fmt.Errorf("prepare archive writes: %w", err)
		}
	}
	return nil
}

// enqueue gives op the next sequence number and queues it, starting the
// writer if none runs. It waits while the queue is full.
func (db *DB) enqueue(op archiveOp) (int64, error) {
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
		q.pending[op.checked] = struct{}{}
	}
	q.last++
	op.seq = q.last
	switch op.kind {
	case opArchive:
		q.lastOf[op.rec.Owner] = op.seq
	case opRoom:
		q.lastRoom = op.seq
	default:
		q.lastOf[op.account] = op.seq
	}
	q.ops = append(q.ops, op)
	if !q.busy {
		q.busy = true
		go db.writeArchive()
	}
	return op.seq, nil
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

		db.writeSem <- struct{}{}
		db.commitArchive(batch)
		<-db.writeSem

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

// commitArchive writes batch in one transaction. A transient failure (the
// disk briefly full, a lock held too long) gets one more try; if the
// batch still fails, each operation is written on its own, so that one bad
// row costs only itself. The caller holds the write token.
func (db *DB) commitArchive(batch []archiveOp) {
	err := db.commitOps(batch)
	if err == nil {
		return
	}
	time.Sleep(50 * time.Millisecond)
	if err = db.commitOps(batch); err == nil {
		return
	}
	slog.Warn("sqlite: archive batch failed; writing its records one by one", "records", len(batch), "err", err)
	for i := range batch {
		if err := db.commitOps(batch[i : i+1]); err != nil {
			db.archive.failures.Add(1)
			slog.Error("sqlite: archive write lost", "what", batch[i].describe(), "err", err)
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

// commitOps writes ops in one transaction, with one prepared statement per
// kind of operation and no reads.
func (db *DB) commitOps(ops []archiveOp) error {
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var stmts [len(opSQL)]*sql.Stmt
	counts := make(map[string]int)
	for i := range ops {
		op := &ops[i]
		if stmts[op.kind] == nil {
			stmts[op.kind] = tx.StmtContext(ctx, db.archive.stmts[op.kind])
		}
		st := stmts[op.kind]
		switch op.kind {
		case opArchive:
			r := &op.rec
			_, err = st.ExecContext(ctx, op.seq, r.Owner, r.ID, r.Stamp.UnixMicro(), r.With, r.FromNick,
				boolInt(r.Groupchat), r.OriginStanzaID, nonNil(r.Stanza))
			counts[r.Owner]++
		case opRoom:
			r := &op.room
			_, err = st.ExecContext(ctx, op.seq, r.Room, r.ID, r.Stamp.UnixMicro(), r.FromNick, r.OriginStanzaID, nonNil(r.Stanza))
		case opOpen:
			_, err = st.ExecContext(ctx, op.account, op.roomJID, op.seq)
		case opClose:
			_, err = st.ExecContext(ctx, op.seq, op.account, op.roomJID)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", op.describe(), err)
		}
	}
	if len(counts) > 0 {
		st := tx.StmtContext(ctx, db.archive.stmts[len(opSQL)])
		for owner, n := range counts {
			if _, err := st.ExecContext(ctx, owner, n); err != nil {
				return fmt.Errorf("count records of %s: %w", owner, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// opSQL is the statement of each kind of operation.
var opSQL = [...]string{
	opArchive: `INSERT INTO archive_messages (seq, owner, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	// A room message stored before under the same id (derived from the
	// room's stanza-id) is kept as it was.
	opRoom: `INSERT INTO room_messages (seq, room, id, stamp, from_nick, origin_stanza_id, stanza)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	// An interval opens only if none is open, so that opening twice (a
	// rejoin after a restart) keeps the one interval.
	opOpen: `INSERT INTO room_memberships (account, room, from_seq, to_seq)
		SELECT ?1, ?2, ?3, NULL WHERE NOT EXISTS (
			SELECT 1 FROM room_memberships WHERE account = ?1 AND room = ?2 AND to_seq IS NULL)`,
	opClose: `UPDATE room_memberships SET to_seq = ? WHERE account = ? AND room = ? AND to_seq IS NULL`,
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
			return fmt.Errorf("sqlite: waiting for archive writes: %w", ctx.Err())
		}
	}
}

// SyncArchive implements storage.RoomArchive.
func (db *DB) SyncArchive(ctx context.Context) error {
	db.archive.mu.Lock()
	last := db.archive.last
	db.archive.mu.Unlock()
	return db.waitArchive(ctx, last)
}

// syncOwner waits until everything queued before the call that can be
// part of owner's archive is written: its own records, its memberships,
// and, if shared, room records.
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
}

// ArchiveWriteFailures counts archive writes that could not be made.
func (db *DB) ArchiveWriteFailures() uint64 { return db.archive.failures.Load() }

// ArchiveQueue returns how many archive writes are queued or being
// written and not yet committed (the admin page's archive queue).
func (db *DB) ArchiveQueue() int {
	q := &db.archive
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.last - q.committed)
}
