package sqlarchive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"minimix/internal/storage"
)

// Tx is a read-write transaction.
type Tx interface {
	Querier
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// DB is what the archive's operations need of a backend's database. Its
// Querier methods run outside a transaction.
type DB interface {
	Querier
	// Read runs fn in a read-only transaction: one snapshot.
	Read(ctx context.Context, what string, fn func(Querier) error) error
	// Write runs fn in a read-write transaction and commits it if fn
	// returns nil.
	Write(ctx context.Context, what string, fn func(Tx) error) error
	// Exec runs one statement as a transaction of its own and returns
	// the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// Archive implements the methods of storage.Archive and
// storage.RoomArchive that the SQL backends share, over a backend's
// queue, dialect and database. A backend embeds it.
type Archive struct {
	name string
	q    *Queue
	d    *Dialect
	db   DB

	exists, origin string
}

// New returns the archive of a backend named name (in errors), writing
// through q.
func New(name string, d *Dialect, db DB, q *Queue) *Archive {
	return &Archive{
		name: name, q: q, d: d, db: db,
		exists: d.Fixed(`SELECT 1 FROM archive_messages WHERE owner = $1 AND id = $2`),
		// The redundant origin_stanza_id <> '' matches the partial
		// index archive_messages_origin.
		origin: d.Fixed(`SELECT 1 FROM archive_messages
			WHERE owner = $1 AND with_jid = $2 AND origin_stanza_id = $3 AND origin_stanza_id <> ''
			LIMIT 1`),
	}
}

// AppendArchive implements storage.Archive: QueueArchive after checking
// that rec.ID is new for its owner, among queued and written records.
func (a *Archive) AppendArchive(ctx context.Context, rec storage.ArchiveRecord) error {
	if err := a.checkRecord(ctx, rec); err != nil {
		return err
	}
	key := PendingKey(rec.Owner, rec.ID)
	if a.q.IsPending(key) {
		return fmt.Errorf("%s: append archive %q of %q: %w", a.name, rec.ID, rec.Owner, storage.ErrExists)
	}
	var one int
	err := QueryRow(ctx, a.db, a.exists, []any{rec.Owner, rec.ID}, &one)
	switch {
	case err == nil:
		return fmt.Errorf("%s: append archive %q of %q: %w", a.name, rec.ID, rec.Owner, storage.ErrExists)
	case !errors.Is(err, ErrNoRows):
		return fmt.Errorf("%s: append archive %q of %q: %w", a.name, rec.ID, rec.Owner, err)
	}
	if _, err := a.q.Enqueue(ctx, Op{Kind: KindArchive, Rec: rec, Checked: key}); err != nil {
		return fmt.Errorf("%s: append archive %q of %q: %w", a.name, rec.ID, rec.Owner, err)
	}
	return nil
}

// QueueArchive implements storage.Archive.
func (a *Archive) QueueArchive(ctx context.Context, rec storage.ArchiveRecord) (int64, error) {
	if err := a.checkRecord(ctx, rec); err != nil {
		return 0, err
	}
	seq, err := a.q.Enqueue(ctx, Op{Kind: KindArchive, Rec: rec})
	if err != nil {
		return 0, fmt.Errorf("%s: queue archive %q of %q: %w", a.name, rec.ID, rec.Owner, err)
	}
	return seq, nil
}

func (a *Archive) checkRecord(ctx context.Context, rec storage.ArchiveRecord) error {
	if rec.Owner == "" || rec.ID == "" {
		return fmt.Errorf("%s: append archive: owner %q and id %q must not be empty", a.name, rec.Owner, rec.ID)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: append archive %q of %q: %w", a.name, rec.ID, rec.Owner, err)
	}
	return nil
}

// HasOriginStanzaID implements storage.Archive. An empty id never matches:
// records without an origin stanza-id store the empty string.
func (a *Archive) HasOriginStanzaID(ctx context.Context, owner, with, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	if err := a.q.SyncOwner(ctx, owner, false); err != nil {
		return false, err
	}
	var one int
	err := QueryRow(ctx, a.db, a.origin, []any{owner, with, id}, &one)
	if errors.Is(err, ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: origin stanza-id %q from %q in archive of %q: %w", a.name, id, with, owner, err)
	}
	return true, nil
}

// QueryArchive implements storage.Archive (Query). Every query of one
// call runs in one read transaction, so Count and FirstIndex agree with
// Records even while messages are being archived.
func (a *Archive) QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	if q.Max < 0 {
		return storage.ArchivePage{}, fmt.Errorf("%s: query archive of %q: negative max %d", a.name, owner, q.Max)
	}
	if err := a.q.SyncOwner(ctx, owner, !q.OwnOnly); err != nil {
		return storage.ArchivePage{}, fmt.Errorf("%s: query archive of %q: %w", a.name, owner, err)
	}
	var page storage.ArchivePage
	err := a.db.Read(ctx, "query archive", func(tx Querier) error {
		var err error
		page, err = Query(ctx, a.d, tx, owner, q)
		return err
	})
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("%s: query archive of %q: %w", a.name, owner, err)
	}
	return page, nil
}

// LastArchived implements storage.Archive: the last page of one record
// with with, shared records included.
func (a *Archive) LastArchived(ctx context.Context, owner, with string) (storage.ArchiveRecord, error) {
	page, err := a.QueryArchive(ctx, owner, storage.ArchiveQuery{With: with, Before: true, Max: 1})
	if err == nil && len(page.Records) == 0 {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.ArchiveRecord{}, fmt.Errorf("%s: last archived with %q in archive of %q: %w", a.name, with, owner, err)
	}
	return page.Records[0], nil
}

// DeleteArchive implements storage.Archive. Preferences are kept: they
// are settings, not records.
func (a *Archive) DeleteArchive(ctx context.Context, owner string) error {
	if err := a.q.Sync(ctx); err != nil {
		return err
	}
	return a.db.Write(ctx, "delete archive", func(tx Tx) error {
		for _, table := range []string{"archive_counts", "archive_messages"} {
			if _, err := tx.Exec(ctx, a.d.Fixed(`DELETE FROM `+table+` WHERE owner = $1`), owner); err != nil {
				return fmt.Errorf("%s: delete archive of %q: %s: %w", a.name, owner, table, err)
			}
		}
		if err := DeleteMemberships(ctx, a.d, tx, a.d.Fixed(`account = $1`), owner); err != nil {
			return fmt.Errorf("%s: delete archive of %q: %w", a.name, owner, err)
		}
		return nil
	})
}

// SyncArchive implements storage.RoomArchive: it waits for what this
// process queued.
func (a *Archive) SyncArchive(ctx context.Context) error { return a.q.Sync(ctx) }

// ArchiveWriteFailures counts archive writes that could not be made.
func (a *Archive) ArchiveWriteFailures() uint64 { return a.q.Failures() }

// ArchiveQueue returns how many archive writes are queued or being
// written and not yet committed (the admin page's archive queue).
func (a *Archive) ArchiveQueue() int { return a.q.Len() }

// QueueRoomMessage implements storage.RoomArchive.
func (a *Archive) QueueRoomMessage(ctx context.Context, rec storage.RoomMessage) (int64, error) {
	if rec.Room == "" || rec.ID == "" {
		return 0, fmt.Errorf("%s: queue room message: room %q and id %q must not be empty", a.name, rec.Room, rec.ID)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s: queue room message %q of %q: %w", a.name, rec.ID, rec.Room, err)
	}
	seq, err := a.q.Enqueue(ctx, Op{Kind: KindRoom, Room: rec})
	if err != nil {
		return 0, fmt.Errorf("%s: queue room message %q of %q: %w", a.name, rec.ID, rec.Room, err)
	}
	return seq, nil
}

// OpenMembership implements storage.RoomArchive.
func (a *Archive) OpenMembership(ctx context.Context, account, room string) error {
	return a.membership(ctx, KindOpen, account, room)
}

// CloseMembership implements storage.RoomArchive.
func (a *Archive) CloseMembership(ctx context.Context, account, room string) error {
	return a.membership(ctx, KindClose, account, room)
}

func (a *Archive) membership(ctx context.Context, kind Kind, account, room string) error {
	if account == "" || room == "" {
		return fmt.Errorf("%s: membership: account %q and room %q must not be empty", a.name, account, room)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: membership of %q in %q: %w", a.name, account, room, err)
	}
	if _, err := a.q.Enqueue(ctx, Op{Kind: kind, Account: account, RoomJID: room}); err != nil {
		return fmt.Errorf("%s: membership of %q in %q: %w", a.name, account, room, err)
	}
	return nil
}

// OpenMemberships implements storage.RoomArchive.
func (a *Archive) OpenMemberships(ctx context.Context) ([]storage.Membership, error) {
	if err := a.q.Sync(ctx); err != nil {
		return nil, err
	}
	var out []storage.Membership
	err := a.db.Query(ctx, `SELECT account, room FROM room_memberships
		WHERE to_seq IS NULL ORDER BY account, room`, nil, func(s Scanner) error {
		var m storage.Membership
		err := s.Scan(&m.Account, &m.Room)
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: open memberships: %w", a.name, err)
	}
	return out, nil
}

// interval is a membership's range of positions, exclusive at both ends;
// to is 0 while it is open.
type interval struct{ from, to int64 }

// DeleteMemberships deletes, in tx, the memberships matching where (a
// condition on room_memberships with args, in the dialect's parameters)
// and then the shared records of their rooms that no remaining
// membership covers: what no account can see any more is not kept.
func DeleteMemberships(ctx context.Context, d *Dialect, tx Tx, where string, args ...any) error {
	var rooms []string
	err := tx.Query(ctx, `SELECT DISTINCT room FROM room_memberships WHERE `+where, args, func(s Scanner) error {
		var r string
		err := s.Scan(&r)
		rooms = append(rooms, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM room_memberships WHERE `+where, args...); err != nil {
		return fmt.Errorf("delete memberships: %w", err)
	}
	for _, room := range rooms {
		if err := sweepRoom(ctx, d, tx, room); err != nil {
			return err
		}
	}
	return nil
}

// sweepRoom deletes room's shared records outside every membership
// interval, one range delete per gap between the intervals.
func sweepRoom(ctx context.Context, d *Dialect, tx Tx, room string) error {
	var ivs []interval
	err := tx.Query(ctx, d.Fixed(`SELECT from_seq, coalesce(to_seq, 0) FROM room_memberships WHERE room = $1`),
		[]any{room}, func(s Scanner) error {
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
		if _, err := tx.Exec(ctx, d.Fixed(q), args...); err != nil {
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

// ExpireArchive implements storage.Archive: one statement per archive
// and per room, each a range delete over its (key, stamp) index, so that
// retention never holds the database's locks for long.
func (a *Archive) ExpireArchive(ctx context.Context, before time.Time) (int, error) {
	if err := a.q.Sync(ctx); err != nil { // what is queued is older than now
		return 0, err
	}
	cutoff := before.UnixMicro()
	total := 0
	for _, part := range []struct{ table, key, list string }{
		{"archive_messages", "owner", `SELECT owner FROM archive_counts`},
		{"room_messages", "room", `SELECT DISTINCT room FROM room_memberships`},
	} {
		var keys []string
		err := a.db.Read(ctx, "expire archive", func(tx Querier) error {
			return tx.Query(ctx, part.list, nil, func(s Scanner) error {
				var k string
				err := s.Scan(&k)
				keys = append(keys, k)
				return err
			})
		})
		if err != nil {
			return total, fmt.Errorf("%s: expire archive: %w", a.name, err)
		}
		del := a.d.Fixed(`DELETE FROM ` + part.table + ` WHERE ` + part.key + ` = $1 AND stamp < $2`)
		for _, k := range keys {
			n, err := a.db.Exec(ctx, del, k, cutoff)
			if err != nil {
				return total, fmt.Errorf("%s: expire archive of %q: %w", a.name, k, err)
			}
			total += int(n)
		}
	}
	_, err := a.db.Exec(ctx, `DELETE FROM room_memberships WHERE to_seq IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM room_messages m WHERE m.room = room_memberships.room
			AND m.seq > room_memberships.from_seq AND m.seq < room_memberships.to_seq)`)
	if err != nil {
		return total, fmt.Errorf("%s: expire memberships: %w", a.name, err)
	}
	return total, nil
}

// maxEdited bounds the records one EditArchive rewrites: a selection by
// origin id matches one message, a few at most when a client reused ids.
const maxEdited = 16

// EditArchive implements storage.Archive. The rows are read with the
// dialect's ForUpdate, so that two nodes editing one record apply both
// edits.
func (a *Archive) EditArchive(ctx context.Context, sel storage.ArchiveEdit, edit func(rec *storage.ArchiveRecord) []byte) (int, error) {
	var query string
	var args []any
	limit := ` LIMIT ` + strconv.Itoa(maxEdited)
	switch {
	case sel.Room != "" && sel.ID != "":
		query = `SELECT ` + a.d.roomColumns() + ` FROM room_messages WHERE room = $1 AND id = $2`
		args = []any{sel.Room, sel.ID}
	case sel.Room != "" && sel.OriginStanzaID != "":
		query = `SELECT ` + a.d.roomColumns() + ` FROM room_messages
			WHERE room = $1 AND origin_stanza_id = $2 AND origin_stanza_id <> ''` + limit
		args = []any{sel.Room, sel.OriginStanzaID}
	case sel.Owner != "" && sel.ID != "":
		query = `SELECT ` + ArchiveColumns + ` FROM archive_messages WHERE owner = $1 AND id = $2`
		args = []any{sel.Owner, sel.ID}
	case sel.Owner != "" && sel.OriginStanzaID != "":
		query = `SELECT ` + ArchiveColumns + ` FROM archive_messages
			WHERE owner = $1 AND with_jid = $2 AND origin_stanza_id = $3 AND origin_stanza_id <> ''` + limit
		args = []any{sel.Owner, sel.With, sel.OriginStanzaID}
	default:
		return 0, fmt.Errorf("%s: edit archive: nothing selected", a.name)
	}
	query = a.d.Fixed(query) + a.d.ForUpdate
	table, key, owner := "archive_messages", "owner", sel.Owner
	if sel.Room != "" {
		table, key, owner = "room_messages", "room", sel.Room
	}
	update := a.d.Fixed(`UPDATE ` + table + ` SET stanza = $1 WHERE ` + key + ` = $2 AND seq = $3`)
	if err := a.q.SyncOwner(ctx, owner, sel.Room != ""); err != nil {
		return 0, fmt.Errorf("%s: edit archive of %q: %w", a.name, owner, err)
	}
	n := 0
	err := a.db.Write(ctx, "edit archive", func(tx Tx) error {
		type change struct {
			seq    int64
			stanza []byte
		}
		var changes []change
		err := tx.Query(ctx, query, args, func(s Scanner) error {
			rec, seq, err := ScanRecord(s, owner)
			if err != nil {
				return err
			}
			rec.Shared = sel.Room != ""
			if st := edit(&rec); st != nil {
				changes = append(changes, change{seq, st})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range changes {
			if _, err := tx.Exec(ctx, update, c.stanza, owner, c.seq); err != nil {
				return err
			}
		}
		n = len(changes)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: edit archive of %q: %w", a.name, owner, err)
	}
	return n, nil
}
