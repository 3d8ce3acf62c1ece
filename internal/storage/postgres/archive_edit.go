package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// maxEdited bounds the records one EditArchive rewrites: a selection by
// origin id matches one message, a few at most when a client reused ids.
const maxEdited = 16

// EditArchive implements storage.Archive. The rows are locked (FOR
// UPDATE) so that two nodes editing one record apply both edits.
func (db *DB) EditArchive(ctx context.Context, sel storage.ArchiveEdit, edit func(rec *storage.ArchiveRecord) []byte) (int, error) {
	var query string
	var args []any
	switch {
	case sel.Room != "" && sel.ID != "":
		query = `SELECT seq, id, stamp, room, from_nick, true, origin_stanza_id, stanza FROM room_messages
			WHERE room = $1 AND id = $2 FOR UPDATE`
		args = []any{sel.Room, sel.ID}
	case sel.Room != "" && sel.OriginStanzaID != "":
		query = fmt.Sprintf(`SELECT seq, id, stamp, room, from_nick, true, origin_stanza_id, stanza FROM room_messages
			WHERE room = $1 AND origin_stanza_id = $2 AND origin_stanza_id <> '' LIMIT %d FOR UPDATE`, maxEdited)
		args = []any{sel.Room, sel.OriginStanzaID}
	case sel.Owner != "" && sel.ID != "":
		query = `SELECT seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza FROM archive_messages
			WHERE owner = $1 AND id = $2 FOR UPDATE`
		args = []any{sel.Owner, sel.ID}
	case sel.Owner != "" && sel.OriginStanzaID != "":
		query = fmt.Sprintf(`SELECT seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza FROM archive_messages
			WHERE owner = $1 AND with_jid = $2 AND origin_stanza_id = $3 AND origin_stanza_id <> '' LIMIT %d FOR UPDATE`, maxEdited)
		args = []any{sel.Owner, sel.With, sel.OriginStanzaID}
	default:
		return 0, errors.New("postgres: edit archive: nothing selected")
	}
	table, key, owner := "archive_messages", "owner", sel.Owner
	if sel.Room != "" {
		table, key, owner = "room_messages", "room", sel.Room
	}
	if err := db.archive.SyncOwner(ctx, owner, sel.Room != ""); err != nil {
		return 0, fmt.Errorf("postgres: edit archive of %q: %w", owner, err)
	}
	n := 0
	err := db.tx(ctx, "edit archive", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, args...)
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
				rec   storage.ArchiveRecord
				seq   int64
				stamp int64
			)
			if err := rows.Scan(&seq, &rec.ID, &stamp, &rec.With, &rec.FromNick, &rec.Groupchat, &rec.OriginStanzaID, &rec.Stanza); err != nil {
				rows.Close()
				return err
			}
			rec.Owner = owner
			rec.Stamp = time.UnixMicro(stamp).UTC()
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
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET stanza = $1 WHERE `+key+` = $2 AND seq = $3`, c.stanza, owner, c.seq); err != nil {
				return err
			}
		}
		n = len(changes)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: edit archive of %q: %w", owner, err)
	}
	return n, nil
}
