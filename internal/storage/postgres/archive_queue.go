package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// The archive is written behind its callers by sqlarchive.Queue, as on
// SQLite. Here, positions come from the node's reserved ranges
// (archive_positions.go), and a batch is one round trip: its statements
// are pipelined and run as one implicit transaction. Each kind of row is
// one multi-row INSERT from arrays (unnest), a statement prepared once
// per connection whatever the batch's size (BenchmarkArchiveWriter
// compares it with COPY).
//
// What a kill -9 of a node can lose is what that node had queued and not
// yet committed. Readers wait for the positions that concern their
// archive and were queued on this node before they were called; what
// other nodes queued they see once it is committed.

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
	// Owners come sorted (sqlarchive.Batch), so that two nodes' batches
	// lock their counters in one order and cannot deadlock.
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

// reset empties r for the next batch, keeping its arrays but not what
// they refer to.
func (r *archiveRows) reset() {
	clear(r.owner)
	clear(r.id)
	clear(r.with)
	clear(r.nick)
	clear(r.origin)
	clear(r.stanza)
	r.seq, r.owner, r.id, r.stamp = r.seq[:0], r.owner[:0], r.id[:0], r.stamp[:0]
	r.with, r.nick, r.groupchat, r.origin, r.stanza = r.with[:0], r.nick[:0], r.groupchat[:0], r.origin[:0], r.stanza[:0]
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

func (r *roomRows) reset() {
	clear(r.room)
	clear(r.id)
	clear(r.nick)
	clear(r.origin)
	clear(r.stanza)
	r.seq, r.room, r.id, r.stamp = r.seq[:0], r.room[:0], r.id[:0], r.stamp[:0]
	r.nick, r.origin, r.stanza = r.nick[:0], r.origin[:0], r.stanza[:0]
}

// useCopy makes the writer write records with COPY in an explicit
// transaction instead: BenchmarkArchiveWriter measures both.
var useCopy = false

// dialect is PostgreSQL's SQL for sqlarchive: ids as one array
// parameter, (x + 0) where the planner must not use an index, and rows
// locked for an edit (two nodes editing one record apply both edits).
// pgx prepares each statement's shape once per connection, and reads run
// in REPEATABLE READ transactions; TestQueryPlans checks with EXPLAIN
// that each page walks an index in position order without sorting.
var dialect = sqlarchive.NewDialect(sqlarchive.Dialect{
	Param:            "$",
	True:             "true",
	Bool:             func(b bool) any { return b },
	NoIndex:          func(column string) string { return "(" + column + " + 0)" },
	IDArray:          true,
	TimedSpanNoIndex: true,
	ForUpdate:        " FOR UPDATE",
})

// archiveWriter is the queue's sqlarchive.Backend, and the Batch it
// writes (one at a time, on the queue's writer goroutine): the batch's
// rows gathered into arrays, sent in one round trip on Commit.
type archiveWriter struct {
	db    *DB
	arch  archiveRows
	rooms roomRows
	batchStatements
}

// batchStatements are a batch's membership changes, queued as they come,
// and its owners' counts.
type batchStatements struct {
	b      pgx.Batch
	owners []string
	counts []int64
}

func (s *batchStatements) Open(seq int64, account, room string) error {
	s.b.Queue(openSQL, account, room, seq)
	return nil
}

func (s *batchStatements) Close(seq int64, account, room string) error {
	s.b.Queue(closeSQL, seq, account, room)
	return nil
}

func (s *batchStatements) Count(owner string, n int64) error {
	s.owners = append(s.owners, owner)
	s.counts = append(s.counts, n)
	return nil
}

func (db *DB) initArchiveQueue(ctx context.Context) error {
	db.archive.Init("postgres", &archiveWriter{db: db}, 0)
	db.Archive = sqlarchive.New("postgres", dialect, archiveDB{db}, &db.archive)
	// The first range is reserved now, so that the first record queued
	// does not wait for it.
	return db.positions.advance(ctx)
}

// Position implements sqlarchive.Backend: the next of the node's
// reserved positions.
func (w *archiveWriter) Position(ctx context.Context, _ int64) (int64, error) {
	return w.db.positions.next(ctx)
}

// Begin implements sqlarchive.Backend.
func (w *archiveWriter) Begin() (sqlarchive.Batch, error) {
	if useCopy {
		return &copyBatch{db: w.db}, nil
	}
	w.b = pgx.Batch{}
	return w, nil
}

func (w *archiveWriter) Archive(seq int64, r *storage.ArchiveRecord) error {
	w.arch.add(seq, r)
	return nil
}

func (w *archiveWriter) Room(seq int64, r *storage.RoomMessage) error {
	w.rooms.add(seq, r)
	return nil
}

// Commit sends the batch: the memberships in order, then the records,
// their owners' counts and the room records.
func (w *archiveWriter) Commit() error {
	defer w.Abort()
	a, r := &w.arch, &w.rooms
	if len(a.seq) > 0 {
		w.b.Queue(insertArchiveSQL, a.seq, a.owner, a.id, a.stamp, a.with, a.nick, a.groupchat, a.origin, a.stanza)
		w.b.Queue(countSQL, w.owners, w.counts)
	}
	if len(r.seq) > 0 {
		w.b.Queue(insertRoomSQL, r.seq, r.room, r.id, r.stamp, r.nick, r.origin, r.stanza)
	}
	return w.db.pool.SendBatch(context.Background(), &w.b).Close()
}

// Abort drops the batch.
func (w *archiveWriter) Abort() {
	w.b = pgx.Batch{}
	w.arch.reset()
	w.rooms.reset()
	clear(w.owners)
	w.owners, w.counts = w.owners[:0], w.counts[:0]
}

// copyBatch writes a batch in a transaction with COPY for the records
// and a batch for the rest: BEGIN, a COPY per table, the batch and
// COMMIT are round trips of their own.
type copyBatch struct {
	db          *DB
	arch, rooms [][]any
	batchStatements
}

func (c *copyBatch) Archive(seq int64, r *storage.ArchiveRecord) error {
	c.arch = append(c.arch, []any{seq, r.Owner, r.ID, r.Stamp.UnixMicro(), r.With, r.FromNick, r.Groupchat, r.OriginStanzaID, nonNil(r.Stanza)})
	return nil
}

func (c *copyBatch) Room(seq int64, r *storage.RoomMessage) error {
	c.rooms = append(c.rooms, []any{seq, r.Room, r.ID, r.Stamp.UnixMicro(), r.FromNick, r.OriginStanzaID, nonNil(r.Stanza)})
	return nil
}

func (c *copyBatch) Abort() {}

func (c *copyBatch) Commit() error {
	ctx := context.Background()
	return pgx.BeginFunc(ctx, c.db.pool, func(tx pgx.Tx) error {
		if len(c.arch) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"archive_messages"},
				[]string{"seq", "owner", "id", "stamp", "with_jid", "from_nick", "groupchat", "origin_stanza_id", "stanza"},
				pgx.CopyFromRows(c.arch)); err != nil {
				return err
			}
			c.b.Queue(countSQL, c.owners, c.counts)
		}
		if len(c.rooms) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"room_messages"},
				[]string{"seq", "room", "id", "stamp", "from_nick", "origin_stanza_id", "stanza"},
				pgx.CopyFromRows(c.rooms)); err != nil {
				return err
			}
		}
		if c.b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &c.b).Close()
	})
}
