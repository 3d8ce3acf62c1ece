package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// BackupTo writes a consistent copy of the database to path, which must
// not exist yet, while the server keeps running. Archive records queued
// before the call are committed first, so that everything the server had
// acknowledged when the backup began is in it. The copy is SQLite's
// VACUUM INTO: it reads one snapshot in a read transaction, which WAL
// lets writers continue past, and writes a compact database with no
// write-ahead log beside it.
func (db *DB) BackupTo(ctx context.Context, path string) error {
	if err := db.SyncArchive(ctx); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	return vacuumInto(ctx, db.sql, path)
}

func vacuumInto(ctx context.Context, sqldb *sql.DB, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, os.ErrExist)
	}
	if _, err := sqldb.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	return nil
}

// BackupFile copies the database at src to dst as BackupTo does, for a
// database no server of this process has open (the server is stopped, or
// another process runs it and cannot be asked: then records it still
// queues in memory are not in the copy). The source is opened read-only
// and its schema is not touched.
func BackupFile(ctx context.Context, src, dst string) error {
	sqldb, err := openReadOnly(src)
	if err != nil {
		return err
	}
	defer sqldb.Close()
	if err := checkMinimix(ctx, sqldb, src); err != nil {
		return err
	}
	return vacuumInto(ctx, sqldb, dst)
}

// CheckBackup reports whether path is a sound minimix SQLite database:
// SQLite's quick_check passes and it has minimix's schema table.
func CheckBackup(ctx context.Context, path string) error {
	sqldb, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer sqldb.Close()
	var res string
	if err := sqldb.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("sqlite: check %s: %s", path, res)
	}
	return checkMinimix(ctx, sqldb, path)
}

func openReadOnly(path string) (*sql.DB, error) {
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: open %q: path must not contain '?'", path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	sqldb, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	sqldb.SetMaxOpenConns(1)
	return sqldb, nil
}

func checkMinimix(ctx context.Context, sqldb *sql.DB, path string) error {
	var version sql.NullInt64
	err := sqldb.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&version)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("sqlite: %s is not a minimix database: %w", path, err)
		}
		return fmt.Errorf("sqlite: read %s: %w", path, err)
	}
	if !version.Valid {
		return fmt.Errorf("sqlite: %s is not a minimix database: %w", path, errors.New("no schema version"))
	}
	return nil
}
