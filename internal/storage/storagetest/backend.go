package storagetest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"minimix/internal/storage"
)

// Checks that each SQL backend runs from its own tests, where they need
// its internals (closing and reopening its database, holding its writer,
// reading its tables) or check more than storage promises.

// CheckReopen checks what a store keeps across Close and Open: accounts,
// archive records (stamps to the microsecond), and positions that
// continue after the last one handed out; and that Close may be called
// twice and refuses writes after it. closed runs after the first store
// is closed; reopen opens the same database again, twice.
func CheckReopen(t *testing.T, s storage.Store, closed func(), reopen func() storage.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, "CreateAccount", s.CreateAccount(ctx, "alice", storage.Credentials{}))
	rec := storage.ArchiveRecord{Owner: alice, ID: "1", Stamp: time.Unix(1700000000, 123456000).UTC(),
		With: bob, Stanza: []byte("<message/>")}
	last, err := s.QueueArchive(ctx, rec)
	must(t, "QueueArchive", err)
	must(t, "Close", s.Close())
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.QueueArchive(ctx, rec); err == nil {
		t.Error("QueueArchive after Close succeeded")
	}
	if err := s.CreateAccount(ctx, "bob", storage.Credentials{}); err == nil {
		t.Error("CreateAccount after Close succeeded")
	}
	closed()
	for i := range 2 {
		s := reopen()
		if ok, err := s.AccountExists(ctx, "alice"); err != nil || !ok {
			t.Errorf("reopen %d: AccountExists(alice) = %v, %v", i, ok, err)
		}
		got, err := s.LastArchived(ctx, rec.Owner, rec.With)
		if err != nil || !got.Stamp.Equal(rec.Stamp) || got.ID != rec.ID {
			t.Errorf("reopen %d: LastArchived = %+v, %v", i, got, err)
		}
		next := rec // with another party: LastArchived with bob stays rec
		next.ID, next.With = "next"+strconv.Itoa(i), carol
		seq, err := s.QueueArchive(ctx, next)
		must(t, "QueueArchive", err)
		if seq <= last {
			t.Errorf("reopen %d: position %d, not after %d", i, seq, last)
		}
		last = seq
		must(t, "Close", s.Close())
	}
}

// CheckQueryArchiveMaxZero checks the XEP-0059 count-only query, which
// storage.ArchiveQuery does not promise (it asks for Max of at least 1)
// but the SQL backends answer, and that a negative Max is refused.
func CheckQueryArchiveMaxZero(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	for i := range 3 {
		must(t, "AppendArchive", s.AppendArchive(ctx, storage.ArchiveRecord{Owner: "a@example.net", ID: strconv.Itoa(i)}))
	}
	for _, tc := range []struct {
		owner    string
		count    int
		complete bool
	}{
		{"a@example.net", 3, false},
		{"b@example.net", 0, true},
	} {
		page, err := s.QueryArchive(ctx, tc.owner, storage.ArchiveQuery{Max: 0})
		must(t, "QueryArchive", err)
		if len(page.Records) != 0 || page.Count != tc.count || page.Complete != tc.complete {
			t.Errorf("%s: %d records, Count %d, Complete %v; want 0, %d, %v",
				tc.owner, len(page.Records), page.Count, page.Complete, tc.count, tc.complete)
		}
	}
	if _, err := s.QueryArchive(ctx, "a@example.net", storage.ArchiveQuery{Max: -1}); err == nil {
		t.Error("negative Max accepted")
	}
}

// CheckArchiveCounts checks that a backend's per-owner record counters
// agree with its archive after every kind of change, including a DELETE
// that does not go through the store, as an operator's or a retention
// job's would: check compares them after each step (the step named),
// deleteBefore deletes every owner's records stamped before cutoff
// behind the store's back.
func CheckArchiveCounts(t *testing.T, s storage.Store, check func(step string), deleteBefore func(cutoff time.Time)) {
	t.Helper()
	ctx := t.Context()
	appendN := func(owner string, n int) {
		t.Helper()
		for i := range n {
			must(t, "AppendArchive", s.AppendArchive(ctx, storage.ArchiveRecord{
				Owner: owner, ID: strconv.Itoa(i), Stamp: time.Unix(int64(i), 0), With: "x@example.net",
			}))
		}
		// Appends are written behind; check reads the tables.
		must(t, "SyncArchive", s.SyncArchive(ctx))
	}
	appendN(alice, 30)
	appendN(bob, 10)
	appendN(room, 5)
	if err := s.AppendArchive(ctx, storage.ArchiveRecord{Owner: bob, ID: "3"}); err == nil {
		t.Fatal("duplicate append succeeded")
	}
	check("append")
	deleteBefore(time.Unix(12, 0))
	check("a delete over several owners")
	page, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{Before: true, Max: 5})
	if err != nil || page.Count != 18 || page.FirstIndex != 13 {
		t.Errorf("after the delete: Count %d, FirstIndex %d, %v; want 18, 13", page.Count, page.FirstIndex, err)
	}
	_, err = s.ExpireArchive(ctx, time.Unix(20, 0))
	must(t, "ExpireArchive", err)
	check("ExpireArchive")
	must(t, "DeleteArchive", s.DeleteArchive(ctx, room))
	check("DeleteArchive")
	must(t, "CreateAccount", s.CreateAccount(ctx, "bob", storage.Credentials{}))
	must(t, "DeleteAccount", s.DeleteAccount(ctx, "bob"))
	check("DeleteAccount")
	appendN(bob, 2)
	check("append after delete")
}

// CheckBadRowIsolated checks that a record that cannot be written (an
// id its owner has already, queued without the check) costs only itself:
// the batch it came in is written row by row, and the failure is counted
// (failures). hold keeps the store's writer from starting and release
// starts it, so that the records queued in between are one batch.
func CheckBadRowIsolated(t *testing.T, s storage.Store, hold, release func(), failures func() uint64) {
	t.Helper()
	ctx := t.Context()
	rec := func(id string) storage.ArchiveRecord {
		return storage.ArchiveRecord{Owner: alice, ID: id, Stamp: t0, With: bob}
	}
	_, err := s.QueueArchive(ctx, rec("taken"))
	must(t, "QueueArchive", err)
	must(t, "SyncArchive", s.SyncArchive(ctx))
	hold()
	for _, id := range []string{"a", "taken", "b"} {
		_, err := s.QueueArchive(ctx, rec(id))
		must(t, "QueueArchive", err)
	}
	release()
	must(t, "SyncArchive", s.SyncArchive(ctx))
	page, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{Max: 10})
	must(t, "QueryArchive", err)
	if got := strings.Join(recordIDs(page), " "); got != "taken a b" || page.Count != 3 {
		t.Errorf("archive %q (Count %d), want \"taken a b\" (3)", got, page.Count)
	}
	if n := failures(); n != 1 {
		t.Errorf("%d write failures counted, want 1", n)
	}
}

// CheckNewerSchemaRefused checks that a database a newer binary migrated
// is refused: mark records migration 9999 in the store's database, which
// it then closes; reopen opens that database again, and must fail
// naming the version.
func CheckNewerSchemaRefused(t *testing.T, mark func(), reopen func() (storage.Store, error)) {
	t.Helper()
	mark()
	s, err := reopen()
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer schema")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error does not name the version: %v", err)
	}
}
