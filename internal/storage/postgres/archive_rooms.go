package postgres

import (
	"context"
	"fmt"

	"minimix/internal/storage"
)

// RecentRoomMessages implements storage.RoomArchive: one query, a walk
// of each room's (room, seq) index.
func (db *DB) RecentRoomMessages(ctx context.Context, rooms []string, n int) (map[string][]storage.RoomMessage, error) {
	if err := db.archive.SyncRooms(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]storage.RoomMessage, len(rooms))
	if len(rooms) == 0 {
		return out, nil
	}
	err := queryRows(ctx, db.pool, `
		SELECT r.room, m.seq, m.id, m.stamp, m.from_nick, m.origin_stanza_id
		FROM unnest($1::text[]) AS r(room) CROSS JOIN LATERAL (
			SELECT seq, id, stamp, from_nick, origin_stanza_id FROM room_messages
			WHERE room = r.room ORDER BY seq DESC LIMIT $2
		) m ORDER BY r.room, m.seq DESC`, []any{rooms, n}, func(s scanner) error {
		var r storage.RoomMessage
		var stamp int64
		if err := s.Scan(&r.Room, &r.Seq, &r.ID, &stamp, &r.FromNick, &r.OriginStanzaID); err != nil {
			return err
		}
		r.Stamp = fromMicros(stamp)
		out[r.Room] = append(out[r.Room], r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: recent room messages: %w", err)
	}
	return out, nil
}
