package muc

import (
	"fmt"
	"strings"
	"testing"
)

// adminRoom is a room owned by alice (Alice), with bob an admin (Bob),
// carol a member (Carol) and dave none (Dave), all in it.
func adminRoom(t *testing.T) *harness {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	for _, it := range []string{"<item jid='bob@example.net' affiliation='admin'/>", "<item jid='carol@example.net' affiliation='member'/>"} {
		if r := h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'>"+it+"</query>"); r.Attr("type") != "result" {
			t.Fatalf("setup: %s", r)
		}
	}
	h.join(bob, roomJID, "Bob")
	h.join(carol, roomJID, "Carol")
	h.join("dave@example.net/d", roomJID, "Dave")
	h.drop()
	return h
}

func TestAdminPermissions(t *testing.T) {
	const dave = "dave@example.net/d"
	for _, tc := range []struct {
		name  string
		actor string
		items string
		want  string // condition, "" for success
	}{
		{"participant kicks", dave, "<item nick='Carol' role='none'/>", "forbidden"},
		{"member kicks", carol, "<item nick='Dave' role='none'/>", "forbidden"},
		{"admin kicks owner", bob, "<item nick='Alice' role='none'/>", "not-allowed"},
		{"admin kicks member", bob, "<item nick='Carol' role='none'/>", ""},
		{"owner kicks admin", alice, "<item nick='Bob' role='none'/>", "not-allowed"},
		{"admin revokes owner's voice", bob, "<item nick='Alice' role='visitor'/>", "not-allowed"},
		{"admin grants moderator", bob, "<item nick='Dave' role='moderator'/>", ""},
		{"participant grants voice", dave, "<item nick='Carol' role='participant'/>", "forbidden"},
		{"admin bans owner", bob, "<item jid='alice@example.net' affiliation='outcast'/>", "not-allowed"},
		{"admin makes admin", bob, "<item jid='dave@example.net' affiliation='admin'/>", "forbidden"},
		{"admin makes member", bob, "<item jid='dave@example.net' affiliation='member'/>", ""},
		{"member makes member", carol, "<item jid='dave@example.net' affiliation='member'/>", "forbidden"},
		{"owner makes owner", alice, "<item jid='dave@example.net' affiliation='owner'/>", ""},
		{"last owner steps down", alice, "<item jid='alice@example.net' affiliation='admin'/>", "conflict"},
		{"last owner steps down by nick", alice, "<item nick='Alice' affiliation='member'/>", "conflict"},
		{"owner hands over then steps down", alice, "<item jid='dave@example.net' affiliation='owner'/><item jid='alice@example.net' affiliation='none'/>", ""},
		{"service admin demotes owner", "boss@example.net/x", "<item jid='alice@example.net' affiliation='member'/>", "conflict"},
		{"unknown affiliation", alice, "<item jid='dave@example.net' affiliation='king'/>", "bad-request"},
		{"unknown role", alice, "<item nick='Dave' role='god'/>", "bad-request"},
		{"role and affiliation", alice, "<item nick='Dave' role='none' affiliation='member'/>", "bad-request"},
		{"no target", alice, "<item affiliation='member'/>", "bad-request"},
		{"bad jid", alice, "<item jid='@@' affiliation='member'/>", "jid-malformed"},
		{"no such nick", alice, "<item nick='Nobody' role='none'/>", "item-not-found"},
		{"no item", alice, "", "bad-request"},
		{"too many items", alice, strings.Repeat("<item jid='x@example.net' affiliation='member'/>", maxAdminItems+1), "policy-violation"},
		{"all or nothing", alice, "<item jid='dave@example.net' affiliation='member'/><item nick='Nobody' role='none'/>", "item-not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := adminRoom(t)
			r := h.iq(tc.actor, roomJID, "set", "<query xmlns='"+NSAdmin+"'>"+tc.items+"</query>")
			if c := condition(r); c != tc.want {
				t.Fatalf("got %q, want %q: %s", c, tc.want, r)
			}
			if tc.name == "all or nothing" {
				list := h.iq(alice, roomJID, "get", "<query xmlns='"+NSAdmin+"'><item affiliation='member'/></query>")
				if strings.Contains(list.String(), "dave@") {
					t.Errorf("half of a failed request applied: %s", list)
				}
			}
		})
	}
}

func TestAdminEffects(t *testing.T) {
	const dave = "dave@example.net/d"
	for _, tc := range []struct {
		name     string
		items    string
		watcher  string
		nick     string
		typ      string // of the presence the watcher gets
		code     string
		aff, rol string
	}{
		{"kick", "<item nick='Dave' role='none'><reason>out</reason></item>", carol, "Dave", "unavailable", "307", "none", "none"},
		{"ban", "<item jid='dave@example.net' affiliation='outcast'/>", carol, "Dave", "unavailable", "301", "outcast", "none"},
		{"voice revoked", "<item nick='Dave' role='visitor'/>", carol, "Dave", "", "", "none", "visitor"},
		{"moderator", "<item nick='Carol' role='moderator'/>", dave, "Carol", "", "", "member", "moderator"},
		{"admin", "<item jid='carol@example.net' affiliation='admin'/>", dave, "Carol", "", "", "admin", "moderator"},
		{"member", "<item nick='Dave' affiliation='member'/>", carol, "Dave", "", "", "member", "participant"},
		{"demoted admin", "<item jid='bob@example.net' affiliation='member'/>", carol, "Bob", "", "", "member", "participant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := adminRoom(t)
			if r := h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'>"+tc.items+"</query>"); r.Attr("type") != "result" {
				t.Fatalf("set: %s", r)
			}
			got := h.take(tc.watcher)
			if len(got) != 1 {
				t.Fatalf("watcher got %s", dump(got))
			}
			p := got[0]
			it := item(p)
			if p.Attr("from") != roomJID+"/"+tc.nick || p.Attr("type") != tc.typ || it.Attr("affiliation") != tc.aff || it.Attr("role") != tc.rol {
				t.Errorf("presence: %s", p)
			}
			if tc.code != "" && !hasStatus(p, tc.code) {
				t.Errorf("no %s: %s", tc.code, p)
			}
		})
	}
}

func TestAdminLists(t *testing.T) {
	h := adminRoom(t)
	for _, tc := range []struct {
		actor, item, want string
	}{
		{alice, "<item affiliation='member'/>", "carol@example.net"},
		{alice, "<item affiliation='admin'/>", "bob@example.net"},
		{alice, "<item affiliation='owner'/>", "alice@example.net"},
		{bob, "<item role='moderator'/>", "Alice,Bob"},
		{bob, "<item role='participant'/>", "Carol,Dave"},
		{carol, "<item affiliation='member'/>", "forbidden"},
		{carol, "<item role='moderator'/>", "forbidden"},
		{alice, "<item affiliation='none'/>", "bad-request"},
		{alice, "<item/>", "bad-request"},
	} {
		r := h.iq(tc.actor, roomJID, "get", "<query xmlns='"+NSAdmin+"'>"+tc.item+"</query>")
		got := condition(r)
		if got == "" {
			var names []string
			for _, it := range r.Child(NSAdmin, "query").Elements() {
				if n := it.Attr("nick"); n != "" {
					names = append(names, n)
				} else {
					names = append(names, it.Attr("jid"))
				}
			}
			got = strings.Join(names, ",")
		}
		if got != tc.want {
			t.Errorf("%s asks %s: got %s, want %s", tc.actor, tc.item, got, tc.want)
		}
	}
}

func TestMembersOnlyRemovesNonMembers(t *testing.T) {
	h := adminRoom(t)
	h.configure(alice, roomJID, map[string]string{fMembersOnly: "1"})
	got := h.take("dave@example.net/d")
	if p := last(got, "presence"); p == nil || !hasStatus(p, "322") || !hasStatus(p, "110") {
		t.Fatalf("dave: %s", dump(got))
	}
	// (alice's own copy went with the answer to her iq.)
	for _, r := range []string{bob, carol} {
		var removed []string
		for _, p := range only(h.take(r), "presence") {
			if p.Attr("type") == "unavailable" {
				removed = append(removed, fmt.Sprint(p.Attr("from"), statuses(p)))
			}
		}
		if len(removed) != 1 || !strings.Contains(removed[0], "/Dave[322]") {
			t.Errorf("%s saw removals %v", r, removed)
		}
	}
	// Losing membership now removes carol with 321.
	h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'><item jid='carol@example.net' affiliation='none'/></query>")
	if p := last(h.take(carol), "presence"); p == nil || !hasStatus(p, "321") {
		t.Errorf("carol: %s", p)
	}
}
