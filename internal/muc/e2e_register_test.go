package muc_test

import (
	"fmt"
	"testing"
)

const nsRegister = "jabber:iq:register"

// register is the muc#register form submission of nick.
func register(room, nick string) string {
	return fmt.Sprintf("<iq type='set' id='%s' to='%s'><query xmlns='%s'><x xmlns='%s' type='submit'>"+
		"<field var='FORM_TYPE'><value>%s#register</value></field>"+
		"<field var='muc#register_roomnick'><value>%s</value></field></x></query></iq>",
		nextID("reg"), room, nsRegister, nsData, nsMUC, nick)
}

// XEP-0045 sections 7.10, 7.12 and 9.3: registration, reserved nicks,
// discovering one's reserved nick, admins reserving nicks.
func TestE2ERegistration(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "pc")
	bob := dial(t, srv, "bob", "pc")
	carol := dial(t, srv, "carol", "pc")
	dave := dial(t, srv, "dave", "pc")
	room := "reg@" + service
	createRoom(t, alice, room, "Alice")

	info := bob.IQ(t, "<iq type='get' id='"+nextID("info")+"' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !hasFeature(info.Child("http://jabber.org/protocol/disco#info", "query"), nsRegister) {
		t.Errorf("room does not advertise %s: %v", nsRegister, info)
	}

	// Unregistered: the form, with muc#register_roomnick required.
	r := bob.IQ(t, "<iq type='get' id='"+nextID("reg")+"' to='"+room+"'><query xmlns='"+nsRegister+"'/></iq>")
	q := r.Child(nsRegister, "query")
	if r.Attr("type") != "result" || q == nil || q.Child(nsData, "x") == nil {
		t.Fatalf("registration form: %v", r)
	}
	var nickField bool
	for _, f := range q.Child(nsData, "x").Children(nsData, "field") {
		if f.Attr("var") == "muc#register_roomnick" && f.Child(nsData, "required") != nil {
			nickField = true
		}
	}
	if !nickField {
		t.Errorf("no required muc#register_roomnick: %v", r)
	}
	// No reserved nick yet: an empty query on x-roomuser-item.
	r = bob.IQ(t, "<iq type='get' id='"+nextID("nick")+"' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>")
	if q := r.Child("http://jabber.org/protocol/disco#info", "query"); r.Attr("type") != "result" || q == nil || q.Child("http://jabber.org/protocol/disco#info", "identity") != nil {
		t.Fatalf("reserved nick before registering: %v", r)
	}

	// Bob registers as Bobby and becomes a member.
	if r := bob.IQ(t, register(room, "Bobby")); r.Attr("type") != "result" {
		t.Fatalf("registration: %v", r)
	}
	r = bob.IQ(t, "<iq type='get' id='"+nextID("reg")+"' to='"+room+"'><query xmlns='"+nsRegister+"'/></iq>")
	if q := r.Child(nsRegister, "query"); q == nil || q.Child(nsRegister, "registered") == nil || q.Child(nsRegister, "username") == nil || q.Child(nsRegister, "username").Text != "Bobby" {
		t.Fatalf("registered state: %v", r)
	}
	r = bob.IQ(t, "<iq type='get' id='"+nextID("nick")+"' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>")
	id := r.Child("http://jabber.org/protocol/disco#info", "query").Child("http://jabber.org/protocol/disco#info", "identity")
	if id == nil || id.Attr("name") != "Bobby" || id.Attr("category") != "conference" || id.Attr("type") != "text" {
		t.Fatalf("reserved nick: %v", r)
	}
	list := alice.IQ(t, "<iq type='get' id='"+nextID("list")+"' to='"+room+"'><query xmlns='"+nsAdmin+"'><item affiliation='member'/></query></iq>")
	var listed bool
	for _, it := range list.Child(nsAdmin, "query").Children(nsAdmin, "item") {
		if it.Attr("jid") == "bob@localhost" && it.Attr("nick") == "Bobby" {
			listed = true
		}
	}
	if !listed {
		t.Errorf("member list lacks bob with his nick: %v", list)
	}

	// Nobody else takes Bobby: not by joining (in any case), not by a nick
	// change, not by registering it.
	got := joinRoom(t, carol, room, "bobby", "")
	if c := condition(got[len(got)-1]); c != "conflict" {
		t.Fatalf("carol joining as a reserved nick: %v", got)
	}
	enter(t, carol, room, "Carol", "")
	carol.SendRaw(t, "<presence to='"+room+"/Bobby' id='nc1'/>")
	if n := carol.Expect(t, "nick change refused", isError("presence", "nc1")); condition(n) != "conflict" {
		t.Fatalf("nick change to a reserved nick: %v", n)
	}
	if r := carol.IQ(t, register(room, "Bobby")); condition(r) != "conflict" {
		t.Fatalf("registering a reserved nick: %v", r)
	}
	// Bob enters under it; he may also use another nick (section 7.12).
	got = enter(t, bob, room, "Bobby", "")
	if it := userItem(*selfPresence(got)); it.Attr("affiliation") != "member" {
		t.Errorf("registered user's affiliation: %v", it)
	}

	// An admin reserves a nick for dave with the member item (section 9.3).
	if r := admin(t, alice, room, "<item affiliation='member' jid='dave@localhost' nick='Davey'/>"); r.Attr("type") != "result" {
		t.Fatalf("member with a nick: %v", r)
	}
	if r := admin(t, alice, room, "<item affiliation='member' jid='carol@localhost' nick='davey'/>"); condition(r) != "conflict" {
		t.Fatalf("reserving a nick reserved by another: %v", r)
	}
	r = dave.IQ(t, "<iq type='get' id='"+nextID("nick")+"' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>")
	if id := r.Child("http://jabber.org/protocol/disco#info", "query").Child("http://jabber.org/protocol/disco#info", "identity"); id == nil || id.Attr("name") != "Davey" {
		t.Fatalf("dave's reserved nick: %v", r)
	}

	// Cancelling the registration ends the membership and frees the nick.
	if r := bob.IQ(t, "<iq type='set' id='"+nextID("unreg")+"' to='"+room+"'><query xmlns='"+nsRegister+"'><remove/></query></iq>"); r.Attr("type") != "result" {
		t.Fatalf("unregister: %v", r)
	}
	r = bob.IQ(t, "<iq type='get' id='"+nextID("nick")+"' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>")
	if r.Child("http://jabber.org/protocol/disco#info", "query").Child("http://jabber.org/protocol/disco#info", "identity") != nil {
		t.Fatalf("reserved nick after unregistering: %v", r)
	}
	if r := carol.IQ(t, register(room, "Bobby2")); r.Attr("type") != "result" {
		t.Fatalf("carol registers: %v", r)
	}

	// Bad submissions.
	bad := fmt.Sprintf("<iq type='set' id='%s' to='%s'><query xmlns='%s'/></iq>", nextID("reg"), room, nsRegister)
	if r := dave.IQ(t, bad); condition(r) != "bad-request" {
		t.Errorf("registration without a form: %v", r)
	}
	if r := dave.IQ(t, register("nosuchroom@"+service, "x")); condition(r) != "item-not-found" {
		t.Errorf("registration with a room that does not exist: %v", r)
	}

	// A members-only room: non-members may not register.
	mo := "members@" + service
	createRoom(t, alice, mo, "Alice")
	if r := configure(t, alice, mo, map[string]string{"muc#roomconfig_membersonly": "1"}); r.Attr("type") != "result" {
		t.Fatalf("members-only: %v", r)
	}
	if r := dave.IQ(t, register(mo, "D")); condition(r) != "not-allowed" {
		t.Errorf("registering with a members-only room: %v", r)
	}
	// A banned user neither.
	if r := admin(t, alice, room, "<item affiliation='outcast' jid='dave@localhost'/>"); r.Attr("type") != "result" {
		t.Fatalf("ban: %v", r)
	}
	if r := dave.IQ(t, register(room, "Dave")); condition(r) != "not-allowed" {
		t.Errorf("banned user registers: %v", r)
	}
	// The ban freed Davey.
	if r := carol.IQ(t, register(room, "Davey")); r.Attr("type") != "result" {
		t.Errorf("nick of a banned user not freed: %v", r)
	}
}
