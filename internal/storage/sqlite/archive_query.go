package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// dialect is SQLite's SQL for the shared archive query
// (sqlarchive.Query): numbered ? parameters, booleans stored as 0 or 1,
// a unary + to keep the planner off an index, and the hints its planner
// needs without statistics.
var dialect = sqlarchive.NewDialect(sqlarchive.Dialect{
	Param:          "?",
	True:           "1",
	Bool:           func(b bool) any { return boolInt(b) },
	NoIndex:        func(column string) string { return "+" + column },
	SpanSubqueries: true,
	OwnWithHint:    " INDEXED BY archive_messages_owner_with",
})

// QueryArchive implements storage.Archive (sqlarchive.Query). Every query
// of one call runs in a single read transaction, so Count and FirstIndex
// agree with Records even while messages are being archived.
func (db *DB) QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	if q.Max < 0 {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: negative max %d", owner, q.Max)
	}
	if err := db.archive.SyncOwner(ctx, owner, !q.OwnOnly); err != nil {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: %w", owner, err)
	}
	var page storage.ArchivePage
	err := db.read(ctx, "query archive", func(tx rtx) error {
		var err error
		page, err = sqlarchive.Query(ctx, dialect, tx, owner, q)
		return err
	})
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: %w", owner, err)
	}
	return page, nil
}

// Query implements sqlarchive.Querier.
func (t rtx) Query(ctx context.Context, query string, args []any, scan func(sqlarchive.Scanner) error) error {
	return queryRows(ctx, t, query, args, scan)
}

// QueryRow implements sqlarchive.Querier.
func (t rtx) QueryRow(ctx context.Context, query string, args []any, dest ...any) error {
	err := t.QueryRowContext(ctx, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlarchive.ErrNoRows
	}
	return err
}

// queryRows runs a query and calls scan for each row.
func queryRows(ctx context.Context, tx rtx, query string, args []any, scan func(scanner) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
