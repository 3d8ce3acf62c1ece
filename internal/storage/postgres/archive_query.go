package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// dialect is PostgreSQL's SQL for the shared archive query
// (sqlarchive.Query): ids as one array parameter, and (x + 0) where the
// planner must not use an index. Every query of one call runs in one
// REPEATABLE READ transaction; pgx prepares each statement's shape once
// per connection. TestQueryPlans checks with EXPLAIN that each page walks
// an index in position order without sorting.
var dialect = sqlarchive.NewDialect(sqlarchive.Dialect{
	Param:            "$",
	True:             "true",
	Bool:             func(b bool) any { return b },
	NoIndex:          func(column string) string { return "(" + column + " + 0)" },
	IDArray:          true,
	TimedSpanNoIndex: true,
})

// QueryArchive implements storage.Archive (sqlarchive.Query).
func (db *DB) QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	if q.Max < 0 {
		return storage.ArchivePage{}, fmt.Errorf("postgres: query archive of %q: negative max %d", owner, q.Max)
	}
	if err := db.archive.SyncOwner(ctx, owner, !q.OwnOnly); err != nil {
		return storage.ArchivePage{}, fmt.Errorf("postgres: query archive of %q: %w", owner, err)
	}
	var page storage.ArchivePage
	err := db.read(ctx, "query archive", func(tx pgx.Tx) error {
		var err error
		page, err = sqlarchive.Query(ctx, dialect, readTx{tx}, owner, q)
		return err
	})
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("postgres: query archive of %q: %w", owner, err)
	}
	return page, nil
}

// readTx is a read transaction as sqlarchive.Querier.
type readTx struct{ tx pgx.Tx }

func (t readTx) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, t.tx, query, args, scan)
}

func (t readTx) QueryRow(ctx context.Context, query string, args []any, dest ...any) error {
	err := t.tx.QueryRow(ctx, query, args...).Scan(dest...)
	if noRows(err) {
		return sqlarchive.ErrNoRows
	}
	return err
}
