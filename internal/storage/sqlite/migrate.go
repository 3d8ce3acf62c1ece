package sqlite

import (
	"context"
	"database/sql"
	"embed"

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

// migrate applies the migrations the database lacks, each in a write
// transaction of its own. Under foreign_keys=ON a future migration that
// rebuilds a referenced table must follow SQLite's twelve-step ALTER
// procedure, since the pragma cannot change inside a transaction.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return sqlmigrate.Run(ctx, migrator{db}, sqlmigrate.Schema{Param: "?", Stamp: "INTEGER"}, ms)
}

// migrator runs migrations in db's write transactions.
type migrator struct{ db *DB }

func (m migrator) InTx(ctx context.Context, fn func(sqlmigrate.Tx) error) error {
	return m.db.write(ctx, "migrate", func(tx *sql.Tx) error { return fn(migrationTx{tx}) })
}

type migrationTx struct{ tx *sql.Tx }

func (t migrationTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, query, args...)
	return err
}

func (t migrationTx) QueryRow(ctx context.Context, query string, args []any, dest ...any) error {
	return t.tx.QueryRowContext(ctx, query, args...).Scan(dest...)
}
