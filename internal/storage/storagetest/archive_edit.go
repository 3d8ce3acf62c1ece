package storagetest

import (
	"testing"

	"minimix/internal/storage"
)

// testEditArchive checks EditArchive's selections: own records by id and
// by (with, origin id), shared records by id and by origin id, each seen
// rewritten through the archives that hold it and the others untouched.
func testEditArchive(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	tomb := []byte(`<message xmlns="jabber:client" type="chat"><retracted xmlns="urn:xmpp:message-retract:1"/></message>`)

	chat := storage.ArchiveRecord{
		Owner: alice, ID: "c1", Stamp: t0, With: bob, OriginStanzaID: "msg-1",
		Stanza: []byte(`<message xmlns="jabber:client" type="chat" id="msg-1"><body>oops</body></message>`),
	}
	other := chat
	other.ID, other.OriginStanzaID, other.Stanza = "c2", "msg-2", []byte(`<message xmlns="jabber:client" type="chat" id="msg-2"><body>fine</body></message>`)
	roomRec := storage.ArchiveRecord{
		Owner: room, ID: "r1", Stamp: t0, With: room, FromNick: "carol", Groupchat: true,
		Stanza: []byte(`<message xmlns="jabber:client" type="groupchat"><body>spam</body></message>`),
	}
	for _, r := range []storage.ArchiveRecord{chat, other, roomRec} {
		if _, err := s.QueueArchive(ctx, r); err != nil {
			t.Fatalf("QueueArchive: %v", err)
		}
	}
	must(t, "OpenMembership", s.OpenMembership(ctx, bob, room))
	shared := roomMsg(room, 1)
	if _, err := s.QueueRoomMessage(ctx, shared); err != nil {
		t.Fatalf("QueueRoomMessage: %v", err)
	}
	if _, err := s.QueueRoomMessage(ctx, roomMsg(room, 2)); err != nil {
		t.Fatalf("QueueRoomMessage: %v", err)
	}

	edit := func(sel storage.ArchiveEdit, want int, check func(rec *storage.ArchiveRecord)) {
		t.Helper()
		n, err := s.EditArchive(ctx, sel, func(rec *storage.ArchiveRecord) []byte {
			if check != nil {
				check(rec)
			}
			return tomb
		})
		must(t, "EditArchive", err)
		if n != want {
			t.Errorf("EditArchive(%+v) changed %d records, want %d", sel, n, want)
		}
	}
	stanzaOf := func(owner, id string) string {
		t.Helper()
		page, err := s.QueryArchive(ctx, owner, storage.ArchiveQuery{IDs: []string{id}, Max: 10})
		must(t, "QueryArchive", err)
		if len(page.Records) != 1 {
			t.Fatalf("archive of %s has %d records with id %s", owner, len(page.Records), id)
		}
		return string(page.Records[0].Stanza)
	}

	// Nothing matches: nothing changes.
	edit(storage.ArchiveEdit{Owner: alice, With: bob, OriginStanzaID: "msg-9"}, 0, nil)
	edit(storage.ArchiveEdit{Owner: alice, With: "eve@example.net", OriginStanzaID: "msg-1"}, 0, nil)
	edit(storage.ArchiveEdit{Room: room, OriginStanzaID: "sid-9"}, 0, nil)
	edit(storage.ArchiveEdit{Owner: bob, ID: "c1"}, 0, nil)

	edit(storage.ArchiveEdit{Owner: alice, With: bob, OriginStanzaID: "msg-1"}, 1, func(rec *storage.ArchiveRecord) {
		if rec.ID != "c1" || rec.With != bob || rec.Owner != alice || string(rec.Stanza) != string(chat.Stanza) {
			t.Errorf("edit got %+v", rec)
		}
	})
	if got := stanzaOf(alice, "c1"); got != string(tomb) {
		t.Errorf("edited record: %s", got)
	}
	if got := stanzaOf(alice, "c2"); got != string(other.Stanza) {
		t.Errorf("another record changed: %s", got)
	}

	edit(storage.ArchiveEdit{Owner: room, ID: "r1"}, 1, nil)
	if got := stanzaOf(room, "r1"); got != string(tomb) {
		t.Errorf("edited room record: %s", got)
	}

	edit(storage.ArchiveEdit{Room: room, OriginStanzaID: "sid-1"}, 1, func(rec *storage.ArchiveRecord) {
		if !rec.Shared || rec.ID != shared.ID || rec.FromNick != "dave" {
			t.Errorf("edit of a shared record got %+v", rec)
		}
	})
	if got := stanzaOf(bob, shared.ID); got != string(tomb) {
		t.Errorf("shared record as bob reads it: %s", got)
	}
	if got := stanzaOf(bob, "m2"); got == string(tomb) {
		t.Error("another shared record changed")
	}
	edit(storage.ArchiveEdit{Room: room, ID: "m2"}, 1, nil)
	if got := stanzaOf(bob, "m2"); got != string(tomb) {
		t.Errorf("shared record edited by id: %s", got)
	}
	// An edit that returns nil leaves the record.
	n, err := s.EditArchive(ctx, storage.ArchiveEdit{Owner: alice, ID: "c2"}, func(*storage.ArchiveRecord) []byte { return nil })
	must(t, "EditArchive", err)
	if n != 0 || stanzaOf(alice, "c2") != string(other.Stanza) {
		t.Errorf("an edit returning nil changed %d records", n)
	}
}
