package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// QueueRoomMessage implements storage.RoomArchive.
func (db *DB) QueueRoomMessage(ctx context.Context, rec storage.RoomMessage) (int64, error) {
	if rec.Room == "" || rec.ID == "" {
		return 0, fmt.Errorf("sqlite: queue room message: room %q and id %q must not be empty", rec.Room, rec.ID)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: queue room message %q of %q: %w", rec.ID, rec.Room, err)
	}
	seq, err := db.archive.Enqueue(ctx, sqlarchive.Op{Kind: sqlarchive.KindRoom, Room: rec})
	if err != nil {
		return 0, fmt.Errorf("sqlite: queue room message %q of %q: %w", rec.ID, rec.Room, err)
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
		return fmt.Errorf("sqlite: membership: account %q and room %q must not be empty", account, room)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: membership of %q in %q: %w", account, room, err)
	}
	if _, err := db.archive.Enqueue(ctx, sqlarchive.Op{Kind: kind, Account: account, RoomJID: room}); err != nil {
		return fmt.Errorf("sqlite: membership of %q in %q: %w", account, room, err)
	}
	return nil
}

// OpenMemberships implements storage.RoomArchive.
func (db *DB) OpenMemberships(ctx context.Context) ([]storage.Membership, error) {
	if err := db.SyncArchive(ctx); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT account, room FROM room_memberships
		WHERE to_seq IS NULL ORDER BY account, room`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open memberships: %w", err)
	}
	defer rows.Close()
	var out []storage.Membership
	for rows.Next() {
		var m storage.Membership
		if err := rows.Scan(&m.Account, &m.Room); err != nil {
			return nil, fmt.Errorf("sqlite: open memberships: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: open memberships: %w", err)
	}
	return out, nil
}

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

// interval is a membership's range of positions, exclusive at both ends;
// to is 0 while it is open.
type interval struct{ from, to int64 }

// deleteMemberships deletes the memberships matching where (a condition
// on room_memberships with args) and then the shared records of their
// rooms that no remaining membership covers: what no account can see any
// more is not kept.
func deleteMemberships(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT room FROM room_memberships WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	var rooms []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return fmt.Errorf("memberships: %w", err)
		}
		rooms = append(rooms, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM room_memberships WHERE `+where, args...); err != nil {
		return fmt.Errorf("delete memberships: %w", err)
	}
	for _, room := range rooms {
		if err := sweepRoom(ctx, tx, room); err != nil {
			return err
		}
	}
	return nil
}

// sweepRoom deletes room's shared records outside every membership
// interval, one range delete per gap between the intervals.
func sweepRoom(ctx context.Context, tx *sql.Tx, room string) error {
	rows, err := tx.QueryContext(ctx, `SELECT from_seq, coalesce(to_seq, 0) FROM room_memberships WHERE room = ?`, room)
	if err != nil {
		return fmt.Errorf("sweep room %q: %w", room, err)
	}
	var ivs []interval
	for rows.Next() {
		var iv interval
		if err := rows.Scan(&iv.from, &iv.to); err != nil {
			rows.Close()
			return fmt.Errorf("sweep room %q: %w", room, err)
		}
		ivs = append(ivs, iv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sweep room %q: %w", room, err)
	}
	for _, g := range gaps(ivs) {
		q, args := `DELETE FROM room_messages WHERE room = ? AND seq > ?`, []any{room, g.from}
		if g.to != 0 {
			q += ` AND seq < ?`
			args = append(args, g.to)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("sweep room %q: %w", room, err)
		}
	}
	return nil
}

// gaps returns the ranges of positions that no interval of ivs covers,
// in the same exclusive form (a gap {a, b} is a < seq < b, b 0 for no
// end). Interval {f, t} covers f < seq < t, so a gap runs from t-1 to the
// next f+1.
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

// ExpireArchive implements storage.Archive: one transaction per archive
// and per room, each a range delete over its (key, stamp) index, so that
// retention never holds the write lock for long.
func (db *DB) ExpireArchive(ctx context.Context, before time.Time) (int, error) {
	if err := db.SyncArchive(ctx); err != nil { // what is queued is older than now
		return 0, err
	}
	cutoff := before.UnixMicro()
	total := 0
	for _, part := range []struct{ table, key, list string }{
		{"archive_messages", "owner", `SELECT owner FROM archive_counts`},
		{"room_messages", "room", `SELECT DISTINCT room FROM room_memberships`},
	} {
		var keys []string
		err := db.read(ctx, "expire archive", func(tx rtx) error {
			return queryRows(ctx, tx, part.list, nil, func(s scanner) error {
				var k string
				keys = append(keys, k)
				return s.Scan(&keys[len(keys)-1])
			})
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: expire archive: %w", err)
		}
		for _, k := range keys {
			res, err := db.exec(ctx, `DELETE FROM `+part.table+` WHERE `+part.key+` = ? AND stamp < ?`, k, cutoff)
			if err != nil {
				return total, fmt.Errorf("sqlite: expire archive of %q: %w", k, err)
			}
			n, _ := res.RowsAffected()
			total += int(n)
		}
	}
	_, err := db.exec(ctx, `DELETE FROM room_memberships WHERE to_seq IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM room_messages m WHERE m.room = room_memberships.room
			AND m.seq > room_memberships.from_seq AND m.seq < room_memberships.to_seq)`)
	if err != nil {
		return total, fmt.Errorf("sqlite: expire memberships: %w", err)
	}
	return total, nil
}
