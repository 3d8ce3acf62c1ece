// Package dbcopy moves a deployment's data from the SQLite backend to
// PostgreSQL (minimix storage copy): every table, positions and ids
// preserved, in one PostgreSQL transaction, then verified by row counts
// and by hashes of a sample of rows read back.
//
// The two backends keep the same tables and columns (their migrations
// mirror each other), so the copy is table by table, converting SQLite's
// integers to PostgreSQL booleans where the column is one. The source is
// read in one snapshot; the server should be stopped, or what it writes
// meanwhile is not copied.
package dbcopy

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage/postgres"
	"minimix/internal/storage/sqlite"
)

// Options tune a copy.
type Options struct {
	// Sample is how many rows of each table are read back from the
	// destination and compared by hash; 0 compares every row.
	Sample int
	// Progress, if not nil, gets a line per table as it is copied.
	Progress io.Writer
}

// TableReport is what was copied of one table.
type TableReport struct {
	Name             string
	Source, Copied   int64 // rows in the source, and in the destination after the copy
	Sampled, Matched int   // rows compared by hash, and those equal
}

// Report is the outcome of a copy.
type Report struct {
	Tables []TableReport
	// Digest is the SHA-256 of the sampled rows' hashes, in table order:
	// the same for the source and the destination when every sample
	// matched.
	Digest string
	// MaxPosition is the largest archive position copied; the
	// destination hands out positions after it.
	MaxPosition int64
	Elapsed     time.Duration
}

// OK reports whether every count and every sampled hash matched.
func (r *Report) OK() bool {
	for _, t := range r.Tables {
		if t.Source != t.Copied || t.Sampled != t.Matched {
			return false
		}
	}
	return true
}

// Write prints the report as a table and a closing verdict.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%-20s %12s %12s %8s %8s\n", "table", "source", "copied", "sampled", "hashes")
	var rows int64
	var sampled int
	for _, t := range r.Tables {
		verdict := "ok"
		if t.Sampled != t.Matched {
			verdict = fmt.Sprintf("%d DIFFER", t.Sampled-t.Matched)
		} else if t.Source != t.Copied {
			verdict = "COUNT DIFFERS"
		}
		fmt.Fprintf(w, "%-20s %12d %12d %8d %8s\n", t.Name, t.Source, t.Copied, t.Sampled, verdict)
		rows += t.Copied
		sampled += t.Sampled
	}
	fmt.Fprintf(w, "archive positions up to %d; the destination continues after them\n", r.MaxPosition)
	fmt.Fprintf(w, "sample digest (sha256) %s\n", r.Digest)
	if r.OK() {
		fmt.Fprintf(w, "copied %d rows in %s: every count matches, %d sampled rows are identical\n", rows, r.Elapsed.Round(time.Millisecond), sampled)
	} else {
		fmt.Fprintf(w, "COPY DIFFERS from its source: see the table above\n")
	}
}

// SQLiteToPostgres copies the SQLite database at path into the
// PostgreSQL database named by dsn, which must hold no minimix data. Both
// schemas are first brought up to date by the backends' own Open.
func SQLiteToPostgres(ctx context.Context, path, dsn string, opt Options) (*Report, error) {
	began := time.Now()
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := src.Close(); err != nil { // written through to the file
		return nil, err
	}
	dst, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := dst.Close(); err != nil {
		return nil, err
	}

	sdb, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer sdb.Close()
	stx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer stx.Rollback()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to the destination: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := checkEmpty(ctx, conn); err != nil {
		return nil, err
	}

	rep := &Report{}
	digest := sha256.New()
	samples := make([][]sample, len(tables))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for i, t := range tables {
			tr := TableReport{Name: t.name}
			if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&tr.Source); err != nil {
				return fmt.Errorf("count %s: %w", t.name, err)
			}
			every := int64(1)
			if opt.Sample > 0 && tr.Source > int64(opt.Sample) {
				every = (tr.Source + int64(opt.Sample) - 1) / int64(opt.Sample)
			}
			rs, err := newRowSource(ctx, stx, t, every)
			if err != nil {
				return err
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, names(t.cols), rs)
			rs.close()
			if err == nil {
				err = rs.err
			}
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
			if n != rs.read {
				return fmt.Errorf("copy %s: %d rows read, %d written", t.name, rs.read, n)
			}
			samples[i] = rs.samples
			rep.Tables = append(rep.Tables, tr)
			if opt.Progress != nil {
				fmt.Fprintf(opt.Progress, "copied %s: %d rows\n", t.name, n)
			}
		}
		return finish(ctx, tx, rep)
	})
	if err != nil {
		return nil, fmt.Errorf("copy to PostgreSQL (nothing was written): %w", err)
	}

	// Verified after the commit, on what the destination now holds.
	for i, t := range tables {
		tr := &rep.Tables[i]
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&tr.Copied); err != nil {
			return nil, fmt.Errorf("count %s in the destination: %w", t.name, err)
		}
		tr.Sampled = len(samples[i])
		tr.Matched, err = verify(ctx, conn, t, samples[i])
		if err != nil {
			return nil, err
		}
		for _, s := range samples[i] {
			digest.Write(s.hash[:])
		}
	}
	rep.Digest = hex.EncodeToString(digest.Sum(nil))
	rep.Elapsed = time.Since(began)
	return rep, nil
}

// checkEmpty refuses a destination that holds data: a copy merged into
// another deployment's tables would mix their positions and ids.
func checkEmpty(ctx context.Context, conn *pgx.Conn) error {
	var full []string
	for _, t := range append(tables, table{name: "archive_counts"}) {
		var has bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.name+`)`).Scan(&has); err != nil {
			return fmt.Errorf("check the destination: %w", err)
		}
		if has {
			full = append(full, t.name)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("the destination already holds data (%s): copy into an empty database or schema", strings.Join(full, ", "))
	}
	return nil
}

// finish computes what the destination derives from the rows copied: the
// archive counters and the sequences that hand out ids and positions.
func finish(ctx context.Context, tx pgx.Tx, rep *Report) error {
	if _, err := tx.Exec(ctx, `INSERT INTO archive_counts (owner, records)
		SELECT owner, count(*) FROM archive_messages GROUP BY owner`); err != nil {
		return fmt.Errorf("count archives: %w", err)
	}
	err := tx.QueryRow(ctx, `SELECT greatest(
		(SELECT coalesce(max(seq), 0) FROM archive_messages),
		(SELECT coalesce(max(seq), 0) FROM room_messages),
		(SELECT coalesce(max(from_seq), 0) FROM room_memberships),
		(SELECT coalesce(max(to_seq), 0) FROM room_memberships))`).Scan(&rep.MaxPosition)
	if err != nil {
		return fmt.Errorf("archive positions: %w", err)
	}
	for _, q := range []string{
		`SELECT setval('archive_seq', greatest($1::bigint, (SELECT last_value FROM archive_seq)))`,
		`SELECT setval(pg_get_serial_sequence('offline_messages', 'id'), greatest((SELECT max(id) FROM offline_messages), 1), (SELECT count(*) > 0 FROM offline_messages))`,
		`SELECT setval(pg_get_serial_sequence('pep_items', 'seq'), greatest((SELECT max(seq) FROM pep_items), 1), (SELECT count(*) > 0 FROM pep_items))`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, rep.MaxPosition)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("set sequences: %w", err)
		}
	}
	return nil
}

func names(cs []column) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}

// sample is a row kept for verification: its key and its hash.
type sample struct {
	key  []any
	hash [32]byte
}

// rowSource feeds CopyFrom from the source's rows, converting each
// value, and keeps every every-th row as a sample.
type rowSource struct {
	t       table
	rows    *sql.Rows
	vals    []any
	scan    []any
	every   int64
	read    int64
	samples []sample
	err     error
}

func newRowSource(ctx context.Context, stx *sql.Tx, t table, every int64) (*rowSource, error) {
	rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(names(t.cols), ", ")+` FROM `+t.name+
		` ORDER BY `+strings.Join(t.key, ", "))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.name, err)
	}
	rs := &rowSource{t: t, rows: rows, every: every, vals: make([]any, len(t.cols)), scan: make([]any, len(t.cols))}
	for i := range rs.scan {
		rs.scan[i] = new(any)
	}
	return rs, nil
}

func (rs *rowSource) Next() bool {
	if rs.err != nil || !rs.rows.Next() {
		return false
	}
	if err := rs.rows.Scan(rs.scan...); err != nil {
		rs.err = err
		return false
	}
	for i, c := range rs.t.cols {
		v, err := convert(c, *rs.scan[i].(*any))
		if err != nil {
			rs.err = fmt.Errorf("row %d: %w", rs.read+1, err)
			return false
		}
		rs.vals[i] = v
	}
	if rs.read%rs.every == 0 {
		rs.samples = append(rs.samples, sample{key: keyOf(rs.t, rs.vals), hash: hashRow(rs.t, rs.vals)})
	}
	rs.read++
	return true
}

func (rs *rowSource) Values() ([]any, error) { return rs.vals, nil }

func (rs *rowSource) Err() error {
	if rs.err != nil {
		return rs.err
	}
	return rs.rows.Err()
}

func (rs *rowSource) close() {
	if err := rs.rows.Close(); err != nil && rs.err == nil {
		rs.err = err
	}
	if err := rs.rows.Err(); err != nil && rs.err == nil {
		rs.err = err
	}
}

// convert turns a value read from SQLite (int64, string, []byte or nil)
// into what the PostgreSQL column takes.
func convert(c column, v any) (any, error) {
	switch c.kind {
	case text:
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		default:
			return nil, fmt.Errorf("%s: %T where text belongs", c.name, v)
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("%s: %q is not text PostgreSQL can keep (invalid UTF-8 or NUL)", c.name, s)
		}
		return s, nil
	case integer, boolean, nullInt:
		if v == nil && c.kind == nullInt {
			return nil, nil
		}
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("%s: %T where an integer belongs", c.name, v)
		}
		if c.kind == boolean {
			return n != 0, nil
		}
		return n, nil
	case blob, nullBlob:
		switch v := v.(type) {
		case nil:
			if c.kind == blob {
				return []byte{}, nil
			}
			return nil, nil
		case []byte:
			return v, nil
		case string:
			return []byte(v), nil
		}
		return nil, fmt.Errorf("%s: %T where bytes belong", c.name, v)
	}
	return nil, fmt.Errorf("%s: unknown kind", c.name)
}

// normalize makes a value read back from PostgreSQL comparable with the
// converted source value.
func normalize(c column, v any) any {
	switch v := v.(type) {
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	case []byte:
		if c.kind == text {
			return string(v)
		}
	}
	return v
}

func keyOf(t table, vals []any) []any {
	var key []any
	for _, k := range t.key {
		for i, c := range t.cols {
			if c.name == k {
				key = append(key, vals[i])
			}
		}
	}
	return key
}

// hashRow hashes a row's values with their types and lengths, so that no
// two different rows hash alike by running values together.
func hashRow(t table, vals []any) [32]byte {
	h := sha256.New()
	h.Write([]byte(t.name))
	var n [8]byte
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			h.Write([]byte{0})
		case string:
			h.Write([]byte{1})
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			h.Write(n[:])
			h.Write([]byte(v))
		case int64:
			h.Write([]byte{2})
			binary.BigEndian.PutUint64(n[:], uint64(v))
			h.Write(n[:])
		case bool:
			if v {
				h.Write([]byte{3, 1})
			} else {
				h.Write([]byte{3, 0})
			}
		case []byte:
			h.Write([]byte{4})
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			h.Write(n[:])
			h.Write(v)
		default:
			h.Write([]byte(fmt.Sprintf("?%T", v)))
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// verify reads the sampled rows back from the destination by key and
// returns how many hash alike, in one pipelined batch.
func verify(ctx context.Context, conn *pgx.Conn, t table, samples []sample) (int, error) {
	if len(samples) == 0 {
		return 0, nil
	}
	var where []string
	for i, k := range t.key {
		where = append(where, fmt.Sprintf("%s = $%d", k, i+1))
	}
	q := `SELECT ` + strings.Join(names(t.cols), ", ") + ` FROM ` + t.name + ` WHERE ` + strings.Join(where, " AND ")
	matched := 0
	const chunk = 500
	for start := 0; start < len(samples); start += chunk {
		part := samples[start:min(start+chunk, len(samples))]
		var b pgx.Batch
		for _, s := range part {
			b.Queue(q, s.key...)
		}
		br := conn.SendBatch(ctx, &b)
		for _, s := range part {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return 0, fmt.Errorf("read back %s: %w", t.name, err)
			}
			found := false
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					rows.Close()
					br.Close()
					return 0, fmt.Errorf("read back %s: %w", t.name, err)
				}
				for i, c := range t.cols {
					vals[i] = normalize(c, vals[i])
				}
				found = hashRow(t, vals) == s.hash
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				br.Close()
				return 0, fmt.Errorf("read back %s: %w", t.name, err)
			}
			if found {
				matched++
			}
		}
		if err := br.Close(); err != nil {
			return 0, fmt.Errorf("read back %s: %w", t.name, err)
		}
	}
	return matched, nil
}

// ErrDiffers is returned by callers when a report is not OK.
var ErrDiffers = errors.New("the copy differs from its source")

// sqlOpen opens the SQLite file for reading; the driver is the one
// package sqlite registers.
func sqlOpen(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
