package muc

import (
	"context"
	"testing"
)

func registerForm(nick string) string {
	return "<query xmlns='" + NSRegister + "'><x xmlns='jabber:x:data' type='submit'>" +
		"<field var='FORM_TYPE'><value>" + NSRegisterForm + "</value></field>" +
		"<field var='muc#register_roomnick'><value>" + nick + "</value></field></x></query>"
}

// A persistent room keeps reserved nicks across a restart, and a nick
// reserved by one user is refused to another after it.
func TestRegistrationPersists(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.configure(alice, roomJID, map[string]string{fPersistent: "1"})
	if r := h.iq(bob, roomJID, "set", registerForm("Bobby")); r.Attr("type") != "result" {
		t.Fatalf("register: %s", r)
	}
	if r := h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'><item jid='carol@example.net' affiliation='admin' nick='Caro'/></query>"); r.Attr("type") != "result" {
		t.Fatalf("admin with nick: %s", r)
	}
	h.svc.Shutdown(context.Background())

	h2 := newHarnessOn(t, h.store)
	for _, tc := range []struct{ nick, who string }{{"BOBBY", "bob"}, {"Caro", "carol"}} {
		if got := h2.join("dave@example.net/x", roomJID, tc.nick); condition(last(got, "presence")) != "conflict" {
			t.Errorf("%s's nick taken after restart: %s", tc.who, dump(got))
		}
	}
	got := h2.join(bob, roomJID, "Bobby")
	if self := last(got, "presence"); condition(self) != "" || item(self).Attr("affiliation") != "member" {
		t.Fatalf("bob after restart: %s", dump(got))
	}
	r := h2.iq(carol, roomJID, "get", "<query xmlns='"+NSRegister+"'/>")
	if r.Child(NSRegister, "query").ChildText(NSRegister, "username") != "Caro" {
		t.Errorf("carol's registration after restart: %s", r)
	}
}

// Section 7.10: registering while in the room makes the user a member
// and every occupant hears of it in a presence with affiliation member.
func TestRegistrationInRoom(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.drop()
	if r := h.iq(bob, roomJID, "set", registerForm("Bobby")); r.Attr("type") != "result" {
		t.Fatalf("register: %s", r)
	}
	// (bob's own copy went with the iq's answer, which h.iq takes.)
	if p := lastPresence(h.take(alice)); p == nil || p.Attr("from") != roomJID+"/Bob" || item(p).Attr("affiliation") != "member" {
		t.Errorf("alice: presence after bob registered: %v", p)
	}
	// Bob's occupant keeps its nick; nobody else may take the reserved one.
	if got := h.join("dave@example.net/d", roomJID, "bobby"); condition(last(got, "presence")) != "conflict" {
		t.Errorf("dave joined as bob's reserved nick: %s", dump(got))
	}
}
