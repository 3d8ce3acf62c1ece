package mam

import (
	"fmt"
	"strings"
	"testing"

	"minimix/internal/jid"
)

// A room anywhere (a remote one, through account-based group chat) turns
// its members' shared records into tombstones with the retractions it
// sends: a moderation from the room's own JID, and an occupant's
// retraction of a message with its own occupant-id; not a moderation
// claimed by an occupant, not a retraction by someone else.
func TestRoomRetractionInSharedRecords(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	room := jid.MustParse("room@muc.remote.example")
	if err := f.a.Joined(ctx, alice, room); err != nil {
		t.Fatal(err)
	}
	n := 0
	recv := func(raw string) {
		t.Helper()
		n++
		if strings.Contains(raw, "%s") {
			raw = fmt.Sprintf(raw, fmt.Sprintf("<stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='notice-%d'/>", room, n))
		}
		if _, err := f.a.Groupchat(ctx, alice, room, parse(t, raw)); err != nil {
			t.Fatal(err)
		}
	}
	for i, who := range []string{"carol", "carol", "dave", "dave"} {
		recv(fmt.Sprintf(`<message xmlns='jabber:client' type='groupchat' from='room@muc.remote.example/%s'><body>m%d</body>`+
			`<occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ-%s'/><stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.remote.example' id='s%d'/></message>`, who, i, who, i))
	}
	// s0: moderated by the room. s1: a moderation claimed by dave, an
	// occupant. s2: retracted by dave, its author. s3: "retracted" by
	// carol, who did not write it.
	recv(`<message xmlns='jabber:client' type='groupchat' from='room@muc.remote.example'><retract xmlns='urn:xmpp:message-retract:1' id='s0'><moderated xmlns='urn:xmpp:message-moderate:1' by='room@muc.remote.example/mod'/><reason>spam</reason></retract>%s</message>`)
	recv(`<message xmlns='jabber:client' type='groupchat' from='room@muc.remote.example/dave'><retract xmlns='urn:xmpp:message-retract:1' id='s1'><moderated xmlns='urn:xmpp:message-moderate:1' by='x'/></retract><occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ-dave'/>%s</message>`)
	recv(`<message xmlns='jabber:client' type='groupchat' from='room@muc.remote.example/dave' id='r2'><retract xmlns='urn:xmpp:message-retract:1' id='s2'/><body>retracted</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ-dave'/>%s</message>`)
	recv(`<message xmlns='jabber:client' type='groupchat' from='room@muc.remote.example/carol'><retract xmlns='urn:xmpp:message-retract:1' id='s3'/><body>retracted</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ-carol'/>%s</message>`)

	got := map[string]string{}
	for _, r := range f.records(t, alice) {
		el, err := Stanza(alice, &r)
		if err != nil {
			t.Fatal(err)
		}
		if r.OriginStanzaID == "" || r.OriginStanzaID[0] != 's' {
			continue
		}
		switch {
		case el.Child(nsRetract, "retracted") != nil && el.Child(nsClient, "body") == nil:
			got[r.OriginStanzaID] = "tombstone"
			if r.OriginStanzaID == "s0" && el.Child(nsRetract, "retracted").Child(NSModerate, "moderated") == nil {
				t.Errorf("moderation tombstone without <moderated/>: %s", el)
			}
		default:
			got[r.OriginStanzaID] = el.ChildText(nsClient, "body")
		}
	}
	want := map[string]string{"s0": "tombstone", "s1": "m1", "s2": "tombstone", "s3": "m3"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
