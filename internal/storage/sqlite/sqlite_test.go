package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
	"minimix/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		// A missing parent directory exercises Open's MkdirAll.
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "data", "minimix.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return db
	})
}

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "minimix.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db, path
}

func TestOpenPermissions(t *testing.T) {
	db, path := openTemp(t)
	defer db.Close()
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Dir(path), 0o700 | os.ModeDir},
		{path, 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openTemp(t)
	defer db.Close()
	ctx := t.Context()
	// Checked on several connections at once: each pooled connection must
	// have been set up, not only the first.
	var conns []interface{ Close() error }
	for i := range 3 {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for _, tc := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "1"}, // NORMAL
			{"busy_timeout", "10000"},
			{"cache_size", "-65536"},
			{"mmap_size", "1073741824"},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, tc.pragma, got, tc.want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestReopen: storagetest.CheckReopen, with Close checkpointing (the
// log is empty, the database file holds all) and every migration
// recorded once.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	storagetest.CheckReopen(t, db, func() {
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
			t.Errorf("WAL holds %d bytes after Close", fi.Size())
		}
	}, func() storage.Store {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		var n, maxVersion int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &maxVersion); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || maxVersion != len(ms) {
			t.Errorf("%d migrations recorded up to version %d, want %d", n, maxVersion, len(ms))
		}
		return db
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	db, path := openTemp(t)
	storagetest.CheckNewerSchemaRefused(t, func() {
		if _, err := db.sql.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}, func() (storage.Store, error) { return Open(t.Context(), path) })
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"",
		filepath.Join(dir, "what?.db"),
		filepath.Join(blocker, "minimix.db"), // parent is a file
	} {
		if db, err := Open(context.Background(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestQueryPlans checks that the archive queries walk an index in seq
// order instead of scanning the table or sorting: with 100k records
// either would make every page cost the whole archive.
func TestQueryPlans(t *testing.T) {
	db, _ := openTemp(t)
	defer db.Close()
	yes := true
	own := &sqlarchive.Segment{Key: "a"}
	page := func(q storage.ArchiveQuery, after, before int64) func() (string, []any) {
		return func() (string, []any) { return dialect.PageSQL(own, q, after, before) }
	}
	count := func(q storage.ArchiveQuery, op string, pivot int64) func() (string, []any) {
		return func() (string, []any) { return dialect.CountSQL(own, q, op, pivot) }
	}
	shared := func(q storage.ArchiveQuery, after, before int64) func() (string, []any) {
		return func() (string, []any) {
			return dialect.PageSQL(&sqlarchive.Segment{Shared: true, Key: "r", After: 3, Before: 90}, q, after, before)
		}
	}
	sharedCount := func(q storage.ArchiveQuery) func() (string, []any) {
		return func() (string, []any) {
			return dialect.CountSQL(&sqlarchive.Segment{Shared: true, Key: "r", After: 3}, q, "", 0)
		}
	}
	span := func(sg *sqlarchive.Segment, q storage.ArchiveQuery) func() (string, []any) {
		return func() (string, []any) { return dialect.SpanSQL(sg, q) }
	}
	start := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name  string
		sql   func() (string, []any)
		index string // "": any index that covers the query
		sorts bool   // whether a sort of the few rows found is expected
	}{
		{"page", page(storage.ArchiveQuery{Max: 10}, 5, 0), "archive_messages_owner", false},
		{"page before", page(storage.ArchiveQuery{Before: true, Max: 10}, 0, 9), "archive_messages_owner", false},
		{"page with", page(storage.ArchiveQuery{With: "b", Before: true, Max: 10}, 0, 0), "archive_messages_owner_with", false},
		{"page with occupant", page(storage.ArchiveQuery{With: "b/nick", Max: 10}, 3, 7), "archive_messages_owner_with", false},
		{"page groupchat", page(storage.ArchiveQuery{Groupchat: &yes, Max: 10}, 0, 0), "archive_messages_owner", false},
		{"page start", page(storage.ArchiveQuery{Start: start, Max: 10}, 3, 7), "archive_messages_owner", false},
		{"page start end with", page(storage.ArchiveQuery{Start: start, End: start, With: "b", Before: true, Max: 10}, 3, 7), "archive_messages_owner_with", false},
		{"page ids", page(storage.ArchiveQuery{IDs: []string{"x", "y"}, Max: 10}, 0, 0), "sqlite_autoindex_archive_messages_1", true},
		{"page ids after", page(storage.ArchiveQuery{IDs: []string{"x", "y"}, Max: 10}, 3, 0), "sqlite_autoindex_archive_messages_1", true},
		{"shared page", shared(storage.ArchiveQuery{Max: 10}, 5, 0), "room_messages_room", false},
		{"shared page before", shared(storage.ArchiveQuery{Before: true, Max: 10}, 0, 80), "room_messages_room", false},
		{"shared page occupant", shared(storage.ArchiveQuery{With: "r/nick", Max: 10}, 5, 0), "room_messages_room", false},
		{"shared page start", shared(storage.ArchiveQuery{Start: start, Max: 10}, 5, 0), "room_messages_room", false},
		{"shared page ids", shared(storage.ArchiveQuery{IDs: []string{"x", "y"}, Max: 10}, 0, 0), "sqlite_autoindex_room_messages_1", true},
		{"shared count", sharedCount(storage.ArchiveQuery{}), "room_messages_room", false},
		{"shared count start", sharedCount(storage.ArchiveQuery{Start: start}), "room_messages_room_stamp", false},
		{"count", count(storage.ArchiveQuery{}, "", 0), "", false},
		{"count before", count(storage.ArchiveQuery{}, "<", 5), "archive_messages_owner", false},
		{"count with after", count(storage.ArchiveQuery{With: "b"}, ">=", 5), "archive_messages_owner_with", false},
		{"count start", count(storage.ArchiveQuery{Start: start}, "", 0), "archive_messages_owner_stamp", false},
		{"span", span(own, storage.ArchiveQuery{}), "archive_messages_owner", false},
		{"span start", span(own, storage.ArchiveQuery{Start: start, End: start}), "archive_messages_owner_stamp", false},
		{"shared span", span(&sqlarchive.Segment{Shared: true, Key: "r", After: 3, Before: 90}, storage.ArchiveQuery{}), "room_messages_room", false},
		{"origin", func() (string, []any) {
			return `SELECT 1 FROM archive_messages
				WHERE owner = ? AND with_jid = ? AND origin_stanza_id = ? AND origin_stanza_id <> '' LIMIT 1`,
				[]any{"a", "b", "c"}
		}, "archive_messages_origin", false},
		{"last", func() (string, []any) {
			return `SELECT ` + sqlarchive.ArchiveColumns + ` FROM archive_messages
				WHERE owner = ? AND with_jid = ? ORDER BY seq DESC LIMIT 1`, []any{"a", "b"}
		}, "archive_messages_owner_with", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := tc.sql()
			plan := explain(t, db, q, args)
			switch {
			case tc.index == "" && !strings.Contains(plan, "COVERING INDEX "):
				t.Errorf("plan does not use a covering index:\n%s", plan)
			case tc.index != "" && !strings.Contains(plan, "INDEX "+tc.index+" "):
				t.Errorf("plan does not use %s:\n%s", tc.index, plan)
			}
			if sorts := strings.Contains(plan, "TEMP B-TREE"); sorts != tc.sorts {
				t.Errorf("plan sorts: %v, want %v:\n%s", sorts, tc.sorts, plan)
			}
		})
	}
}

func explain(t *testing.T, db *DB, q string, args []any) string {
	t.Helper()
	rows, err := db.sql.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}

// TestArchiveCounts: storagetest.CheckArchiveCounts over the counters the
// triggers keep.
func TestArchiveCounts(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	defer db.Close()
	storagetest.CheckArchiveCounts(t, db, func(step string) {
		t.Helper()
		rows, err := db.sql.QueryContext(ctx, `
			SELECT o.owner, coalesce(c.records, 0), count(m.seq)
			FROM (SELECT owner FROM archive_messages UNION SELECT owner FROM archive_counts) o
			LEFT JOIN archive_counts c ON c.owner = o.owner
			LEFT JOIN archive_messages m ON m.owner = o.owner
			GROUP BY o.owner`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var owner string
			var counted, actual int
			if err := rows.Scan(&owner, &counted, &actual); err != nil {
				t.Fatal(err)
			}
			if counted != actual {
				t.Errorf("%s: %s counted %d, has %d", step, owner, counted, actual)
			}
		}
	}, func(cutoff time.Time) {
		if _, err := db.sql.ExecContext(ctx, `DELETE FROM archive_messages WHERE stamp < ?`, cutoff.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBadRowIsolated: storagetest.CheckBadRowIsolated.
func TestBadRowIsolated(t *testing.T) {
	db, _ := openTemp(t)
	defer db.Close()
	storagetest.CheckBadRowIsolated(t, db, db.archive.Hold, db.archive.Release, db.ArchiveWriteFailures)
}

// TestQueryArchiveMaxZero: storagetest.CheckQueryArchiveMaxZero.
func TestQueryArchiveMaxZero(t *testing.T) {
	db, _ := openTemp(t)
	defer db.Close()
	storagetest.CheckQueryArchiveMaxZero(t, db)
}
