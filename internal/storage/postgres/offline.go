package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// offlineLock is the first key of the transaction advisory lock that
// serialises StoreOffline per user ("offl"), so that concurrent senders,
// on any node, cannot together overshoot the quota.
const offlineLock = 0x6f66666c

// StoreOffline implements storage.Offline. max <= 0 means no limit.
func (db *DB) StoreOffline(ctx context.Context, user string, stanza []byte, stamp time.Time, max int) error {
	return db.tx(ctx, "store offline", func(tx pgx.Tx) error {
		if max > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(offlineLock), user); err != nil {
				return fmt.Errorf("postgres: store offline for %q: %w", user, err)
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM offline_messages WHERE username = $1`, user).Scan(&n); err != nil {
				return fmt.Errorf("postgres: store offline for %q: %w", user, err)
			}
			if n >= max {
				return fmt.Errorf("postgres: store offline for %q: %d waiting: %w", user, n, storage.ErrQuota)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO offline_messages (username, stamp, stanza) VALUES ($1, $2, $3)`,
			user, stamp.UnixMicro(), nonNil(stanza)); err != nil {
			return fmt.Errorf("postgres: store offline for %q: %w", user, err)
		}
		return nil
	})
}

// OfflineMessages implements storage.Offline, in the order of storing.
func (db *DB) OfflineMessages(ctx context.Context, user string) ([]storage.OfflineMessage, error) {
	var msgs []storage.OfflineMessage
	err := queryRows(ctx, db.pool, `SELECT id, stamp, stanza FROM offline_messages WHERE username = $1 ORDER BY id`,
		[]any{user}, func(s scanner) error {
			var m storage.OfflineMessage
			var stamp int64
			if err := s.Scan(&m.ID, &stamp, &m.Stanza); err != nil {
				return err
			}
			m.Stamp = time.UnixMicro(stamp).UTC()
			msgs = append(msgs, m)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("postgres: offline messages of %q: %w", user, err)
	}
	return msgs, nil
}

// DeleteOffline implements storage.Offline. Ids that are unknown or
// belong to another user are ignored.
func (db *DB) DeleteOffline(ctx context.Context, user string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := db.exec(ctx, `DELETE FROM offline_messages WHERE username = $1 AND id = ANY($2)`, user, ids); err != nil {
		return fmt.Errorf("postgres: delete offline of %q: %w", user, err)
	}
	return nil
}

// CountOffline implements storage.Offline.
func (db *DB) CountOffline(ctx context.Context, user string) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM offline_messages WHERE username = $1`, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count offline of %q: %w", user, err)
	}
	return n, nil
}
