package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"minimix/internal/storage/sqlmigrate"
)

// migrationFiles are the schema changes, one file per version
// (sqlmigrate).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func loadMigrations() ([]sqlmigrate.Migration, error) {
	return sqlmigrate.Load(migrationFiles, "migrations")
}

// migrationLock is the first key of the advisory lock migrations run
// under ("mmix"); the second is a hash of the schema, so that deployments
// in different schemas of one database do not wait for each other.
const migrationLock = 0x6d6d6978

// migrate applies the migrations the database lacks, each in a
// transaction of its own. It holds a session advisory lock for the whole
// run, so that nodes starting at once apply each migration once: the
// others wait, then find it recorded.
func (db *DB) migrate(ctx context.Context) (err error) {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext(current_schema()))`, int32(migrationLock)); err != nil {
		conn.Release()
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		// A connection that could not give the lock back is closed, which
		// gives it back, rather than returned to the pool holding it.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext(current_schema()))`, int32(migrationLock)); uerr != nil {
			conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}()
	return sqlmigrate.Run(ctx, migrator{conn}, sqlmigrate.Schema{Param: "$", Stamp: "BIGINT"}, ms)
}

// migrator runs migrations in transactions on the connection that holds
// the lock.
type migrator struct{ conn *pgxpool.Conn }

func (m migrator) InTx(ctx context.Context, fn func(sqlmigrate.Tx) error) error {
	return pgx.BeginFunc(ctx, m.conn, func(tx pgx.Tx) error { return fn(migrationTx{tx}) })
}

type migrationTx struct{ tx pgx.Tx }

func (t migrationTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.Exec(ctx, query, args...)
	return err
}

func (t migrationTx) QueryRow(ctx context.Context, query string, args []any, dest ...any) error {
	return t.tx.QueryRow(ctx, query, args...).Scan(dest...)
}
