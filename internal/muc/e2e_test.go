package muc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// Point 1: the join sequence, creation, locking and status codes.
func TestE2EJoin(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "join@" + service

	got := joinRoom(t, alice, room, "Alice", "")
	if len(got) != 2 {
		t.Fatalf("creator got %v", got)
	}
	self := got[0]
	for _, c := range []string{"110", "201", "170"} {
		if !hasCode(self, c) {
			t.Errorf("creator's presence lacks %s: %v", c, self)
		}
	}
	if self.Attr("id") == "" || !strings.HasPrefix(self.Attr("id"), "join-") {
		t.Errorf("join id not reflected: %v", self)
	}
	if it := userItem(self); it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" {
		t.Errorf("creator item: %v", it)
	}
	if s := got[1]; s.Attr("from") != room || s.Child("", "subject") == nil || s.Child("", "subject").Text != "" {
		t.Errorf("empty subject: %v", s)
	}

	// Locked until configured (section 10.1): 404 for others.
	got = joinRoom(t, bob, room, "Bob", "")
	if c := condition(got[len(got)-1]); c != "item-not-found" {
		t.Fatalf("join of a locked room: %v", got)
	}
	r := alice.IQ(t, "<iq type='set' id='instant' to='"+room+"'><query xmlns='"+nsOwner+"'><x xmlns='"+nsData+"' type='submit'/></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("instant room: %v", r)
	}
	say(t, alice, room, "h1", "hello history")
	alice.Expect(t, "reflection", isGroupchat("hello history"))

	got = joinRoom(t, bob, room, "Bob", "")
	want := []string{"presence from Alice", "own presence", "history", "subject"}
	if len(got) != len(want) {
		t.Fatalf("joiner got %d stanzas, want %v: %v", len(got), want, got)
	}
	if got[0].Attr("from") != room+"/Alice" || hasCode(got[0], "110") {
		t.Errorf("occupant presence first: %v", got[0])
	}
	if !hasCode(got[1], "110") || hasCode(got[1], "201") || got[1].Attr("from") != room+"/Bob" || !strings.HasPrefix(got[1].Attr("id"), "join-") {
		t.Errorf("own presence second, with the join's id: %v", got[1])
	}
	if got[2].Child("", "body") == nil || got[2].Child("", "body").Text != "hello history" {
		t.Errorf("history third: %v", got[2])
	} else if d := got[2].Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("from") != room {
		t.Errorf("history delay from the room: %v", got[2])
	}
	if got[3].Child("", "subject") == nil {
		t.Errorf("subject last: %v", got[3])
	}
	// The owner (a moderator) sees bob's real JID, bob does not see hers.
	p := alice.Expect(t, "bob's presence", isPresence(room+"/Bob", "", ""))
	if userItem(p).Attr("jid") != bob.JID.String() {
		t.Errorf("moderator view of bob: %v", p)
	}
	if userItem(got[0]).Attr("jid") != "" {
		t.Errorf("semi-anonymous room showed a JID to a participant: %v", got[0])
	}

	// Non-anonymous: 100; a nick the service changed: 210.
	if r := configure(t, alice, room, map[string]string{"muc#roomconfig_whois": "anyone"}); r.Attr("type") != "result" {
		t.Fatalf("configure: %v", r)
	}
	carol := dial(t, srv, "carol", "tab")
	got = enter(t, carol, room, "ｃａｒｏｌ", "")
	own := *selfPresence(got)
	if !hasCode(own, "100") || !hasCode(own, "210") || own.Attr("from") != room+"/carol" {
		t.Errorf("codes 100 and 210, nick carol: %v", own)
	}
	if userItem(got[0]).Attr("jid") == "" {
		t.Errorf("non-anonymous room hid a JID: %v", got[0])
	}
}

// Point 2: refusals, and multi-session nicks.
func TestE2EJoinRefusals(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, room string)
		nick  string
		extra string
		want  string
	}{
		{"nick conflict", nil, "Alice", "", "conflict"},
		{"banned", func(t *testing.T, room string) {
			admin(t, alice, room, "<item jid='bob@localhost' affiliation='outcast'/>")
		}, "Bob", "", "forbidden"},
		{"members only", func(t *testing.T, room string) {
			configure(t, alice, room, map[string]string{"muc#roomconfig_membersonly": "1"})
		}, "Bob", "", "registration-required"},
		{"password", func(t *testing.T, room string) {
			configure(t, alice, room, map[string]string{"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "pw"})
		}, "Bob", "<password>nope</password>", "not-authorized"},
		{"full", func(t *testing.T, room string) {
			configure(t, alice, room, map[string]string{"muc#roomconfig_maxusers": "1"})
		}, "Bob", "", "service-unavailable"},
		{"locked", func(t *testing.T, room string) {}, "Bob", "", "item-not-found"},
		{"forbidden nick", nil, "%20%20", "", "jid-malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := strings.ReplaceAll(tc.name, " ", "-") + "@" + service
			if tc.name == "locked" {
				enter(t, alice, room, "Alice", "")
			} else {
				createRoom(t, alice, room, "Alice")
			}
			if tc.setup != nil {
				tc.setup(t, room)
			}
			drain(t, alice)
			nick := strings.ReplaceAll(tc.nick, "%20", " ")
			got := joinRoom(t, bob, room, nick, tc.extra)
			last := got[len(got)-1]
			if c := condition(last); c != tc.want {
				t.Fatalf("got %q, want %q: %v", c, tc.want, got)
			}
			if !strings.HasPrefix(last.Attr("id"), "join-") || last.Child(nsMUC, "x") == nil {
				t.Errorf("error presence keeps the join's id and <x/>: %v", last)
			}
			quiet(t, alice, "news of a refused join", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" })
		})
	}

	t.Run("multi-session nick", func(t *testing.T) {
		room := "multi@" + service
		createRoom(t, alice, room, "Alice")
		laptop := dial(t, srv, "alice", "laptop")
		drain(t, alice)
		got := enter(t, laptop, room, "Alice", "")
		if it := userItem(*selfPresence(got)); it.Attr("jid") != laptop.JID.String() {
			t.Errorf("second session's own item: %v", it)
		}
		quiet(t, alice, "presence for a second session", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" })
		say(t, bob, room, "x", "ignored") // bob is not in the room
		bob.Expect(t, "not-acceptable", isError("message", "x"))
		enter(t, bob, room, "Bob", "")
		say(t, bob, room, "m1", "to both sessions")
		alice.Expect(t, "message on phone", isGroupchat("to both sessions"))
		laptop.Expect(t, "message on laptop", isGroupchat("to both sessions"))
	})
}

// Point 3: history controls.
func TestE2EHistory(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "history@" + service
	createRoom(t, alice, room, "Alice")
	for i := 1; i <= 3; i++ {
		say(t, alice, room, fmt.Sprint("old", i), fmt.Sprint("old ", i))
		alice.Expect(t, "reflection", isGroupchat(fmt.Sprint("old ", i)))
	}
	time.Sleep(1100 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(50 * time.Millisecond)
	for i := 1; i <= 2; i++ {
		say(t, alice, room, fmt.Sprint("new", i), fmt.Sprint("new ", i))
		alice.Expect(t, "reflection", isGroupchat(fmt.Sprint("new ", i)))
	}
	// The characters of one history message as the room counts them:
	// the stanza with its delay, before the to is added.
	const oneMessage = 400
	bodies := func(got []xmpptest.Node) []string {
		var out []string
		for _, n := range got {
			if b := n.Child("", "body"); b != nil && n.XMLName.Local == "message" {
				out = append(out, b.Text)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, history string
		want          []string
	}{
		{"default", "", []string{"old 1", "old 2", "old 3", "new 1", "new 2"}},
		{"maxstanzas", "<history maxstanzas='2'/>", []string{"new 1", "new 2"}},
		{"maxchars 0", "<history maxchars='0'/>", nil},
		{"maxchars below one message", "<history maxchars='100'/>", nil},
		{"maxchars one", "<history maxchars='MAXCHARS'/>", []string{"new 2"}},
		{"seconds", "<history seconds='1'/>", []string{"new 1", "new 2"}},
		{"since", "<history since='" + mid.Format(time.RFC3339Nano) + "'/>", []string{"new 1", "new 2"}},
		{"since and maxstanzas", "<history since='" + mid.Format(time.RFC3339Nano) + "' maxstanzas='1'/>", []string{"new 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := enter(t, bob, room, "Bob", strings.ReplaceAll(tc.history, "MAXCHARS", fmt.Sprint(oneMessage*3/2)))
			if b := bodies(got); strings.Join(b, "|") != strings.Join(tc.want, "|") {
				t.Errorf("history %v, want %v", b, tc.want)
			}
			bob.SendRaw(t, "<presence type='unavailable' to='"+room+"/Bob'/>")
			bob.Expect(t, "leave", isPresence(room+"/Bob", "unavailable", "110"))
		})
	}
}

// Point 4: reflection with stanza-id, occupant-id and the sender's id.
func TestE2EGroupchat(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	carol := dial(t, srv, "carol", "tab")
	room := "chat@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	drain(t, alice)

	bob.SendRaw(t, "<message to='"+room+"' type='groupchat' id='stable-1'><body>hi all</body>"+
		"<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/><stanza-id xmlns='urn:xmpp:sid:0' by='"+room+"' id='forged'/></message>")
	var sids []string
	var occ string
	for _, c := range []*xmpptest.Client{alice, bob} {
		m := c.Expect(t, "reflection", isGroupchat("hi all"))
		if m.Attr("from") != room+"/Bob" || m.Attr("id") != "stable-1" {
			t.Errorf("%s: from/id: %v", c.JID, m)
		}
		if n := len(m.Children("urn:xmpp:occupant-id:0", "occupant-id")); n != 1 || occupantID(m) == "forged" {
			t.Errorf("%s: occupant-id: %v", c.JID, m)
		}
		if n := len(m.Children("urn:xmpp:sid:0", "stanza-id")); n != 1 || stanzaID(m, room) == "" || stanzaID(m, room) == "forged" {
			t.Errorf("%s: stanza-id: %v", c.JID, m)
		}
		sids = append(sids, stanzaID(m, room))
		occ = occupantID(m)
	}
	if sids[0] != sids[1] {
		t.Errorf("stanza-ids differ: %v", sids)
	}
	// Stable per real bare JID: across a nick change and a rejoin; other
	// users have other ids.
	bob.SendRaw(t, "<presence to='"+room+"/Robert'/>")
	bob.Expect(t, "new nick", isPresence(room+"/Robert", "", "110"))
	say(t, bob, room, "stable-2", "again")
	if m := alice.Expect(t, "second message", isGroupchat("again")); occupantID(m) != occ {
		t.Errorf("occupant-id changed with the nick: %q then %q", occ, occupantID(m))
	}
	say(t, alice, room, "stable-3", "mine")
	if m := bob.Expect(t, "alice's message", isGroupchat("mine")); occupantID(m) == occ || occupantID(m) == "" {
		t.Errorf("alice's occupant-id %q vs bob's %q", occupantID(m), occ)
	}

	// A non-occupant's groupchat: not-acceptable.
	say(t, carol, room, "outsider", "let me in")
	if e := carol.Expect(t, "error", isError("message", "outsider")); condition(e) != "not-acceptable" {
		t.Errorf("non-occupant: %v", e)
	}
	quiet(t, alice, "the outsider's message", isGroupchat("let me in"))
}

// Point 5: leaving.
func TestE2ELeave(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "leave@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	drain(t, alice)
	bob.SendRaw(t, "<presence type='unavailable' to='"+room+"/Bob'><status>bye</status></presence>")
	own := bob.Expect(t, "own unavailable", isPresence(room+"/Bob", "unavailable", "110"))
	if userItem(own).Attr("role") != "none" {
		t.Errorf("own unavailable: %v", own)
	}
	other := alice.Expect(t, "bob's unavailable", isPresence(room+"/Bob", "unavailable", ""))
	if hasCode(other, "110") || other.Child("", "status") == nil || other.Child("", "status").Text != "bye" {
		t.Errorf("broadcast unavailable: %v", other)
	}
	say(t, alice, room, "after", "after bob left")
	quiet(t, bob, "traffic after leaving", isGroupchat("after bob left"))
}

// Point 6: nick change and presence updates.
func TestE2ENickAndStatus(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "nick@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	drain(t, alice)

	bob.SendRaw(t, "<presence to='"+room+"/Alice'/>")
	if e := bob.Expect(t, "conflict", func(n xmpptest.Node) bool { return n.Attr("type") == "error" }); condition(e) != "conflict" {
		t.Errorf("change to a taken nick: %v", e)
	}
	bob.SendRaw(t, "<presence to='"+room+"/Bobby'/>")
	for _, c := range []*xmpptest.Client{alice, bob} {
		gone := next(t, c, "303")
		if !isPresence(room+"/Bob", "unavailable", "303")(gone) || userItem(gone).Attr("nick") != "Bobby" {
			t.Fatalf("%s: first the 303: %v", c.JID, gone)
		}
		back := next(t, c, "new presence")
		if !isPresence(room+"/Bobby", "", "")(back) {
			t.Fatalf("%s: then the new nick: %v", c.JID, back)
		}
		if (c == bob) != hasCode(back, "110") || (c == bob) != hasCode(gone, "110") {
			t.Errorf("%s: 110 only to bob: %v %v", c.JID, gone, back)
		}
	}
	bob.SendRaw(t, "<presence to='"+room+"/Bobby'><show>away</show><status>lunch</status></presence>")
	for _, c := range []*xmpptest.Client{alice, bob} {
		p := c.Expect(t, "status update", isPresence(room+"/Bobby", "", ""))
		if p.Child("", "show") == nil || p.Child("", "show").Text != "away" || p.Child("", "status").Text != "lunch" {
			t.Errorf("%s: update: %v", c.JID, p)
		}
	}
}

// Point 7: private messages.
func TestE2EPrivateMessages(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	carol := dial(t, srv, "carol", "tab")
	room := "pm@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	alice.SendRaw(t, "<message to='"+room+"/Bob' type='chat' id='pm1'><body>psst</body></message>")
	m := bob.Expect(t, "private message", xmpptest.IsMessage("psst"))
	if m.Attr("from") != room+"/Alice" || m.Attr("type") != "chat" || m.Attr("id") != "pm1" || m.Child(nsUser, "x") == nil {
		t.Errorf("private message: %v", m)
	}
	carol.SendRaw(t, "<message to='"+room+"/Bob' type='chat' id='pm2'><body>spam</body></message>")
	if e := carol.Expect(t, "error", isError("message", "pm2")); condition(e) != "not-acceptable" {
		t.Errorf("non-occupant private message: %v", e)
	}
	alice.SendRaw(t, "<message to='"+room+"/Nobody' type='chat' id='pm3'><body>hello?</body></message>")
	if e := alice.Expect(t, "error", isError("message", "pm3")); condition(e) != "item-not-found" {
		t.Errorf("private message to nobody: %v", e)
	}
	configure(t, alice, room, map[string]string{"muc#roomconfig_allowpm": "none"})
	bob.SendRaw(t, "<message to='"+room+"/Alice' type='chat' id='pm4'><body>no</body></message>")
	if e := bob.Expect(t, "error", isError("message", "pm4")); condition(e) != "forbidden" {
		t.Errorf("private message where none are allowed: %v", e)
	}
}

// Point 8: moderation and administration.
func TestE2EModeration(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	carol := dial(t, srv, "carol", "tab")
	room := "mod@" + service
	createRoom(t, alice, room, "Alice")

	t.Run("kick", func(t *testing.T) {
		enter(t, bob, room, "Bob", "")
		drain(t, alice)
		r := admin(t, alice, room, "<item nick='Bob' role='none'><reason>calm down</reason></item>")
		if r.Attr("type") != "result" {
			t.Fatalf("kick: %v", r)
		}
		own := bob.Expect(t, "kicked", isPresence(room+"/Bob", "unavailable", "307"))
		if !hasCode(own, "110") || userItem(own).Child(nsUser, "reason") == nil {
			t.Errorf("kicked occupant's presence: %v", own)
		}
		if a := userItem(own).Child(nsUser, "actor"); a == nil || a.Attr("nick") != "Alice" {
			t.Errorf("actor: %v", own)
		}
		alice.Expect(t, "kick broadcast", isPresence(room+"/Bob", "unavailable", "307"))
	})
	t.Run("voice", func(t *testing.T) {
		configure(t, alice, room, map[string]string{"muc#roomconfig_moderatedroom": "1"})
		got := enter(t, bob, room, "Bob", "")
		if userItem(*selfPresence(got)).Attr("role") != "visitor" {
			t.Fatalf("visitor in a moderated room: %v", got)
		}
		say(t, bob, room, "v1", "can I speak")
		if e := bob.Expect(t, "forbidden", isError("message", "v1")); condition(e) != "forbidden" {
			t.Errorf("visitor speaking: %v", e)
		}
		drain(t, alice)
		if r := admin(t, alice, room, "<item nick='Bob' role='participant'/>"); r.Attr("type") != "result" {
			t.Fatalf("grant voice: %v", r)
		}
		p := bob.Expect(t, "voice", isPresence(room+"/Bob", "", "110"))
		if userItem(p).Attr("role") != "participant" {
			t.Errorf("voice: %v", p)
		}
		say(t, bob, room, "v2", "thanks")
		alice.Expect(t, "bob speaks", isGroupchat("thanks"))
		// A participant may not kick.
		if r := admin(t, bob, room, "<item nick='Alice' role='none'/>"); condition(r) != "forbidden" {
			t.Errorf("participant kicking: %v", r)
		}
		// Nobody kicks an owner.
		if r := admin(t, alice, room, "<item nick='Alice' role='visitor'/>"); condition(r) != "not-allowed" {
			t.Errorf("revoking an owner's voice: %v", r)
		}
	})
	t.Run("affiliations by JID and by nick", func(t *testing.T) {
		if r := admin(t, alice, room, "<item jid='carol@localhost' affiliation='member'/><item nick='Bob' affiliation='admin'/>"); r.Attr("type") != "result" {
			t.Fatalf("set affiliations: %v", r)
		}
		p := bob.Expect(t, "bob is admin", isPresence(room+"/Bob", "", "110"))
		if it := userItem(p); it.Attr("affiliation") != "admin" || it.Attr("role") != "moderator" {
			t.Errorf("admin's item: %v", it)
		}
		list := alice.IQ(t, "<iq type='get' id='ml' to='"+room+"'><query xmlns='"+nsAdmin+"'><item affiliation='member'/></query></iq>")
		items := list.Child(nsAdmin, "query").Children(nsAdmin, "item")
		if len(items) != 1 || items[0].Attr("jid") != "carol@localhost" {
			t.Errorf("member list: %v", list)
		}
		// An admin cannot touch an owner, nor grant ownership.
		if r := admin(t, bob, room, "<item jid='alice@localhost' affiliation='member'/>"); condition(r) != "not-allowed" {
			t.Errorf("admin demoting the owner: %v", r)
		}
		if r := admin(t, bob, room, "<item jid='carol@localhost' affiliation='owner'/>"); condition(r) != "forbidden" {
			t.Errorf("admin granting ownership: %v", r)
		}
	})
	t.Run("321 and 322", func(t *testing.T) {
		enter(t, carol, room, "Carol", "")
		dave := dial(t, srv, "dave", "d")
		enter(t, dave, room, "Dave", "")
		drain(t, alice)
		configure(t, alice, room, map[string]string{"muc#roomconfig_membersonly": "1"})
		p := dave.Expect(t, "322", isPresence(room+"/Dave", "unavailable", "322"))
		if !hasCode(p, "110") {
			t.Errorf("322 to the removed: %v", p)
		}
		alice.Expect(t, "322 broadcast", isPresence(room+"/Dave", "unavailable", "322"))
		quiet(t, carol, "a member's removal", isPresence(room+"/Carol", "unavailable", ""))
		admin(t, alice, room, "<item jid='carol@localhost' affiliation='none'/>")
		carol.Expect(t, "321", isPresence(room+"/Carol", "unavailable", "321"))
		alice.Expect(t, "321 broadcast", isPresence(room+"/Carol", "unavailable", "321"))
	})
	t.Run("ban", func(t *testing.T) {
		admin(t, alice, room, "<item jid='carol@localhost' affiliation='member'/>")
		enter(t, carol, room, "Carol", "")
		drain(t, alice)
		if r := admin(t, bob, room, "<item jid='carol@localhost' affiliation='outcast'><reason>spam</reason></item>"); r.Attr("type") != "result" {
			t.Fatalf("ban: %v", r)
		}
		carol.Expect(t, "banned", isPresence(room+"/Carol", "unavailable", "301"))
		alice.Expect(t, "ban broadcast", isPresence(room+"/Carol", "unavailable", "301"))
		if got := joinRoom(t, carol, room, "Carol", ""); condition(got[len(got)-1]) != "forbidden" {
			t.Errorf("banned rejoin: %v", got)
		}
		list := alice.IQ(t, "<iq type='get' id='ol' to='"+room+"'><query xmlns='"+nsAdmin+"'><item affiliation='outcast'/></query></iq>")
		if items := list.Child(nsAdmin, "query").Children(nsAdmin, "item"); len(items) != 1 || items[0].Attr("jid") != "carol@localhost" {
			t.Errorf("outcast list: %v", list)
		}
	})
	t.Run("destroy", func(t *testing.T) {
		drain(t, bob)
		r := alice.IQ(t, "<iq type='set' id='d' to='"+room+"'><query xmlns='"+nsOwner+"'><destroy jid='elsewhere@"+service+"'><reason>moving</reason></destroy></query></iq>")
		if r.Attr("type") != "result" {
			t.Fatalf("destroy: %v", r)
		}
		for _, c := range []*xmpptest.Client{alice, bob} {
			p := c.Expect(t, "destroyed", func(n xmpptest.Node) bool {
				return n.XMLName.Local == "presence" && n.Attr("type") == "unavailable" && n.Child(nsUser, "x") != nil && n.Child(nsUser, "x").Child(nsUser, "destroy") != nil
			})
			d := p.Child(nsUser, "x").Child(nsUser, "destroy")
			if d.Attr("jid") != "elsewhere@"+service || d.Child(nsUser, "reason") == nil || d.Child(nsUser, "reason").Text != "moving" {
				t.Errorf("%s: destroy: %v", c.JID, p)
			}
		}
		info := carol.IQ(t, "<iq type='get' id='di' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		if condition(info) != "item-not-found" {
			t.Errorf("destroyed room still there: %v", info)
		}
	})
}

// Point 8, the end: service shutdown tells occupants 332.
func TestE2EShutdown332(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "shutdown@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	drain(t, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go srv.Shutdown(ctx)
	p := bob.Expect(t, "332", isPresence(room+"/Bob", "unavailable", "332"))
	if !hasCode(p, "110") {
		t.Errorf("332 presence: %v", p)
	}
	alice.Expect(t, "332", isPresence(room+"/Alice", "unavailable", "332"))
}

// Point 9: configuration, and persistence over a restart.
func TestE2EConfigAndPersistence(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	room := "persist@" + service
	createRoom(t, alice, room, "Alice")
	form := alice.IQ(t, "<iq type='get' id='f' to='"+room+"'><query xmlns='"+nsOwner+"'/></iq>")
	x := form.Child(nsOwner, "query").Child(nsData, "x")
	if x == nil {
		t.Fatalf("no form: %v", form)
	}
	vars := map[string]bool{}
	for _, f := range x.Children(nsData, "field") {
		vars[f.Attr("var")] = true
	}
	for _, v := range []string{"muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_persistentroom",
		"muc#roomconfig_publicroom", "muc#roomconfig_membersonly", "muc#roomconfig_moderatedroom",
		"muc#roomconfig_passwordprotectedroom", "muc#roomconfig_roomsecret", "muc#roomconfig_whois",
		"muc#roomconfig_maxusers", "muc#maxhistoryfetch", "muc#roomconfig_changesubject", "muc#roomconfig_allowpm"} {
		if !vars[v] {
			t.Errorf("form lacks %s", v)
		}
	}
	r := configure(t, alice, room, map[string]string{
		"muc#roomconfig_roomname":       "Persistent Room",
		"muc#roomconfig_roomdesc":       "kept over restarts",
		"muc#roomconfig_persistentroom": "1",
		"muc#roomconfig_publicroom":     "1",
		"muc#roomconfig_whois":          "anyone",
		"muc#roomconfig_changesubject":  "1",
		"muc#maxhistoryfetch":           "10",
	})
	if r.Attr("type") != "result" {
		t.Fatalf("configure: %v", r)
	}
	if r := admin(t, alice, room, "<item jid='bob@localhost' affiliation='member'/>"); r.Attr("type") != "result" {
		t.Fatalf("member: %v", r)
	}
	say(t, alice, room, "p1", "before the restart")
	alice.Expect(t, "reflection", isGroupchat("before the restart"))
	alice.SendRaw(t, "<message to='"+room+"' type='groupchat'><subject>the topic</subject></message>")
	alice.Expect(t, "subject", func(n xmpptest.Node) bool { return n.Child("", "subject") != nil })

	cfg := *srv.Config
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv2 := xmpptest.StartConfig(t, &cfg)
	bob := dial(t, srv2, "bob", "pc")
	got := enter(t, bob, room, "Bob", "")
	own := *selfPresence(got)
	if it := userItem(own); it.Attr("affiliation") != "member" || !hasCode(own, "100") || hasCode(own, "201") {
		t.Errorf("after restart: %v", own)
	}
	var history, subject bool
	for _, n := range got {
		if b := n.Child("", "body"); b != nil && b.Text == "before the restart" {
			history = true
		}
		if s := n.Child("", "subject"); s != nil && s.Text == "the topic" {
			subject = true
		}
	}
	if !history || !subject {
		t.Errorf("history %v, subject %v after restart: %v", history, subject, got)
	}
	info := bob.IQ(t, "<iq type='get' id='i' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := info.Child("http://jabber.org/protocol/disco#info", "query")
	if id := q.Child("", "identity"); id == nil || id.Attr("name") != "Persistent Room" {
		t.Errorf("name after restart: %v", info)
	}
	if !hasFeature(q, "muc_persistent") || !hasFeature(q, "muc_nonanonymous") {
		t.Errorf("features after restart: %v", info)
	}
}

func hasFeature(q *xmpptest.Node, v string) bool {
	if q == nil {
		return false
	}
	for _, f := range q.Children("", "feature") {
		if f.Attr("var") == v {
			return true
		}
	}
	return false
}

// Point 10: discovery.
func TestE2EDiscovery(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	createRoom(t, alice, "public@"+service, "Alice")
	createRoom(t, alice, "hidden@"+service, "Alice")
	configure(t, alice, "hidden@"+service, map[string]string{"muc#roomconfig_publicroom": "0"})
	enter(t, alice, "locked@"+service, "Alice", "")

	items := bob.IQ(t, "<iq type='get' id='di' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	found := false
	for _, it := range items.Child("", "query").Children("", "item") {
		found = found || it.Attr("jid") == service
	}
	if !found {
		t.Errorf("server items lack the service: %v", items)
	}
	info := bob.IQ(t, "<iq type='get' id='si' to='"+service+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := info.Child("", "query")
	if id := q.Child("", "identity"); id == nil || id.Attr("category") != "conference" || !hasFeature(q, nsMUC) {
		t.Errorf("service info: %v", info)
	}
	rooms := bob.IQ(t, "<iq type='get' id='sr' to='"+service+"'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	var jids []string
	for _, it := range rooms.Child("", "query").Children("", "item") {
		jids = append(jids, it.Attr("jid"))
	}
	if strings.Join(jids, ",") != "public@"+service {
		t.Errorf("public rooms = %v", jids)
	}
	info = bob.IQ(t, "<iq type='get' id='ri' to='public@"+service+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q = info.Child("", "query")
	for _, f := range []string{nsMUC, "muc_public", "muc_temporary", "muc_open", "muc_unmoderated", "muc_semianonymous",
		"muc_unsecured", "http://jabber.org/protocol/muc#stable_id", "http://jabber.org/protocol/muc#self-ping-optimization",
		"urn:xmpp:occupant-id:0", "urn:xmpp:mam:2"} {
		if !hasFeature(q, f) {
			t.Errorf("room lacks feature %s", f)
		}
	}
	form := q.Child(nsData, "x")
	ok := false
	if form != nil {
		for _, f := range form.Children(nsData, "field") {
			if f.Attr("var") == "FORM_TYPE" && f.Child(nsData, "value").Text == nsMUC+"#roominfo" {
				ok = true
			}
		}
	}
	if !ok {
		t.Errorf("no muc#roominfo form: %v", info)
	}
	if r := bob.IQ(t, "<iq type='get' id='li' to='locked@"+service+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"); condition(r) != "item-not-found" {
		t.Errorf("a locked room is not there for others: %v", r)
	}
}

// Point 11: the room archive.
func TestE2EArchive(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	carol := dial(t, srv, "carol", "tab")
	room := "archive@" + service
	createRoom(t, alice, room, "Alice")
	var sids []string
	for i := 1; i <= 5; i++ {
		say(t, alice, room, fmt.Sprint("a", i), fmt.Sprint("msg ", i))
		sids = append(sids, stanzaID(alice.Expect(t, "reflection", isGroupchat(fmt.Sprint("msg ", i))), room))
	}
	query := func(c *xmpptest.Client, inner string) ([]string, xmpptest.Node) {
		t.Helper()
		qid := nextID("q")
		r := c.IQ(t, "<iq type='set' id='"+qid+"' to='"+room+"'><query xmlns='urn:xmpp:mam:2' queryid='"+qid+"'>"+inner+"</query></iq>")
		var bodies []string
		for {
			select {
			case n := <-c.In:
				if res := n.Child("urn:xmpp:mam:2", "result"); res != nil && res.Attr("queryid") == qid {
					if n.Attr("from") != room {
						t.Errorf("result from %q", n.Attr("from"))
					}
					bodies = append(bodies, res.Find("forwarded/message/body").Text)
				}
				continue
			default:
			}
			break
		}
		return bodies, r
	}
	got, fin := query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>")
	if strings.Join(got, "|") != "msg 1|msg 2" || fin.Attr("type") != "result" {
		t.Errorf("first page: %v %v", got, fin)
	}
	last := fin.Find("fin/set/last").Text
	got, _ = query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>"+last+"</after></set>")
	if strings.Join(got, "|") != "msg 3|msg 4" {
		t.Errorf("after: %v", got)
	}
	got, _ = query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>")
	if strings.Join(got, "|") != "msg 4|msg 5" {
		t.Errorf("last page: %v", got)
	}
	got, _ = query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><before>"+sids[2]+"</before></set>")
	if strings.Join(got, "|") != "msg 1|msg 2" {
		t.Errorf("before: %v", got)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	got, _ = query(alice, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='start'><value>"+future+"</value></field></x>")
	if len(got) != 0 {
		t.Errorf("start in the future: %v", got)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	got, _ = query(alice, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='start'><value>"+past+"</value></field><field var='end'><value>"+future+"</value></field></x>")
	if len(got) != 5 {
		t.Errorf("start and end: %v", got)
	}
	// A public room's archive is open to anyone not banned; a
	// members-only one's to its members.
	if got, r := query(carol, ""); len(got) != 5 || r.Attr("type") != "result" {
		t.Errorf("outsider reading a public archive: %v %v", got, r)
	}
	configure(t, alice, room, map[string]string{"muc#roomconfig_membersonly": "1"})
	if _, r := query(carol, ""); condition(r) != "forbidden" {
		t.Errorf("outsider reading a members-only archive: %v", r)
	}
}

// Point 12: self-ping.
func TestE2ESelfPing(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "ping@" + service
	createRoom(t, alice, room, "Alice")
	r := alice.IQ(t, "<iq type='get' id='sp' to='"+room+"/Alice'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r.Attr("type") != "result" || r.Attr("from") != room+"/Alice" {
		t.Errorf("self-ping: %v", r)
	}
	r = bob.IQ(t, "<iq type='get' id='sp2' to='"+room+"/Alice'><ping xmlns='urn:xmpp:ping'/></iq>")
	if condition(r) != "not-acceptable" {
		t.Errorf("non-occupant ping: %v", r)
	}
	// Other iqs to an occupant reach one of its real JIDs and come back.
	enter(t, bob, room, "Bob", "")
	r = bob.IQ(t, "<iq type='get' id='ver' to='"+room+"/Alice'><query xmlns='jabber:iq:version'/></iq>")
	if r.Attr("id") != "ver" || r.Attr("from") != room+"/Alice" || r.Attr("type") != "error" {
		t.Errorf("relayed iq answer: %v", r)
	}
	quiet(t, alice, "removal for answering an iq with an error", isPresence(room+"/Alice", "unavailable", ""))
}

// Point 13: ghost removal.
func TestE2EGhostRemoval(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "ghost@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	drain(t, alice)
	// bob's client refuses room traffic, as a session's server does for
	// a session that is gone.
	bob.SendRaw(t, "<message to='"+room+"/Alice' type='error' id='g1'><error type='cancel'><recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
	p := alice.Expect(t, "333", isPresence(room+"/Bob", "unavailable", "333"))
	if userItem(p).Attr("role") != "none" {
		t.Errorf("ghost removal: %v", p)
	}
	bob.Expect(t, "own 333", isPresence(room+"/Bob", "unavailable", "333"))
	// An error that says nothing about delivery does not remove.
	enter(t, bob, room, "Bob", "")
	drain(t, alice)
	bob.SendRaw(t, "<message to='"+room+"/Alice' type='error' id='g2'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
	quiet(t, alice, "removal", isPresence(room+"/Bob", "unavailable", ""))
}

// Point 14: mediated invitations and declines.
func TestE2EInvitations(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	carol := dial(t, srv, "carol", "tab")
	room := "invite@" + service
	// Invitations go to bare JIDs: to available sessions.
	for _, c := range []*xmpptest.Client{alice, carol} {
		c.SendRaw(t, "<presence/>")
		drain(t, c)
	}
	createRoom(t, alice, room, "Alice")
	configure(t, alice, room, map[string]string{"muc#roomconfig_membersonly": "1",
		"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "pw"})
	alice.SendRaw(t, "<message to='"+room+"' id='inv1'><x xmlns='"+nsUser+"'><invite to='carol@localhost'><reason>join us</reason></invite></x></message>")
	m := carol.Expect(t, "invitation", func(n xmpptest.Node) bool { return n.Find("x/invite") != nil })
	inv := m.Child(nsUser, "x").Child(nsUser, "invite")
	if m.Attr("from") != room || inv.Attr("from") != "alice@localhost" || inv.Child(nsUser, "reason").Text != "join us" {
		t.Errorf("invitation: %v", m)
	}
	if pw := m.Child(nsUser, "x").Child(nsUser, "password"); pw == nil || pw.Text != "pw" {
		t.Errorf("invitation password: %v", m)
	}
	// Invited to a members-only room: now a member.
	enter(t, carol, room, "Carol", "<password>pw</password>")
	carol.SendRaw(t, "<presence type='unavailable' to='"+room+"/Carol'/>")
	carol.SendRaw(t, "<message to='"+room+"' id='dec1'><x xmlns='"+nsUser+"'><decline to='alice@localhost'><reason>busy</reason></decline></x></message>")
	d := alice.Expect(t, "decline", func(n xmpptest.Node) bool { return n.Find("x/decline") != nil })
	dec := d.Child(nsUser, "x").Child(nsUser, "decline")
	if d.Attr("from") != room || dec.Attr("from") != "carol@localhost" || dec.Child(nsUser, "reason").Text != "busy" {
		t.Errorf("decline: %v", d)
	}
	// Only occupants invite.
	carol.SendRaw(t, "<message to='"+room+"' id='inv2'><x xmlns='"+nsUser+"'><invite to='dave@localhost'/></x></message>")
	if e := carol.Expect(t, "error", isError("message", "inv2")); condition(e) != "not-acceptable" {
		t.Errorf("outsider invitation: %v", e)
	}
}

// Bad input: each gets the error XEP-0045 names, and the room lives on.
func TestE2EBadInput(t *testing.T) {
	srv := startServer(t, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.StanzasPerSecond = 0
		c.MUC.CreateBurst = 10 // so that the flood below meets the limit
	}))
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	room := "bad@" + service
	createRoom(t, alice, room, "Alice")
	owner := func(inner string) xmpptest.Node {
		return alice.IQ(t, "<iq type='set' id='"+nextID("o")+"' to='"+room+"'><query xmlns='"+nsOwner+"'>"+inner+"</query></iq>")
	}
	for _, tc := range []struct {
		name string
		got  func() xmpptest.Node
		want string
	}{
		{"form of unknown type", func() xmpptest.Node { return owner("<x xmlns='jabber:x:data' type='bogus'/>") }, "bad-request"},
		{"form with a repeated field", func() xmpptest.Node {
			return owner("<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>")
		}, "bad-request"},
		{"form with a bad boolean", func() xmpptest.Node {
			return owner("<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>maybe</value></field></x>")
		}, "bad-request"},
		{"form with a bad whois", func() xmpptest.Node {
			return owner("<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_whois'><value>everyone</value></field></x>")
		}, "not-acceptable"},
		{"form with a bad maxusers", func() xmpptest.Node {
			return owner("<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>-3</value></field></x>")
		}, "not-acceptable"},
		{"owner query without form", func() xmpptest.Node { return owner("") }, "bad-request"},
		{"unknown affiliation", func() xmpptest.Node { return admin(t, alice, room, "<item jid='bob@localhost' affiliation='king'/>") }, "bad-request"},
		{"unknown role", func() xmpptest.Node { return admin(t, alice, room, "<item nick='Alice' role='god'/>") }, "bad-request"},
		{"item without target", func() xmpptest.Node { return admin(t, alice, room, "<item affiliation='member'/>") }, "bad-request"},
		{"self-demotion of the last owner", func() xmpptest.Node {
			return admin(t, alice, room, "<item jid='alice@localhost' affiliation='admin'/>")
		}, "conflict"},
		{"last owner banning herself", func() xmpptest.Node {
			return admin(t, alice, room, "<item jid='alice@localhost' affiliation='outcast'/>")
		}, "conflict"},
		{"config by a non-owner", func() xmpptest.Node {
			return bob.IQ(t, "<iq type='get' id='nf' to='"+room+"'><query xmlns='"+nsOwner+"'/></iq>")
		}, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := condition(tc.got()); c != tc.want {
				t.Errorf("got %q, want %q", c, tc.want)
			}
		})
	}
	t.Run("nick with forbidden characters", func(t *testing.T) {
		for _, nick := range []string{"   ", "x\u0085y", "a\u200db", strings.Repeat("n", 100)} {
			got := joinRoom(t, bob, room, nick, "")
			c := condition(got[len(got)-1])
			if c != "jid-malformed" && c != "not-acceptable" {
				t.Errorf("nick %q: %v", nick, got)
			}
		}
	})
	t.Run("join without nick", func(t *testing.T) {
		bob.SendRaw(t, "<presence to='"+room+"' id='nonick'><x xmlns='"+nsMUC+"'/></presence>")
		if e := bob.Expect(t, "error", isError("presence", "nonick")); condition(e) != "jid-malformed" {
			t.Errorf("join without nick: %v", e)
		}
	})
	t.Run("flood of room creations", func(t *testing.T) {
		var last string
		for i := 0; i < 15; i++ {
			got := joinRoom(t, bob, fmt.Sprintf("flood%d@%s", i, service), "Bob", "")
			last = condition(got[len(got)-1])
			if last != "" {
				break
			}
		}
		if last != "resource-constraint" {
			t.Errorf("flood of creations ended with %q", last)
		}
	})
	t.Run("room still works", func(t *testing.T) {
		say(t, alice, room, "alive", "still alive")
		alice.Expect(t, "reflection", isGroupchat("still alive"))
	})
}

// With account-based group chat on (the default), the room sees each
// account once, by its bare JID: it delivers to it, keys the nick and the
// occupant-id to it and shows it to moderators.
func TestE2EWithAccountJoin(t *testing.T) {
	srv := startServer(t, xmpptest.WithConfig(func(c *config.Config) { c.AccountJoin.Enabled = true }))
	alice := dial(t, srv, "alice", "phone")
	bob := dial(t, srv, "bob", "pc")
	bob2 := dial(t, srv, "bob", "laptop")
	room := "accounts@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	p := alice.Expect(t, "bob's presence", isPresence(room+"/Bob", "", ""))
	if userItem(p).Attr("jid") != "bob@localhost" {
		t.Errorf("the room sees bob's account: %v", p)
	}
	enter(t, bob2, room, "Bob", "")
	quiet(t, alice, "a second presence for bob's second session", isPresence(room+"/Bob", "", ""))
	say(t, bob2, room, "aj1", "from the laptop")
	var occ []string
	for _, c := range []*xmpptest.Client{alice, bob, bob2} {
		m := c.Expect(t, "reflection", isGroupchat("from the laptop"))
		if stanzaID(m, room) == "" {
			t.Errorf("%s: no stanza-id by the room: %v", c.JID, m)
		}
		occ = append(occ, occupantID(m))
	}
	say(t, bob, room, "aj2", "from the pc")
	if m := alice.Expect(t, "reflection", isGroupchat("from the pc")); occupantID(m) != occ[0] {
		t.Errorf("one occupant-id per account: %q and %q", occ[0], occupantID(m))
	}
	r := alice.IQ(t, "<iq type='get' id='ml' to='"+room+"'><query xmlns='"+nsAdmin+"'><item role='participant'/></query></iq>")
	items := r.Find("query")
	if items == nil || len(items.Children(nsAdmin, "item")) != 1 || items.Children(nsAdmin, "item")[0].Attr("jid") != "bob@localhost" {
		t.Errorf("participants: %v", r)
	}
	if r := admin(t, alice, room, "<item nick='Bob' role='none'/>"); r.Attr("type") != "result" {
		t.Fatalf("kick: %v", r)
	}
	for _, c := range []*xmpptest.Client{bob, bob2} {
		c.Expect(t, "kick", isPresence(room+"/Bob", "unavailable", "307"))
	}
}
