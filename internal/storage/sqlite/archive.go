package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// AppendArchive implements storage.Archive: QueueArchive after checking
// that rec.ID is new for its owner, among queued and written records.
func (db *DB) AppendArchive(ctx context.Context, rec storage.ArchiveRecord) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	key := sqlarchive.PendingKey(rec.Owner, rec.ID)
	if db.archive.IsPending(key) {
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, storage.ErrExists)
	}
	var one int
	err := db.sql.QueryRowContext(ctx, `SELECT 1 FROM archive_messages WHERE owner = ? AND id = ?`, rec.Owner, rec.ID).Scan(&one)
	switch {
	case err == nil:
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, storage.ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, err)
	}
	if _, err := db.archive.Enqueue(ctx, sqlarchive.Op{Kind: sqlarchive.KindArchive, Rec: rec, Checked: key}); err != nil {
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, err)
	}
	return nil
}

// QueueArchive implements storage.Archive.
func (db *DB) QueueArchive(ctx context.Context, rec storage.ArchiveRecord) (int64, error) {
	if err := checkRecord(ctx, rec); err != nil {
		return 0, err
	}
	seq, err := db.archive.Enqueue(ctx, sqlarchive.Op{Kind: sqlarchive.KindArchive, Rec: rec})
	if err != nil {
		return 0, fmt.Errorf("sqlite: queue archive %q of %q: %w", rec.ID, rec.Owner, err)
	}
	return seq, nil
}

func checkRecord(ctx context.Context, rec storage.ArchiveRecord) error {
	if rec.Owner == "" || rec.ID == "" {
		return fmt.Errorf("sqlite: append archive: owner %q and id %q must not be empty", rec.Owner, rec.ID)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, err)
	}
	return nil
}

// HasOriginStanzaID implements storage.Archive. An empty id never matches:
// records without an origin stanza-id store the empty string.
func (db *DB) HasOriginStanzaID(ctx context.Context, owner, with, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	if err := db.SyncArchive(ctx); err != nil {
		return false, err
	}
	var one int
	// The redundant origin_stanza_id <> '' lets SQLite use the partial
	// index archive_messages_origin.
	err := db.sql.QueryRowContext(ctx, `
		SELECT 1 FROM archive_messages
		WHERE owner = ? AND with_jid = ? AND origin_stanza_id = ? AND origin_stanza_id <> ''
		LIMIT 1`, owner, with, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: origin stanza-id %q from %q in archive of %q: %w", id, with, owner, err)
	}
	return true, nil
}

// LastArchived implements storage.Archive: the last page of one record
// with with, shared records included.
func (db *DB) LastArchived(ctx context.Context, owner, with string) (storage.ArchiveRecord, error) {
	page, err := db.QueryArchive(ctx, owner, storage.ArchiveQuery{With: with, Before: true, Max: 1})
	if err == nil && len(page.Records) == 0 {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.ArchiveRecord{}, fmt.Errorf("sqlite: last archived with %q in archive of %q: %w", with, owner, err)
	}
	return page.Records[0], nil
}

// DeleteArchive implements storage.Archive. Preferences are kept: they
// are settings, not records.
func (db *DB) DeleteArchive(ctx context.Context, owner string) error {
	if err := db.SyncArchive(ctx); err != nil {
		return err
	}
	return db.write(ctx, "delete archive", func(tx *sql.Tx) error {
		for _, table := range []string{"archive_counts", "archive_messages"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE owner = ?`, owner); err != nil {
				return fmt.Errorf("sqlite: delete archive of %q: %s: %w", owner, table, err)
			}
		}
		if err := deleteMemberships(ctx, tx, `account = ?`, owner); err != nil {
			return fmt.Errorf("sqlite: delete archive of %q: %w", owner, err)
		}
		return nil
	})
}
