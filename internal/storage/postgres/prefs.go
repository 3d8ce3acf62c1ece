package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	err := db.read(ctx, "archive prefs", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT default_mode FROM archive_prefs WHERE owner = $1`, owner).Scan(&p.Default)
		if noRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return queryRows(ctx, tx, `SELECT list, jid FROM archive_prefs_jids WHERE owner = $1 ORDER BY list, position`,
			[]any{owner}, func(s scanner) error {
				var list, jid string
				if err := s.Scan(&list, &jid); err != nil {
					return err
				}
				switch list {
				case prefsAlways:
					p.Always = append(p.Always, jid)
				case prefsNever:
					p.Never = append(p.Never, jid)
				}
				return nil
			})
	})
	if err != nil {
		return storage.ArchivePrefs{}, fmt.Errorf("postgres: archive prefs of %q: %w", owner, err)
	}
	return p, nil
}

// SetArchivePrefs implements storage.Archive. It rejects a Default other
// than "always", "never" or "roster".
func (db *DB) SetArchivePrefs(ctx context.Context, owner string, p storage.ArchivePrefs) error {
	switch p.Default {
	case prefsAlways, prefsNever, prefsRoster:
	default:
		return fmt.Errorf("postgres: set archive prefs of %q: unknown default %q", owner, p.Default)
	}
	return db.tx(ctx, "set archive prefs", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO archive_prefs (owner, default_mode) VALUES ($1, $2)
			ON CONFLICT (owner) DO UPDATE SET default_mode = excluded.default_mode`,
			owner, p.Default); err != nil {
			return fmt.Errorf("postgres: set archive prefs of %q: %w", owner, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM archive_prefs_jids WHERE owner = $1`, owner); err != nil {
			return fmt.Errorf("postgres: set archive prefs of %q: %w", owner, err)
		}
		for _, l := range []struct {
			name string
			jids []string
		}{{prefsAlways, p.Always}, {prefsNever, p.Never}} {
			if len(l.jids) == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO archive_prefs_jids (owner, list, position, jid)
				SELECT $1, $2, j.ord - 1, j.jid FROM unnest($3::text[]) WITH ORDINALITY AS j(jid, ord)`,
				owner, l.name, l.jids); err != nil {
				return fmt.Errorf("postgres: set archive prefs of %q: %s list: %w", owner, l.name, err)
			}
		}
		return nil
	})
}
