package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"minimix/internal/storage"
)

// Blocklist implements storage.Blocklists.
func (db *DB) Blocklist(ctx context.Context, user string) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT jid FROM blocklists WHERE username = ? ORDER BY jid`, user)
	if err != nil {
		return nil, fmt.Errorf("sqlite: blocklist of %q: %w", user, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("sqlite: blocklist of %q: %w", user, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: blocklist of %q: %w", user, err)
	}
	return out, nil
}

// Block implements storage.Blocklists.
func (db *DB) Block(ctx context.Context, user string, jids []string) error {
	return db.write(ctx, "block", func(tx *sql.Tx) error {
		for _, j := range jids {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO blocklists (username, jid) VALUES (?, ?) ON CONFLICT DO NOTHING`, user, j); err != nil {
				return fmt.Errorf("sqlite: block %q for %q: %w", j, user, err)
			}
		}
		return nil
	})
}

// Unblock implements storage.Blocklists.
func (db *DB) Unblock(ctx context.Context, user string, jids []string) error {
	return db.write(ctx, "unblock", func(tx *sql.Tx) error {
		if len(jids) == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM blocklists WHERE username = ?`, user); err != nil {
				return fmt.Errorf("sqlite: unblock all for %q: %w", user, err)
			}
			return nil
		}
		for _, j := range jids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM blocklists WHERE username = ? AND jid = ?`, user, j); err != nil {
				return fmt.Errorf("sqlite: unblock %q for %q: %w", j, user, err)
			}
		}
		return nil
	})
}

// Blocklists implements storage.Blocklists.
func (db *DB) Blocklists(ctx context.Context) (map[string][]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT username, jid FROM blocklists ORDER BY username, jid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: blocklists: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]string)
	for rows.Next() {
		var u, j string
		if err := rows.Scan(&u, &j); err != nil {
			return nil, fmt.Errorf("sqlite: blocklists: %w", err)
		}
		out[u] = append(out[u], j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: blocklists: %w", err)
	}
	return out, nil
}

var _ storage.Blocklists = (*DB)(nil)
