package server_test

import (
	"slices"
	"testing"

	"minimix/internal/xmpptest"
)

// rosterItems returns the items of a roster result or push.
func rosterItems(t *testing.T, n Node) []Node {
	t.Helper()
	q := n.Child("jabber:iq:roster", "query")
	if q == nil {
		t.Fatalf("no roster query in %s", n)
	}
	return q.Children("jabber:iq:roster", "item")
}

// wantItem checks a roster item's attributes and groups exactly; an empty
// value wants the attribute absent.
func wantItem(t *testing.T, it Node, jid, name, sub, ask string, groups ...string) {
	t.Helper()
	wantAttrs(t, it, "jid", jid, "name", name, "subscription", sub, "ask", ask, "approved", "")
	var got []string
	for _, g := range it.Children("jabber:iq:roster", "group") {
		got = append(got, g.Text)
	}
	if !slices.Equal(got, groups) {
		t.Errorf("item %s groups %q, want %q", jid, got, groups)
	}
}

// wantPush checks that n is a roster push (RFC 6121 2.1.6) to c: an iq
// set from the account itself (no from, or the bare JID) with a ver and
// exactly one item, which it returns with the version.
func wantPush(t *testing.T, c *xmpptest.Client, n Node) (item Node, ver string) {
	t.Helper()
	wantAttrs(t, n, "type", "set", "to", c.JID.String())
	if n.Attr("id") == "" {
		t.Errorf("push without id: %s", n)
	}
	if f := n.Attr("from"); f != "" && f != bare(c) {
		t.Errorf("push from %q", f)
	}
	items := rosterItems(t, n)
	if len(items) != 1 {
		t.Fatalf("push with %d items: %s", len(items), n)
	}
	q := n.Child("jabber:iq:roster", "query")
	if !q.HasAttr("ver") || q.Attr("ver") == "" {
		t.Errorf("push without ver: %s", n)
	}
	return items[0], q.Attr("ver")
}

// TestE2ERoster runs RFC 6121 section 2 with versioning: get, set, pushes
// to interested resources only, get with the current version, update and
// remove, and the errors of malformed sets.
func TestE2ERoster(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a := loginAs(t, srv, "alice")
	other := loginAs(t, srv, "alice")  // fetches the roster: interested
	silent := loginAs(t, srv, "alice") // never fetches it: not interested

	// 2.2 and 2.6: an empty roster, with a version.
	r := a.IQ(t, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	wantAttrs(t, r, "type", "result", "id", "g1", "to", a.JID.String())
	if items := rosterItems(t, r); len(items) != 0 {
		t.Errorf("new account has items: %s", r)
	}
	q := r.Child("jabber:iq:roster", "query")
	if !q.HasAttr("ver") {
		t.Errorf("roster result without ver (the server advertises versioning): %s", r)
	}
	emptyVer := q.Attr("ver")
	other.IQ(t, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>`)

	// 2.3: set an item with name and groups; the result is empty and
	// every interested resource gets the push.
	r = a.IQ(t, `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item></query></iq>`)
	wantAttrs(t, r, "type", "result", "id", "s1")
	if len(r.Nodes) != 0 {
		t.Errorf("roster set result has a payload: %s", r)
	}
	var ver string
	for _, c := range []*xmpptest.Client{a, other} {
		it, v := wantPush(t, c, c.Expect(t, "push", isPush("bob@localhost")))
		wantItem(t, it, "bob@localhost", "Bob", "none", "", "Friends", "Work")
		if ver != "" && v != ver {
			t.Errorf("pushes carry different versions %q and %q", ver, v)
		}
		ver = v
	}
	if ver == emptyVer {
		t.Errorf("version %q did not change with the roster", ver)
	}
	expectNone(t, a, silent, "roster push to a resource that never fetched the roster", isPush("bob@localhost"))

	// 2.6.3: the current version gets an empty result, an old one the
	// whole roster.
	r = a.IQ(t, `<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='`+ver+`'/></iq>`)
	wantAttrs(t, r, "type", "result", "id", "g2")
	if len(r.Nodes) != 0 {
		t.Errorf("get with the current version returned %s", r)
	}
	for _, old := range []string{emptyVer, "", "unknown-version"} {
		r = a.IQ(t, `<iq type='get' id='g3'><query xmlns='jabber:iq:roster' ver='`+old+`'/></iq>`)
		items := rosterItems(t, r)
		if len(items) != 1 {
			t.Fatalf("get with version %q: %s", old, r)
		}
		wantItem(t, items[0], "bob@localhost", "Bob", "none", "", "Friends", "Work")
		if got := r.Child("jabber:iq:roster", "query").Attr("ver"); got != ver {
			t.Errorf("get with version %q returned ver %q, want %q", old, got, ver)
		}
	}

	// Updating replaces name and groups.
	a.IQ(t, `<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Robert'><group>Work</group></item></query></iq>`)
	it, ver2 := wantPush(t, other, other.Expect(t, "push", isPush("bob@localhost")))
	wantItem(t, it, "bob@localhost", "Robert", "none", "", "Work")
	if ver2 == ver {
		t.Errorf("version did not change on update")
	}

	// 2.5: remove; the push says subscription='remove'.
	r = a.IQ(t, `<iq type='set' id='s3'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>`)
	wantAttrs(t, r, "type", "result", "id", "s3")
	for _, c := range []*xmpptest.Client{a, other} {
		n := c.Expect(t, "removal push", allOf(isPush("bob@localhost"), func(n Node) bool {
			return rosterItems(t, n)[0].Attr("subscription") == "remove"
		}))
		it, _ := wantPush(t, c, n)
		wantAttrs(t, it, "jid", "bob@localhost", "subscription", "remove", "name", "", "ask", "")
	}
	r = a.IQ(t, `<iq type='get' id='g4'><query xmlns='jabber:iq:roster'/></iq>`)
	if items := rosterItems(t, r); len(items) != 0 {
		t.Errorf("roster after removal: %s", r)
	}

	// Errors (RFC 6121 2.3.3, 2.5.3).
	for _, tc := range []struct {
		name, query, typ, cond string
	}{
		{"remove absent item", `<item jid='carol@localhost' subscription='remove'/>`, "cancel", "item-not-found"},
		{"two items", `<item jid='carol@localhost'/><item jid='dave@localhost'/>`, "modify", "bad-request"},
		{"empty group", `<item jid='carol@localhost'><group/></item>`, "modify", "not-acceptable"},
		{"duplicate group", `<item jid='carol@localhost'><group>A</group><group>A</group></item>`, "modify", "bad-request"},
		{"bad jid", `<item jid='@@'/>`, "modify", "jid-malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.IQ(t, `<iq type='set' id='e1'><query xmlns='jabber:iq:roster'>`+tc.query+`</query></iq>`)
			wantAttrs(t, r, "id", "e1")
			wantError(t, r, tc.typ, tc.cond)
		})
	}
	// Another account's roster is not served: the server answers for
	// the account, and offers no roster to others (RFC 6121 2.1.5).
	b := loginAs(t, srv, "bob")
	r = b.IQ(t, `<iq type='get' id='x1' to='alice@localhost'><query xmlns='jabber:iq:roster'/></iq>`)
	wantAttrs(t, r, "from", "alice@localhost", "to", b.JID.String())
	wantError(t, r, "cancel", "service-unavailable")
	drain(t, other)
	expectNone(t, a, other, "push for a failed set", isPush("carol@localhost"))
}
