package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// Blocklist implements storage.Blocklists.
func (db *DB) Blocklist(ctx context.Context, user string) ([]string, error) {
	out := []string{}
	err := queryRows(ctx, db.pool, `SELECT jid FROM blocklists WHERE username = $1 ORDER BY jid`, []any{user}, func(s scanner) error {
		var j string
		if err := s.Scan(&j); err != nil {
			return err
		}
		out = append(out, j)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: blocklist of %q: %w", user, err)
	}
	return out, nil
}

// Block implements storage.Blocklists.
func (db *DB) Block(ctx context.Context, user string, jids []string) error {
	return db.tx(ctx, "block", func(tx pgx.Tx) error {
		for _, j := range jids {
			if _, err := tx.Exec(ctx, `INSERT INTO blocklists (username, jid) VALUES ($1, $2) ON CONFLICT DO NOTHING`, user, j); err != nil {
				return fmt.Errorf("postgres: block %q for %q: %w", j, user, err)
			}
		}
		return nil
	})
}

// Unblock implements storage.Blocklists.
func (db *DB) Unblock(ctx context.Context, user string, jids []string) error {
	if len(jids) == 0 {
		if _, err := db.exec(ctx, `DELETE FROM blocklists WHERE username = $1`, user); err != nil {
			return fmt.Errorf("postgres: unblock all for %q: %w", user, err)
		}
		return nil
	}
	if _, err := db.exec(ctx, `DELETE FROM blocklists WHERE username = $1 AND jid = ANY($2)`, user, jids); err != nil {
		return fmt.Errorf("postgres: unblock for %q: %w", user, err)
	}
	return nil
}

// Blocklists implements storage.Blocklists.
func (db *DB) Blocklists(ctx context.Context) (map[string][]string, error) {
	out := make(map[string][]string)
	err := queryRows(ctx, db.pool, `SELECT username, jid FROM blocklists ORDER BY username, jid`, nil, func(s scanner) error {
		var u, j string
		if err := s.Scan(&u, &j); err != nil {
			return err
		}
		out[u] = append(out[u], j)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: blocklists: %w", err)
	}
	return out, nil
}

var _ storage.Blocklists = (*DB)(nil)
