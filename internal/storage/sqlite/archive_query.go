package sqlite

import (
	"context"
	"database/sql"

	"minimix/internal/storage/sqlarchive"
)

// archiveDB is db as sqlarchive.DB, for the archive's operations and
// queries (sqlarchive.Archive, in the dialect of archive_queue.go):
// reads in read transactions of statements prepared once (rtx), writes
// holding the write token (db.write, db.exec).
type archiveDB struct{ db *DB }

func (a archiveDB) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, a.db.sql, query, args, scan)
}

func (a archiveDB) Read(ctx context.Context, what string, fn func(sqlarchive.Querier) error) error {
	return a.db.read(ctx, what, func(tx rtx) error { return fn(tx) })
}

func (a archiveDB) Write(ctx context.Context, what string, fn func(sqlarchive.Tx) error) error {
	return a.db.write(ctx, what, func(tx *sql.Tx) error { return fn(writeTx{tx}) })
}

func (a archiveDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(a.db.exec(ctx, query, args...))
}

// writeTx is a write transaction as sqlarchive.Tx.
type writeTx struct{ tx *sql.Tx }

func (t writeTx) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, t.tx, query, args, scan)
}

func (t writeTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(t.tx.ExecContext(ctx, query, args...))
}

// affected returns the rows a statement affected.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Query implements sqlarchive.Querier.
func (t rtx) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, t, query, args, scan)
}

// queryRows runs a query and calls scan for each row.
func queryRows(ctx context.Context, q querier, query string, args []any, scan func(scanner) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlarchive.EachRow(rows, scan)
}
