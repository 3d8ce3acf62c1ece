// Package postgres is the PostgreSQL storage backend, for deployments
// that outgrow one machine or run several nodes over one database. It
// implements storage.Store with github.com/jackc/pgx/v5 (a pgxpool.Pool)
// and passes the storagetest conformance suite, as the SQLite backend
// does.
//
// The schema mirrors the SQLite backend's (migrations/0001_init.sql) and
// is brought up to date by Open under an advisory lock, so that several
// nodes may start at once. Archive writes go behind their callers as on
// SQLite (sqlarchive.Queue, archive_queue.go), with positions that stay unique across nodes
// (archive_positions.go). Every statement is prepared once per connection
// and then reused (pgx's statement cache).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// DB is a storage.Store in a PostgreSQL database. It is safe for
// concurrent use by multiple goroutines.
type DB struct {
	pool *pgxpool.Pool

	// archive is the write-behind queue of archive records and
	// memberships (archive_queue.go), and positions the archive positions
	// this node may hand out (archive_positions.go).
	archive             sqlarchive.Queue
	*sqlarchive.Archive // the archive's operations over it (archive_query.go)
	positions           *positions

	closeOnce sync.Once
	closeErr  error
}

var _ storage.Store = (*DB)(nil)

// Open connects to the database named by dsn (a libpq URL or key=value
// string, with pgxpool's pool_* parameters), brings its schema up to date
// and starts the archive writer. The schema lives in the connection's
// search_path (add ?search_path=NAME to keep minimix in its own schema).
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included.
		return nil, errors.New("postgres: open: cannot parse the DSN (expected postgres://user:password@host:port/database?...)")
	}
	// Statements are prepared once per connection (pgx's cache) but
	// planned for their values each time they run: a generic plan
	// guesses the selectivity of a position range, and for an archive
	// page it may then read a whole membership's records and sort them
	// rather than walk the index to the page (TestQueryPlans). Planning
	// these small statements costs far less than that risk. An operator's
	// own plan_cache_mode in the DSN wins.
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	db := &DB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	db.positions = newPositions(db.reservePositions)
	if err := db.initArchiveQueue(ctx); err != nil {
		db.positions.close()
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	return db, nil
}

// describe names the database of cfg in errors, without its password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Close writes the archive records still queued and closes every
// connection. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.archive.Close()
		db.positions.close()
		db.pool.Close()
	})
	return db.closeErr
}

// tx runs fn in a read-write transaction and commits it if fn returns
// nil. what names the operation in errors from the transaction itself; fn
// wraps its own errors.
func (db *DB) tx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %s: begin: %w", what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: %s: commit: %w", what, err)
	}
	return nil
}

// read runs fn in a read-only transaction at REPEATABLE READ, so that
// the several queries of one operation see one snapshot.
func (db *DB) read(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: %s: begin: %w", what, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// exec runs one statement as a transaction of its own.
func (db *DB) exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	if err := ctx.Err(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return db.pool.Exec(ctx, query, args...)
}

// querier is what reads need: the pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner = sqlarchive.Scanner

// queryRows runs a query and calls scan for each row.
func queryRows(ctx context.Context, q querier, query string, args []any, scan func(scanner) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlarchive.EachRow(rows, scan)
}

// noRows reports whether err says a query returned no row.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// nonNil turns a nil slice into an empty one, so that a NOT NULL BYTEA
// column accepts it: pgx sends nil as SQL NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Ping reports whether the database answers a query (/readyz).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}
