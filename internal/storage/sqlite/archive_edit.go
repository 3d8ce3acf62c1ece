package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"minimix/internal/storage"
)

// maxEdited bounds the records one EditArchive rewrites: a selection by
// origin id matches one message, a few at most when a client reused ids.
const maxEdited = 16

// EditArchive implements storage.Archive.
func (db *DB) EditArchive(ctx context.Context, sel storage.ArchiveEdit, edit func(rec *storage.ArchiveRecord) []byte) (int, error) {
	var query, update string
	var args []any
	switch {
	case sel.Room != "" && sel.ID != "":
		query = `SELECT seq, id, stamp, room, from_nick, 1, origin_stanza_id, stanza FROM room_messages WHERE room = ? AND id = ?`
		args = []any{sel.Room, sel.ID}
	case sel.Room != "" && sel.OriginStanzaID != "":
		query = `SELECT seq, id, stamp, room, from_nick, 1, origin_stanza_id, stanza FROM room_messages
			WHERE room = ? AND origin_stanza_id = ? AND origin_stanza_id <> '' LIMIT ` + fmt.Sprint(maxEdited)
		args = []any{sel.Room, sel.OriginStanzaID}
	case sel.Owner != "" && sel.ID != "":
		query = `SELECT seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza FROM archive_messages WHERE owner = ? AND id = ?`
		args = []any{sel.Owner, sel.ID}
	case sel.Owner != "" && sel.OriginStanzaID != "":
		query = `SELECT seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza FROM archive_messages
			WHERE owner = ? AND with_jid = ? AND origin_stanza_id = ? AND origin_stanza_id <> '' LIMIT ` + fmt.Sprint(maxEdited)
		args = []any{sel.Owner, sel.With, sel.OriginStanzaID}
	default:
		return 0, errors.New("sqlite: edit archive: nothing selected")
	}
	table := "archive_messages"
	owner := sel.Owner
	if sel.Room != "" {
		table, owner = "room_messages", sel.Room
	}
	update = `UPDATE ` + table + ` SET stanza = ? WHERE seq = ?`
	if err := db.archive.SyncOwner(ctx, owner, sel.Room != ""); err != nil {
		return 0, fmt.Errorf("sqlite: edit archive of %q: %w", owner, err)
	}
	n := 0
	err := db.write(ctx, "edit archive", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		type change struct {
			seq    int64
			stanza []byte
		}
		var changes []change
		for rows.Next() {
			var (
				rec       storage.ArchiveRecord
				seq       int64
				stamp     int64
				groupchat int
			)
			if err := rows.Scan(&seq, &rec.ID, &stamp, &rec.With, &rec.FromNick, &groupchat, &rec.OriginStanzaID, &rec.Stanza); err != nil {
				rows.Close()
				return err
			}
			rec.Owner = owner
			rec.Stamp = time.UnixMicro(stamp).UTC()
			rec.Groupchat = groupchat != 0
			rec.Shared = sel.Room != ""
			if st := edit(&rec); st != nil {
				changes = append(changes, change{seq, st})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, update, c.stanza, c.seq); err != nil {
				return err
			}
		}
		n = len(changes)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: edit archive of %q: %w", owner, err)
	}
	return n, nil
}
