package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"minimix/internal/storage"
)

// deleteChunk bounds the ids bound to one DELETE, well under SQLite's
// limit on host parameters.
const deleteChunk = 500

// StoreOffline implements storage.Offline. The count and the insert share
// one write transaction, so concurrent senders cannot together overshoot
// max. max <= 0 means no limit.
func (db *DB) StoreOffline(ctx context.Context, user string, stanza []byte, stamp time.Time, max int) error {
	return db.write(ctx, "store offline", func(tx *sql.Tx) error {
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx,
				`SELECT count(*) FROM offline_messages WHERE username = ?`, user).Scan(&n); err != nil {
				return fmt.Errorf("sqlite: store offline for %q: %w", user, err)
			}
			if n >= max {
				return fmt.Errorf("sqlite: store offline for %q: %d waiting: %w", user, n, storage.ErrQuota)
			}
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO offline_messages (username, stamp, stanza) VALUES (?, ?, ?)`,
			user, stamp.UnixMicro(), nonNil(stanza)); err != nil {
			return fmt.Errorf("sqlite: store offline for %q: %w", user, err)
		}
		return nil
	})
}

// OfflineMessages implements storage.Offline. "Oldest first" is the order
// of storing, not of the stamps the caller gave.
func (db *DB) OfflineMessages(ctx context.Context, user string) ([]storage.OfflineMessage, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT id, stamp, stanza FROM offline_messages WHERE username = ? ORDER BY id`, user)
	if err != nil {
		return nil, fmt.Errorf("sqlite: offline messages of %q: %w", user, err)
	}
	defer rows.Close()
	var msgs []storage.OfflineMessage
	for rows.Next() {
		var (
			m     storage.OfflineMessage
			stamp int64
		)
		if err := rows.Scan(&m.ID, &stamp, &m.Stanza); err != nil {
			return nil, fmt.Errorf("sqlite: offline messages of %q: %w", user, err)
		}
		m.Stamp = time.UnixMicro(stamp).UTC()
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: offline messages of %q: %w", user, err)
	}
	return msgs, nil
}

// DeleteOffline implements storage.Offline. Ids that are unknown or belong
// to another user are ignored, so a redelivery after a crash is harmless.
func (db *DB) DeleteOffline(ctx context.Context, user string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return db.write(ctx, "delete offline", func(tx *sql.Tx) error {
		for chunk := range chunks(ids, deleteChunk) {
			args := make([]any, 0, len(chunk)+1)
			args = append(args, user)
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM offline_messages WHERE username = ? AND id IN (`+placeholders(len(chunk))+`)`,
				args...); err != nil {
				return fmt.Errorf("sqlite: delete offline of %q: %w", user, err)
			}
		}
		return nil
	})
}

// chunks yields consecutive pieces of s of at most n elements.
func chunks[T any](s []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// CountOffline implements storage.Offline.
func (db *DB) CountOffline(ctx context.Context, user string) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx,
		`SELECT count(*) FROM offline_messages WHERE username = ?`, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count offline of %q: %w", user, err)
	}
	return n, nil
}
