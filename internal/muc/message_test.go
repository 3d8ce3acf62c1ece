package muc

import (
	"fmt"
	"strings"
	"testing"
)

func TestGroupchatRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]string
		from   string
		raw    string
		want   string // condition for the sender, "" when reflected
	}{
		{"occupant", nil, bob, "<body>hi</body>", ""},
		{"non-occupant", nil, carol, "<body>hi</body>", "not-acceptable"},
		{"subject by participant", nil, bob, "<subject>new</subject>", "forbidden"},
		{"subject by participant, allowed", map[string]string{fChangeSubject: "1"}, bob, "<subject>new</subject>", ""},
		{"subject by moderator", nil, alice, "<subject>new</subject>", ""},
		{"subject too long", nil, alice, "<subject>" + strings.Repeat("s", maxSubjectBytes+1) + "</subject>", "not-acceptable"},
		{"visitor in a moderated room", map[string]string{fModerated: "1"}, bob, "<body>hi</body>", "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(alice, roomJID, "Alice")
			if tc.config != nil {
				h.configure(alice, roomJID, tc.config)
			}
			h.join(bob, roomJID, "Bob")
			h.drop()
			h.send(tc.from, "<message to='"+roomJID+"' type='groupchat' id='g'>"+tc.raw+"</message>")
			got := h.take(tc.from)
			m := last(got, "message")
			if c := condition(m); c != tc.want {
				t.Fatalf("got %q, want %q: %s", c, tc.want, dump(got))
			}
			if tc.want == "" && (m.Attr("id") != "g" || m.Child("urn:xmpp:sid:0", "stanza-id") == nil) {
				t.Errorf("reflection: %s", m)
			}
			if tc.want != "" && len(h.take(alice)) > 0 && tc.from != alice {
				t.Errorf("a refused message reached the room")
			}
		})
	}
}

func TestNotStoredNoStanzaID(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.send(alice, "<message to='"+roomJID+"' type='groupchat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	if m := last(h.take(alice), "message"); m == nil || m.Child("urn:xmpp:sid:0", "stanza-id") != nil {
		t.Errorf("chat state: %v", m)
	}
	h.configure(alice, roomJID, map[string]string{fLogging: "0"})
	h.drop()
	h.send(alice, "<message to='"+roomJID+"' type='groupchat'><body>unlogged</body></message>")
	if m := last(h.take(alice), "message"); m == nil || m.Child("urn:xmpp:sid:0", "stanza-id") == nil {
		t.Errorf("unlogged message still needs a unique id: %v", m)
	}
	if r := h.iq(alice, roomJID, "set", "<query xmlns='urn:xmpp:mam:2'/>"); condition(r) != "service-unavailable" {
		t.Errorf("archive of an unlogged room: %s", r)
	}
}

func TestPrivateMessages(t *testing.T) {
	for _, tc := range []struct {
		name, allow, from, to, typ, want string
	}{
		{"chat", "", bob, "Alice", "chat", ""},
		{"to a nick in another case", "", bob, "ALICE", "chat", ""},
		{"groupchat type", "", bob, "Alice", "groupchat", "bad-request"},
		{"non-occupant", "", carol, "Alice", "chat", "not-acceptable"},
		{"no such nick", "", bob, "Nobody", "chat", "item-not-found"},
		{"moderators only", pmModerators, bob, "Alice", "chat", "forbidden"},
		{"moderators only, by one", pmModerators, alice, "Bob", "chat", ""},
		{"none", pmNone, alice, "Bob", "chat", "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(alice, roomJID, "Alice")
			if tc.allow != "" {
				h.configure(alice, roomJID, map[string]string{fAllowPM: tc.allow})
			}
			h.join(bob, roomJID, "Bob")
			h.join(alice2, roomJID, "Alice")
			h.drop()
			h.send(tc.from, fmt.Sprintf("<message to='%s/%s' type='%s' id='pm'><body>psst</body></message>", roomJID, tc.to, tc.typ))
			if tc.want != "" {
				if c := condition(last(h.take(tc.from), "message")); c != tc.want {
					t.Fatalf("got %q, want %q", c, tc.want)
				}
				return
			}
			targets := []string{alice, alice2}
			if tc.to == "Bob" {
				targets = []string{bob}
			}
			for _, real := range targets {
				m := last(h.take(real), "message")
				if m == nil || m.Child(NSUser, "x") == nil || m.Attr("id") != "pm" || m.Child(NSOccupantID, "occupant-id") == nil {
					t.Errorf("%s: %v", real, m)
				}
			}
		})
	}
}

func TestNickChangeAndUpdates(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.join(alice2, roomJID, "Alice")
	h.drop()
	// Taken.
	h.send(bob, "<presence to='"+roomJID+"/alice'/>")
	if c := condition(last(h.take(bob), "presence")); c != "conflict" {
		t.Errorf("change to a taken nick: %q", c)
	}
	// A change by one session moves the occupant, both sessions told.
	h.send(alice2, "<presence to='"+roomJID+"/Alicia'/>")
	for _, real := range []string{alice, alice2, bob} {
		got := only(h.take(real), "presence")
		if len(got) != 2 || !hasStatus(got[0], "303") || item(got[0]).Attr("nick") != "Alicia" || got[1].Attr("from") != roomJID+"/Alicia" {
			t.Fatalf("%s: %s", real, dump(got))
		}
		if self := real != bob; self != hasStatus(got[1], "110") {
			t.Errorf("%s: 110: %s", real, got[1])
		}
	}
	// An update reaches everyone, keeping show and status.
	h.send(bob, "<presence to='"+roomJID+"/Bob'><show>dnd</show><status>busy</status><x xmlns='"+NSUser+"'><item affiliation='owner'/></x></presence>")
	p := last(h.take(alice), "presence")
	if p.ChildText("", "show") != "dnd" || item(p).Attr("affiliation") != "none" || len(only(p.Elements(), "x")) != 1 {
		t.Errorf("update: %s", p)
	}
	h.drop()
	// One session leaves: only it hears; the last one leaving is news.
	h.send(alice2, "<presence type='unavailable' to='"+roomJID+"/Alicia'/>")
	if got := h.take(alice2); len(got) != 1 || !hasStatus(got[0], "110") || item(got[0]).Attr("role") != "none" {
		t.Errorf("leaving session: %s", dump(got))
	}
	if got := h.take(bob); len(got) != 0 {
		t.Errorf("others heard of one session leaving: %s", dump(got))
	}
	h.send(alice, "<presence type='unavailable' to='"+roomJID+"/Alicia'/>")
	if p := last(h.take(bob), "presence"); p == nil || p.Attr("type") != "unavailable" {
		t.Errorf("last session leaving: %v", p)
	}
	// A presence without <x/> from a stranger is a join (groupchat 1.0).
	h.send(carol, "<presence to='"+roomJID+"/Carol'/>")
	if p := last(h.take(carol), "presence"); !hasStatus(p, "110") {
		t.Errorf("old-style join: %v", p)
	}
	// A rejoin resyncs the rejoining session only.
	h.drop()
	h.send(carol, "<presence to='"+roomJID+"/Carol' id='again'><x xmlns='"+NS+"'/></presence>")
	got := h.take(carol)
	if self := last(got, "presence"); self.Attr("id") != "again" || !hasStatus(self, "110") || last(got, "message") == nil {
		t.Errorf("resync: %s", dump(got))
	}
	if got := h.take(bob); len(got) != 0 {
		t.Errorf("others heard of a resync: %s", dump(got))
	}
}

func TestInvitationsAndVoice(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.create(alice, "other@"+domain, "Alice")
	h.configure(alice, roomJID, map[string]string{fModerated: "1", fMembersOnly: "1"})
	h.join(alice2, roomJID, "Alice")
	h.drop()
	// An invitation to another room of the service goes through the
	// router back into the service, without deadlock.
	h.send(alice, "<message to='"+roomJID+"'><x xmlns='"+NSUser+"'><invite to='other@"+domain+"'/><invite to='bob@example.net'><reason>hi</reason></invite></x></message>")
	inv := last(h.take("bob@example.net"), "message")
	if inv == nil || inv.Attr("from") != roomJID || !strings.Contains(inv.String(), `from="alice@example.net"`) {
		t.Fatalf("invitation: %v", inv)
	}
	// bob is a member now, so he may enter; as a member he has voice.
	got := h.join(bob, roomJID, "Bob")
	if it := item(lastPresence(got)); it == nil || it.Attr("affiliation") != "member" || it.Attr("role") != "participant" {
		t.Fatalf("invited member: %s", dump(got))
	}
	h.send(bob, "<message to='"+roomJID+"'><x xmlns='"+NSUser+"'><decline to='alice@example.net'><reason>later</reason></decline></x></message>")
	if d := last(h.take("alice@example.net"), "message"); d == nil || !strings.Contains(d.String(), `<decline from="bob@example.net">`) {
		t.Errorf("decline: %v", d)
	}
	// Too many at once.
	h.send(alice, "<message to='"+roomJID+"' id='many'><x xmlns='"+NSUser+"'>"+strings.Repeat("<invite to='x@example.net'/>", maxInvites+1)+"</x></message>")
	if c := condition(last(h.take(alice), "message")); c != "policy-violation" {
		t.Errorf("too many invitations: %q", c)
	}

	// Voice: a visitor asks, the moderators get a form, one approves.
	h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'><item jid='carol@example.net' affiliation='member'/></query>")
	h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'><item nick='Bob' role='visitor'/></query>")
	h.drop()
	h.send(bob, "<message to='"+roomJID+"'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"+NSRequest+"</value></field><field var='muc#role'><value>participant</value></field></x></message>")
	for _, real := range []string{alice, alice2} {
		if m := last(h.take(real), "message"); m == nil || !strings.Contains(m.String(), "muc#request_allow") {
			t.Fatalf("%s: voice request: %v", real, m)
		}
	}
	h.send(alice, "<message to='"+roomJID+"'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"+NSRequest+"</value></field><field var='muc#roomnick'><value>Bob</value></field><field var='muc#request_allow'><value>true</value></field></x></message>")
	if p := lastPresence(h.take(bob)); p == nil || item(p).Attr("role") != "participant" {
		t.Errorf("voice granted: %v", p)
	}
}

func TestDestroyAndCancel(t *testing.T) {
	h := newHarness(t)
	h.join(alice, roomJID, "Alice")
	// Cancelling the first configuration destroys the new room.
	if r := h.iq(alice, roomJID, "set", "<query xmlns='"+NSOwner+"'><x xmlns='jabber:x:data' type='cancel'/></query>"); r.Attr("type") != "result" {
		t.Fatalf("cancel: %s", r)
	}
	if r := h.iq(bob, roomJID, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"); condition(r) != "item-not-found" {
		t.Errorf("cancelled room: %s", r)
	}
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.drop()
	if r := h.iq(bob, roomJID, "set", "<query xmlns='"+NSOwner+"'><destroy/></query>"); condition(r) != "forbidden" {
		t.Errorf("destroy by a participant: %s", r)
	}
	h.send(alice, "<iq type='set' id='d' to='"+roomJID+"'><query xmlns='"+NSOwner+"'><destroy jid='new@"+domain+"'><reason>bye</reason><password>pw</password></destroy></query></iq>")
	got := h.take(alice)
	if len(got) != 2 || got[0].Local != "presence" || got[1].Attr("id") != "d" {
		t.Fatalf("owner: destroy presence then result: %s", dump(got))
	}
	p := only(h.take(bob), "presence")[0]
	d := p.Child(NSUser, "x").Child(NSUser, "destroy")
	if d == nil || d.Attr("jid") != "new@"+domain || d.ChildText(NSUser, "reason") != "bye" || item(p).Attr("affiliation") != "none" {
		t.Errorf("destroy presence: %s", p)
	}
	// Section 10.9: each occupant's own copy is about itself (110), so
	// that a client (or an account-join service) knows it is out.
	if !hasStatus(p, "110") || !hasStatus(got[0], "110") {
		t.Errorf("destroy presences without 110: bob %s, alice %s", p, got[0])
	}
	// A temporary room empties and disappears on its own.
	h.create(alice, "temp@"+domain, "Alice")
	h.send(alice, "<presence type='unavailable' to='temp@"+domain+"/Alice'/>")
	if r := h.iq(bob, "temp@"+domain, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"); condition(r) != "item-not-found" {
		t.Errorf("empty temporary room: %s", r)
	}
}

func TestServiceDisco(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"c", "a", "b", "d"} {
		h.create(alice, name+"@"+domain, "Alice")
	}
	h.configure(alice, "d@"+domain, map[string]string{fPublic: "0"})
	h.join(alice, "locked@"+domain, "Alice")
	items := func(set string) string {
		r := h.iq(bob, domain, "get", "<query xmlns='http://jabber.org/protocol/disco#items'>"+set+"</query>")
		var out []string
		for _, it := range r.Child("", "query").Elements() {
			if it.Local == "item" {
				out = append(out, strings.TrimSuffix(it.Attr("jid"), "@"+domain))
			}
		}
		return strings.Join(out, ",")
	}
	rsm := "<set xmlns='http://jabber.org/protocol/rsm'>"
	for _, tc := range []struct{ set, want string }{
		{"", "a,b,c"},
		{rsm + "<max>2</max></set>", "a,b"},
		{rsm + "<max>2</max><after>b@" + domain + "</after></set>", "c"},
		{rsm + "<max>1</max><before/></set>", "c"},
	} {
		if got := items(tc.set); got != tc.want {
			t.Errorf("items %s = %s, want %s", tc.set, got, tc.want)
		}
	}
	info := h.iq(bob, domain, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	if !strings.Contains(info.String(), `category="conference"`) || !strings.Contains(info.String(), `var="`+NS+`"`) {
		t.Errorf("service info: %s", info)
	}
	if r := h.iq(bob, domain, "get", "<unique xmlns='"+NSUnique+"'/>"); r.ChildText(NSUnique, "unique") == "" {
		t.Errorf("unique: %s", r)
	}
	if r := h.iq(bob, domain, "get", "<query xmlns='jabber:iq:version'/>"); condition(r) != "service-unavailable" {
		t.Errorf("unknown: %s", r)
	}
	r := h.iq(bob, "a@"+domain, "get", "<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/>")
	if r.Attr("type") != "result" {
		t.Errorf("reserved nick: %s", r)
	}
}

func TestServerNamespace(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.send(alice, "<message xmlns='jabber:server' to='"+roomJID+"' type='groupchat'><body>from afar</body></message>")
	m := last(h.take(alice), "message")
	if m == nil || m.Space != "jabber:client" || m.Child("jabber:client", "body") == nil {
		t.Errorf("reflection of a jabber:server message: %v", m)
	}
}
