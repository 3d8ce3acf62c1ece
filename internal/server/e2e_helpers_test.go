package server_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// Helpers shared by the end-to-end tests: accounts, logins, matchers and
// a barrier that proves a stanza did not arrive without sleeping.

// Node is the decoded stanza the harness hands to tests.
type Node = xmpptest.Node

// match is a predicate over received stanzas.
type match = func(Node) bool

// pw is every test account's password.
func pw(user string) string { return user + "-secret" }

// startServer runs a server with the given accounts.
func startServer(t *testing.T, users []string, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, opts...)
	for _, u := range users {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

// loginAs authenticates and binds, and sends nothing more.
func loginAs(t *testing.T, srv *xmpptest.Server, user string) *xmpptest.Client {
	t.Helper()
	return srv.Dial(t, user, pw(user), xmpptest.DialOptions{})
}

// goOnline logs in, fetches the roster (so the session gets pushes) and
// sends initial presence with the given extra children, then waits for
// the server to reflect that presence back (RFC 6121 4.2.2).
func goOnline(t *testing.T, srv *xmpptest.Server, user, presence string) *xmpptest.Client {
	t.Helper()
	c := loginAs(t, srv, user)
	if r := c.IQ(t, `<iq type='get' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>`); r.Attr("type") != "result" {
		t.Fatalf("%s roster get: %s", c.JID, r)
	}
	c.SendRaw(t, `<presence>`+presence+`</presence>`)
	c.Expect(t, "own initial presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

// bare is the bare JID of c as a string.
func bare(c *xmpptest.Client) string { return c.JID.Bare().String() }

// allOf matches when every m matches.
func allOf(ms ...match) match {
	return func(n Node) bool {
		for _, m := range ms {
			if !m(n) {
				return false
			}
		}
		return true
	}
}

// isStanza matches the stanza name and type attribute ("" for absent).
func isStanza(name, typ string) match {
	return func(n Node) bool { return n.XMLName.Local == name && n.Attr("type") == typ }
}

// isFrom matches the from attribute.
func isFrom(from string) match { return func(n Node) bool { return n.Attr("from") == from } }

// isPresence matches a presence from from of type typ ("" for available).
func isPresence(from, typ string) match { return xmpptest.IsPresenceFrom(from, typ) }

// isBody matches a message with the given body.
func isBody(body string) match { return xmpptest.IsMessage(body) }

// isPush matches a roster push (RFC 6121 2.1.6) for contact.
func isPush(contact string) match {
	return func(n Node) bool {
		if n.XMLName.Local != "iq" || n.Attr("type") != "set" {
			return false
		}
		q := n.Child("jabber:iq:roster", "query")
		return q != nil && len(q.Nodes) == 1 && q.Nodes[0].Attr("jid") == contact
	}
}

// collect waits until every named matcher has matched one received
// stanza, in any order, and returns them by name. Stanzas no matcher
// wants are skipped.
func collect(t *testing.T, c *xmpptest.Client, want map[string]match) map[string]Node {
	t.Helper()
	got := make(map[string]Node)
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case n := <-c.In:
			for name, m := range want {
				if _, ok := got[name]; !ok && m(n) {
					got[name] = n
					break
				}
			}
		case <-timeout:
			var missing []string
			for name := range want {
				if _, ok := got[name]; !ok {
					missing = append(missing, name)
				}
			}
			slices.Sort(missing)
			t.Fatalf("%s: timed out waiting for %s", c.JID, strings.Join(missing, ", "))
		}
	}
	return got
}

var barriers atomic.Int64

// expectNone proves that nothing matching m reached to as a result of
// what from sent so far: from sends to a headline (never archived, stored
// or copied), and since the router handles one sender's stanzas in order
// and each session's queue is FIFO, everything from caused earlier is
// ahead of it. Stanzas received before the barrier are consumed.
func expectNone(t *testing.T, from, to *xmpptest.Client, what string, m match) {
	t.Helper()
	body := fmt.Sprintf("barrier-%d", barriers.Add(1))
	from.SendRaw(t, `<message type='headline' to='`+to.JID.String()+`'><body>`+body+`</body></message>`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-to.In:
			if isBody(body)(n) {
				return
			}
			if m(n) {
				t.Fatalf("%s: unexpected %s: %s", to.JID, what, n)
			}
		case <-timeout:
			t.Fatalf("%s: barrier from %s did not arrive", to.JID, from.JID)
		}
	}
}

// drain consumes what c received so far, after a barrier from c itself.
func drain(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	expectNone(t, c, c, "nothing", func(Node) bool { return false })
}

// wantError checks that n is an error reply of the given type and
// condition (RFC 6120 8.3).
func wantError(t *testing.T, n Node, typ, cond string) {
	t.Helper()
	if n.Attr("type") != "error" {
		t.Fatalf("want an error, got %s", n)
	}
	if gt, gc := n.Error(); gt != typ || gc != cond {
		t.Errorf("error type=%q condition=%q, want %q %q in %s", gt, gc, typ, cond, n)
	}
}

// wantAttrs checks attributes of n; "" wants the attribute absent.
func wantAttrs(t *testing.T, n Node, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		switch {
		case v == "" && n.HasAttr(k):
			t.Errorf("%s: unexpected %s=%q", n.XMLName.Local, k, n.Attr(k))
		case n.Attr(k) != v:
			t.Errorf("%s: %s=%q, want %q in %s", n.XMLName.Local, k, n.Attr(k), v, n)
		}
	}
}

// befriend gives a and b a mutual subscription ("both") through the
// protocol. Both must be online with their rosters fetched; what they
// receive on the way is consumed.
func befriend(t *testing.T, a, b *xmpptest.Client) {
	t.Helper()
	for _, p := range [][2]*xmpptest.Client{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		x.SendRaw(t, `<presence type='subscribe' to='`+bare(y)+`'/>`)
		y.Expect(t, "subscribe", isPresence(bare(x), "subscribe"))
		y.SendRaw(t, `<presence type='subscribed' to='`+bare(x)+`'/>`)
		x.Expect(t, "subscribed", isPresence(bare(y), "subscribed"))
	}
	drain(t, a)
	drain(t, b)
}
