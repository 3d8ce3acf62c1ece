package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"minimix/internal/storage"
)

const (
	carol = "carol@example.net"
	room2 = "other@conference.example.net"
)

// testArchivePagingShared runs the paging table over an archive whose room
// records are not alice's own but a room's shared records inside her
// membership: the merged archive must page, filter and count exactly as
// the same records kept as copies.
func testArchivePagingShared(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	must(t, "OpenMembership", s.OpenMembership(ctx, alice, room))
	// A room alice is not in, whose records must never show.
	must(t, "OpenMembership", s.OpenMembership(ctx, bob, room2))
	recs := pagingFixture()
	for i, r := range recs {
		if !r.Groupchat {
			_, err := s.QueueArchive(ctx, r)
			must(t, "QueueArchive", err)
			continue
		}
		_, err := s.QueueRoomMessage(ctx, storage.RoomMessage{
			Room: r.With, ID: r.ID, Stamp: r.Stamp, FromNick: r.FromNick,
			OriginStanzaID: r.OriginStanzaID, Stanza: r.Stanza,
		})
		must(t, "QueueRoomMessage", err)
		recs[i].Shared = true
		_, err = s.QueueRoomMessage(ctx, storage.RoomMessage{
			Room: room2, ID: fmt.Sprintf("o-%d", i), Stamp: r.Stamp, FromNick: "carol",
			OriginStanzaID: r.OriginStanzaID, Stanza: r.Stanza,
		})
		must(t, "QueueRoomMessage", err)
	}
	checkPaging(t, s, recs)
	_, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{AfterID: "o-1", Max: 10})
	wantErr(t, "QueryArchive after a record of a room alice is not in", err, storage.ErrNotFound)
	page, err := s.QueryArchive(ctx, bob, storage.ArchiveQuery{With: room2, Max: 20})
	must(t, "QueryArchive", err)
	if page.Count != 5 {
		t.Errorf("bob has %d records of the other room, want 5", page.Count)
	}
}

// roomMsg is a shared record of room numbered n.
func roomMsg(room string, n int) storage.RoomMessage {
	return storage.RoomMessage{
		Room: room, ID: fmt.Sprintf("m%d", n), Stamp: t0.Add(time.Duration(n) * time.Second),
		FromNick: "dave", OriginStanzaID: fmt.Sprintf("sid-%d", n),
		Stanza: []byte(fmt.Sprintf(`<message xmlns="jabber:client" type="groupchat"><body>%d</body></message>`, n)),
	}
}

// testMemberships checks the intervals: an account's archive holds the
// shared records queued while it was in the room, and only those.
func testMemberships(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	queue := func(n int) {
		t.Helper()
		_, err := s.QueueRoomMessage(ctx, roomMsg(room, n))
		must(t, "QueueRoomMessage", err)
	}
	chat := func(owner, id string) {
		t.Helper()
		_, err := s.QueueArchive(ctx, storage.ArchiveRecord{
			Owner: owner, ID: id, Stamp: t0, With: carol, Stanza: []byte(`<message xmlns="jabber:client" type="chat"/>`),
		})
		must(t, "QueueArchive", err)
	}
	ids := func(owner string, q storage.ArchiveQuery) []string {
		t.Helper()
		if q.Max == 0 {
			q.Max = 100
		}
		page, err := s.QueryArchive(ctx, owner, q)
		must(t, "QueryArchive", err)
		var out []string
		for _, r := range page.Records {
			out = append(out, r.ID)
		}
		if paged := q.AfterID != "" || q.Before; !paged && page.Count != len(out) {
			t.Errorf("%s: Count %d for %d records", owner, page.Count, len(out))
		}
		return out
	}

	queue(0) // before anyone is in the room
	chat(alice, "c1")
	must(t, "OpenMembership", s.OpenMembership(ctx, alice, room))
	queue(1)
	queue(2)
	chat(alice, "c2")
	must(t, "OpenMembership", s.OpenMembership(ctx, bob, room))
	must(t, "OpenMembership again", s.OpenMembership(ctx, alice, room))
	queue(3)
	must(t, "CloseMembership", s.CloseMembership(ctx, alice, room))
	must(t, "CloseMembership again", s.CloseMembership(ctx, alice, room))
	queue(4)
	must(t, "OpenMembership", s.OpenMembership(ctx, alice, room)) // rejoin
	queue(5)

	yes, no := true, false
	for _, tc := range []struct {
		name  string
		owner string
		q     storage.ArchiveQuery
		want  []string
	}{
		{"alice, everything in order", alice, storage.ArchiveQuery{}, []string{"c1", "m1", "m2", "c2", "m3", "m5"}},
		{"alice, groupchat", alice, storage.ArchiveQuery{Groupchat: &yes}, []string{"m1", "m2", "m3", "m5"}},
		{"alice, chat", alice, storage.ArchiveQuery{Groupchat: &no}, []string{"c1", "c2"}},
		{"alice, with the room", alice, storage.ArchiveQuery{With: room}, []string{"m1", "m2", "m3", "m5"}},
		{"alice, with the sender", alice, storage.ArchiveQuery{With: room + "/dave"}, []string{"m1", "m2", "m3", "m5"}},
		{"alice, with another occupant", alice, storage.ArchiveQuery{With: room + "/erin"}, nil},
		{"alice, with a contact", alice, storage.ArchiveQuery{With: carol}, []string{"c1", "c2"}},
		{"alice, last two", alice, storage.ArchiveQuery{Before: true, Max: 2}, []string{"m3", "m5"}},
		{"alice, after a shared record", alice, storage.ArchiveQuery{AfterID: "m2"}, []string{"c2", "m3", "m5"}},
		{"alice, before a shared record", alice, storage.ArchiveQuery{Before: true, BeforeID: "m3"}, []string{"c1", "m1", "m2", "c2"}},
		{"alice, by stamp", alice, storage.ArchiveQuery{Start: t0.Add(2 * time.Second), End: t0.Add(5 * time.Second), Groupchat: &yes}, []string{"m2", "m3", "m5"}},
		{"alice, by ids", alice, storage.ArchiveQuery{IDs: []string{"m0", "m4", "m5", "c1"}}, []string{"c1", "m5"}},
		{"alice, own records only", alice, storage.ArchiveQuery{OwnOnly: true}, []string{"c1", "c2"}},
		{"bob", bob, storage.ArchiveQuery{}, []string{"m3", "m4", "m5"}},
		{"bob, own records only", bob, storage.ArchiveQuery{OwnOnly: true}, nil},
		{"carol, never in the room", carol, storage.ArchiveQuery{}, nil},
		{"the room's own archive", room, storage.ArchiveQuery{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diff(t, "ids", tc.want, ids(tc.owner, tc.q))
		})
	}

	t.Run("ids outside the intervals", func(t *testing.T) {
		for _, id := range []string{"m0", "m4"} {
			_, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{AfterID: id, Max: 10})
			wantErr(t, "QueryArchive after "+id, err, storage.ErrNotFound)
		}
	})
	t.Run("shared records as read", func(t *testing.T) {
		wantShared(t, s, alice, roomMsg(room, 1))
		last, err := s.LastArchived(ctx, alice, room)
		must(t, "LastArchived", err)
		if last.ID != "m5" {
			t.Errorf("LastArchived with the room = %s, want m5", last.ID)
		}
	})
	t.Run("OpenMemberships", func(t *testing.T) {
		open, err := s.OpenMemberships(ctx)
		must(t, "OpenMemberships", err)
		diff(t, "open", []storage.Membership{{Account: alice, Room: room}, {Account: bob, Room: room}}, open)
	})
	t.Run("RecentRoomMessages", func(t *testing.T) {
		all, err := s.RecentRoomMessages(ctx, []string{room, room2, "empty@conference.example.net"}, 2)
		must(t, "RecentRoomMessages", err)
		if len(all[room2]) != 0 || len(all["empty@conference.example.net"]) != 0 {
			t.Errorf("rooms without records: %v", all)
		}
		recent := all[room]
		var got []string
		for _, r := range recent {
			got = append(got, r.ID+"/"+r.OriginStanzaID)
			if r.Seq == 0 || r.Stanza != nil {
				t.Errorf("recent %s: seq %d, stanza %q", r.ID, r.Seq, r.Stanza)
			}
		}
		diff(t, "recent", []string{"m5/sid-5", "m4/sid-4"}, got)
		if len(recent) == 2 && recent[0].Seq <= recent[1].Seq {
			t.Errorf("recent not newest first: seq %d then %d", recent[0].Seq, recent[1].Seq)
		}
	})
	t.Run("DeleteArchive", func(t *testing.T) {
		must(t, "DeleteArchive", s.DeleteArchive(ctx, alice))
		diff(t, "alice after DeleteArchive", []string(nil), ids(alice, storage.ArchiveQuery{}))
		diff(t, "bob after alice's DeleteArchive", []string{"m3", "m4", "m5"}, ids(bob, storage.ArchiveQuery{}))
		// What only alice could see is gone with her archive.
		recent, err := s.RecentRoomMessages(ctx, []string{room}, 10)
		must(t, "RecentRoomMessages", err)
		var left []string
		for _, r := range recent[room] {
			left = append(left, r.ID)
		}
		slices.Sort(left)
		diff(t, "room messages kept", []string{"m3", "m4", "m5"}, left)
		open, err := s.OpenMemberships(ctx)
		must(t, "OpenMemberships", err)
		diff(t, "open", []storage.Membership{{Account: bob, Room: room}}, open)
	})
	t.Run("DeleteAccount", func(t *testing.T) {
		must(t, "CreateAccount", s.CreateAccount(ctx, "bob", storage.Credentials{}))
		must(t, "DeleteAccount", s.DeleteAccount(ctx, "bob"))
		diff(t, "bob after DeleteAccount", []string(nil), ids(bob, storage.ArchiveQuery{}))
		recent, err := s.RecentRoomMessages(ctx, []string{room}, 10)
		must(t, "RecentRoomMessages", err)
		if len(recent[room]) != 0 {
			t.Errorf("%d room messages kept with no member left", len(recent[room]))
		}
	})
}

// testRetention checks ExpireArchive: records older than the cutoff go
// from every archive and room stream; a membership that no longer covers
// anything goes with them; newer records stay where they were.
func testRetention(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	must(t, "OpenMembership", s.OpenMembership(ctx, bob, room))
	must(t, "OpenMembership", s.OpenMembership(ctx, alice, room))
	for i := range 4 {
		_, err := s.QueueArchive(ctx, storage.ArchiveRecord{
			Owner: alice, ID: fmt.Sprintf("c%d", i), Stamp: t0.Add(time.Duration(i) * time.Minute), With: carol,
			Stanza: []byte(`<message xmlns="jabber:client"/>`),
		})
		must(t, "QueueArchive", err)
		m := roomMsg(room, i)
		m.Stamp = t0.Add(time.Duration(i) * time.Minute)
		_, err = s.QueueRoomMessage(ctx, m)
		must(t, "QueueRoomMessage", err)
		if i == 1 {
			// bob leaves after m1: his interval ends up covering nothing.
			must(t, "CloseMembership", s.CloseMembership(ctx, bob, room))
		}
	}
	n, err := s.ExpireArchive(ctx, t0.Add(2*time.Minute))
	must(t, "ExpireArchive", err)
	if n != 4 {
		t.Errorf("ExpireArchive deleted %d records, want 4", n)
	}
	wantArchive(t, s, "alice after retention", alice, []string{"c2", "m2", "c3", "m3"})
	page, err := s.QueryArchive(ctx, bob, storage.ArchiveQuery{Max: 10})
	must(t, "QueryArchive", err)
	if len(page.Records) != 0 {
		t.Errorf("bob keeps %d records", len(page.Records))
	}
	open2, err := s.OpenMemberships(ctx)
	must(t, "OpenMemberships", err)
	diff(t, "open memberships", []storage.Membership{{Account: alice, Room: room}}, open2)
}

// testRoomMessageRepeat checks that a room message queued again under
// the id it was stored with (same room, same id: a room's history
// replayed after a restart) changes nothing: the record keeps its first
// position, stamp and stanza, so it does not move in its members'
// archives, whether the first copy was written already or is still
// queued with the second. The same id in another room is another
// message.
func testRoomMessageRepeat(t *testing.T, open func(t *testing.T) storage.Store) {
	for _, tc := range []struct {
		name string
		sync bool // the first copy is written before the repeat is queued
	}{{"after commit", true}, {"in one batch", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t, open)
			chat := func(id string) {
				t.Helper()
				_, err := s.QueueArchive(ctx, storage.ArchiveRecord{
					Owner: alice, ID: id, Stamp: t0, With: carol, Stanza: []byte(`<message xmlns="jabber:client" type="chat"/>`),
				})
				must(t, "QueueArchive", err)
			}
			queue := func(m storage.RoomMessage) int64 {
				t.Helper()
				seq, err := s.QueueRoomMessage(ctx, m)
				must(t, "QueueRoomMessage", err)
				return seq
			}
			must(t, "OpenMembership", s.OpenMembership(ctx, alice, room))
			must(t, "OpenMembership", s.OpenMembership(ctx, bob, room2))
			first := queue(roomMsg(room, 1))
			chat("c1")
			queue(roomMsg(room, 2))
			if tc.sync {
				must(t, "SyncArchive", s.SyncArchive(ctx))
			}
			again := roomMsg(room, 1)
			again.Stamp = t0.Add(time.Hour)
			again.Stanza = []byte(`<message xmlns="jabber:client" type="groupchat"><body>replayed</body></message>`)
			if seq := queue(again); seq <= first {
				t.Fatalf("the repeat got position %d, not after the first's %d", seq, first)
			}
			chat("c2")
			queue(roomMsg(room2, 1)) // m1 of the other room

			wantArchive(t, s, "alice's archive", alice, []string{"m1", "c1", "m2", "c2"})
			wantShared(t, s, alice, roomMsg(room, 1)) // as first stored
			page, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{AfterID: "m1", Max: 10})
			must(t, "QueryArchive after m1", err)
			diff(t, "after m1", []string{"c1", "m2", "c2"}, recordIDs(page))

			recent, err := s.RecentRoomMessages(ctx, []string{room, room2}, 10)
			must(t, "RecentRoomMessages", err)
			var seqs []string
			for _, r := range recent[room] {
				seqs = append(seqs, fmt.Sprintf("%s@%d", r.ID, r.Seq))
			}
			if n := len(recent[room]); n != 2 || recent[room][1].ID != "m1" || recent[room][1].Seq != first {
				t.Errorf("room's records %v, want m2 then m1 at %d", seqs, first)
			}
			if n := len(recent[room2]); n != 1 {
				t.Errorf("other room has %d records, want its own m1", n)
			}
		})
	}
}

// wantArchive checks that owner's archive holds the records want, in
// order, and counts them.
func wantArchive(t *testing.T, s storage.Store, what, owner string, want []string) {
	t.Helper()
	page, err := s.QueryArchive(t.Context(), owner, storage.ArchiveQuery{Max: 10})
	must(t, "QueryArchive", err)
	diff(t, what, want, recordIDs(page))
	if page.Count != len(want) {
		t.Errorf("%s: Count %d, want %d", what, page.Count, len(want))
	}
}

// wantShared checks that owner's archive holds the room message m as a
// shared record of m's room, as stored.
func wantShared(t *testing.T, s storage.Store, owner string, m storage.RoomMessage) {
	t.Helper()
	page, err := s.QueryArchive(t.Context(), owner, storage.ArchiveQuery{IDs: []string{m.ID}, Max: 1})
	must(t, "QueryArchive", err)
	diff(t, "record "+m.ID, []storage.ArchiveRecord{{
		Owner: owner, ID: m.ID, Stamp: m.Stamp, With: m.Room, Groupchat: true, Shared: true,
		OriginStanzaID: m.OriginStanzaID, FromNick: m.FromNick, Stanza: m.Stanza,
	}}, page.Records)
}

// recordIDs returns the ids of page's records, in order.
func recordIDs(page storage.ArchivePage) []string {
	var out []string
	for _, r := range page.Records {
		out = append(out, r.ID)
	}
	return out
}
