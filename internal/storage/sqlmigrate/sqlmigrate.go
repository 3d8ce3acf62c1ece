// Package sqlmigrate brings an SQL backend's schema up to date from its
// embedded migrations (internal/storage/sqlite, internal/storage/postgres):
// one file per version, named NNNN_description.sql, applied in order,
// each once. A released file is never edited: a change to the schema is
// a new file, so that every existing database reaches the same schema by
// applying what it lacks.
package sqlmigrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in dir of fsys and checks that their
// versions run 1, 2, 3... without gaps or duplicates, so that a misnamed
// file fails every test instead of being skipped on some databases.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		prefix, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %q: name is not NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(prefix)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: bad version %q", name, prefix)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// Tx is what a migration needs of a transaction.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) error
	// QueryRow scans the one row of query into dest.
	QueryRow(ctx context.Context, query string, args []any, dest ...any) error
}

// DB runs fn in a transaction, committed if fn returns nil.
type DB interface {
	InTx(ctx context.Context, fn func(Tx) error) error
}

// Schema is a backend's text where it differs.
type Schema struct {
	// Param is the prefix of numbered parameters: "$" or "?".
	Param string
	// Stamp is the type of schema_migrations.applied_at (microseconds).
	Stamp string
}

// Run applies, in order, each of ms the database has not recorded in
// schema_migrations. Each runs in its own transaction together with its
// schema_migrations row, so a failure leaves the database at the previous
// version and a later run resumes from there; whether it is applied is
// checked inside that transaction, for another process may have applied
// it since this one started. A database written by a newer binary (a
// version beyond ms) may hold data this one would misread: Run refuses
// it rather than guess.
func Run(ctx context.Context, db DB, s Schema, ms []Migration) error {
	err := db.InTx(ctx, func(tx Tx) error {
		return tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at `+s.Stamp+` NOT NULL
		)`)
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	p := s.Param
	for _, m := range ms {
		err := db.InTx(ctx, func(tx Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = `+p+`1`,
				[]any{m.Version}, &n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			return tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (`+p+`1, `+p+`2)`,
				m.Version, time.Now().UnixMicro())
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	var latest int
	err = db.InTx(ctx, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`, nil, &latest)
	})
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if known := ms[len(ms)-1].Version; latest > known {
		return fmt.Errorf("schema version %d is newer than this binary's %d", latest, known)
	}
	return nil
}
