package storagetest

import (
	"fmt"
	"testing"
	"time"

	"minimix/internal/storage"
)

const (
	alice = "alice@example.net"
	bob   = "bob@example.net"
	room  = "room@conference.example.net"
)

// testArchive's subtests build on each other, in order, on one store.
func testArchive(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)

	chat := storage.ArchiveRecord{
		Owner: alice, ID: "zz-chat", Stamp: t0, With: bob,
		Stanza: []byte(`<message xmlns="jabber:client" type="chat"><body>hi &lt;3</body></message>`),
	}
	gc := storage.ArchiveRecord{
		Owner: alice, ID: "aa-groupchat", Stamp: t0.Add(time.Second), With: room,
		Groupchat: true, OriginStanzaID: "room-sid-1", FromNick: "carol",
		Stanza: []byte(`<message xmlns="jabber:client" type="groupchat"><body>yo</body></message>`),
	}

	t.Run("AppendAndRead", func(t *testing.T) {
		_, err := s.LastArchived(ctx, alice, bob)
		wantErr(t, "LastArchived of an empty archive", err, storage.ErrNotFound)
		must(t, "AppendArchive", s.AppendArchive(ctx, chat))
		must(t, "AppendArchive", s.AppendArchive(ctx, gc))
		wantErr(t, "AppendArchive of a taken id", s.AppendArchive(ctx, storage.ArchiveRecord{
			Owner: alice, ID: chat.ID, Stamp: t0, With: "other@example.net", Stanza: []byte("<message/>"),
		}), storage.ErrExists)
		// Ids are unique per owner only.
		must(t, "AppendArchive of the same id to another owner", s.AppendArchive(ctx, storage.ArchiveRecord{
			Owner: bob, ID: chat.ID, Stamp: t0, With: alice, Stanza: []byte("<message/>"),
		}))

		page, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{Max: 10})
		must(t, "QueryArchive", err)
		// Insertion order, not id order ("zz" before "aa").
		diff(t, "records", []storage.ArchiveRecord{chat, gc}, page.Records)

		last, err := s.LastArchived(ctx, alice, bob)
		must(t, "LastArchived", err)
		diff(t, "LastArchived with bob", chat, last)
		last, err = s.LastArchived(ctx, alice, room)
		must(t, "LastArchived", err)
		diff(t, "LastArchived with room", gc, last)
		_, err = s.LastArchived(ctx, alice, "nobody@example.net")
		wantErr(t, "LastArchived with a stranger", err, storage.ErrNotFound)

		later := chat
		later.ID, later.Stamp = "b-later", t0.Add(time.Minute)
		must(t, "AppendArchive", s.AppendArchive(ctx, later))
		last, err = s.LastArchived(ctx, alice, bob)
		must(t, "LastArchived", err)
		diff(t, "LastArchived after a newer record", later, last)
	})

	t.Run("HasOriginStanzaID", func(t *testing.T) {
		for _, tc := range []struct {
			owner, with, id string
			want            bool
		}{
			{alice, room, "room-sid-1", true},
			{alice, room, "room-sid-2", false},
			{alice, bob, "room-sid-1", false},             // another with
			{bob, room, "room-sid-1", false},              // another owner
			{alice, bob, "", false},                       // chat records have no origin id
			{alice, room, "ROOM-SID-1", false},            // ids are case-sensitive
			{alice, room + "/carol", "room-sid-1", false}, // with is a bare JID
		} {
			got, err := s.HasOriginStanzaID(ctx, tc.owner, tc.with, tc.id)
			must(t, "HasOriginStanzaID", err)
			if got != tc.want {
				t.Errorf("HasOriginStanzaID(%q, %q, %q) = %v, want %v", tc.owner, tc.with, tc.id, got, tc.want)
			}
		}
	})

	t.Run("DeleteArchive", func(t *testing.T) {
		prefs := storage.ArchivePrefs{Default: "never"}
		must(t, "SetArchivePrefs", s.SetArchivePrefs(ctx, alice, prefs))
		must(t, "DeleteArchive", s.DeleteArchive(ctx, alice))
		must(t, "DeleteArchive of an empty archive", s.DeleteArchive(ctx, "nobody@example.net"))
		page, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{Max: 10})
		must(t, "QueryArchive", err)
		if page.Count != 0 || len(page.Records) != 0 || !page.Complete {
			t.Errorf("after DeleteArchive: %d records, Count %d, Complete %v", len(page.Records), page.Count, page.Complete)
		}
		ok, err := s.HasOriginStanzaID(ctx, alice, room, "room-sid-1")
		must(t, "HasOriginStanzaID", err)
		if ok {
			t.Error("HasOriginStanzaID after DeleteArchive = true")
		}
		page, err = s.QueryArchive(ctx, bob, storage.ArchiveQuery{Max: 10})
		must(t, "QueryArchive", err)
		if page.Count != 1 {
			t.Errorf("bob's archive has %d records after deleting alice's, want 1", page.Count)
		}
		// The id is free again.
		must(t, "AppendArchive after DeleteArchive", s.AppendArchive(ctx, chat))
	})
}

// pagingFixture is the archive the paging table runs against: ten records
// whose ids do not sort in archive order, alternating between a chat with
// bob and a room where carol and dave speak.
func pagingFixture() []storage.ArchiveRecord {
	ids := []string{"r-7f", "r-02", "r-a1", "r-33", "r-00", "r-9c", "r-5e", "r-1b", "r-e4", "r-42"}
	var recs []storage.ArchiveRecord
	for i, id := range ids {
		r := storage.ArchiveRecord{
			Owner:  alice,
			ID:     id,
			Stamp:  t0.Add(time.Duration(i) * time.Minute),
			With:   bob,
			Stanza: []byte(fmt.Sprintf(`<message xmlns="jabber:client"><body>%d</body></message>`, i)),
		}
		if i%2 == 1 {
			r.With, r.Groupchat, r.OriginStanzaID = room, true, fmt.Sprintf("sid-%d", i)
			r.FromNick = "carol"
			if i%4 == 3 {
				r.FromNick = "dave"
			}
		}
		recs = append(recs, r)
	}
	return recs
}

func testArchivePaging(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	recs := pagingFixture()
	for _, r := range recs {
		must(t, "AppendArchive", s.AppendArchive(ctx, r))
	}
	checkPaging(t, s, recs)
}

// checkPaging runs the paging table against alice's archive in s, which
// holds recs (the paging fixture as alice sees it) and bob's records
// appended here.
func checkPaging(t *testing.T, s storage.Store, recs []storage.ArchiveRecord) {
	ctx := t.Context()
	// Another owner with overlapping ids, which must neither show up nor
	// serve as a paging anchor.
	for _, id := range []string{"r-7f", "other-1"} {
		must(t, "AppendArchive", s.AppendArchive(ctx, storage.ArchiveRecord{
			Owner: bob, ID: id, Stamp: t0, With: alice, Stanza: []byte("<message/>"),
		}))
	}
	id := func(i int) string { return recs[i].ID }
	yes, no := true, false

	// In the fixture (index: with):
	//   0 bob, 1 room/carol, 2 bob, 3 room/dave, 4 bob,
	//   5 room/carol, 6 bob, 7 room/dave, 8 bob, 9 room/carol
	for _, tc := range []struct {
		name     string
		q        storage.ArchiveQuery
		want     []int // indexes into recs
		complete bool
		count    int
		first    int // FirstIndex, checked when want is not empty
		err      error
	}{
		{name: "first page", q: storage.ArchiveQuery{Max: 3}, want: []int{0, 1, 2}, count: 10, first: 0},
		{name: "all in one page", q: storage.ArchiveQuery{Max: 10}, want: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, complete: true, count: 10},
		{name: "page larger than archive", q: storage.ArchiveQuery{Max: 50}, want: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, complete: true, count: 10},
		{name: "after", q: storage.ArchiveQuery{AfterID: id(2), Max: 3}, want: []int{3, 4, 5}, count: 10, first: 3},
		{name: "after reaching the end", q: storage.ArchiveQuery{AfterID: id(6), Max: 5}, want: []int{7, 8, 9}, complete: true, count: 10, first: 7},
		{name: "after exactly to the end", q: storage.ArchiveQuery{AfterID: id(6), Max: 3}, want: []int{7, 8, 9}, complete: true, count: 10, first: 7},
		{name: "after the last", q: storage.ArchiveQuery{AfterID: id(9), Max: 5}, complete: true, count: 10},
		{name: "last page", q: storage.ArchiveQuery{Before: true, Max: 3}, want: []int{7, 8, 9}, count: 10, first: 7},
		{name: "last page is everything", q: storage.ArchiveQuery{Before: true, Max: 10}, want: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, complete: true, count: 10},
		{name: "before", q: storage.ArchiveQuery{Before: true, BeforeID: id(5), Max: 3}, want: []int{2, 3, 4}, count: 10, first: 2},
		{name: "before reaching the start", q: storage.ArchiveQuery{Before: true, BeforeID: id(2), Max: 5}, want: []int{0, 1}, complete: true, count: 10, first: 0},
		{name: "before the first", q: storage.ArchiveQuery{Before: true, BeforeID: id(0), Max: 5}, complete: true, count: 10},
		{name: "between after and before", q: storage.ArchiveQuery{AfterID: id(1), BeforeID: id(6), Max: 10}, want: []int{2, 3, 4, 5}, complete: true, count: 10, first: 2},
		{name: "between, from the end", q: storage.ArchiveQuery{AfterID: id(1), Before: true, BeforeID: id(6), Max: 2}, want: []int{4, 5}, count: 10, first: 4},

		{name: "with bare JID", q: storage.ArchiveQuery{With: bob, Max: 10}, want: []int{0, 2, 4, 6, 8}, complete: true, count: 5},
		{name: "with room", q: storage.ArchiveQuery{With: room, Max: 10}, want: []int{1, 3, 5, 7, 9}, complete: true, count: 5},
		{name: "with occupant", q: storage.ArchiveQuery{With: room + "/carol", Max: 10}, want: []int{1, 5, 9}, complete: true, count: 3},
		{name: "with occupant, last page", q: storage.ArchiveQuery{With: room + "/dave", Before: true, Max: 1}, want: []int{7}, count: 2, first: 1},
		{name: "with unknown occupant", q: storage.ArchiveQuery{With: room + "/erin", Max: 10}, complete: true},
		{name: "with stranger", q: storage.ArchiveQuery{With: "nobody@example.net", Max: 10}, complete: true},
		{name: "with, after", q: storage.ArchiveQuery{With: bob, AfterID: id(4), Max: 1}, want: []int{6}, count: 5, first: 3},
		{name: "with, after to the end", q: storage.ArchiveQuery{With: bob, AfterID: id(4), Max: 2}, want: []int{6, 8}, complete: true, count: 5, first: 3},
		{name: "with, after a record it excludes", q: storage.ArchiveQuery{With: bob, AfterID: id(3), Max: 10}, want: []int{4, 6, 8}, complete: true, count: 5, first: 2},
		{name: "with, last page", q: storage.ArchiveQuery{With: bob, Before: true, Max: 2}, want: []int{6, 8}, count: 5, first: 3},
		{name: "with, before", q: storage.ArchiveQuery{With: bob, BeforeID: id(6), Before: true, Max: 2}, want: []int{2, 4}, count: 5, first: 1},

		{name: "start and end inclusive", q: storage.ArchiveQuery{Start: recs[3].Stamp, End: recs[6].Stamp, Max: 10}, want: []int{3, 4, 5, 6}, complete: true, count: 4},
		{name: "start only", q: storage.ArchiveQuery{Start: recs[8].Stamp, Max: 10}, want: []int{8, 9}, complete: true, count: 2},
		{name: "end only", q: storage.ArchiveQuery{End: recs[1].Stamp, Max: 10}, want: []int{0, 1}, complete: true, count: 2},
		{name: "start between stamps", q: storage.ArchiveQuery{Start: recs[7].Stamp.Add(-time.Second), Max: 10}, want: []int{7, 8, 9}, complete: true, count: 3},
		{name: "start after end of archive", q: storage.ArchiveQuery{Start: recs[9].Stamp.Add(time.Second), Max: 10}, complete: true},
		{name: "start, end and with, paged", q: storage.ArchiveQuery{Start: recs[1].Stamp, End: recs[8].Stamp, With: bob, AfterID: id(2), Max: 2}, want: []int{4, 6}, count: 4, first: 1},
		{name: "start, last page", q: storage.ArchiveQuery{Start: recs[5].Stamp, Before: true, Max: 2}, want: []int{8, 9}, count: 5, first: 3},

		{name: "ids", q: storage.ArchiveQuery{IDs: []string{id(9), id(0), "unknown", id(4)}, Max: 10}, want: []int{0, 4, 9}, complete: true, count: 3},
		{name: "ids, paged", q: storage.ArchiveQuery{IDs: []string{id(9), id(0), id(4)}, AfterID: id(0), Max: 1}, want: []int{4}, count: 3, first: 1},
		{name: "ids of another owner", q: storage.ArchiveQuery{IDs: []string{"other-1"}, Max: 10}, complete: true},

		{name: "groupchat only", q: storage.ArchiveQuery{Groupchat: &yes, Max: 10}, want: []int{1, 3, 5, 7, 9}, complete: true, count: 5},
		{name: "chat only", q: storage.ArchiveQuery{Groupchat: &no, Max: 10}, want: []int{0, 2, 4, 6, 8}, complete: true, count: 5},
		{name: "chat only, last page", q: storage.ArchiveQuery{Groupchat: &no, Before: true, Max: 2}, want: []int{6, 8}, count: 5, first: 3},
		{name: "groupchat only with bob", q: storage.ArchiveQuery{Groupchat: &yes, With: bob, Max: 10}, complete: true},

		{name: "unknown after", q: storage.ArchiveQuery{AfterID: "unknown", Max: 10}, err: storage.ErrNotFound},
		{name: "unknown before", q: storage.ArchiveQuery{Before: true, BeforeID: "unknown", Max: 10}, err: storage.ErrNotFound},
		{name: "after from another owner", q: storage.ArchiveQuery{AfterID: "other-1", Max: 10}, err: storage.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.QueryArchive(ctx, alice, tc.q)
			wantErr(t, "QueryArchive", err, tc.err)
			if tc.err != nil {
				return
			}
			var want []storage.ArchiveRecord
			for _, i := range tc.want {
				want = append(want, recs[i])
			}
			diff(t, "records", want, page.Records)
			if page.Complete != tc.complete {
				t.Errorf("Complete = %v, want %v", page.Complete, tc.complete)
			}
			if page.Count != tc.count {
				t.Errorf("Count = %d, want %d", page.Count, tc.count)
			}
			if len(tc.want) > 0 && page.FirstIndex != tc.first {
				t.Errorf("FirstIndex = %d, want %d", page.FirstIndex, tc.first)
			}
		})
	}

	// Walking the archive page by page in either direction visits every
	// record once, in order, and stops on the page marked Complete.
	t.Run("walk", func(t *testing.T) {
		for _, backward := range []bool{false, true} {
			for _, max := range []int{1, 3, 4, 10} {
				var got []string
				q := storage.ArchiveQuery{Max: max, Before: backward}
				for pages := 0; ; pages++ {
					if pages > len(recs) {
						t.Fatalf("backward=%v max=%d: no Complete page", backward, max)
					}
					page, err := s.QueryArchive(ctx, alice, q)
					must(t, "QueryArchive", err)
					var ids []string
					for _, r := range page.Records {
						ids = append(ids, r.ID)
					}
					if backward {
						got = append(ids, got...)
					} else {
						got = append(got, ids...)
					}
					if page.Complete {
						break
					}
					if backward {
						q.BeforeID = page.Records[0].ID
					} else {
						q.AfterID = page.Records[len(page.Records)-1].ID
					}
				}
				var want []string
				for _, r := range recs {
					want = append(want, r.ID)
				}
				diff(t, fmt.Sprintf("backward=%v max=%d", backward, max), want, got)
			}
		}
	})
}

func testArchivePrefs(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	got, err := s.GetArchivePrefs(ctx, alice)
	must(t, "GetArchivePrefs", err)
	diff(t, "default prefs", storage.ArchivePrefs{Default: "always"}, got)

	for _, p := range []storage.ArchivePrefs{
		{Default: "roster", Always: []string{"z@example.net", "a@example.net"}, Never: []string{"spam@example.org"}},
		{Default: "never", Never: []string{"b@example.net"}},
		{Default: "always"},
		{Default: "always", Always: []string{room}},
	} {
		must(t, "SetArchivePrefs", s.SetArchivePrefs(ctx, alice, p))
		got, err := s.GetArchivePrefs(ctx, alice)
		must(t, "GetArchivePrefs", err)
		diff(t, "prefs", p, got)
	}
	got, err = s.GetArchivePrefs(ctx, bob)
	must(t, "GetArchivePrefs", err)
	diff(t, "bob's prefs", storage.ArchivePrefs{Default: "always"}, got)
}
