package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// The archive is queried as on SQLite (internal/storage/sqlite/
// archive_query.go): an owner's archive is made of segments, its own
// records in archive_messages and, for each of its memberships, the
// room's shared records in room_messages between the membership's
// bounds; a query reads at most one page of each segment in position
// order through an index and merges them, and counts are the sums of the
// segments' counts. Every query of one call runs in one REPEATABLE READ
// transaction. The statements come in a bounded number of shapes (the
// filters present), with every value a parameter, so pgx prepares each
// shape once per connection. TestQueryPlans checks with EXPLAIN, under
// both custom and generic plans, that each page walks an index in
// position order without sorting.

// archiveColumns and roomColumns read a record of either table in the
// same shape.
const (
	archiveColumns = `seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza`
	roomColumns    = `seq, id, stamp, room, from_nick, true, origin_stanza_id, stanza`
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

// sqlText builds a statement and its numbered parameters.
type sqlText struct {
	strings.Builder
	args []any
}

// arg adds v as the next parameter and returns its placeholder.
func (s *sqlText) arg(v any) string {
	s.args = append(s.args, v)
	return "$" + strconv.Itoa(len(s.args))
}

// QueryArchive implements storage.Archive with XEP-0313 filters and
// XEP-0059 paging, with the SQLite backend's semantics (see its
// QueryArchive): AfterID, BeforeID and Before select the page; Max 0
// returns Count and Complete only; FirstIndex is the number of matches
// before the page.
func (db *DB) QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	if q.Max < 0 {
		return storage.ArchivePage{}, fmt.Errorf("postgres: query archive of %q: negative max %d", owner, q.Max)
	}
	if err := db.archive.SyncOwner(ctx, owner, !q.OwnOnly); err != nil {
		return storage.ArchivePage{}, fmt.Errorf("postgres: query archive of %q: %w", owner, err)
	}
	var page storage.ArchivePage
	err := db.read(ctx, "query archive", func(tx pgx.Tx) error {
		var err error
		page, err = queryArchive(ctx, tx, owner, q)
		return err
	})
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("postgres: query archive of %q: %w", owner, err)
	}
	return page, nil
}

func queryArchive(ctx context.Context, tx pgx.Tx, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
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

	backward := archiveBackward(q)
	type row struct {
		rec storage.ArchiveRecord
		seq int64
	}
	var rows []row
	for _, sg := range segs {
		sb := b
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
func memberships(ctx context.Context, tx pgx.Tx, owner string) ([]*segment, error) {
	var out []*segment
	err := queryRows(ctx, tx, `SELECT room, from_seq, coalesce(to_seq, 0) FROM room_memberships
		WHERE account = $1 ORDER BY room, from_seq`, []any{owner}, func(s scanner) error {
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
func lookupSeq(ctx context.Context, tx pgx.Tx, owner string, shared []*segment, id string) (int64, error) {
	var seq int64
	err := tx.QueryRow(ctx, `SELECT seq FROM archive_messages WHERE owner = $1 AND id = $2`, owner, id).Scan(&seq)
	if !noRows(err) {
		return seq, err
	}
	for i, sg := range shared {
		if i > 0 && shared[i-1].key == sg.key {
			continue // the room was looked at
		}
		err := tx.QueryRow(ctx, `SELECT seq FROM room_messages WHERE room = $1 AND id = $2`, sg.key, id).Scan(&seq)
		if noRows(err) {
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
// within q's Start and End: min and max over the segment's (key, seq)
// index, or with a time range an index-only scan of its (key, stamp)
// index over the range. There min(seq + 0) keeps the planner from
// walking (key, seq) until a stamp matches: stamps grow with positions,
// which its statistics do not know, so that walk would read every record
// older than Start.
func segmentSpan(ctx context.Context, tx pgx.Tx, sg *segment, q storage.ArchiveQuery) (seqSpan, error) {
	table, key := segmentTable(sg)
	var s sqlText
	timed := !q.Start.IsZero() || !q.End.IsZero()
	if timed {
		s.WriteString(`SELECT min(seq + 0), max(seq + 0)`)
	} else {
		s.WriteString(`SELECT min(seq), max(seq)`)
	}
	s.WriteString(` FROM ` + table + ` WHERE ` + key + ` = ` + s.arg(sg.key))
	if timed {
		start, end := int64(math.MinInt64), int64(math.MaxInt64)
		if !q.Start.IsZero() {
			start = q.Start.UnixMicro()
		}
		if !q.End.IsZero() {
			end = q.End.UnixMicro()
		}
		s.WriteString(` AND stamp >= ` + s.arg(start) + ` AND stamp <= ` + s.arg(end))
	}
	sg.writeBounds(&s)
	var lo, hi *int64
	if err := tx.QueryRow(ctx, s.String(), s.args...).Scan(&lo, &hi); err != nil {
		return seqSpan{}, fmt.Errorf("span: %w", err)
	}
	if lo == nil || hi == nil {
		return seqSpan{lo: 1, hi: 0}, nil
	}
	return seqSpan{lo: *lo, hi: *hi}, nil
}

// segmentTable returns the table of sg's records and the column its key
// is in.
func segmentTable(sg *segment) (table, key string) {
	if sg.shared {
		return "room_messages", "room"
	}
	return "archive_messages", "owner"
}

// writeBounds appends the condition of sg's membership bounds.
func (sg *segment) writeBounds(s *sqlText) {
	if sg.after > 0 {
		s.WriteString(` AND seq > ` + s.arg(sg.after))
	}
	if sg.before > 0 {
		s.WriteString(` AND seq < ` + s.arg(sg.before))
	}
}

// segmentCount sets sg.count to its number of matches of q. An
// unfiltered query of an owner's own records reads archive_counts.
func segmentCount(ctx context.Context, tx pgx.Tx, sg *segment, q storage.ArchiveQuery) error {
	if !sg.shared && q.With == "" && q.Start.IsZero() && q.End.IsZero() && len(q.IDs) == 0 && q.Groupchat == nil {
		err := tx.QueryRow(ctx, `SELECT records FROM archive_counts WHERE owner = $1`, sg.key).Scan(&sg.count)
		if noRows(err) {
			sg.count, err = 0, nil
		}
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		return nil
	}
	s := archiveCountSQL(sg, q, "", 0)
	if err := tx.QueryRow(ctx, s.String(), s.args...).Scan(&sg.count); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

// countBefore returns the number of sg's matches before pivot, counting
// whichever side of pivot spans fewer positions.
func countBefore(ctx context.Context, tx pgx.Tx, sg *segment, q storage.ArchiveQuery, pivot int64) (int, error) {
	switch {
	case pivot <= sg.span.lo:
		return 0, nil
	case pivot > sg.span.hi:
		return sg.count, nil
	}
	var n int
	if pivot-sg.span.lo <= sg.span.hi-pivot {
		s := archiveCountSQL(sg, q, "<", pivot)
		if err := tx.QueryRow(ctx, s.String(), s.args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count before: %w", err)
		}
		return n, nil
	}
	s := archiveCountSQL(sg, q, ">=", pivot)
	if err := tx.QueryRow(ctx, s.String(), s.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count after: %w", err)
	}
	return sg.count - n, nil
}

// archiveBackward reports whether q pages from the end of its range.
func archiveBackward(q storage.ArchiveQuery) bool {
	return q.Before || q.BeforeID != ""
}

// writeFilter appends the WHERE condition of q's filters on sg. With
// stampIndex false the stamp terms are written as (stamp + 0), which no
// index answers, so that the planner does not choose (key, stamp) for a
// query that must walk in position order.
func writeFilter(s *sqlText, sg *segment, q storage.ArchiveQuery, stampIndex bool) {
	_, key := segmentTable(sg)
	s.WriteString(key + ` = ` + s.arg(sg.key))
	if q.With != "" {
		// A full JID selects one occupant of a room. Resources may
		// contain '/', so only the first one separates.
		bare, nick, full := strings.Cut(q.With, "/")
		switch {
		case !sg.shared && full:
			s.WriteString(` AND with_jid = ` + s.arg(bare) + ` AND from_nick = ` + s.arg(nick))
		case !sg.shared:
			s.WriteString(` AND with_jid = ` + s.arg(q.With))
		case full:
			// A shared segment is chosen by its room already.
			s.WriteString(` AND from_nick = ` + s.arg(nick))
		}
	}
	stamp := "stamp"
	if !stampIndex {
		stamp = "(stamp + 0)"
	}
	if !q.Start.IsZero() {
		s.WriteString(` AND ` + stamp + ` >= ` + s.arg(q.Start.UnixMicro()))
	}
	if !q.End.IsZero() {
		s.WriteString(` AND ` + stamp + ` <= ` + s.arg(q.End.UnixMicro()))
	}
	if len(q.IDs) > 0 {
		s.WriteString(` AND id = ANY(` + s.arg(q.IDs) + `)`)
	}
	if q.Groupchat != nil && !sg.shared {
		s.WriteString(` AND groupchat = ` + s.arg(*q.Groupchat))
	}
	sg.writeBounds(s)
}

// archivePageSQL returns the query for one page of q within b on sg,
// fetching Max+1 rows in the paging direction by walking (key, seq) or
// (owner, with_jid, seq) without sorting.
func archivePageSQL(sg *segment, q storage.ArchiveQuery, b seqBounds) (string, []any) {
	var s sqlText
	table, _ := segmentTable(sg)
	columns := roomColumns
	if !sg.shared {
		columns = archiveColumns
	}
	s.WriteString(`SELECT ` + columns + ` FROM ` + table + ` WHERE `)
	writeFilter(&s, sg, q, false)
	if b.after > 0 {
		s.WriteString(` AND seq > ` + s.arg(b.after))
	}
	if b.before > 0 {
		s.WriteString(` AND seq < ` + s.arg(b.before))
	}
	order := "seq"
	if len(q.IDs) > 0 {
		// The few records named are cheaper to find by (key, id) and
		// sort than by walking the archive in order; seq + 0 keeps the
		// planner from walking an index for the ORDER BY.
		order = "seq + 0"
	}
	if archiveBackward(q) {
		order += " DESC"
	}
	s.WriteString(` ORDER BY ` + order + ` LIMIT ` + s.arg(q.Max+1))
	return s.String(), s.args
}

// archiveCountSQL returns the query counting sg's matches of q, those
// with seq op pivot when op is not empty.
func archiveCountSQL(sg *segment, q storage.ArchiveQuery, op string, pivot int64) *sqlText {
	var s sqlText
	table, _ := segmentTable(sg)
	s.WriteString(`SELECT count(*) FROM ` + table + ` WHERE `)
	writeFilter(&s, sg, q, true)
	if op != "" {
		s.WriteString(` AND seq ` + op + ` ` + s.arg(pivot))
	}
	return &s
}

func scanArchiveRecord(s scanner, owner string) (storage.ArchiveRecord, int64, error) {
	var (
		rec   storage.ArchiveRecord
		seq   int64
		stamp int64
	)
	if err := s.Scan(&seq, &rec.ID, &stamp, &rec.With, &rec.FromNick, &rec.Groupchat, &rec.OriginStanzaID, &rec.Stanza); err != nil {
		return storage.ArchiveRecord{}, 0, err
	}
	rec.Owner = owner
	rec.Stamp = time.UnixMicro(stamp).UTC()
	return rec, seq, nil
}
