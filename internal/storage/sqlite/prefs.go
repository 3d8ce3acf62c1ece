package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"minimix/internal/storage"
)

// Archiving modes of XEP-0313 preferences.
const (
	prefsAlways = "always"
	prefsNever  = "never"
	prefsRoster = "roster"
)

// GetArchivePrefs implements storage.Archive; with nothing stored it
// returns Default "always" and no JIDs.
func (db *DB) GetArchivePrefs(ctx context.Context, owner string) (storage.ArchivePrefs, error) {
	p := storage.ArchivePrefs{Default: prefsAlways}
	err := db.read(ctx, "archive prefs", func(tx rtx) error {
		err := tx.QueryRowContext(ctx,
			`SELECT default_mode FROM archive_prefs WHERE owner = ?`, owner).Scan(&p.Default)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT list, jid FROM archive_prefs_jids WHERE owner = ? ORDER BY list, position`, owner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var list, jid string
			if err := rows.Scan(&list, &jid); err != nil {
				return err
			}
			switch list {
			case prefsAlways:
				p.Always = append(p.Always, jid)
			case prefsNever:
				p.Never = append(p.Never, jid)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return storage.ArchivePrefs{}, fmt.Errorf("sqlite: archive prefs of %q: %w", owner, err)
	}
	return p, nil
}

// SetArchivePrefs implements storage.Archive. It rejects a Default other
// than "always", "never" or "roster", so that a bad value fails where it
// is written rather than where it is read.
func (db *DB) SetArchivePrefs(ctx context.Context, owner string, p storage.ArchivePrefs) error {
	switch p.Default {
	case prefsAlways, prefsNever, prefsRoster:
	default:
		return fmt.Errorf("sqlite: set archive prefs of %q: unknown default %q", owner, p.Default)
	}
	return db.write(ctx, "set archive prefs", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO archive_prefs (owner, default_mode) VALUES (?, ?)
			ON CONFLICT (owner) DO UPDATE SET default_mode = excluded.default_mode`,
			owner, p.Default); err != nil {
			return fmt.Errorf("sqlite: set archive prefs of %q: %w", owner, err)
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM archive_prefs_jids WHERE owner = ?`, owner); err != nil {
			return fmt.Errorf("sqlite: set archive prefs of %q: %w", owner, err)
		}
		for _, l := range []struct {
			name string
			jids []string
		}{{prefsAlways, p.Always}, {prefsNever, p.Never}} {
			for i, jid := range l.jids {
				if _, err := tx.ExecContext(ctx,
					`INSERT INTO archive_prefs_jids (owner, list, position, jid) VALUES (?, ?, ?, ?)`,
					owner, l.name, i, jid); err != nil {
					return fmt.Errorf("sqlite: set archive prefs of %q: %s %q: %w", owner, l.name, jid, err)
				}
			}
		}
		return nil
	})
}
