package sqlite

import (
	"context"
	"fmt"

	"minimix/internal/storage"
)

// RecentRoomMessages implements storage.RoomArchive: one read
// transaction, one index walk per room.
func (db *DB) RecentRoomMessages(ctx context.Context, rooms []string, n int) (map[string][]storage.RoomMessage, error) {
	if err := db.archive.SyncRooms(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]storage.RoomMessage, len(rooms))
	err := db.read(ctx, "recent room messages", func(tx rtx) error {
		for _, room := range rooms {
			err := queryRows(ctx, tx, `SELECT seq, id, stamp, from_nick, origin_stanza_id FROM room_messages
				WHERE room = ? ORDER BY seq DESC LIMIT ?`, []any{room, n}, func(s scanner) error {
				r := storage.RoomMessage{Room: room}
				var stamp int64
				if err := s.Scan(&r.Seq, &r.ID, &stamp, &r.FromNick, &r.OriginStanzaID); err != nil {
					return err
				}
				r.Stamp = fromMicros(stamp)
				out[room] = append(out[room], r)
				return nil
			})
			if err != nil {
				return fmt.Errorf("room %q: %w", room, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent room messages: %w", err)
	}
	return out, nil
}
