package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// The archive is written behind its callers by sqlarchive.Queue. Here,
// positions continue one counter kept in memory, and a batch is one
// transaction with one prepared statement per kind of operation, taken
// with the write token like every other write.

// countSQL adds a batch's records to an owner's count.
const countSQL = `INSERT INTO archive_counts (owner, records) VALUES (?, ?)
	ON CONFLICT (owner) DO UPDATE SET records = records + excluded.records`

// opSQL is the statement of each kind of operation, and countSQL last.
var opSQL = [...]string{
	sqlarchive.KindArchive: `INSERT INTO archive_messages (seq, owner, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	// A room message stored before under the same id (derived from the
	// room's stanza-id) is kept as it was.
	sqlarchive.KindRoom: `INSERT INTO room_messages (seq, room, id, stamp, from_nick, origin_stanza_id, stanza)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	// An interval opens only if none is open, so that opening twice (a
	// rejoin after a restart) keeps the one interval.
	sqlarchive.KindOpen: `INSERT INTO room_memberships (account, room, from_seq, to_seq)
		SELECT ?1, ?2, ?3, NULL WHERE NOT EXISTS (
			SELECT 1 FROM room_memberships WHERE account = ?1 AND room = ?2 AND to_seq IS NULL)`,
	sqlarchive.KindClose: `UPDATE room_memberships SET to_seq = ? WHERE account = ? AND room = ? AND to_seq IS NULL`,
	4:                    countSQL,
}

// dialect is SQLite's SQL for sqlarchive: numbered ? parameters,
// booleans stored as 0 or 1, a unary + to keep the planner off an index,
// and the hints its planner needs without statistics.
var dialect = sqlarchive.NewDialect(sqlarchive.Dialect{
	Param:          "?",
	True:           "1",
	Bool:           func(b bool) any { return boolInt(b) },
	NoIndex:        func(column string) string { return "+" + column },
	SpanSubqueries: true,
	OwnWithHint:    " INDEXED BY archive_messages_owner_with",
})

// archiveWriter is the queue's sqlarchive.Backend, and the Batch it
// writes: one at a time, on the queue's writer goroutine.
type archiveWriter struct {
	db *DB
	// stmts are opSQL prepared once: preparing them for every batch
	// would cost more than a small batch's inserts.
	stmts [len(opSQL)]*sql.Stmt
	// The batch being written: its transaction and the statements
	// bound to it.
	tx   *sql.Tx
	txst [len(opSQL)]*sql.Stmt
}

// initArchiveQueue sets the position counter past every position in the
// database and prepares the writer's statements.
func (db *DB) initArchiveQueue(ctx context.Context) error {
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
	w := &archiveWriter{db: db}
	for i, text := range opSQL {
		if w.stmts[i], err = db.sql.PrepareContext(ctx, text); err != nil {
			return fmt.Errorf("prepare archive writes: %w", err)
		}
	}
	db.archive.Init("sqlite", w, last.Int64)
	db.Archive = sqlarchive.New("sqlite", dialect, archiveDB{db}, &db.archive)
	return nil
}

// Position implements sqlarchive.Backend: the counter's next value.
func (w *archiveWriter) Position(_ context.Context, last int64) (int64, error) { return last + 1, nil }

// Begin implements sqlarchive.Backend: it takes the write token until
// the batch ends.
func (w *archiveWriter) Begin() (sqlarchive.Batch, error) {
	w.db.writeSem <- struct{}{}
	tx, err := w.db.sql.BeginTx(context.Background(), nil)
	if err != nil {
		<-w.db.writeSem
		return nil, fmt.Errorf("begin: %w", err)
	}
	w.tx = tx
	clear(w.txst[:])
	return w, nil
}

// exec runs statement i of opSQL in the batch's transaction.
func (w *archiveWriter) exec(i int, args ...any) error {
	ctx := context.Background()
	if w.txst[i] == nil {
		w.txst[i] = w.tx.StmtContext(ctx, w.stmts[i])
	}
	_, err := w.txst[i].ExecContext(ctx, args...)
	return err
}

func (w *archiveWriter) Archive(seq int64, r *storage.ArchiveRecord) error {
	return w.exec(int(sqlarchive.KindArchive), seq, r.Owner, r.ID, r.Stamp.UnixMicro(), r.With, r.FromNick,
		boolInt(r.Groupchat), r.OriginStanzaID, nonNil(r.Stanza))
}

func (w *archiveWriter) Room(seq int64, r *storage.RoomMessage) error {
	return w.exec(int(sqlarchive.KindRoom), seq, r.Room, r.ID, r.Stamp.UnixMicro(), r.FromNick, r.OriginStanzaID, nonNil(r.Stanza))
}

func (w *archiveWriter) Open(seq int64, account, room string) error {
	return w.exec(int(sqlarchive.KindOpen), account, room, seq)
}

func (w *archiveWriter) Close(seq int64, account, room string) error {
	return w.exec(int(sqlarchive.KindClose), seq, account, room)
}

func (w *archiveWriter) Count(owner string, n int64) error {
	return w.exec(len(opSQL)-1, owner, n)
}

func (w *archiveWriter) Commit() error {
	err := w.tx.Commit()
	w.end()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *archiveWriter) Abort() {
	w.tx.Rollback()
	w.end()
}

func (w *archiveWriter) end() {
	w.tx = nil
	clear(w.txst[:])
	<-w.db.writeSem
}
