package mam

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
)

func TestArchiveRules(t *testing.T) {
	bob := jid.MustParse("bob@example.net/phone")
	const (
		chat     = `<message xmlns='jabber:client' type='chat' from='bob@example.net/phone'><body>hi</body></message>`
		fromRoom = `<message xmlns='jabber:client' type='chat' from='room@muc.example.net/dave'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`
	)
	tests := []struct {
		name     string
		msg      string
		with     jid.JID // bob when zero
		incoming bool
		prefs    *storage.ArchivePrefs
		inRoster bool
		want     bool
		// wantWith and wantNick are the record's With and FromNick when
		// kept; bob's by default.
		wantWith, wantNick string
	}{
		{name: "chat with body", msg: chat, incoming: true, want: true},
		{name: "outgoing chat", msg: `<message xmlns='jabber:client' type='chat' to='bob@example.net/phone'><body>hi</body></message>`, want: true},
		{name: "normal with body", msg: `<message xmlns='jabber:client' type='normal'><body>hi</body></message>`, want: true},
		{name: "no type with body", msg: `<message xmlns='jabber:client'><body>hi</body></message>`, want: true},
		{name: "normal with subject only", msg: `<message xmlns='jabber:client'><subject>s</subject></message>`, want: true},
		{name: "headline", msg: `<message xmlns='jabber:client' type='headline'><body>news</body></message>`},
		{name: "groupchat", msg: `<message xmlns='jabber:client' type='groupchat'><body>hi</body></message>`},
		{name: "error", msg: `<message xmlns='jabber:client' type='error'><body>hi</body></message>`},
		{name: "chat state only", msg: `<message xmlns='jabber:client' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`},
		{name: "receipt only", msg: `<message xmlns='jabber:client' type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>`},
		{name: "store hint without body", msg: `<message xmlns='jabber:client' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/></message>`, want: true},
		{name: "no-store hint", msg: `<message xmlns='jabber:client' type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`},
		{name: "no-permanent-store hint", msg: `<message xmlns='jabber:client' type='chat'><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`},
		{name: "carbon copy", msg: `<message xmlns='jabber:client' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>hi</body></message></forwarded></received></message>`},
		{name: "omemo without body", msg: `<message xmlns='jabber:client' type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>x</payload></encrypted></message>`, want: true},
		{name: "reaction", msg: `<message xmlns='jabber:client' type='chat'><reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction></reactions></message>`, want: true},
		{name: "retraction", msg: `<message xmlns='jabber:client' type='chat'><retract xmlns='urn:xmpp:message-retract:1' id='m1'/></message>`, want: true},
		{name: "direct invitation", msg: `<message xmlns='jabber:client'><x xmlns='jabber:x:conference' jid='room@muc.example.net'/></message>`, want: true},
		{name: "muc private message", msg: fromRoom, with: jid.MustParse("room@muc.example.net/dave"), incoming: true, want: true,
			wantWith: "room@muc.example.net", wantNick: "dave"},
		{name: "from s2s", msg: `<message xmlns='jabber:server' type='chat' from='bob@example.net/phone'><body>hi</body></message>`, incoming: true, want: true},

		{name: "default never", msg: chat, prefs: &storage.ArchivePrefs{Default: PrefsNever}},
		{name: "default never, always bob", msg: chat, want: true,
			prefs: &storage.ArchivePrefs{Default: PrefsNever, Always: []string{"bob@example.net"}}},
		{name: "default always, never bob", msg: chat,
			prefs: &storage.ArchivePrefs{Default: PrefsAlways, Never: []string{"bob@example.net"}}},
		{name: "never beats always", msg: chat,
			prefs: &storage.ArchivePrefs{Default: PrefsAlways, Always: []string{"bob@example.net"}, Never: []string{"bob@example.net"}}},
		{name: "never a full JID, same resource", msg: chat,
			prefs: &storage.ArchivePrefs{Default: PrefsAlways, Never: []string{"bob@example.net/phone"}}},
		{name: "never a full JID, other resource", msg: chat, want: true,
			prefs: &storage.ArchivePrefs{Default: PrefsAlways, Never: []string{"bob@example.net/laptop"}}},
		{name: "roster, in roster", msg: chat, inRoster: true, want: true, prefs: &storage.ArchivePrefs{Default: PrefsRoster}},
		{name: "roster, not in roster", msg: chat, prefs: &storage.ArchivePrefs{Default: PrefsRoster}},
		{name: "roster, not in roster, always", msg: chat, want: true,
			prefs: &storage.ArchivePrefs{Default: PrefsRoster, Always: []string{"bob@example.net"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			if tt.prefs != nil {
				if err := f.db.SetArchivePrefs(ctx, alice.String(), *tt.prefs); err != nil {
					t.Fatal(err)
				}
			}
			with := tt.with
			if with.IsZero() {
				with = bob
			}
			f.roster["alice@example.net "+with.Bare().String()] = tt.inRoster
			el := parse(t, tt.msg)
			before := el.String()
			id := f.a.Archive(ctx, alice.WithResource("laptop"), with, el, tt.incoming)
			if el.String() != before {
				t.Errorf("Archive modified the message:\n%s\nwas\n%s", el, before)
			}
			recs := f.records(t, alice)
			if !tt.want {
				if id != "" || len(recs) != 0 {
					t.Fatalf("Archive = %q, %d records; want nothing kept", id, len(recs))
				}
				return
			}
			if id == "" || len(recs) != 1 || recs[0].ID != id {
				t.Fatalf("Archive = %q, records %+v; want one record with that id", id, recs)
			}
			wantWith, wantNick := tt.wantWith, tt.wantNick
			if wantWith == "" {
				wantWith, wantNick = "bob@example.net", "phone"
			}
			r := recs[0]
			if r.Owner != "alice@example.net" || r.With != wantWith || r.FromNick != wantNick || r.Groupchat || r.OriginStanzaID != "" {
				t.Errorf("record %+v, want With %q FromNick %q", r, wantWith, wantNick)
			}
			if !r.Stamp.Equal(t0) {
				t.Errorf("Stamp = %v, want %v", r.Stamp, t0)
			}
			if !strings.HasPrefix(string(r.Stanza), `<message xmlns="jabber:client"`) {
				t.Errorf("stored stanza not in jabber:client: %s", r.Stanza)
			}
		})
	}
}

// TestArchiveStoredCopy checks what is stored: the message as the owner
// receives it, with the router's stanza-id for incoming messages only,
// and no stanza-id claiming to be the owner's that came from outside.
func TestArchiveStoredCopy(t *testing.T) {
	bob := jid.MustParse("bob@example.net/phone")
	const forged = `<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.net' id='forged'/>`
	const foreign = `<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.net' id='bobs'/>`
	for _, tt := range []struct {
		name     string
		incoming bool
		want     string // with ID for the archive id
	}{
		{
			name:     "incoming",
			incoming: true,
			want:     `<message xmlns="jabber:client" type="chat" from="bob@example.net/phone"><body>hi</body><stanza-id xmlns="urn:xmpp:sid:0" by="bob@example.net" id="bobs"/><stanza-id xmlns="urn:xmpp:sid:0" by="alice@example.net" id="ID"/></message>`,
		},
		{
			name: "outgoing",
			want: `<message xmlns="jabber:client" type="chat" from="bob@example.net/phone"><body>hi</body><stanza-id xmlns="urn:xmpp:sid:0" by="bob@example.net" id="bobs"/></message>`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			el := parse(t, `<message xmlns='jabber:client' type='chat' from='bob@example.net/phone'><body>hi</body>`+forged+foreign+`</message>`)
			id := f.a.Archive(t.Context(), alice, bob, el, tt.incoming)
			recs := f.records(t, alice)
			if id == "" || len(recs) != 1 {
				t.Fatalf("Archive = %q, %d records", id, len(recs))
			}
			if got, want := string(recs[0].Stanza), strings.ReplaceAll(tt.want, `"ID"`, `"`+id+`"`); got != want {
				t.Errorf("stored:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{16}$`)
	var g idGen
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[string]bool)
	last := ""
	// Many ids in one millisecond, then a clock that steps back an hour:
	// ids keep increasing.
	for i := range 20000 {
		if i == 10000 {
			now = now.Add(-time.Hour)
		}
		id := g.next(now)
		if !valid.MatchString(id) {
			t.Fatalf("id %q is not 16 base32 characters", id)
		}
		if seen[id] || id <= last {
			t.Fatalf("id %d %q after %q: not unique and increasing", i, id, last)
		}
		seen[id], last = true, id
	}
	// Ids of later times sort later.
	var h idGen
	a, b := h.next(now), h.next(now.Add(time.Millisecond))
	var fresh idGen
	c := fresh.next(now.Add(time.Second))
	if !(a < b && b < c) {
		t.Errorf("ids not time-ordered: %q %q %q", a, b, c)
	}

	// Through an Archive with a real clock, ids increase in archive order.
	f := newFixture(t)
	f.a.now = time.Now
	bob := jid.MustParse("bob@example.net")
	last = ""
	for range 50 {
		id := f.a.Archive(t.Context(), alice, bob, parse(t, `<message xmlns='jabber:client' type='chat'><body>x</body></message>`), true)
		if id <= last {
			t.Fatalf("archive id %q after %q", id, last)
		}
		last = id
	}
}

func TestArchiveGroupchat(t *testing.T) {
	room := jid.MustParse("room@muc.example.net")
	gc := func(nick, body, extra string) string {
		return `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/` + nick + `' to='alice@example.net/phone'><body>` + body + `</body>` + extra + `</message>`
	}
	sid := func(by, id string) string {
		return `<stanza-id xmlns='urn:xmpp:sid:0' by='` + by + `' id='` + id + `'/>`
	}
	type step struct {
		msg        string
		wantStored bool
	}
	tests := []struct {
		name  string
		prefs *storage.ArchivePrefs
		steps []step
		// want lists the kept records as "nick,origin-id,body".
		want []string
	}{
		{
			name: "de-duplicated by the room's stanza-id",
			steps: []step{
				{gc("carol", "one", sid("room@muc.example.net", "r1")), true},
				{gc("dave", "two", sid("room@muc.example.net", "r2")), true},
				{gc("carol", "one", sid("room@muc.example.net", "r1")), false}, // replayed history
			},
			want: []string{"carol,r1,one", "dave,r2,two"},
		},
		{
			name: "stanza-ids by others are not the room's",
			steps: []step{
				{gc("carol", "one", sid("carol@example.net", "c1")), true},
				{gc("carol", "one", sid("carol@example.net", "c1")), true},
			},
			want: []string{"carol,,one", "carol,,one"},
		},
		{
			name: "not groupchat or no content",
			steps: []step{
				{`<message xmlns='jabber:client' type='chat' from='room@muc.example.net/carol'><body>pm</body></message>`, false},
				{`<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/carol'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
				{`<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net'><subject>topic</subject></message>`, true},
				{gc("carol", "x", `<no-store xmlns='urn:xmpp:hints'/>`), false},
			},
			want: []string{",,"}, // the subject, from the room itself
		},
		{
			name:  "room in never list",
			prefs: &storage.ArchivePrefs{Default: PrefsAlways, Never: []string{"room@muc.example.net"}},
			steps: []step{{gc("carol", "one", ""), false}},
		},
		{
			name:  "default never",
			prefs: &storage.ArchivePrefs{Default: PrefsNever},
			steps: []step{{gc("carol", "one", ""), false}},
		},
		{
			name:  "default roster keeps rooms",
			prefs: &storage.ArchivePrefs{Default: PrefsRoster},
			steps: []step{{gc("carol", "one", ""), true}},
			want:  []string{"carol,,one"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			if tt.prefs != nil {
				if err := f.db.SetArchivePrefs(ctx, alice.String(), *tt.prefs); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.a.Joined(ctx, alice, room); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i, s := range tt.steps {
				ref, err := f.a.Groupchat(ctx, alice, room.WithResource("ignored"), parse(t, s.msg))
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				stored := ref.ID != "" && !ref.Dup
				if stored != s.wantStored {
					t.Fatalf("step %d: Groupchat = %+v; want stored %v", i, ref, s.wantStored)
				}
				if stored {
					ids = append(ids, ref.ID)
				}
			}
			recs := f.records(t, alice)
			var got []string
			for i, r := range recs {
				if !r.Groupchat || !r.Shared || r.With != "room@muc.example.net" || r.ID != ids[i] {
					t.Errorf("record %d: %+v", i, r)
				}
				el, err := Stanza(alice, &r)
				if err != nil {
					t.Fatal(err)
				}
				if stanza.StanzaID(el, jid.MustParse("alice@example.net")) != r.ID || el.Attr("to") != "alice@example.net" {
					t.Errorf("record %d: read copy lacks <stanza-id by=owner> or to: %s", i, el.AppendXML(nil, ""))
				}
				if r.OriginStanzaID != "" && stanza.StanzaID(el, jid.MustParse("room@muc.example.net")) != r.OriginStanzaID {
					t.Errorf("record %d: stored copy lost the room's stanza-id: %s", i, r.Stanza)
				}
				got = append(got, r.FromNick+","+r.OriginStanzaID+","+el.ChildText(nsClient, "body"))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("records %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGroupchatByReference checks that a room message is stored once for
// every local account in the room, and is in an account's archive only
// while it is in the room.
func TestGroupchatByReference(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	room := jid.MustParse("room@muc.example.net")
	bob := jid.MustParse("bob@example.net")
	n := 0
	say := func(to jid.JID) GroupchatRef {
		t.Helper()
		n++
		msg := fmt.Sprintf(`<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/carol' to='%s'><body>%d</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example.net' id='r%d'/></message>`, to, n, n)
		ref, err := f.a.Groupchat(ctx, to, room, parse(t, msg))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	// The room sends each account its own copy of the same message.
	again := func(to jid.JID) GroupchatRef { n--; return say(to) }
	bodies := func(owner jid.JID) string {
		t.Helper()
		var out []string
		for _, r := range f.records(t, owner) {
			el, err := Stanza(owner, &r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, el.ChildText(nsClient, "body"))
		}
		return strings.Join(out, " ")
	}
	for _, j := range []jid.JID{alice, bob} {
		if err := f.a.Joined(ctx, j, room); err != nil {
			t.Fatal(err)
		}
	}
	first := say(alice)
	if first.ID == "" || first.Dup {
		t.Fatalf("first copy: %+v", first)
	}
	if second := again(bob); second.ID != first.ID || !second.Dup || second.Seq != first.Seq {
		t.Fatalf("bob's copy of the same message: %+v, want %+v stored before", second, first)
	}
	if err := f.a.Left(ctx, alice, room); err != nil {
		t.Fatal(err)
	}
	say(bob) // 2: alice is gone
	if err := f.a.Joined(ctx, alice, room); err != nil {
		t.Fatal(err)
	}
	say(alice)
	again(bob) // 3
	if got := bodies(alice); got != "1 3" {
		t.Errorf("alice's archive: %q, want \"1 3\"", got)
	}
	if got := bodies(bob); got != "1 2 3" {
		t.Errorf("bob's archive: %q, want \"1 2 3\"", got)
	}
	// Preferences that exclude the room close the interval at once.
	if err := f.db.SetArchivePrefs(ctx, bob.String(), storage.ArchivePrefs{Default: PrefsAlways, Never: []string{room.String()}}); err != nil {
		t.Fatal(err)
	}
	f.a.cachePrefs(bob.String(), storage.ArchivePrefs{Default: PrefsAlways, Never: []string{room.String()}})
	if err := f.a.reapplyPrefs(ctx, bob); err != nil {
		t.Fatal(err)
	}
	say(bob)   // 4: bob no longer archives the room, so it is not stored
	say(alice) // 5
	if got := bodies(bob); got != "1 2 3" {
		t.Errorf("bob's archive after excluding the room: %q", got)
	}
	if got := bodies(alice); got != "1 3 5" {
		t.Errorf("alice's archive: %q, want \"1 3 5\"", got)
	}
	// After a restart the room's stored stanza-ids are read back once,
	// so the room's history replay is recognised.
	g := New(f.db, nil, slog.New(slog.DiscardHandler))
	if err := g.LoadMemberships(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Joined(ctx, alice, room); err != nil {
		t.Fatal(err)
	}
	replay := parse(t, `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/carol'><body>5</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example.net' id='r5'/></message>`)
	if ref, err := g.Groupchat(ctx, alice, room, replay); err != nil || !ref.Dup {
		t.Errorf("replay after a restart: %+v, %v; want a duplicate", ref, err)
	}
	if last, err := g.RoomLast(ctx, room); err != nil || last.IsZero() {
		t.Errorf("RoomLast = %v, %v", last, err)
	}
	if got := bodies(alice); got != "1 3 5" {
		t.Errorf("alice's archive after the replay: %q", got)
	}
}

// TestAppend checks the write a MUC room makes: unconditional, with the
// occupant kept for with=room/nick queries and the id stamped.
func TestAppend(t *testing.T) {
	f := newFixture(t)
	room := jid.MustParse("room@muc.example.net")
	el := parse(t, `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/carol'><body>hi</body></message>`)
	id, err := f.a.Append(t.Context(), room, room.WithResource("carol"), el, true)
	if err != nil {
		t.Fatal(err)
	}
	recs := f.records(t, room)
	if len(recs) != 1 || recs[0].ID != id || recs[0].With != room.String() || recs[0].FromNick != "carol" || !recs[0].Groupchat {
		t.Fatalf("records %+v", recs)
	}
	if stanza.StanzaID(parse(t, string(recs[0].Stanza)), room) != id {
		t.Errorf("stored copy lacks the room's stanza-id: %s", recs[0].Stanza)
	}
}

// otherNodes is a store whose positions are those of a cluster node
// sharing its database with others: its own from one range, and the
// room messages another node stored, read back at start, from a later
// range.
type otherNodes struct {
	*sqlite.DB
	seq int64
}

func (o *otherNodes) QueueRoomMessage(ctx context.Context, rec storage.RoomMessage) (int64, error) {
	if _, err := o.DB.QueueRoomMessage(ctx, rec); err != nil {
		return 0, err
	}
	o.seq++
	return o.seq, nil
}

func (o *otherNodes) RecentRoomMessages(ctx context.Context, rooms []string, n int) (map[string][]storage.RoomMessage, error) {
	m, err := o.DB.RecentRoomMessages(ctx, rooms, n)
	for _, recs := range m {
		for i := range recs {
			recs[i].Seq += 1 << 40 // another node's range
		}
	}
	return m, err
}

// TestGroupchatOrderAcrossNodes checks that GroupchatRef.Order follows
// the order in which this process first sees a room's messages, whatever
// the positions storage hands out: on a cluster a message another node
// stored first carries a position from that node's range, larger than
// the positions of the messages this node stores after it. (Ordering by
// position dropped every later message for all but one account of the
// node: each looked like a repeat of something already delivered.)
func TestGroupchatOrderAcrossNodes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	room := jid.MustParse("room@muc.example.net")
	bob := jid.MustParse("bob@example.net")
	msg := func(n int) *xml.Element {
		return parse(t, fmt.Sprintf(`<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/carol'><body>%d</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example.net' id='r%d'/></message>`, n, n))
	}
	// Message 1 was stored by another node before this one started.
	for _, j := range []jid.JID{alice, bob} {
		if err := f.a.Joined(ctx, j, room); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.a.Groupchat(ctx, alice, room, msg(1)); err != nil {
		t.Fatal(err)
	}
	node := &otherNodes{DB: f.db}
	a := New(node, nil, slog.New(slog.DiscardHandler))
	if err := a.LoadMemberships(ctx); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for n := 1; n <= 3; n++ {
		first, err := a.Groupchat(ctx, alice, room, msg(n))
		if err != nil {
			t.Fatal(err)
		}
		second, err := a.Groupchat(ctx, bob, room, msg(n))
		if err != nil {
			t.Fatal(err)
		}
		if !second.Dup || second.ID != first.ID || second.Order != first.Order {
			t.Errorf("message %d: bob's copy %+v, want a repeat of alice's %+v", n, second, first)
		}
		if first.Order <= last {
			t.Errorf("message %d: order %d, not after the message before it (%d); refs %+v", n, first.Order, last, first)
		}
		last = first.Order
	}
	// The room repeats message 2 (history after a rejoin): same order.
	again, err := a.Groupchat(ctx, alice, room, msg(2))
	if err != nil || !again.Dup || again.Order != last-1 {
		t.Errorf("repeat of message 2: %+v, %v; want a duplicate with order %d", again, err, last-1)
	}
}
