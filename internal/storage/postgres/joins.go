package postgres

import (
	"context"
	"fmt"
	"time"

	"minimix/internal/storage"
)

// PutJoin implements storage.Joins.
func (db *DB) PutJoin(ctx context.Context, rec storage.JoinRecord) error {
	if _, err := db.exec(ctx, `
		INSERT INTO account_joins (account, room, nick, password, bookmark, last_stanza_id, last_stamp, last_active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (account, room) DO UPDATE SET
			nick = excluded.nick, password = excluded.password, bookmark = excluded.bookmark,
			last_stanza_id = excluded.last_stanza_id, last_stamp = excluded.last_stamp,
			last_active = excluded.last_active`,
		rec.Account, rec.Room, rec.Nick, rec.Password, rec.Bookmark, rec.LastStanzaID,
		micros(rec.LastStamp), micros(rec.LastActive)); err != nil {
		return fmt.Errorf("postgres: put join %s in %s: %w", rec.Account, rec.Room, err)
	}
	return nil
}

// DeleteJoin implements storage.Joins.
func (db *DB) DeleteJoin(ctx context.Context, account, room string) error {
	if _, err := db.exec(ctx, `DELETE FROM account_joins WHERE account = $1 AND room = $2`, account, room); err != nil {
		return fmt.Errorf("postgres: delete join %s in %s: %w", account, room, err)
	}
	return nil
}

// ListJoins implements storage.Joins.
func (db *DB) ListJoins(ctx context.Context) ([]storage.JoinRecord, error) {
	var out []storage.JoinRecord
	err := queryRows(ctx, db.pool, `
		SELECT account, room, nick, password, bookmark, last_stanza_id, last_stamp, last_active
		FROM account_joins ORDER BY account, room`, nil, func(s scanner) error {
		var r storage.JoinRecord
		var stamp, active int64
		if err := s.Scan(&r.Account, &r.Room, &r.Nick, &r.Password, &r.Bookmark, &r.LastStanzaID, &stamp, &active); err != nil {
			return err
		}
		r.LastStamp = fromMicros(stamp)
		r.LastActive = fromMicros(active)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list joins: %w", err)
	}
	return out, nil
}

// micros is how times are stored: microseconds since the epoch, 0 for
// the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
