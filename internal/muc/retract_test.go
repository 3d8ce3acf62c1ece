package muc

import (
	"testing"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// A sender's retraction of a message older than the history is checked
// against the room's archive: another occupant's is forbidden, the
// author's tombstones the record.
func TestRetractionBeyondHistory(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.configure(alice, roomJID, map[string]string{fHistory: "1"})
	h.join(bob, roomJID, "Bob")
	h.send(bob, "<message to='"+roomJID+"' type='groupchat' id='b1'><body>old</body></message>")
	got := h.take(alice)
	m := last(got, "message")
	if m == nil {
		t.Fatalf("alice got %s", dump(got))
	}
	sid := stanza.StanzaID(m, jid.MustParse(roomJID))
	if sid == "" {
		t.Fatalf("no stanza-id: %s", m)
	}
	h.send(alice, "<message to='"+roomJID+"' type='groupchat' id='a1'><body>newer</body></message>")
	h.drop()

	retract := func(from, id string) *xml.Element {
		h.send(from, "<message to='"+roomJID+"' type='groupchat' id='"+id+"'><retract xmlns='urn:xmpp:message-retract:1' id='"+sid+"'/><body>retracted</body></message>")
		return last(h.take(from), "message")
	}
	if r := retract(alice, "not-hers"); condition(r) != "forbidden" {
		t.Fatalf("alice retracting bob's archived message: %s", r)
	}
	if r := retract(bob, "his"); r == nil || condition(r) != "" {
		t.Fatalf("bob retracting his archived message: %s", r)
	}
	page, err := h.store.QueryArchive(t.Context(), roomJID, storage.ArchiveQuery{IDs: []string{sid}, Max: 1, OwnOnly: true})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("archive: %v %v", page, err)
	}
	rec, _ := xml.Parse(page.Records[0].Stanza)
	if rec.Child("", "body") != nil || rec.Child(NSRetract, "retracted") == nil {
		t.Errorf("archived after the retraction: %s", rec)
	}
}
