package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage/sqlarchive"
)

// archiveDB is db as sqlarchive.DB, whose Archive runs the archive's
// operations and queries in the dialect of archive_queue.go: statements
// on the pool, read-only REPEATABLE READ transactions (db.read) and
// read-write ones (db.tx), all through pgx.
type archiveDB struct{ db *DB }

func (a archiveDB) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, a.db.pool, query, args, scan)
}

func (a archiveDB) Read(ctx context.Context, what string, fn func(sqlarchive.Querier) error) error {
	return a.db.read(ctx, what, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
}

func (a archiveDB) Write(ctx context.Context, what string, fn func(sqlarchive.Tx) error) error {
	return a.db.tx(ctx, what, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
}

func (a archiveDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := a.db.exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

// pgTx is a transaction as sqlarchive.Tx.
type pgTx struct{ tx pgx.Tx }

func (t pgTx) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, t.tx, query, args, scan)
}

func (t pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}
