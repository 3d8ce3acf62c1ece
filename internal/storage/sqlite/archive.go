package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"minimix/internal/storage"
)

// Archive order is archive_messages.seq, assigned at insert, not the
// caller's id: ids are opaque (often random) and stamps can tie or go
// backwards when clocks do.

const archiveColumns = `seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza`

// AppendArchive implements storage.Archive.
//
// Appends are written behind: the record is checked (an id already in the
// archive or waiting gives storage.ErrExists) and queued, and the call
// returns; one writer goroutine commits whatever is queued in a single
// transaction, again and again while appends keep coming. Every message
// between two local accounts is archived twice and every room message
// once per account, so the router would otherwise wait for two commits per
// message. Reads of the archive see queued records: QueryArchive,
// LastArchived and DeleteArchive wait for the queue to be written first,
// HasOriginStanzaID also looks in the queue, and Close writes it out. The
// queue is bounded (maxAppendQueue); a caller that finds it full waits,
// which is the back-pressure a disk slower than the traffic needs.
func (db *DB) AppendArchive(ctx context.Context, rec storage.ArchiveRecord) error {
	if rec.Owner == "" || rec.ID == "" {
		return fmt.Errorf("sqlite: append archive: owner %q and id %q must not be empty", rec.Owner, rec.ID)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, err)
	}
	key := rec.Owner + "\x00" + rec.ID
	db.appendMu.Lock()
	_, queued := db.appendIDs[key]
	db.appendMu.Unlock()
	if queued {
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
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	for len(db.appendQueue) >= maxAppendQueue && !db.closing {
		db.appendCond.Wait()
	}
	if _, dup := db.appendIDs[key]; dup {
		return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, storage.ErrExists)
	}
	db.appendQueue = append(db.appendQueue, rec)
	db.appendIDs[key] = rec.OriginStanzaID
	if !db.appendBusy {
		db.appendBusy = true
		go db.writeAppends()
	}
	return nil
}

// maxAppendQueue bounds the archive records waiting to be written.
const maxAppendQueue = 4096

// writeAppends commits queued archive records until the queue is empty.
func (db *DB) writeAppends() {
	for {
		db.appendMu.Lock()
		batch := db.appendQueue
		db.appendQueue = nil
		if len(batch) == 0 {
			db.appendBusy = false
			db.appendCond.Broadcast()
			db.appendMu.Unlock()
			return
		}
		db.appendWriting = batch
		db.appendCond.Broadcast() // room in the queue again
		db.appendMu.Unlock()

		db.writeSem <- struct{}{}
		err := db.commitAppends(batch)
		if err != nil {
			// One more try: a transient error (the disk briefly full,
			// a lock held too long) should not cost the records.
			time.Sleep(100 * time.Millisecond)
			err = db.commitAppends(batch)
		}
		<-db.writeSem
		if err != nil {
			db.appendFailures.Add(uint64(len(batch)))
			slog.Error("sqlite: archive records lost", "records", len(batch), "err", err)
		}

		db.appendMu.Lock()
		for _, rec := range batch {
			delete(db.appendIDs, rec.Owner+"\x00"+rec.ID)
		}
		db.appendWriting = nil
		db.appendMu.Unlock()
	}
}

// flushAppends waits until every queued archive record is written.
func (db *DB) flushAppends() {
	db.appendMu.Lock()
	for db.appendBusy {
		db.appendCond.Wait()
	}
	db.appendMu.Unlock()
}

// queuedOrigin reports whether a record of owner from with carrying the
// origin's stanza-id id waits in the queue.
func (db *DB) queuedOrigin(owner, with, id string) bool {
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	for _, list := range [][]storage.ArchiveRecord{db.appendQueue, db.appendWriting} {
		for _, r := range list {
			if r.Owner == owner && r.With == with && r.OriginStanzaID == id {
				return true
			}
		}
	}
	return false
}

// ArchiveWriteFailures counts archive records that could not be written.
func (db *DB) ArchiveWriteFailures() uint64 { return db.appendFailures.Load() }

// commitAppends writes batch in one transaction. The caller holds the
// write token.
func (db *DB) commitAppends(batch []storage.ArchiveRecord) error {
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append %d archive records: %w", len(batch), err)
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO archive_messages (owner, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner, id) DO NOTHING`)
	if err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: append %d archive records: %w", len(batch), err)
	}
	defer stmt.Close()
	for _, rec := range batch {
		if _, err := stmt.ExecContext(ctx, rec.Owner, rec.ID, rec.Stamp.UnixMicro(), rec.With, rec.FromNick,
			boolInt(rec.Groupchat), rec.OriginStanzaID, nonNil(rec.Stanza)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: append archive %q of %q: %w", rec.ID, rec.Owner, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append %d archive records: commit: %w", len(batch), err)
	}
	return nil
}

// QueryArchive implements storage.Archive with XEP-0313 filters and
// XEP-0059 paging:
//
//   - AfterID: the first Max matches after that record;
//   - BeforeID: the last Max matches before that record;
//   - Before with no BeforeID: the last Max matches;
//   - neither: the first Max matches.
//
// AfterID and BeforeID may be combined to page within the range between
// them, from its end if Before or BeforeID is set. The referenced records
// need not match the filters themselves; only their position counts.
// Max 0 returns no records but still Count and Complete, which is what
// XEP-0059 asks of <max>0</max>. When the page is empty, FirstIndex is the
// number of matches up to and including AfterID (0 without AfterID).
//
// Every query of one call runs in a single read transaction, so Count and
// FirstIndex agree with Records even while messages are being archived.
// Besides the page itself, a filtered query pays for counting its matches
// (an index-only scan where the filters allow); an unfiltered one reads a
// counter. FirstIndex counts whichever side of the page is shorter. See
// TestQueryPlans and BenchmarkQueryArchive.
func (db *DB) QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	db.flushAppends()
	if q.Max < 0 {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: negative max %d", owner, q.Max)
	}
	var page storage.ArchivePage
	err := db.read(ctx, "query archive", func(tx *sql.Tx) error {
		var b seqBounds
		var err error
		if q.AfterID != "" {
			if b.after, err = archiveSeq(ctx, tx, owner, q.AfterID); err != nil {
				return fmt.Errorf("after %q: %w", q.AfterID, err)
			}
		}
		if q.BeforeID != "" {
			if b.before, err = archiveSeq(ctx, tx, owner, q.BeforeID); err != nil {
				return fmt.Errorf("before %q: %w", q.BeforeID, err)
			}
		}
		// span is where matches can be: the owner's records, narrowed to
		// those stamped within Start and End.
		span, err := archiveSpan(ctx, tx, owner, q)
		if err != nil {
			return err
		}
		if span.empty() {
			page.Complete = true
			return nil
		}
		if !q.Start.IsZero() || !q.End.IsZero() {
			// Bounding the page's walk of (owner, seq) by the span keeps
			// a query with a recent Start from visiting every older record.
			b.after = max(b.after, span.lo-1)
			if b.before == 0 || b.before > span.hi+1 {
				b.before = span.hi + 1
			}
		}

		pq, pargs := archivePageSQL(owner, q, b)
		rows, err := tx.QueryContext(ctx, pq, pargs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var seqs []int64
		for rows.Next() {
			rec, seq, err := scanArchiveRecord(rows, owner)
			if err != nil {
				return err
			}
			page.Records = append(page.Records, rec)
			seqs = append(seqs, seq)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// One row more than Max was asked for: its presence says whether
		// the page is the last in its direction.
		page.Complete = len(page.Records) <= q.Max
		if !page.Complete {
			page.Records, seqs = page.Records[:q.Max], seqs[:q.Max]
		}
		if archiveBackward(q) {
			slices.Reverse(page.Records)
			slices.Reverse(seqs)
		}

		if err := archiveCount(ctx, tx, owner, q, &page.Count); err != nil {
			return err
		}
		// FirstIndex counts the matches before the page: those before its
		// first record or, for an empty page, up to AfterID.
		var pivot int64
		switch {
		case len(seqs) > 0:
			pivot = seqs[0]
		case b.after >= span.lo:
			pivot = b.after + 1 // an empty page after AfterID
		default:
			return nil
		}
		// Count whichever side of pivot spans fewer sequence numbers: a
		// client syncing "after the last id it saw" then pays for a few
		// records, not the whole archive.
		if pivot-span.lo <= span.hi-pivot {
			cq, cargs := archiveCountSQL(owner, q, "seq < ?")
			if err := tx.QueryRowContext(ctx, cq, append(cargs, pivot)...).Scan(&page.FirstIndex); err != nil {
				return fmt.Errorf("count before: %w", err)
			}
		} else {
			var from int
			cq, cargs := archiveCountSQL(owner, q, "seq >= ?")
			if err := tx.QueryRowContext(ctx, cq, append(cargs, pivot)...).Scan(&from); err != nil {
				return fmt.Errorf("count after: %w", err)
			}
			page.FirstIndex = page.Count - from
		}
		return nil
	})
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: %w", owner, err)
	}
	return page, nil
}

// archiveCount stores in n the number of matches of q. An unfiltered
// query, the common one, reads the counter that triggers keep in
// archive_counts rather than counting the archive.
func archiveCount(ctx context.Context, tx *sql.Tx, owner string, q storage.ArchiveQuery, n *int) error {
	if q.With == "" && q.Start.IsZero() && q.End.IsZero() && len(q.IDs) == 0 && q.Groupchat == nil {
		err := tx.QueryRowContext(ctx, `SELECT records FROM archive_counts WHERE owner = ?`, owner).Scan(n)
		if errors.Is(err, sql.ErrNoRows) {
			*n, err = 0, nil
		}
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		return nil
	}
	cq, cargs := archiveCountSQL(owner, q, "")
	if err := tx.QueryRowContext(ctx, cq, cargs...).Scan(n); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

// seqBounds are exclusive bounds on seq; zero means unbounded.
type seqBounds struct {
	after, before int64
}

// seqSpan is an inclusive range of seq, empty when lo > hi.
type seqSpan struct {
	lo, hi int64
}

func (s seqSpan) empty() bool { return s.lo > s.hi }

// archiveSpan returns the range of seq holding owner's records stamped
// within q's Start and End. Without either it is two lookups in
// (owner, seq); with them, one index-only scan of (owner, stamp) over the
// time range.
func archiveSpan(ctx context.Context, tx *sql.Tx, owner string, q storage.ArchiveQuery) (seqSpan, error) {
	var lo, hi sql.NullInt64
	var err error
	if q.Start.IsZero() && q.End.IsZero() {
		// Two subqueries, because SQLite answers a lone min() or max()
		// from the index but scans for both together.
		err = tx.QueryRowContext(ctx, `SELECT
			(SELECT min(seq) FROM archive_messages WHERE owner = ?),
			(SELECT max(seq) FROM archive_messages WHERE owner = ?)`, owner, owner).Scan(&lo, &hi)
	} else {
		start, end := int64(math.MinInt64), int64(math.MaxInt64)
		if !q.Start.IsZero() {
			start = q.Start.UnixMicro()
		}
		if !q.End.IsZero() {
			end = q.End.UnixMicro()
		}
		err = tx.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM archive_messages
			WHERE owner = ? AND stamp >= ? AND stamp <= ?`, owner, start, end).Scan(&lo, &hi)
	}
	if err != nil {
		return seqSpan{}, fmt.Errorf("span: %w", err)
	}
	if !lo.Valid || !hi.Valid {
		return seqSpan{lo: 1, hi: 0}, nil
	}
	return seqSpan{lo: lo.Int64, hi: hi.Int64}, nil
}

// archiveBackward reports whether q pages from the end of its range.
func archiveBackward(q storage.ArchiveQuery) bool {
	return q.Before || q.BeforeID != ""
}

// archiveSeq returns the position of id in owner's archive.
func archiveSeq(ctx context.Context, tx *sql.Tx, owner, id string) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx,
		`SELECT seq FROM archive_messages WHERE owner = ? AND id = ?`, owner, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, storage.ErrNotFound
	}
	return seq, err
}

// archiveFilterSQL returns the WHERE condition of q's filters. stampIndex
// false writes the stamp terms as +stamp, which keeps SQLite from choosing
// (owner, stamp) for a query that must walk in seq order.
func archiveFilterSQL(owner string, q storage.ArchiveQuery, stampIndex bool) (string, []any) {
	var b strings.Builder
	args := []any{owner}
	b.WriteString("owner = ?")
	if q.With != "" {
		// A full JID selects one occupant of a room archive. Resources may
		// contain '/', so only the first one separates.
		if bare, nick, ok := strings.Cut(q.With, "/"); ok {
			b.WriteString(" AND with_jid = ? AND from_nick = ?")
			args = append(args, bare, nick)
		} else {
			b.WriteString(" AND with_jid = ?")
			args = append(args, q.With)
		}
	}
	stamp := "stamp"
	if !stampIndex {
		stamp = "+stamp"
	}
	if !q.Start.IsZero() {
		b.WriteString(" AND " + stamp + " >= ?")
		args = append(args, q.Start.UnixMicro())
	}
	if !q.End.IsZero() {
		b.WriteString(" AND " + stamp + " <= ?")
		args = append(args, q.End.UnixMicro())
	}
	if len(q.IDs) > 0 {
		b.WriteString(" AND id IN (" + placeholders(len(q.IDs)) + ")")
		for _, id := range q.IDs {
			args = append(args, id)
		}
	}
	if q.Groupchat != nil {
		b.WriteString(" AND groupchat = ?")
		args = append(args, boolInt(*q.Groupchat))
	}
	return b.String(), args
}

// archivePageSQL returns the query for one page of q within b, fetching
// Max+1 rows in the paging direction by walking (owner, seq) or
// (owner, with_jid, seq) without sorting.
func archivePageSQL(owner string, q storage.ArchiveQuery, b seqBounds) (string, []any) {
	where, args := archiveFilterSQL(owner, q, false)
	if b.after > 0 {
		where += " AND seq > ?"
		args = append(args, b.after)
	}
	if b.before > 0 {
		where += " AND seq < ?"
		args = append(args, b.before)
	}
	from := "archive_messages"
	if q.With != "" && len(q.IDs) == 0 {
		// With both an after and a before bound SQLite's planner, lacking
		// statistics, prefers the seq range of (owner, seq) and would
		// filter every record in the range by with_jid.
		from += " INDEXED BY archive_messages_owner_with"
	}
	order := "seq ASC"
	if archiveBackward(q) {
		order = "seq DESC"
	}
	if len(q.IDs) > 0 {
		// The few records named are cheaper to find by (owner, id) and
		// sort than by walking the archive in order; the unary + stops
		// SQLite from choosing an index for the ORDER BY.
		order = "+" + order
	}
	args = append(args, q.Max+1)
	return `SELECT ` + archiveColumns + ` FROM ` + from + ` WHERE ` + where +
		` ORDER BY ` + order + ` LIMIT ?`, args
}

// archiveCountSQL returns the query counting the matches of q, restricted
// by the extra condition if not empty; the caller appends its arguments.
func archiveCountSQL(owner string, q storage.ArchiveQuery, extra string) (string, []any) {
	where, args := archiveFilterSQL(owner, q, true)
	if extra != "" {
		where += " AND " + extra
	}
	return `SELECT count(*) FROM archive_messages WHERE ` + where, args
}

func scanArchiveRecord(s scanner, owner string) (storage.ArchiveRecord, int64, error) {
	var (
		rec       storage.ArchiveRecord
		seq       int64
		stamp     int64
		groupchat int
	)
	if err := s.Scan(&seq, &rec.ID, &stamp, &rec.With, &rec.FromNick, &groupchat, &rec.OriginStanzaID, &rec.Stanza); err != nil {
		return storage.ArchiveRecord{}, 0, err
	}
	rec.Owner = owner
	rec.Stamp = time.UnixMicro(stamp).UTC()
	rec.Groupchat = groupchat != 0
	return rec, seq, nil
}

// HasOriginStanzaID implements storage.Archive. An empty id never matches:
// records without an origin stanza-id store the empty string.
func (db *DB) HasOriginStanzaID(ctx context.Context, owner, with, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	if db.queuedOrigin(owner, with, id) {
		return true, nil
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

// LastArchived implements storage.Archive. with is compared as stored: a
// bare JID.
func (db *DB) LastArchived(ctx context.Context, owner, with string) (storage.ArchiveRecord, error) {
	db.flushAppends()
	rec, _, err := scanArchiveRecord(db.sql.QueryRowContext(ctx, `
		SELECT `+archiveColumns+` FROM archive_messages
		WHERE owner = ? AND with_jid = ? ORDER BY seq DESC LIMIT 1`, owner, with), owner)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.ArchiveRecord{}, fmt.Errorf("sqlite: last archived with %q in archive of %q: %w", with, owner, err)
	}
	return rec, nil
}

// DeleteArchive implements storage.Archive. Preferences are kept: they
// are settings, not records.
func (db *DB) DeleteArchive(ctx context.Context, owner string) error {
	db.flushAppends()
	return db.write(ctx, "delete archive", func(tx *sql.Tx) error {
		for _, table := range []string{"archive_counts", "archive_messages"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE owner = ?`, owner); err != nil {
				return fmt.Errorf("sqlite: delete archive of %q: %s: %w", owner, table, err)
			}
		}
		return nil
	})
}
