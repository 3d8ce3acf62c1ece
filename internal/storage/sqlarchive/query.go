package sqlarchive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"minimix/internal/storage"
)

// Archive order is the position (seq), assigned when a write is queued,
// not the caller's id: ids are opaque (often random) and stamps can tie
// or go backwards when clocks do.
//
// An owner's archive is made of segments: its own records in
// archive_messages, and for each of its memberships the room's shared
// records in room_messages between the membership's bounds. A query
// reads each segment in position order through its index, at most one
// page of it, and merges them; counts are the sums of the segments'
// counts. An account that was never in a room through account-based
// group chat, and every room archive, has one segment and the queries of
// a single table. Every statement comes in a bounded number of shapes
// (the filters present), with every value a parameter, so that a backend
// prepares each shape once.

// Querier is what a query needs of a read transaction (one snapshot) or
// a database.
type Querier interface {
	// Query runs query and calls scan for each row.
	Query(ctx context.Context, query string, args []any, scan func(Scanner) error) error
}

// Scanner is a row.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is what *sql.Rows and pgx.Rows have in common.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// EachRow calls scan for each of rows, which the caller closes.
func EachRow(rows Rows, scan func(Scanner) error) error {
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ErrNoRows is what QueryRow returns for no row.
var ErrNoRows = errors.New("no rows")

// QueryRow runs query through q and scans its first row into dest;
// ErrNoRows if there is none.
func QueryRow(ctx context.Context, q Querier, query string, args []any, dest ...any) error {
	found := false
	err := q.Query(ctx, query, args, func(s Scanner) error {
		if found {
			return nil
		}
		found = true
		return s.Scan(dest...)
	})
	if err == nil && !found {
		err = ErrNoRows
	}
	return err
}

// Dialect is a backend's SQL where it differs, mostly to steer its
// planner. Make it with NewDialect.
type Dialect struct {
	// Param is the prefix of numbered parameters: "$" or "?".
	Param string
	// True is the literal of true in a groupchat column.
	True string
	// Bool turns a boolean into the parameter its groupchat column
	// compares with.
	Bool func(bool) any
	// NoIndex wraps a column in an expression no index answers, so that
	// the planner walks the index the query is meant to.
	NoIndex func(column string) string
	// IDArray passes a query's ids as one array (id = ANY($n)), not as
	// an IN list.
	IDArray bool
	// SpanSubqueries reads a segment's first and last positions with two
	// subqueries: SQLite answers a lone min() or max() from the index
	// but scans for both together.
	SpanSubqueries bool
	// TimedSpanNoIndex reads the span of a time range as
	// min(NoIndex(seq)): stamps grow with positions, which PostgreSQL's
	// statistics do not know, so it would walk (key, seq) until a stamp
	// matches, reading every record older than Start.
	TimedSpanNoIndex bool
	// OwnWithHint follows the table of a page of an owner's own records
	// filtered by with and not by ids (SQLite's INDEXED BY: with both
	// bounds its planner, lacking statistics, prefers (owner, seq) and
	// would filter every record in the range by with_jid).
	OwnWithHint string
	// ForUpdate follows a read of the records an edit rewrites.
	ForUpdate string

	lookupOwn, lookupRoom, members, counter string
}

// NewDialect returns d ready for use.
func NewDialect(d Dialect) *Dialect {
	d.lookupOwn = d.Fixed(`SELECT seq FROM archive_messages WHERE owner = $1 AND id = $2`)
	d.lookupRoom = d.Fixed(`SELECT seq FROM room_messages WHERE room = $1 AND id = $2`)
	d.members = d.Fixed(`SELECT room, from_seq, coalesce(to_seq, 0) FROM room_memberships
		WHERE account = $1 ORDER BY room, from_seq`)
	d.counter = d.Fixed(`SELECT records FROM archive_counts WHERE owner = $1`)
	return &d
}

// Fixed returns query, written with $1, $2 ..., in d's parameters.
func (d *Dialect) Fixed(query string) string {
	if d.Param == "$" {
		return query
	}
	return strings.ReplaceAll(query, "$", d.Param)
}

// Columns read a record of either table in the same shape, for
// ScanRecord.
const ArchiveColumns = `seq, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza`

func (d *Dialect) roomColumns() string {
	return `seq, id, stamp, room, from_nick, ` + d.True + `, origin_stanza_id, stanza`
}

// Segment is one part of an owner's archive.
type Segment struct {
	Shared bool   // a room's shared records (room_messages)
	Key    string // the owner, or the room
	// After and Before bound a membership's records (After < seq <
	// Before); 0 is no bound.
	After, Before int64

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
	d    *Dialect
	args []any
}

// arg adds v as the next parameter and returns its placeholder.
func (s *sqlText) arg(v any) string {
	s.args = append(s.args, v)
	return s.d.Param + strconv.Itoa(len(s.args))
}

// Query answers storage.Archive's QueryArchive with XEP-0313 filters and
// XEP-0059 paging, reading through tx, one snapshot:
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
// Besides the page itself, a filtered query pays for counting its matches
// (an index-only scan where the filters allow); an unfiltered one reads a
// counter for the owner's own records. FirstIndex counts whichever side
// of the page is shorter. The backends' TestQueryPlans and
// BenchmarkQueryArchive check the statements.
func Query(ctx context.Context, d *Dialect, tx Querier, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	var page storage.ArchivePage
	var shared []*Segment
	var err error
	if !q.OwnOnly {
		if shared, err = memberships(ctx, d, tx, owner); err != nil {
			return page, err
		}
	}
	var b seqBounds
	if q.AfterID != "" {
		if b.after, err = lookupSeq(ctx, d, tx, owner, shared, q.AfterID); err != nil {
			return page, fmt.Errorf("after %q: %w", q.AfterID, err)
		}
	}
	if q.BeforeID != "" {
		if b.before, err = lookupSeq(ctx, d, tx, owner, shared, q.BeforeID); err != nil {
			return page, fmt.Errorf("before %q: %w", q.BeforeID, err)
		}
	}

	// The segments that can hold matches, and where in them they are:
	// narrowed to the records stamped within Start and End.
	var segs []*Segment
	lo := int64(math.MaxInt64)
	for _, sg := range selectSegments(owner, shared, q) {
		if sg.span, err = segmentSpan(ctx, d, tx, sg, q); err != nil {
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
		pq, pargs := d.PageSQL(sg, q, sb.after, sb.before)
		err := tx.Query(ctx, pq, pargs, func(s Scanner) error {
			rec, seq, err := ScanRecord(s, owner)
			rec.Shared = sg.Shared
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
		if err := segmentCount(ctx, d, tx, sg, q); err != nil {
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
		n, err := countBefore(ctx, d, tx, sg, q, pivot)
		if err != nil {
			return page, err
		}
		page.FirstIndex += n
	}
	return page, nil
}

// memberships returns owner's memberships as segments, ordered by room
// and start.
func memberships(ctx context.Context, d *Dialect, tx Querier, owner string) ([]*Segment, error) {
	var out []*Segment
	err := tx.Query(ctx, d.members, []any{owner}, func(s Scanner) error {
		sg := &Segment{Shared: true}
		out = append(out, sg)
		return s.Scan(&sg.Key, &sg.After, &sg.Before)
	})
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	return out, nil
}

// selectSegments returns the segments of owner's archive that q can
// match: its own records, and the memberships unless q excludes
// groupchat or names another party than their room.
func selectSegments(owner string, shared []*Segment, q storage.ArchiveQuery) []*Segment {
	segs := []*Segment{{Key: owner}}
	if q.Groupchat != nil && !*q.Groupchat {
		return segs
	}
	bare, _, _ := strings.Cut(q.With, "/")
	for _, sg := range shared {
		if bare == "" || sg.Key == bare {
			segs = append(segs, sg)
		}
	}
	return segs
}

// lookupSeq returns the position of id in owner's archive: among its own
// records, or the shared records within one of its memberships.
func lookupSeq(ctx context.Context, d *Dialect, tx Querier, owner string, shared []*Segment, id string) (int64, error) {
	var seq int64
	err := QueryRow(ctx, tx, d.lookupOwn, []any{owner, id}, &seq)
	if !errors.Is(err, ErrNoRows) {
		return seq, err
	}
	for i, sg := range shared {
		if i > 0 && shared[i-1].Key == sg.Key {
			continue // the room was looked at
		}
		err := QueryRow(ctx, tx, d.lookupRoom, []any{sg.Key, id}, &seq)
		if errors.Is(err, ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, err
		}
		for _, m := range shared[i:] {
			if m.Key == sg.Key && m.contains(seq) {
				return seq, nil
			}
		}
		return 0, storage.ErrNotFound // said while the account was not there
	}
	return 0, storage.ErrNotFound
}

// contains reports whether seq is within sg's bounds.
func (sg *Segment) contains(seq int64) bool {
	return seq > sg.After && (sg.Before == 0 || seq < sg.Before)
}

// SpanSQL returns the query of the range of seq holding sg's records
// stamped within q's Start and End: the first and last positions in the
// segment's (key, seq) index or, with a time range, an index-only scan of
// (key, stamp) over the range.
func (d *Dialect) SpanSQL(sg *Segment, q storage.ArchiveQuery) (string, []any) {
	table, key := segmentTable(sg)
	s := sqlText{d: d}
	timed := !q.Start.IsZero() || !q.End.IsZero()
	cond := key + ` = ` + s.arg(sg.Key)
	if timed {
		start, end := int64(math.MinInt64), int64(math.MaxInt64)
		if !q.Start.IsZero() {
			start = q.Start.UnixMicro()
		}
		if !q.End.IsZero() {
			end = q.End.UnixMicro()
		}
		cond += ` AND stamp >= ` + s.arg(start) + ` AND stamp <= ` + s.arg(end)
	}
	cond += sg.bounds(&s)
	switch {
	case timed && d.TimedSpanNoIndex:
		seq := d.NoIndex("seq")
		s.WriteString(`SELECT min(` + seq + `), max(` + seq + `) FROM ` + table + ` WHERE ` + cond)
	case !timed && d.SpanSubqueries:
		s.WriteString(`SELECT (SELECT min(seq) FROM ` + table + ` WHERE ` + cond + `),
			(SELECT max(seq) FROM ` + table + ` WHERE ` + cond + `)`)
	default:
		s.WriteString(`SELECT min(seq), max(seq) FROM ` + table + ` WHERE ` + cond)
	}
	return s.String(), s.args
}

func segmentSpan(ctx context.Context, d *Dialect, tx Querier, sg *Segment, q storage.ArchiveQuery) (seqSpan, error) {
	sq, args := d.SpanSQL(sg, q)
	var lo, hi *int64
	if err := QueryRow(ctx, tx, sq, args, &lo, &hi); err != nil {
		return seqSpan{}, fmt.Errorf("span: %w", err)
	}
	if lo == nil || hi == nil {
		return seqSpan{lo: 1, hi: 0}, nil
	}
	return seqSpan{lo: *lo, hi: *hi}, nil
}

// segmentTable returns the table of sg's records and the column its key
// is in.
func segmentTable(sg *Segment) (table, key string) {
	if sg.Shared {
		return "room_messages", "room"
	}
	return "archive_messages", "owner"
}

// bounds returns the condition of sg's membership bounds, to append to
// a WHERE clause.
func (sg *Segment) bounds(s *sqlText) string {
	var c string
	if sg.After > 0 {
		c += ` AND seq > ` + s.arg(sg.After)
	}
	if sg.Before > 0 {
		c += ` AND seq < ` + s.arg(sg.Before)
	}
	return c
}

// segmentCount sets sg.count to its number of matches of q. An
// unfiltered query of an owner's own records, the common one, reads the
// counter in archive_counts rather than counting.
func segmentCount(ctx context.Context, d *Dialect, tx Querier, sg *Segment, q storage.ArchiveQuery) error {
	if !sg.Shared && q.With == "" && q.Start.IsZero() && q.End.IsZero() && len(q.IDs) == 0 && q.Groupchat == nil {
		err := QueryRow(ctx, tx, d.counter, []any{sg.Key}, &sg.count)
		if errors.Is(err, ErrNoRows) {
			sg.count, err = 0, nil
		}
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		return nil
	}
	cq, cargs := d.CountSQL(sg, q, "", 0)
	if err := QueryRow(ctx, tx, cq, cargs, &sg.count); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

// countBefore returns the number of sg's matches before pivot, counting
// whichever side of pivot spans fewer positions: a client syncing
// "after the last id it saw" then pays for a few records, not the whole
// archive.
func countBefore(ctx context.Context, d *Dialect, tx Querier, sg *Segment, q storage.ArchiveQuery, pivot int64) (int, error) {
	switch {
	case pivot <= sg.span.lo:
		return 0, nil
	case pivot > sg.span.hi:
		return sg.count, nil
	}
	var n int
	if pivot-sg.span.lo <= sg.span.hi-pivot {
		cq, cargs := d.CountSQL(sg, q, "<", pivot)
		if err := QueryRow(ctx, tx, cq, cargs, &n); err != nil {
			return 0, fmt.Errorf("count before: %w", err)
		}
		return n, nil
	}
	cq, cargs := d.CountSQL(sg, q, ">=", pivot)
	if err := QueryRow(ctx, tx, cq, cargs, &n); err != nil {
		return 0, fmt.Errorf("count after: %w", err)
	}
	return sg.count - n, nil
}

// archiveBackward reports whether q pages from the end of its range.
func archiveBackward(q storage.ArchiveQuery) bool {
	return q.Before || q.BeforeID != ""
}

// writeFilter appends the WHERE condition of q's filters on sg. With
// stampIndex false the stamp terms are written so that no index answers
// them, so that the planner does not choose (key, stamp) for a query that
// must walk in position order.
func (s *sqlText) writeFilter(sg *Segment, q storage.ArchiveQuery, stampIndex bool) {
	_, key := segmentTable(sg)
	s.WriteString(key + ` = ` + s.arg(sg.Key))
	if q.With != "" {
		// A full JID selects one occupant of a room. Resources may
		// contain '/', so only the first one separates.
		bare, nick, full := strings.Cut(q.With, "/")
		switch {
		case !sg.Shared && full:
			s.WriteString(` AND with_jid = ` + s.arg(bare) + ` AND from_nick = ` + s.arg(nick))
		case !sg.Shared:
			s.WriteString(` AND with_jid = ` + s.arg(q.With))
		case full:
			// A shared segment is chosen by its room already.
			s.WriteString(` AND from_nick = ` + s.arg(nick))
		}
	}
	stamp := "stamp"
	if !stampIndex {
		stamp = s.d.NoIndex("stamp")
	}
	if !q.Start.IsZero() {
		s.WriteString(` AND ` + stamp + ` >= ` + s.arg(q.Start.UnixMicro()))
	}
	if !q.End.IsZero() {
		s.WriteString(` AND ` + stamp + ` <= ` + s.arg(q.End.UnixMicro()))
	}
	if len(q.IDs) > 0 {
		if s.d.IDArray {
			s.WriteString(` AND id = ANY(` + s.arg(q.IDs) + `)`)
		} else {
			s.WriteString(` AND id IN (`)
			for i, id := range q.IDs {
				if i > 0 {
					s.WriteString(`, `)
				}
				s.WriteString(s.arg(id))
			}
			s.WriteString(`)`)
		}
	}
	if q.Groupchat != nil && !sg.Shared {
		s.WriteString(` AND groupchat = ` + s.arg(s.d.Bool(*q.Groupchat)))
	}
	s.WriteString(sg.bounds(s))
}

// PageSQL returns the query for one page of q on sg within the exclusive
// bounds after and before (0 for none), fetching Max+1 rows in the
// paging direction by walking (key, seq) or (owner, with_jid, seq)
// without sorting.
func (d *Dialect) PageSQL(sg *Segment, q storage.ArchiveQuery, after, before int64) (string, []any) {
	s := sqlText{d: d}
	table, _ := segmentTable(sg)
	columns := d.roomColumns()
	if !sg.Shared {
		columns = ArchiveColumns
		if q.With != "" && len(q.IDs) == 0 {
			table += d.OwnWithHint
		}
	}
	s.WriteString(`SELECT ` + columns + ` FROM ` + table + ` WHERE `)
	s.writeFilter(sg, q, false)
	if after > 0 {
		s.WriteString(` AND seq > ` + s.arg(after))
	}
	if before > 0 {
		s.WriteString(` AND seq < ` + s.arg(before))
	}
	order := "seq"
	if len(q.IDs) > 0 {
		// The few records named are cheaper to find by (key, id) and
		// sort than by walking the archive in order.
		order = d.NoIndex("seq")
	}
	if archiveBackward(q) {
		order += " DESC"
	}
	s.WriteString(` ORDER BY ` + order + ` LIMIT ` + s.arg(q.Max+1))
	return s.String(), s.args
}

// CountSQL returns the query counting sg's matches of q, those with
// seq op pivot when op is not empty.
func (d *Dialect) CountSQL(sg *Segment, q storage.ArchiveQuery, op string, pivot int64) (string, []any) {
	s := sqlText{d: d}
	table, _ := segmentTable(sg)
	s.WriteString(`SELECT count(*) FROM ` + table + ` WHERE `)
	s.writeFilter(sg, q, true)
	if op != "" {
		s.WriteString(` AND seq ` + op + ` ` + s.arg(pivot))
	}
	return s.String(), s.args
}

// ScanRecord reads a record of owner selected with ArchiveColumns (or a
// page's room columns) and its position.
func ScanRecord(s Scanner, owner string) (storage.ArchiveRecord, int64, error) {
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
