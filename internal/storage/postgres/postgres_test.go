package postgres

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/storage"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }

// openTemp opens a store in a new, empty schema.
func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db, dsn
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		db, _ := openTemp(t)
		return db
	})
}

func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	// Nodes starting at once: each migration is applied once, and every
	// node opens.
	const nodes = 4
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: Open: %v", i, err)
		}
		defer dbs[i].Close()
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var n, latest int
	if err := dbs[0].pool.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &latest); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || latest != len(ms) {
		t.Errorf("%d migrations recorded up to version %d, want %d", n, latest, len(ms))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	db, dsn := openTemp(t)
	ctx := t.Context()
	if _, err := db.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err := Open(ctx, dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database from a newer schema")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error does not name the version: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:secret@127.0.0.1:1/x?connect_timeout=2", // nothing listens on port 1
		"postgres://u:secret@[bad",
	} {
		db, err := Open(t.Context(), dsn)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", dsn, err)
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	db, dsn := openTemp(t)
	if err := db.CreateAccount(ctx, "alice", storage.Credentials{}); err != nil {
		t.Fatal(err)
	}
	rec := storage.ArchiveRecord{Owner: "alice@example.net", ID: "1", Stamp: time.Unix(1700000000, 123456000).UTC(),
		With: "bob@example.net", Stanza: []byte("<message/>")}
	first, err := db.QueueArchive(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := db.QueueArchive(ctx, rec); err == nil {
		t.Error("QueueArchive after Close succeeded")
	}
	db, err = Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, err := db.AccountExists(ctx, "alice"); err != nil || !ok {
		t.Errorf("AccountExists(alice) = %v, %v", ok, err)
	}
	got, err := db.LastArchived(ctx, rec.Owner, rec.With)
	if err != nil || !got.Stamp.Equal(rec.Stamp) || got.ID != rec.ID {
		t.Errorf("LastArchived = %+v, %v", got, err)
	}
	rec.ID = "2"
	next, err := db.QueueArchive(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if next <= first {
		t.Errorf("position after reopening %d, not after %d", next, first)
	}
}

// TestNodes runs two stores on one database, as two nodes of a cluster:
// every position is unique, each node's positions increase, everything
// either queued is stored, and after AdvancePositions a node's positions
// follow everything the other had reserved.
func TestNodes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	var nodes [2]*DB
	for i := range nodes {
		db, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nodes[i] = db
	}
	const perNode = 2000
	seqs := make([][]int64, len(nodes))
	var wg sync.WaitGroup
	for i, db := range nodes {
		wg.Go(func() {
			for k := range perNode {
				var seq int64
				var err error
				if k%10 == 0 {
					seq, err = db.QueueRoomMessage(ctx, storage.RoomMessage{
						Room: "room@conference.example.net", ID: fmt.Sprintf("n%d-%d", i, k), Stamp: time.Now()})
				} else {
					seq, err = db.QueueArchive(ctx, storage.ArchiveRecord{
						Owner: fmt.Sprintf("user%d@example.net", k%7), ID: fmt.Sprintf("n%d-%d", i, k), Stamp: time.Now()})
				}
				if err != nil {
					t.Error(err)
					return
				}
				seqs[i] = append(seqs[i], seq)
			}
		})
	}
	wg.Wait()
	seen := map[int64]int{}
	for i, s := range seqs {
		if !slices.IsSorted(s) {
			t.Errorf("node %d: positions do not increase", i)
		}
		for _, v := range s {
			if j, dup := seen[v]; dup {
				t.Fatalf("position %d handed out by nodes %d and %d", v, j, i)
			}
			seen[v] = i
		}
	}
	for _, db := range nodes {
		if err := db.SyncArchive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var records, rooms int
	if err := nodes[0].pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM archive_messages), (SELECT count(*) FROM room_messages)`).Scan(&records, &rooms); err != nil {
		t.Fatal(err)
	}
	if records+rooms != len(nodes)*perNode || rooms != len(nodes)*perNode/10 {
		t.Errorf("stored %d records and %d room records, want %d and %d", records, rooms, len(nodes)*perNode*9/10, len(nodes)*perNode/10)
	}
	for i, db := range nodes {
		if n := db.ArchiveWriteFailures(); n != 0 {
			t.Errorf("node %d: %d write failures", i, n)
		}
	}

	// Node 1 reserves a fresh range (its next positions are far ahead of
	// node 0's current range), then node 0 takes over: after
	// AdvancePositions its positions follow node 1's.
	if err := nodes[1].AdvancePositions(ctx); err != nil {
		t.Fatal(err)
	}
	taken, err := nodes[1].QueueArchive(ctx, storage.ArchiveRecord{Owner: "x@example.net", ID: "from-1", Stamp: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].AdvancePositions(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := nodes[0].QueueArchive(ctx, storage.ArchiveRecord{Owner: "x@example.net", ID: "from-0", Stamp: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if after <= taken {
		t.Errorf("after AdvancePositions node 0 queued at %d, not after node 1's %d", after, taken)
	}
}

// TestClusterRoomCopies: two nodes store the same room message (their
// accounts are both in the room) under the one id mam derives. Node 0's
// range was reserved before node 1's, so its copy lands before the
// interval node 1 opened for its account before the message was said:
// node 1's copy moves the record into that interval, and it stays in the
// intervals node 0 opened, once. A copy that would take the record out
// of an interval that ended in between, or that brings it into none,
// changes nothing (storagetest's RoomMessageRepeat is the rest of the
// rule).
func TestClusterRoomCopies(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	var nodes [2]*DB
	for i := range nodes {
		db, err := Open(ctx, dsn) // reserves its first range: node 1's follows node 0's
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nodes[i] = db
	}
	const room = "room@conference.example.net"
	alice, bob, carol := "alice@example.net", "bob@example.net", "carol@example.net"
	msg := func(id string) storage.RoomMessage {
		return storage.RoomMessage{Room: room, ID: id, Stamp: time.Unix(1700000000, 0), FromNick: "dave",
			Stanza: []byte(`<message xmlns="jabber:client" type="groupchat"><body>` + id + `</body></message>`)}
	}
	queue := func(n int, id string) int64 {
		t.Helper()
		seq, err := nodes[n].QueueRoomMessage(ctx, msg(id))
		if err != nil {
			t.Fatal(err)
		}
		if err := nodes[n].SyncArchive(ctx); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func(owner string) []string {
		t.Helper()
		page, err := nodes[0].QueryArchive(ctx, owner, storage.ArchiveQuery{Max: 10})
		must(err)
		var out []string
		for _, r := range page.Records {
			out = append(out, r.ID)
		}
		return out
	}

	must(nodes[0].OpenMembership(ctx, alice, room))
	must(nodes[0].OpenMembership(ctx, carol, room))
	must(nodes[0].SyncArchive(ctx))
	must(nodes[1].OpenMembership(ctx, bob, room))
	must(nodes[1].SyncArchive(ctx))
	first := queue(0, "m1") // node 0's range: before bob's interval
	second := queue(1, "m1")
	if first >= second {
		t.Fatalf("node 0 stored at %d, node 1 at %d: the ranges are not as the test needs", first, second)
	}
	for _, owner := range []string{alice, carol, bob} {
		if got := ids(owner); !slices.Equal(got, []string{"m1"}) {
			t.Errorf("%s's archive %v, want m1 once", owner, got)
		}
	}

	// carol leaves on node 0; m2, stored first by node 0 inside her
	// interval, is not moved out of it by node 1's later copy.
	m2 := queue(0, "m2")
	must(nodes[0].CloseMembership(ctx, carol, room))
	must(nodes[0].SyncArchive(ctx))
	must(nodes[1].OpenMembership(ctx, "erin@example.net", room))
	must(nodes[1].SyncArchive(ctx))
	queue(1, "m2")
	if got := ids(carol); !slices.Contains(got, "m2") {
		t.Errorf("carol's archive %v lost m2", got)
	}
	var seq int64
	must(nodes[0].pool.QueryRow(ctx, `SELECT seq FROM room_messages WHERE room = $1 AND id = 'm2'`, room).Scan(&seq))
	if seq != m2 {
		t.Errorf("m2 moved from %d to %d out of carol's interval", m2, seq)
	}
}

// TestBadRowIsolated checks that a record that cannot be written (an id
// its owner has already) costs only itself: the batch it came in is
// written row by row, and the failure is counted.
func TestBadRowIsolated(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	defer db.Close()
	rec := func(id string) storage.ArchiveRecord {
		return storage.ArchiveRecord{Owner: "alice@example.net", ID: id, Stamp: time.Now(), With: "bob@example.net"}
	}
	if _, err := db.QueueArchive(ctx, rec("taken")); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncArchive(ctx); err != nil {
		t.Fatal(err)
	}
	// Queued under the archive's lock, so that they are one batch.
	db.archive.Hold() // no writer starts until all are queued
	for _, id := range []string{"a", "taken", "b"} {
		if _, err := db.QueueArchive(ctx, rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	db.archive.Release()
	if err := db.SyncArchive(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := db.QueryArchive(ctx, "alice@example.net", storage.ArchiveQuery{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Records {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "taken a b" || page.Count != 3 {
		t.Errorf("archive %q (Count %d), want \"taken a b\" (3)", got, page.Count)
	}
	if n := db.ArchiveWriteFailures(); n != 1 {
		t.Errorf("%d write failures counted, want 1", n)
	}
}

// TestArchiveCounts checks that archive_counts agrees with the archive
// after every kind of change, including a DELETE that does not go
// through the store, as an operator's would.
func TestArchiveCounts(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	defer db.Close()
	appendN := func(owner string, n int) {
		t.Helper()
		for i := range n {
			if _, err := db.QueueArchive(ctx, storage.ArchiveRecord{
				Owner: owner, ID: strconv.Itoa(i), Stamp: time.Unix(int64(i), 0), With: "x@example.net",
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SyncArchive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		err := queryRows(ctx, db.pool, `
			SELECT o.owner, coalesce(c.records, 0), (SELECT count(*) FROM archive_messages m WHERE m.owner = o.owner)
			FROM (SELECT owner FROM archive_messages UNION SELECT owner FROM archive_counts) o
			LEFT JOIN archive_counts c ON c.owner = o.owner`, nil, func(s scanner) error {
			var owner string
			var counted, actual int
			if err := s.Scan(&owner, &counted, &actual); err != nil {
				return err
			}
			if counted != actual {
				t.Errorf("%s: %s counted %d, has %d", step, owner, counted, actual)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendN("alice@example.net", 30)
	appendN("bob@example.net", 10)
	appendN("room@conference.example.net", 5)
	check("append")
	if _, err := db.pool.Exec(ctx, `DELETE FROM archive_messages WHERE stamp < $1`, time.Unix(12, 0).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	check("an operator's delete over several owners")
	page, err := db.QueryArchive(ctx, "alice@example.net", storage.ArchiveQuery{Before: true, Max: 5})
	if err != nil || page.Count != 18 || page.FirstIndex != 13 {
		t.Errorf("after the delete: Count %d, FirstIndex %d, %v; want 18, 13", page.Count, page.FirstIndex, err)
	}
	if _, err := db.ExpireArchive(ctx, time.Unix(20, 0)); err != nil {
		t.Fatal(err)
	}
	check("ExpireArchive")
	if err := db.DeleteArchive(ctx, "room@conference.example.net"); err != nil {
		t.Fatal(err)
	}
	check("DeleteArchive")
	if err := db.CreateAccount(ctx, "bob", storage.Credentials{}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	check("DeleteAccount")
	appendN("bob@example.net", 2)
	check("append after delete")
}

// TestQueryArchiveMaxZero checks the XEP-0059 count-only query.
func TestQueryArchiveMaxZero(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	defer db.Close()
	for i := range 3 {
		if err := db.AppendArchive(ctx, storage.ArchiveRecord{Owner: "a@example.net", ID: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		owner    string
		count    int
		complete bool
	}{
		{"a@example.net", 3, false},
		{"b@example.net", 0, true},
	} {
		page, err := db.QueryArchive(ctx, tc.owner, storage.ArchiveQuery{Max: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) != 0 || page.Count != tc.count || page.Complete != tc.complete {
			t.Errorf("%s: %d records, Count %d, Complete %v; want 0, %d, %v",
				tc.owner, len(page.Records), page.Count, page.Complete, tc.count, tc.complete)
		}
	}
}
