package dbcopy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
	"minimix/internal/storage/postgres"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/storage/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	alice = "alice@example.net"
	bob   = "bob@example.net"
	room  = "room@conference.example.net"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill writes some of everything a deployment keeps, through the store's
// interfaces.
func fill(t *testing.T, s storage.Store) {
	ctx := t.Context()
	creds := storage.Credentials{
		SHA1:   storage.ScramCredential{Salt: []byte("s1"), Iters: 4096, StoredKey: []byte("k1"), ServerKey: []byte("v1")},
		SHA256: storage.ScramCredential{Salt: []byte("s2"), Iters: 8192, StoredKey: []byte("k2"), ServerKey: []byte("v2")},
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		must(t, s.CreateAccount(ctx, u, creds))
	}
	_, err := s.PutRosterItem(ctx, "alice", storage.RosterItem{Contact: bob, Name: "Bob", Subscription: storage.SubBoth,
		Groups: []string{"Friends", "Work"}, Approved: true})
	must(t, err)
	_, err = s.PutRosterItem(ctx, "alice", storage.RosterItem{Contact: "eve@example.org", PendingIn: true, Hidden: true,
		PendingInStanza: []byte("<presence type='subscribe'/>")})
	must(t, err)
	for i := range 3 {
		must(t, s.StoreOffline(ctx, "carol", []byte(fmt.Sprintf("<message><body>o%d</body></message>", i)), t0.Add(time.Duration(i)*time.Second), 0))
	}
	must(t, s.OpenMembership(ctx, alice, room))
	must(t, s.OpenMembership(ctx, bob, room))
	for i := range 300 {
		stamp := t0.Add(time.Duration(i) * time.Minute)
		if i%3 == 0 {
			_, err := s.QueueRoomMessage(ctx, storage.RoomMessage{Room: room, ID: fmt.Sprintf("r%d", i), Stamp: stamp,
				FromNick: "bob", OriginStanzaID: fmt.Sprintf("sid%d", i), Stanza: []byte(fmt.Sprintf("<message type='groupchat'><body>g%d</body></message>", i))})
			must(t, err)
			continue
		}
		_, err := s.QueueArchive(ctx, storage.ArchiveRecord{Owner: alice, ID: fmt.Sprintf("a%d", i), Stamp: stamp, With: bob,
			Stanza: []byte(fmt.Sprintf("<message type='chat'><body>c%d ünïcødé</body></message>", i))})
		must(t, err)
		if i == 150 {
			must(t, s.CloseMembership(ctx, alice, room)) // alice left half-way
		}
	}
	must(t, s.AppendArchive(ctx, storage.ArchiveRecord{Owner: room, ID: "pub1", Stamp: t0, With: room, FromNick: "bob",
		Groupchat: true, OriginStanzaID: "o1", Stanza: []byte("<message/>")}))
	must(t, s.SetArchivePrefs(ctx, alice, storage.ArchivePrefs{Default: "roster", Always: []string{bob}, Never: []string{"x@example.org", "y@example.org"}}))
	must(t, s.SetPrivate(ctx, "alice", "storage:bookmarks", []byte("<storage xmlns='storage:bookmarks'/>")))
	must(t, s.SetVCard(ctx, "bob", []byte("<vCard xmlns='vcard-temp'><FN>Bob</FN></vCard>")))
	must(t, s.PutJoin(ctx, storage.JoinRecord{Account: alice, Room: room, Nick: "al", Bookmark: true, LastStanzaID: "sid297",
		LastStamp: t0.Add(time.Hour), LastActive: t0}))
	must(t, s.PutRoom(ctx, storage.RoomRecord{JID: room, Config: []byte(`{"public":true}`), Subject: "Hi", SubjectNick: "bob",
		Affiliations: []storage.RoomAffiliation{{JID: bob, Affiliation: "owner"}, {JID: "eve@example.org", Affiliation: "outcast", Reason: "spam"}}}))
	must(t, s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: "urn:xmpp:avatar:metadata", Config: []byte("cfg")}},
		{Kind: storage.PEPPutItem, Node: storage.PEPNode{Name: "urn:xmpp:avatar:metadata"}, Item: storage.PEPItem{ID: "i1", Publisher: alice, Stamp: t0, Payload: []byte("<metadata/>")}},
		{Kind: storage.PEPPutItem, Node: storage.PEPNode{Name: "urn:xmpp:avatar:metadata"}, Item: storage.PEPItem{ID: "i2", Publisher: alice, Stamp: t0, Payload: []byte("<metadata>2</metadata>")}},
	}))
	must(t, s.Block(ctx, "alice", []string{"eve@example.org", "spam.example"}))
	must(t, s.PutPushRegistration(ctx, storage.PushRegistration{User: "alice", Service: "push.example.net", Node: "n1",
		Options: []byte("<x xmlns='jabber:x:data' type='submit'/>"), Resource: "phone", Enabled: t0}))
	must(t, s.PutPushRegistration(ctx, storage.PushRegistration{User: "bob", Service: "push.example.net", Node: "n2", Resource: "pc", Enabled: t0}))
	must(t, s.SyncArchive(ctx))
}

// view reads back, through the interfaces, what fill wrote.
func view(t *testing.T, s storage.Store) map[string]any {
	ctx := t.Context()
	out := map[string]any{}
	get := func(name string, v any, err error) {
		t.Helper()
		must(t, err)
		out[name] = v
	}
	accts, err := s.ListAccounts(ctx)
	get("accounts", accts, err)
	creds, err := s.GetCredentials(ctx, "bob")
	get("creds", creds, err)
	items, ver, err := s.RosterItems(ctx, "alice")
	get("roster", items, err)
	out["roster version"] = ver
	off, err := s.OfflineMessages(ctx, "carol")
	get("offline", off, err)
	yes := true
	for _, who := range []string{alice, bob, room} {
		page, err := s.QueryArchive(ctx, who, storage.ArchiveQuery{Max: 1000, Groupchat: nil})
		get("archive "+who, page, err)
		gc, err := s.QueryArchive(ctx, who, storage.ArchiveQuery{Max: 7, Before: true, Groupchat: &yes})
		get("groupchat "+who, gc, err)
	}
	prefs, err := s.GetArchivePrefs(ctx, alice)
	get("prefs", prefs, err)
	priv, err := s.GetPrivate(ctx, "alice", "storage:bookmarks")
	get("private", priv, err)
	vc, err := s.GetVCard(ctx, "bob")
	get("vcard", vc, err)
	joins, err := s.ListJoins(ctx)
	get("joins", joins, err)
	rooms, err := s.ListRooms(ctx, "conference.example.net")
	get("rooms", rooms, err)
	ms, err := s.OpenMemberships(ctx)
	get("memberships", ms, err)
	recent, err := s.RecentRoomMessages(ctx, []string{room}, 5)
	get("recent", recent, err)
	pep, err := s.PEPItems(ctx, "alice", "urn:xmpp:avatar:metadata", 0)
	get("pep", pep, err)
	nodes, err := s.PEPNodes(ctx, "alice")
	get("pep nodes", nodes, err)
	blocked, err := s.Blocklists(ctx)
	get("blocklists", blocked, err)
	pushes, err := s.PushRegistrations(ctx)
	get("push", pushes, err)
	return out
}

func TestSQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "minimix.db")
	src, err := sqlite.Open(ctx, path)
	must(t, err)
	fill(t, src)
	want := view(t, src)
	must(t, src.Close())

	dsn := pgtest.DSN(t)
	var progress bytes.Buffer
	rep, err := SQLiteToPostgres(ctx, path, dsn, Options{Sample: 50, Progress: &progress})
	must(t, err)
	var out bytes.Buffer
	rep.Write(&out)
	t.Logf("report:\n%s", out.String())
	if !rep.OK() {
		t.Fatalf("copy not verified:\n%s", out.String())
	}
	counts := map[string]int64{}
	for _, tr := range rep.Tables {
		counts[tr.Name] = tr.Copied
		if tr.Source > 0 && tr.Sampled == 0 {
			t.Errorf("%s: no row sampled", tr.Name)
		}
	}
	for name, n := range map[string]int64{"accounts": 3, "scram_credentials": 6, "archive_messages": 201, "room_messages": 100,
		"room_memberships": 2, "roster_groups": 2, "pep_items": 2, "muc_affiliations": 2, "offline_messages": 3,
		"blocklists": 2, "push_registrations": 2} {
		if counts[name] != n {
			t.Errorf("%s: %d rows copied, want %d", name, counts[name], n)
		}
	}
	if counts := rep.Tables[len(rep.Tables)-1]; counts.Sampled != counts.Matched {
		t.Error("last table not verified")
	}
	if !strings.Contains(out.String(), "every count matches") {
		t.Errorf("report without its verdict:\n%s", out.String())
	}

	dst, err := postgres.Open(ctx, dsn)
	must(t, err)
	defer dst.Close()
	got := view(t, dst)
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("PostgreSQL reads differently from SQLite (-sqlite +postgres):\n%s", d)
	}
	// The copy goes on where the source stopped: new positions, offline
	// ids and PEP items follow the copied ones.
	seq, err := dst.QueueArchive(ctx, storage.ArchiveRecord{Owner: alice, ID: "after", Stamp: t0, With: bob})
	must(t, err)
	if seq <= rep.MaxPosition {
		t.Errorf("first position after the copy %d, not after %d", seq, rep.MaxPosition)
	}
	must(t, dst.StoreOffline(ctx, "carol", []byte("<message/>"), t0, 0))
	off, err := dst.OfflineMessages(ctx, "carol")
	must(t, err)
	if len(off) != 4 || off[3].ID <= off[2].ID {
		t.Errorf("offline ids after the copy: %+v", off)
	}
	page, err := dst.QueryArchive(ctx, alice, storage.ArchiveQuery{Before: true, Max: 1})
	must(t, err)
	if len(page.Records) != 1 || page.Records[0].ID != "after" || page.Count != want["archive "+alice].(storage.ArchivePage).Count+1 {
		t.Errorf("after the copy, alice's newest record %+v of %d", page.Records, page.Count)
	}

	// A second copy into the same database is refused and changes
	// nothing.
	if _, err := SQLiteToPostgres(ctx, path, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Errorf("copy into a database with data: %v", err)
	}
}

// TestVerifyDetects checks that verification compares content: a row
// changed in the destination after the copy no longer matches its
// sample.
func TestVerifyDetects(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "minimix.db")
	src, err := sqlite.Open(ctx, path)
	must(t, err)
	fill(t, src)
	must(t, src.Close())
	dsn := pgtest.DSN(t)
	rep, err := SQLiteToPostgres(ctx, path, dsn, Options{Sample: 0})
	must(t, err)
	if !rep.OK() {
		t.Fatal("copy not verified")
	}
	conn, err := pgx.Connect(ctx, dsn)
	must(t, err)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `UPDATE archive_messages SET stanza = stanza || 'x'::bytea WHERE id = 'a2'`); err != nil {
		t.Fatal(err)
	}
	// Every row is a sample with Sample 0: read the source again.
	for _, tb := range tables {
		if tb.name != "archive_messages" {
			continue
		}
		sdb, err := sqlOpen(path)
		must(t, err)
		defer sdb.Close()
		stx, err := sdb.BeginTx(ctx, nil)
		must(t, err)
		defer stx.Rollback()
		rs, err := newRowSource(ctx, stx, tb, 1)
		must(t, err)
		for rs.Next() {
		}
		rs.close()
		must(t, rs.err)
		matched, err := verify(ctx, conn, tb, rs.samples)
		must(t, err)
		if matched != len(rs.samples)-1 {
			t.Errorf("%d of %d rows match after one was changed, want %d", matched, len(rs.samples), len(rs.samples)-1)
		}
	}
}
