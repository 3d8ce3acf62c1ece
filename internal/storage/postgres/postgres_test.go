package postgres

import (
	"fmt"
	"os"
	"slices"
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
	storagetest.CheckNewerSchemaRefused(t, func() {
		if _, err := db.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}, func() (storage.Store, error) { return Open(t.Context(), dsn) })
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

// TestReopen: storagetest.CheckReopen.
func TestReopen(t *testing.T) {
	db, dsn := openTemp(t)
	storagetest.CheckReopen(t, db, func() {}, func() storage.Store {
		db, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		return db
	})
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

// TestBadRowIsolated: storagetest.CheckBadRowIsolated.
func TestBadRowIsolated(t *testing.T) {
	db, _ := openTemp(t)
	defer db.Close()
	storagetest.CheckBadRowIsolated(t, db, db.archive.Hold, db.archive.Release, db.ArchiveWriteFailures)
}

// TestArchiveCounts: storagetest.CheckArchiveCounts over archive_counts,
// which a statement-level trigger keeps right for deletes from any path.
func TestArchiveCounts(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t)
	defer db.Close()
	storagetest.CheckArchiveCounts(t, db, func(step string) {
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
	}, func(cutoff time.Time) {
		if _, err := db.pool.Exec(ctx, `DELETE FROM archive_messages WHERE stamp < $1`, cutoff.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestQueryArchiveMaxZero: storagetest.CheckQueryArchiveMaxZero.
func TestQueryArchiveMaxZero(t *testing.T) {
	db, _ := openTemp(t)
	defer db.Close()
	storagetest.CheckQueryArchiveMaxZero(t, db)
}
