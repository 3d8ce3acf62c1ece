package muc

import (
	"testing"
)

const (
	alice   = "alice@example.net/phone"
	alice2  = "alice@example.net/laptop"
	bob     = "bob@example.net/pc"
	carol   = "carol@example.net/tab"
	roomJID = "room@" + domain
)

func TestCreateAndJoinOrder(t *testing.T) {
	h := newHarness(t)
	got := h.join(alice, roomJID, "Alice")
	if len(got) != 2 {
		t.Fatalf("creator got %d stanzas: %s", len(got), dump(got))
	}
	self := got[0]
	if self.Attr("id") != "join-Alice" || self.Attr("from") != roomJID+"/Alice" {
		t.Errorf("self presence = %s", self)
	}
	for _, code := range []string{"110", "201", "170"} {
		if !hasStatus(self, code) {
			t.Errorf("self presence lacks %s: %s", code, self)
		}
	}
	if it := item(self); it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" || it.Attr("jid") != alice {
		t.Errorf("creator item = %s", it)
	}
	if s := got[1]; s.Local != "message" || s.Child("", "subject") == nil || s.ChildText("", "subject") != "" {
		t.Errorf("subject = %s", s)
	}

	// Locked until configured.
	if got := h.join(bob, roomJID, "Bob"); condition(last(got, "presence")) != "item-not-found" {
		t.Fatalf("join of a locked room: %s", dump(got))
	}
	h.iq(alice, roomJID, "set", "<query xmlns='"+NSOwner+"'><x xmlns='jabber:x:data' type='submit'/></query>")
	h.drop()

	h.send(alice, "<message to='"+roomJID+"' type='groupchat' id='m1'><body>first</body></message>")
	h.drop()
	got = h.join(bob, roomJID, "Bob")
	// alice's presence, bob's own (110, last among presences), history, subject.
	if len(got) != 4 {
		t.Fatalf("joiner got %d stanzas: %s", len(got), dump(got))
	}
	if got[0].Local != "presence" || got[0].Attr("from") != roomJID+"/Alice" || item(got[0]).Attr("jid") != "" {
		t.Errorf("first = %s", got[0])
	}
	if !hasStatus(got[1], "110") || hasStatus(got[1], "201") || got[1].Attr("id") != "join-Bob" {
		t.Errorf("second = %s", got[1])
	}
	if got[2].Local != "message" || got[2].ChildText("", "body") != "first" {
		t.Errorf("history = %s", got[2])
	} else if d := got[2].Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("from") != roomJID {
		t.Errorf("history delay = %s", got[2])
	}
	if got[3].Child("", "subject") == nil {
		t.Errorf("last = %s", got[3])
	}
	// alice, a moderator, sees bob's real JID.
	a := h.take(alice)
	if len(a) != 1 || item(a[0]).Attr("jid") != bob || hasStatus(a[0], "110") {
		t.Errorf("alice got %s", dump(a))
	}
}

func TestJoinRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(h *harness)
		real   string
		nick   string
		extra  string
		want   string
		wantBy string
	}{
		{"conflict", nil, bob, "alice", "", "conflict", ""},
		{"conflict case-insensitive", nil, bob, "ALICE", "", "conflict", ""},
		{"banned", func(h *harness) {
			h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'><item jid='bob@example.net' affiliation='outcast'/></query>")
		}, bob, "Bob", "", "forbidden", ""},
		{"members only", func(h *harness) {
			h.configure(alice, roomJID, map[string]string{fMembersOnly: "1"})
		}, bob, "Bob", "", "registration-required", ""},
		{"password", func(h *harness) {
			h.configure(alice, roomJID, map[string]string{fPasswordProt: "1", fSecret: "s3cret"})
		}, bob, "Bob", "<password>wrong</password>", "not-authorized", ""},
		{"full", func(h *harness) {
			h.configure(alice, roomJID, map[string]string{fMaxUsers: "1"})
		}, bob, "Bob", "", "service-unavailable", ""},
		{"forbidden nick", nil, bob, "   ", "", "jid-malformed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(alice, roomJID, "alice")
			if tc.setup != nil {
				tc.setup(h)
				h.drop()
			}
			got := h.join(bob, roomJID, tc.nick, tc.extra)
			p := last(got, "presence")
			if c := condition(p); c != tc.want {
				t.Fatalf("condition %q, want %q: %s", c, tc.want, dump(got))
			}
			if p.Attr("id") != "join-"+tc.nick {
				t.Errorf("error id = %q", p.Attr("id"))
			}
			if len(h.take(alice)) != 0 {
				t.Errorf("occupants heard of a refused join")
			}
		})
	}
}

func TestPasswordAccepted(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "alice")
	h.configure(alice, roomJID, map[string]string{fPasswordProt: "1", fSecret: "s3cret"})
	got := h.join(bob, roomJID, "Bob", "<password>s3cret</password>")
	if p := last(got, "presence"); condition(p) != "" || !hasStatus(p, "110") {
		t.Fatalf("join with password: %s", dump(got))
	}
}
