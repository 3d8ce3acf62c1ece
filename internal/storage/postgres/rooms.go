package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

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

const affiliationUpsert = `
	INSERT INTO muc_affiliations (room, jid, affiliation, nick, reason) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation,
		nick = excluded.nick, reason = excluded.reason`

// PutRoom implements storage.Rooms. The room's upsert locks its row, so
// concurrent puts of one room replace its affiliations one after the
// other.
func (db *DB) PutRoom(ctx context.Context, rec storage.RoomRecord) error {
	if rec.JID == "" {
		return errors.New("postgres: put room: empty JID")
	}
	return db.tx(ctx, "put room", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO muc_rooms (jid, domain, config, subject, subject_nick) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (jid) DO UPDATE SET config = excluded.config,
				subject = excluded.subject, subject_nick = excluded.subject_nick`,
			rec.JID, roomDomain(rec.JID), nonNil(rec.Config), rec.Subject, rec.SubjectNick); err != nil {
			return fmt.Errorf("postgres: put room %q: %w", rec.JID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM muc_affiliations WHERE room = $1`, rec.JID); err != nil {
			return fmt.Errorf("postgres: put room %q: %w", rec.JID, err)
		}
		for _, a := range rec.Affiliations {
			if a.Affiliation == "none" || a.Affiliation == "" {
				continue
			}
			if _, err := tx.Exec(ctx, affiliationUpsert, rec.JID, a.JID, a.Affiliation, a.Nick, a.Reason); err != nil {
				return fmt.Errorf("postgres: put room %q: affiliation of %q: %w", rec.JID, a.JID, err)
			}
		}
		return nil
	})
}

// GetRoom implements storage.Rooms.
func (db *DB) GetRoom(ctx context.Context, room string) (storage.RoomRecord, error) {
	var rec storage.RoomRecord
	err := db.read(ctx, "get room", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT jid, config, subject, subject_nick FROM muc_rooms WHERE jid = $1`, room).
			Scan(&rec.JID, &rec.Config, &rec.Subject, &rec.SubjectNick)
		if noRows(err) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		affs, err := roomAffiliations(ctx, tx, `WHERE room = $1`, room)
		rec.Affiliations = affs[room]
		return err
	})
	if err != nil {
		return storage.RoomRecord{}, fmt.Errorf("postgres: get room %q: %w", room, err)
	}
	return rec, nil
}

// ListRooms implements storage.Rooms.
func (db *DB) ListRooms(ctx context.Context, domain string) ([]storage.RoomRecord, error) {
	var out []storage.RoomRecord
	err := db.read(ctx, "list rooms", func(tx pgx.Tx) error {
		err := queryRows(ctx, tx, `SELECT jid, config, subject, subject_nick FROM muc_rooms WHERE domain = $1 ORDER BY jid`,
			[]any{domain}, func(s scanner) error {
				var rec storage.RoomRecord
				err := s.Scan(&rec.JID, &rec.Config, &rec.Subject, &rec.SubjectNick)
				out = append(out, rec)
				return err
			})
		if err != nil {
			return err
		}
		affs, err := roomAffiliations(ctx, tx, `WHERE room IN (SELECT jid FROM muc_rooms WHERE domain = $1)`, domain)
		for i := range out {
			out[i].Affiliations = affs[out[i].JID]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list rooms of %q: %w", domain, err)
	}
	return out, nil
}

// roomAffiliations reads the affiliations selected by where, grouped by
// room and in JID order within each.
func roomAffiliations(ctx context.Context, tx querier, where string, args ...any) (map[string][]storage.RoomAffiliation, error) {
	out := make(map[string][]storage.RoomAffiliation)
	err := queryRows(ctx, tx, `SELECT room, jid, affiliation, nick, reason FROM muc_affiliations `+where+` ORDER BY room, jid`,
		args, func(s scanner) error {
			var room string
			var a storage.RoomAffiliation
			if err := s.Scan(&room, &a.JID, &a.Affiliation, &a.Nick, &a.Reason); err != nil {
				return err
			}
			out[room] = append(out[room], a)
			return nil
		})
	return out, err
}

// SetRoomAffiliation implements storage.Rooms.
func (db *DB) SetRoomAffiliation(ctx context.Context, room string, a storage.RoomAffiliation) error {
	return db.tx(ctx, "set room affiliation", func(tx pgx.Tx) error {
		// FOR SHARE keeps a concurrent DeleteRoom from removing the room
		// between the check and the write.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM muc_rooms WHERE jid = $1 FOR SHARE`, room).Scan(&one)
		if noRows(err) {
			return fmt.Errorf("postgres: set affiliation in %q: %w", room, storage.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: set affiliation in %q: %w", room, err)
		}
		if a.Affiliation == "none" || a.Affiliation == "" {
			_, err = tx.Exec(ctx, `DELETE FROM muc_affiliations WHERE room = $1 AND jid = $2`, room, a.JID)
		} else {
			_, err = tx.Exec(ctx, affiliationUpsert, room, a.JID, a.Affiliation, a.Nick, a.Reason)
		}
		if err != nil {
			return fmt.Errorf("postgres: set affiliation of %q in %q: %w", a.JID, room, err)
		}
		return nil
	})
}

// DeleteRoom implements storage.Rooms; its affiliations go by the foreign
// key's cascade.
func (db *DB) DeleteRoom(ctx context.Context, room string) error {
	tag, err := db.exec(ctx, `DELETE FROM muc_rooms WHERE jid = $1`, room)
	if err != nil {
		return fmt.Errorf("postgres: delete room %q: %w", room, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete room %q: %w", room, storage.ErrNotFound)
	}
	return nil
}
