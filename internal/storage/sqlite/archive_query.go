package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"minimix/internal/storage"
)

// Archive order is the sequence number (seq), assigned when a write is
// queued, not the caller's id: ids are opaque (often random) and stamps
// can tie or go backwards when clocks do.
//
// An owner's archive is made of segments: its own records in
// archive_messages, and for each of its memberships the room's shared
// records in room_messages between the membership's bounds. A query
// reads each segment in seq order through its index, at most one page
// of it, and merges them; counts are the sums of the segments' counts.
// An account that was never in a room through account-based group chat,
// and every room archive, has one segment and the queries of a single
// table.

// archiveColumns and roomColumns read a record of either table in the
// same shape.
const (
	archiveColumns = `seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza`
	roomColumns    = `seq, id, stamp, room, from_nick, 1, origin_stanza_id, stanza`
)

// segment is one part of an owner's archive.
type segment struct {
	shared bool   // a room's shared records (room_messages)
	key    string // the owner, or the room
	// after and before bound a membership's records (after < seq <
	// before); 0 is no bound.
	after, before int64

	// Filled in by the query: where its matches are and how many.
	span  seqSpan
	count int
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
// counter for the owner's own records. FirstIndex counts whichever side
// of the page is shorter. See TestQueryPlans and BenchmarkQueryArchive.
func (db *DB) QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	if q.Max < 0 {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: negative max %d", owner, q.Max)
	}
	if err := db.archive.SyncOwner(ctx, owner, !q.OwnOnly); err != nil {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: %w", owner, err)
	}
	var page storage.ArchivePage
	err := db.read(ctx, "query archive", func(tx rtx) error {
		var err error
		page, err = queryArchive(ctx, tx, owner, q)
		return err
	})
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("sqlite: query archive of %q: %w", owner, err)
	}
	return page, nil
}

func queryArchive(ctx context.Context, tx rtx, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	var page storage.ArchivePage
	var shared []*segment
	var err error
	if !q.OwnOnly {
		if shared, err = memberships(ctx, tx, owner); err != nil {
			return page, err
		}
	}
	var b seqBounds
	if q.AfterID != "" {
		if b.after, err = lookupSeq(ctx, tx, owner, shared, q.AfterID); err != nil {
			return page, fmt.Errorf("after %q: %w", q.AfterID, err)
		}
	}
	if q.BeforeID != "" {
		if b.before, err = lookupSeq(ctx, tx, owner, shared, q.BeforeID); err != nil {
			return page, fmt.Errorf("before %q: %w", q.BeforeID, err)
		}
	}

	// The segments that can hold matches, and where in them they are:
	// narrowed to the records stamped within Start and End.
	var segs []*segment
	lo := int64(math.MaxInt64)
	for _, sg := range selectSegments(owner, shared, q) {
		if sg.span, err = segmentSpan(ctx, tx, sg, q); err != nil {
			return page, err
		}
		if !sg.span.empty() {
			segs = append(segs, sg)
			lo = min(lo, sg.span.lo)
		}
	}
	if len(segs) == 0 {
		page.Complete = true
		return page, nil
	}

	// One page of each segment, merged: the first Max+1 of the merge in
	// the paging direction. The extra row says whether the page is the
	// last in its direction.
	backward := archiveBackward(q)
	type row struct {
		rec storage.ArchiveRecord
		seq int64
	}
	var rows []row
	for _, sg := range segs {
		sb := b
		// Bounding a segment's walk by its span keeps a query with a
		// recent Start from visiting every older record.
		sb.after = max(sb.after, sg.span.lo-1)
		if sb.before == 0 || sb.before > sg.span.hi+1 {
			sb.before = sg.span.hi + 1
		}
		if sb.after >= sb.before-1 {
			continue
		}
		pq, pargs := archivePageSQL(sg, q, sb)
		err := queryRows(ctx, tx, pq, pargs, func(s scanner) error {
			rec, seq, err := scanArchiveRecord(s, owner)
			rec.Shared = sg.shared
			rows = append(rows, row{rec, seq})
			return err
		})
		if err != nil {
			return page, err
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		if backward {
			return cmp.Compare(y.seq, x.seq)
		}
		return cmp.Compare(x.seq, y.seq)
	})
	page.Complete = len(rows) <= q.Max
	if !page.Complete {
		rows = rows[:q.Max]
	}
	if backward {
		slices.Reverse(rows)
	}
	for _, r := range rows {
		page.Records = append(page.Records, r.rec)
	}

	for _, sg := range segs {
		if err := segmentCount(ctx, tx, sg, q); err != nil {
			return page, err
		}
		page.Count += sg.count
	}
	// FirstIndex counts the matches before the page: those before its
	// first record or, for an empty page, up to AfterID.
	var pivot int64
	switch {
	case len(rows) > 0:
		pivot = rows[0].seq
	case b.after >= lo:
		pivot = b.after + 1 // an empty page after AfterID
	default:
		return page, nil
	}
	for _, sg := range segs {
		n, err := countBefore(ctx, tx, sg, q, pivot)
		if err != nil {
			return page, err
		}
		page.FirstIndex += n
	}
	return page, nil
}

// memberships returns owner's memberships as segments, ordered by room
// and start.
func memberships(ctx context.Context, tx rtx, owner string) ([]*segment, error) {
	var out []*segment
	err := queryRows(ctx, tx, `SELECT room, from_seq, coalesce(to_seq, 0) FROM room_memberships
		WHERE account = ? ORDER BY room, from_seq`, []any{owner}, func(s scanner) error {
		sg := &segment{shared: true}
		out = append(out, sg)
		return s.Scan(&sg.key, &sg.after, &sg.before)
	})
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	return out, nil
}

// selectSegments returns the segments of owner's archive that q can
// match: its own records, and the memberships unless q excludes
// groupchat or names another party than their room.
func selectSegments(owner string, shared []*segment, q storage.ArchiveQuery) []*segment {
	segs := []*segment{{key: owner}}
	if q.Groupchat != nil && !*q.Groupchat {
		return segs
	}
	bare, _, _ := strings.Cut(q.With, "/")
	for _, sg := range shared {
		if bare == "" || sg.key == bare {
			segs = append(segs, sg)
		}
	}
	return segs
}

// lookupSeq returns the position of id in owner's archive: among its own
// records, or the shared records within one of its memberships.
func lookupSeq(ctx context.Context, tx rtx, owner string, shared []*segment, id string) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM archive_messages WHERE owner = ? AND id = ?`, owner, id).Scan(&seq)
	if !errors.Is(err, sql.ErrNoRows) {
		return seq, err
	}
	for i, sg := range shared {
		if i > 0 && shared[i-1].key == sg.key {
			continue // the room was looked at
		}
		err := tx.QueryRowContext(ctx, `SELECT seq FROM room_messages WHERE room = ? AND id = ?`, sg.key, id).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, err
		}
		for _, m := range shared[i:] {
			if m.key == sg.key && m.contains(seq) {
				return seq, nil
			}
		}
		return 0, storage.ErrNotFound // said while the account was not there
	}
	return 0, storage.ErrNotFound
}

// contains reports whether seq is within sg's bounds.
func (sg *segment) contains(seq int64) bool {
	return seq > sg.after && (sg.before == 0 || seq < sg.before)
}

// segmentSpan returns the range of seq holding sg's records stamped
// within q's Start and End. Without either it is two lookups in the
// segment's (key, seq) index; with them, one index-only scan of
// (key, stamp) over the time range.
func segmentSpan(ctx context.Context, tx rtx, sg *segment, q storage.ArchiveQuery) (seqSpan, error) {
	table, key := segmentTable(sg)
	bounds, bargs := sg.boundsSQL()
	var lo, hi sql.NullInt64
	var err error
	if q.Start.IsZero() && q.End.IsZero() {
		// Two subqueries, because SQLite answers a lone min() or max()
		// from the index but scans for both together.
		cond := key + ` = ?` + bounds
		args := append([]any{sg.key}, bargs...)
		err = tx.QueryRowContext(ctx, `SELECT
			(SELECT min(seq) FROM `+table+` WHERE `+cond+`),
			(SELECT max(seq) FROM `+table+` WHERE `+cond+`)`, append(args, args...)...).Scan(&lo, &hi)
	} else {
		start, end := int64(math.MinInt64), int64(math.MaxInt64)
		if !q.Start.IsZero() {
			start = q.Start.UnixMicro()
		}
		if !q.End.IsZero() {
			end = q.End.UnixMicro()
		}
		err = tx.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM `+table+`
			WHERE `+key+` = ? AND stamp >= ? AND stamp <= ?`+bounds, append([]any{sg.key, start, end}, bargs...)...).Scan(&lo, &hi)
	}
	if err != nil {
		return seqSpan{}, fmt.Errorf("span: %w", err)
	}
	if !lo.Valid || !hi.Valid {
		return seqSpan{lo: 1, hi: 0}, nil
	}
	return seqSpan{lo: lo.Int64, hi: hi.Int64}, nil
}

// segmentTable returns the table of sg's records and the column its key
// is in.
func segmentTable(sg *segment) (table, key string) {
	if sg.shared {
		return "room_messages", "room"
	}
	return "archive_messages", "owner"
}

// boundsSQL returns the condition of sg's membership bounds, to append
// to a WHERE clause.
func (sg *segment) boundsSQL() (string, []any) {
	switch {
	case sg.after > 0 && sg.before > 0:
		return " AND seq > ? AND seq < ?", []any{sg.after, sg.before}
	case sg.after > 0:
		return " AND seq > ?", []any{sg.after}
	case sg.before > 0:
		return " AND seq < ?", []any{sg.before}
	}
	return "", nil
}

// segmentCount sets sg.count to its number of matches of q. An
// unfiltered query of an owner's own records, the common one, reads the
// counter in archive_counts rather than counting.
func segmentCount(ctx context.Context, tx rtx, sg *segment, q storage.ArchiveQuery) error {
	if !sg.shared && q.With == "" && q.Start.IsZero() && q.End.IsZero() && len(q.IDs) == 0 && q.Groupchat == nil {
		err := tx.QueryRowContext(ctx, `SELECT records FROM archive_counts WHERE owner = ?`, sg.key).Scan(&sg.count)
		if errors.Is(err, sql.ErrNoRows) {
			sg.count, err = 0, nil
		}
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		return nil
	}
	cq, cargs := archiveCountSQL(sg, q, "")
	if err := tx.QueryRowContext(ctx, cq, cargs...).Scan(&sg.count); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

// countBefore returns the number of sg's matches before pivot, counting
// whichever side of pivot spans fewer sequence numbers: a client syncing
// "after the last id it saw" then pays for a few records, not the whole
// archive.
func countBefore(ctx context.Context, tx rtx, sg *segment, q storage.ArchiveQuery, pivot int64) (int, error) {
	switch {
	case pivot <= sg.span.lo:
		return 0, nil
	case pivot > sg.span.hi:
		return sg.count, nil
	}
	var n int
	if pivot-sg.span.lo <= sg.span.hi-pivot {
		cq, cargs := archiveCountSQL(sg, q, "seq < ?")
		if err := tx.QueryRowContext(ctx, cq, append(cargs, pivot)...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count before: %w", err)
		}
		return n, nil
	}
	cq, cargs := archiveCountSQL(sg, q, "seq >= ?")
	if err := tx.QueryRowContext(ctx, cq, append(cargs, pivot)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count after: %w", err)
	}
	return sg.count - n, nil
}

// archiveBackward reports whether q pages from the end of its range.
func archiveBackward(q storage.ArchiveQuery) bool {
	return q.Before || q.BeforeID != ""
}

// archiveFilterSQL returns the WHERE condition of q's filters on sg.
// stampIndex false writes the stamp terms as +stamp, which keeps SQLite
// from choosing (key, stamp) for a query that must walk in seq order.
func archiveFilterSQL(sg *segment, q storage.ArchiveQuery, stampIndex bool) (string, []any) {
	var b strings.Builder
	_, key := segmentTable(sg)
	args := []any{sg.key}
	b.WriteString(key + " = ?")
	if q.With != "" {
		// A full JID selects one occupant of a room. Resources may
		// contain '/', so only the first one separates.
		bare, nick, full := strings.Cut(q.With, "/")
		switch {
		case !sg.shared && full:
			b.WriteString(" AND with_jid = ? AND from_nick = ?")
			args = append(args, bare, nick)
		case !sg.shared:
			b.WriteString(" AND with_jid = ?")
			args = append(args, q.With)
		case full:
			// A shared segment is chosen by its room already.
			b.WriteString(" AND from_nick = ?")
			args = append(args, nick)
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
	if q.Groupchat != nil && !sg.shared {
		b.WriteString(" AND groupchat = ?")
		args = append(args, boolInt(*q.Groupchat))
	}
	bounds, bargs := sg.boundsSQL()
	b.WriteString(bounds)
	return b.String(), append(args, bargs...)
}

// archivePageSQL returns the query for one page of q within b on sg,
// fetching Max+1 rows in the paging direction by walking (key, seq) or
// (owner, with_jid, seq) without sorting.
func archivePageSQL(sg *segment, q storage.ArchiveQuery, b seqBounds) (string, []any) {
	where, args := archiveFilterSQL(sg, q, false)
	if b.after > 0 {
		where += " AND seq > ?"
		args = append(args, b.after)
	}
	if b.before > 0 {
		where += " AND seq < ?"
		args = append(args, b.before)
	}
	table, _ := segmentTable(sg)
	from, columns := table, roomColumns
	if !sg.shared {
		columns = archiveColumns
		if q.With != "" && len(q.IDs) == 0 {
			// With both an after and a before bound SQLite's planner,
			// lacking statistics, prefers the seq range of (owner, seq)
			// and would filter every record in the range by with_jid.
			from += " INDEXED BY archive_messages_owner_with"
		}
	}
	order := "seq ASC"
	if archiveBackward(q) {
		order = "seq DESC"
	}
	if len(q.IDs) > 0 {
		// The few records named are cheaper to find by (key, id) and
		// sort than by walking the archive in order; the unary + stops
		// SQLite from choosing an index for the ORDER BY.
		order = "+" + order
	}
	args = append(args, q.Max+1)
	return `SELECT ` + columns + ` FROM ` + from + ` WHERE ` + where +
		` ORDER BY ` + order + ` LIMIT ?`, args
}

// archiveCountSQL returns the query counting sg's matches of q,
// restricted by the extra condition if not empty; the caller appends its
// arguments.
func archiveCountSQL(sg *segment, q storage.ArchiveQuery, extra string) (string, []any) {
	where, args := archiveFilterSQL(sg, q, true)
	if extra != "" {
		where += " AND " + extra
	}
	table, _ := segmentTable(sg)
	return `SELECT count(*) FROM ` + table + ` WHERE ` + where, args
}

// queryRows runs a query and calls scan for each row.
func queryRows(ctx context.Context, tx rtx, query string, args []any, scan func(scanner) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
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
