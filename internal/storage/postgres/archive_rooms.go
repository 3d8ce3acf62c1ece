package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// QueueRoomMessage implements storage.RoomArchive.
func (db *DB) QueueRoomMessage(ctx context.Context, rec storage.RoomMessage) (int64, error) {
	if rec.Room == "" || rec.ID == "" {
		return 0, fmt.Errorf("postgres: queue room message: room %q and id %q must not be empty", rec.Room, rec.ID)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("postgres: queue room message %q of %q: %w", rec.ID, rec.Room, err)
	}
	seq, err := db.archive.Enqueue(ctx, sqlarchive.Op{Kind: sqlarchive.KindRoom, Room: rec})
	if err != nil {
		return 0, fmt.Errorf("postgres: queue room message %q of %q: %w", rec.ID, rec.Room, err)
	}
	return seq, nil
}

// OpenMembership implements storage.RoomArchive.
func (db *DB) OpenMembership(ctx context.Context, account, room string) error {
	return db.membership(ctx, sqlarchive.KindOpen, account, room)
}

// CloseMembership implements storage.RoomArchive.
func (db *DB) CloseMembership(ctx context.Context, account, room string) error {
	return db.membership(ctx, sqlarchive.KindClose, account, room)
}

func (db *DB) membership(ctx context.Context, kind sqlarchive.Kind, account, room string) error {
	if account == "" || room == "" {
		return fmt.Errorf("postgres: membership: account %q and room %q must not be empty", account, room)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: membership of %q in %q: %w", account, room, err)
	}
	if _, err := db.archive.Enqueue(ctx, sqlarchive.Op{Kind: kind, Account: account, RoomJID: room}); err != nil {
		return fmt.Errorf("postgres: membership of %q in %q: %w", account, room, err)
	}
	return nil
}

// OpenMemberships implements storage.RoomArchive.
func (db *DB) OpenMemberships(ctx context.Context) ([]storage.Membership, error) {
	if err := db.SyncArchive(ctx); err != nil {
		return nil, err
	}
	var out []storage.Membership
	err := queryRows(ctx, db.pool, `SELECT account, room FROM room_memberships
		WHERE to_seq IS NULL ORDER BY account, room`, nil, func(s scanner) error {
		var m storage.Membership
		err := s.Scan(&m.Account, &m.Room)
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: open memberships: %w", err)
	}
	return out, nil
}

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

// interval is a membership's range of positions, exclusive at both ends;
// to is 0 while it is open.
type interval struct{ from, to int64 }

// deleteMemberships deletes the memberships matching where (a condition
// on room_memberships with args) and then the shared records of their
// rooms that no remaining membership covers.
func deleteMemberships(ctx context.Context, tx pgx.Tx, where string, args ...any) error {
	var rooms []string
	err := queryRows(ctx, tx, `DELETE FROM room_memberships WHERE `+where+` RETURNING room`, args, func(s scanner) error {
		var r string
		err := s.Scan(&r)
		rooms = append(rooms, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete memberships: %w", err)
	}
	slices.Sort(rooms)
	for _, room := range slices.Compact(rooms) {
		if err := sweepRoom(ctx, tx, room); err != nil {
			return err
		}
	}
	return nil
}

// sweepRoom deletes room's shared records outside every membership
// interval, one range delete per gap between the intervals.
func sweepRoom(ctx context.Context, tx pgx.Tx, room string) error {
	var ivs []interval
	err := queryRows(ctx, tx, `SELECT from_seq, coalesce(to_seq, 0) FROM room_memberships WHERE room = $1`,
		[]any{room}, func(s scanner) error {
			var iv interval
			err := s.Scan(&iv.from, &iv.to)
			ivs = append(ivs, iv)
			return err
		})
	if err != nil {
		return fmt.Errorf("sweep room %q: %w", room, err)
	}
	for _, g := range gaps(ivs) {
		q, args := `DELETE FROM room_messages WHERE room = $1 AND seq > $2`, []any{room, g.from}
		if g.to != 0 {
			q += ` AND seq < $3`
			args = append(args, g.to)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("sweep room %q: %w", room, err)
		}
	}
	return nil
}

// gaps returns the ranges of positions that no interval of ivs covers,
// in the same exclusive form (a gap {a, b} is a < seq < b, b 0 for no
// end).
func gaps(ivs []interval) []interval {
	slices.SortFunc(ivs, func(a, b interval) int { return cmp.Compare(a.from, b.from) })
	var out []interval
	lo := int64(-1) // the gap starts after lo
	for _, iv := range ivs {
		if iv.from+1 > lo+1 {
			out = append(out, interval{from: lo, to: iv.from + 1})
		}
		if iv.to == 0 {
			return out
		}
		lo = max(lo, iv.to-1)
	}
	return append(out, interval{from: lo, to: 0})
}

// ExpireArchive implements storage.Archive: one statement per archive
// and per room, each a range delete over its (key, stamp) index, so that
// retention never holds locks for long.
func (db *DB) ExpireArchive(ctx context.Context, before time.Time) (int, error) {
	if err := db.SyncArchive(ctx); err != nil {
		return 0, err
	}
	cutoff := before.UnixMicro()
	total := 0
	for _, part := range []struct{ table, key, list string }{
		{"archive_messages", "owner", `SELECT owner FROM archive_counts`},
		{"room_messages", "room", `SELECT DISTINCT room FROM room_memberships`},
	} {
		var keys []string
		err := queryRows(ctx, db.pool, part.list, nil, func(s scanner) error {
			var k string
			err := s.Scan(&k)
			keys = append(keys, k)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("postgres: expire archive: %w", err)
		}
		for _, k := range keys {
			tag, err := db.exec(ctx, `DELETE FROM `+part.table+` WHERE `+part.key+` = $1 AND stamp < $2`, k, cutoff)
			if err != nil {
				return total, fmt.Errorf("postgres: expire archive of %q: %w", k, err)
			}
			total += int(tag.RowsAffected())
		}
	}
	_, err := db.exec(ctx, `DELETE FROM room_memberships rm WHERE to_seq IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM room_messages m WHERE m.room = rm.room AND m.seq > rm.from_seq AND m.seq < rm.to_seq)`)
	if err != nil {
		return total, fmt.Errorf("postgres: expire memberships: %w", err)
	}
	return total, nil
}
