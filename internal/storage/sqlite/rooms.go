package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"minimix/internal/storage"
)

// roomDomain is the domain part of a bare room JID, kept in its own
// column so that ListRooms is an index range.
func roomDomain(room string) string {
	if i := strings.IndexByte(room, '@'); i >= 0 {
		return room[i+1:]
	}
	return room
}

// PutRoom implements storage.Rooms.
func (db *DB) PutRoom(ctx context.Context, rec storage.RoomRecord) error {
	if rec.JID == "" {
		return errors.New("sqlite: put room: empty JID")
	}
	return db.write(ctx, "put room", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO muc_rooms (jid, domain, config, subject, subject_nick) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (jid) DO UPDATE SET config = excluded.config,
				subject = excluded.subject, subject_nick = excluded.subject_nick`,
			rec.JID, roomDomain(rec.JID), nonNil(rec.Config), rec.Subject, rec.SubjectNick); err != nil {
			return fmt.Errorf("sqlite: put room %q: %w", rec.JID, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM muc_affiliations WHERE room = ?`, rec.JID); err != nil {
			return fmt.Errorf("sqlite: put room %q: %w", rec.JID, err)
		}
		for _, a := range rec.Affiliations {
			if a.Affiliation == "none" || a.Affiliation == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO muc_affiliations (room, jid, affiliation, nick, reason) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation,
					nick = excluded.nick, reason = excluded.reason`,
				rec.JID, a.JID, a.Affiliation, a.Nick, a.Reason); err != nil {
				return fmt.Errorf("sqlite: put room %q: affiliation of %q: %w", rec.JID, a.JID, err)
			}
		}
		return nil
	})
}

// GetRoom implements storage.Rooms.
func (db *DB) GetRoom(ctx context.Context, room string) (storage.RoomRecord, error) {
	var rec storage.RoomRecord
	err := db.read(ctx, "get room", func(tx rtx) error {
		err := tx.QueryRowContext(ctx,
			`SELECT jid, config, subject, subject_nick FROM muc_rooms WHERE jid = ?`, room).
			Scan(&rec.JID, &rec.Config, &rec.Subject, &rec.SubjectNick)
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		affs, err := roomAffiliations(ctx, tx, `WHERE room = ?`, room)
		if err != nil {
			return err
		}
		rec.Affiliations = affs[room]
		return nil
	})
	if err != nil {
		return storage.RoomRecord{}, fmt.Errorf("sqlite: get room %q: %w", room, err)
	}
	return rec, nil
}

// ListRooms implements storage.Rooms.
func (db *DB) ListRooms(ctx context.Context, domain string) ([]storage.RoomRecord, error) {
	var out []storage.RoomRecord
	err := db.read(ctx, "list rooms", func(tx rtx) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT jid, config, subject, subject_nick FROM muc_rooms WHERE domain = ? ORDER BY jid`, domain)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rec storage.RoomRecord
			if err := rows.Scan(&rec.JID, &rec.Config, &rec.Subject, &rec.SubjectNick); err != nil {
				return err
			}
			out = append(out, rec)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		affs, err := roomAffiliations(ctx, tx,
			`WHERE room IN (SELECT jid FROM muc_rooms WHERE domain = ?)`, domain)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Affiliations = affs[out[i].JID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list rooms of %q: %w", domain, err)
	}
	return out, nil
}

// roomAffiliations reads the affiliations selected by where, grouped by
// room and in JID order within each.
func roomAffiliations(ctx context.Context, tx querier, where string, args ...any) (map[string][]storage.RoomAffiliation, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT room, jid, affiliation, nick, reason FROM muc_affiliations `+where+` ORDER BY room, jid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string][]storage.RoomAffiliation)
	for rows.Next() {
		var room string
		var a storage.RoomAffiliation
		if err := rows.Scan(&room, &a.JID, &a.Affiliation, &a.Nick, &a.Reason); err != nil {
			return nil, err
		}
		out[room] = append(out[room], a)
	}
	return out, rows.Err()
}

// SetRoomAffiliation implements storage.Rooms.
func (db *DB) SetRoomAffiliation(ctx context.Context, room string, a storage.RoomAffiliation) error {
	return db.write(ctx, "set room affiliation", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM muc_rooms WHERE jid = ?`, room).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: set affiliation in %q: %w", room, err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: set affiliation in %q: %w", room, storage.ErrNotFound)
		}
		var err error
		if a.Affiliation == "none" || a.Affiliation == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM muc_affiliations WHERE room = ? AND jid = ?`, room, a.JID)
		} else {
			_, err = tx.ExecContext(ctx, `
				INSERT INTO muc_affiliations (room, jid, affiliation, nick, reason) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation,
					nick = excluded.nick, reason = excluded.reason`,
				room, a.JID, a.Affiliation, a.Nick, a.Reason)
		}
		if err != nil {
			return fmt.Errorf("sqlite: set affiliation of %q in %q: %w", a.JID, room, err)
		}
		return nil
	})
}

// DeleteRoom implements storage.Rooms.
func (db *DB) DeleteRoom(ctx context.Context, room string) error {
	return db.write(ctx, "delete room", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM muc_affiliations WHERE room = ?`, room); err != nil {
			return fmt.Errorf("sqlite: delete room %q: %w", room, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM muc_rooms WHERE jid = ?`, room)
		if err != nil {
			return fmt.Errorf("sqlite: delete room %q: %w", room, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: delete room %q: %w", room, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: delete room %q: %w", room, storage.ErrNotFound)
		}
		return nil
	})
}
