package blocking_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end tests of the blocking command (XEP-0191): a real server on
// loopback, mellium clients sending what Conversations and Gajim send.

type Node = xmpptest.Node

const (
	nsBlocking = "urn:xmpp:blocking"
	nsErrors   = "urn:xmpp:blocking:errors"
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = "http://jabber.org/protocol/muc#user"
)

func pw(user string) string { return user + "-secret" }

func start(t *testing.T, users []string, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, opts...)
	for _, u := range users {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

// online logs user in, fetches the roster and sends initial presence.
func online(t *testing.T, srv *xmpptest.Server, user string) *xmpptest.Client {
	t.Helper()
	c := srv.Dial(t, user, pw(user), xmpptest.DialOptions{})
	c.IQ(t, `<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`)
	c.SendRaw(t, `<presence/>`)
	c.Expect(t, "own presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

func bare(c *xmpptest.Client) string { return c.JID.Bare().String() }

// befriend gives a and b a mutual subscription through the protocol.
func befriend(t *testing.T, a, b *xmpptest.Client) {
	t.Helper()
	for _, p := range [][2]*xmpptest.Client{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		x.SendRaw(t, `<presence type='subscribe' to='`+bare(y)+`'/>`)
		y.Expect(t, "subscribe", xmpptest.IsPresenceFrom(bare(x), "subscribe"))
		y.SendRaw(t, `<presence type='subscribed' to='`+bare(x)+`'/>`)
		x.Expect(t, "subscribed", xmpptest.IsPresenceFrom(bare(y), "subscribed"))
	}
	settled(t, a)
	settled(t, b)
	expectNone(t, a, "nothing", func(Node) bool { return false })
	expectNone(t, b, "nothing", func(Node) bool { return false })
}

var barriers atomic.Int64

// settled returns once the server has handled everything c sent so far: a
// session's stanzas are handled in order, on one goroutine, up to their
// delivery into the recipients' queues.
func settled(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	id := fmt.Sprintf("settle-%d", barriers.Add(1))
	if r := c.IQ(t, `<iq type='get' id='`+id+`' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Attr("type") != "result" {
		t.Fatalf("%s ping: %s", c.JID, r)
	}
}

// expectNone fails if anything m matches reached c before a barrier
// message c sends itself: everything queued for c earlier is ahead of it.
// Stanzas before the barrier are consumed.
func expectNone(t *testing.T, c *xmpptest.Client, what string, m func(Node) bool) {
	t.Helper()
	body := fmt.Sprintf("barrier-%d", barriers.Add(1))
	c.SendRaw(t, `<message type='headline' to='`+c.JID.String()+`'><body>`+body+`</body></message>`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-c.In:
			if xmpptest.IsMessage(body)(n) {
				return
			}
			if m(n) {
				t.Fatalf("%s: unexpected %s: %s", c.JID, what, n)
			}
		case <-timeout:
			t.Fatalf("%s: own barrier did not arrive", c.JID)
		}
	}
}

// isBlockPush matches a push of <block/> or <unblock/> (name) listing
// exactly jids.
func isBlockPush(name string, jids ...string) func(Node) bool {
	return func(n Node) bool {
		if n.XMLName.Local != "iq" || n.Attr("type") != "set" {
			return false
		}
		q := n.Child(nsBlocking, name)
		if q == nil || len(q.Nodes) != len(jids) {
			return false
		}
		for i, it := range q.Nodes {
			if it.XMLName.Local != "item" || it.Attr("jid") != jids[i] {
				return false
			}
		}
		return true
	}
}

func isAnyBlockPush(n Node) bool {
	return n.XMLName.Local == "iq" && (n.Child(nsBlocking, "block") != nil || n.Child(nsBlocking, "unblock") != nil)
}

// blocklist returns c's blocklist, failing on anything but a result.
func blocklist(t *testing.T, c *xmpptest.Client) []string {
	t.Helper()
	r := c.IQ(t, `<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	if r.Attr("type") != "result" {
		t.Fatalf("blocklist: %s", r)
	}
	q := r.Child(nsBlocking, "blocklist")
	if q == nil {
		t.Fatalf("blocklist result without <blocklist/>: %s", r)
	}
	jids := []string{}
	for _, it := range q.Nodes {
		jids = append(jids, it.Attr("jid"))
	}
	return jids
}

func items(jids ...string) string {
	var b strings.Builder
	for _, j := range jids {
		b.WriteString(`<item jid='` + j + `'/>`)
	}
	return b.String()
}

func block(t *testing.T, c *xmpptest.Client, jids ...string) {
	t.Helper()
	if r := c.IQ(t, `<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'>`+items(jids...)+`</block></iq>`); r.Attr("type") != "result" {
		t.Fatalf("block %v: %s", jids, r)
	}
}

func unblock(t *testing.T, c *xmpptest.Client, jids ...string) {
	t.Helper()
	if r := c.IQ(t, `<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'>`+items(jids...)+`</unblock></iq>`); r.Attr("type") != "result" {
		t.Fatalf("unblock %v: %s", jids, r)
	}
}

func wantError(t *testing.T, n Node, typ, cond string) {
	t.Helper()
	if n.Attr("type") != "error" {
		t.Fatalf("want an error, got %s", n)
	}
	if gt, gc := n.Error(); gt != typ || gc != cond {
		t.Errorf("error type=%q condition=%q, want %q %q in %s", gt, gc, typ, cond, n)
	}
}

// wantBlocked checks the error of section 3.3 for an outbound stanza to a
// blocked JID: not-acceptable with <blocked/>, from the blocked JID.
func wantBlocked(t *testing.T, n Node, from string) {
	t.Helper()
	wantError(t, n, "cancel", "not-acceptable")
	if e := n.Child("", "error"); e == nil || e.Child(nsErrors, "blocked") == nil {
		t.Errorf("no <blocked xmlns='%s'/> in %s", nsErrors, n)
	}
	if n.Attr("from") != from {
		t.Errorf("error from %q, want %q: %s", n.Attr("from"), from, n)
	}
}

func hasFeature(n Node, v string) bool {
	q := n.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		return false
	}
	for _, f := range q.Children("http://jabber.org/protocol/disco#info", "feature") {
		if f.Attr("var") == v {
			return true
		}
	}
	return false
}

// TestE2EDisco: section 3.1, the server advertises the protocol (and its
// error namespace), and so does the account to itself.
func TestE2EDisco(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice"})
	a := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{})
	for _, to := range []string{"localhost", "alice@localhost"} {
		r := a.IQ(t, `<iq type='get' id='d' to='`+to+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		for _, f := range []string{nsBlocking, nsErrors} {
			if !hasFeature(r, f) {
				t.Errorf("disco#info of %s lacks %s: %s", to, f, r)
			}
		}
	}
}

// TestE2EBlocklist: sections 3.2 to 3.5 and the errors of 3.3: retrieval,
// block and unblock with pushes to exactly the sessions that asked for
// the list, canonical JIDs, unblock all, and bad requests.
func TestE2EBlocklist(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) { c.Blocking.MaxItems = 4 }))
	phone := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "phone"})
	laptop := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "laptop"})
	tablet := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "tablet"}) // never asks for the list

	if got := blocklist(t, phone); len(got) != 0 {
		t.Fatalf("fresh blocklist = %v", got)
	}
	if got := blocklist(t, laptop); len(got) != 0 {
		t.Fatalf("fresh blocklist = %v", got)
	}

	// A JID not in canonical form is stored, listed and pushed in it.
	block(t, phone, "Romeo@Montague.NET", "iago@shakespeare.lit")
	for _, c := range []*xmpptest.Client{phone, laptop} {
		c.Expect(t, "block push", isBlockPush("block", "romeo@montague.net", "iago@shakespeare.lit"))
	}
	expectNone(t, tablet, "a push to a session that never asked for the list", isAnyBlockPush)
	if got := blocklist(t, laptop); strings.Join(got, " ") != "iago@shakespeare.lit romeo@montague.net" {
		t.Errorf("blocklist = %v", got)
	}

	unblock(t, laptop, "romeo@montague.net")
	for _, c := range []*xmpptest.Client{phone, laptop} {
		c.Expect(t, "unblock push", isBlockPush("unblock", "romeo@montague.net"))
	}
	expectNone(t, tablet, "a push to a session that never asked for the list", isAnyBlockPush)
	if got := blocklist(t, phone); strings.Join(got, " ") != "iago@shakespeare.lit" {
		t.Errorf("blocklist after unblock = %v", got)
	}

	// Bad requests change nothing and push nothing.
	for _, tc := range []struct {
		name, iq, typ, cond string
	}{
		{"block without items", `<iq type='set' id='e1'><block xmlns='urn:xmpp:blocking'/></iq>`, "modify", "bad-request"},
		{"not a JID", `<iq type='set' id='e2'><block xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></block></iq>`, "modify", "jid-malformed"},
		{"item without jid", `<iq type='set' id='e3'><block xmlns='urn:xmpp:blocking'><item/></block></iq>`, "modify", "bad-request"},
		{"unblock a bad JID", `<iq type='set' id='e4'><unblock xmlns='urn:xmpp:blocking'><item jid='@x'/></unblock></iq>`, "modify", "jid-malformed"},
		{"block with get", `<iq type='get' id='e5'><block xmlns='urn:xmpp:blocking'><item jid='x@y'/></block></iq>`, "modify", "bad-request"},
		{"blocklist with set", `<iq type='set' id='e6'><blocklist xmlns='urn:xmpp:blocking'/></iq>`, "modify", "bad-request"},
		{"past blocking.max_items", `<iq type='set' id='e7'><block xmlns='urn:xmpp:blocking'>` + items("a@x", "b@x", "c@x", "d@x") + `</block></iq>`, "cancel", "resource-constraint"},
	} {
		wantError(t, phone.IQ(t, tc.iq), tc.typ, tc.cond)
	}
	expectNone(t, laptop, "a push for a refused request", isAnyBlockPush)
	if got := blocklist(t, phone); strings.Join(got, " ") != "iago@shakespeare.lit" {
		t.Errorf("blocklist after refused requests = %v", got)
	}

	// A domain, a full JID and a domain/resource are items too.
	block(t, phone, "spam.example", "nurse@capulet.lit/balcony", "bots.example/relay")
	laptop.Expect(t, "block push", isBlockPush("block", "spam.example", "nurse@capulet.lit/balcony", "bots.example/relay"))
	if got := blocklist(t, phone); strings.Join(got, " ") != "bots.example/relay iago@shakespeare.lit nurse@capulet.lit/balcony spam.example" {
		t.Errorf("blocklist = %v", got)
	}

	// Unblock all: an empty <unblock/> and an empty push (3.5).
	unblock(t, phone)
	for _, c := range []*xmpptest.Client{phone, laptop} {
		c.Expect(t, "unblock-all push", isBlockPush("unblock"))
	}
	if got := blocklist(t, laptop); len(got) != 0 {
		t.Errorf("blocklist after unblock all = %v", got)
	}

	// A session that ended and came back under the same resource must ask
	// again to get pushes.
	laptop.Close()
	laptop2 := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "laptop"})
	block(t, phone, "x@y")
	phone.Expect(t, "block push", isBlockPush("block", "x@y"))
	expectNone(t, laptop2, "a push to a new session that never asked for the list", isAnyBlockPush)
}

// TestE2EInbound: once alice blocks bob, nothing bob sends reaches her,
// answered as section 3.3 says; bob, subscribed to alice, sees her go
// offline and stay so; unblocking brings her presence back and lets bob's
// stanzas through. The block holds while alice is offline and across a
// restart.
func TestE2EInbound(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	a := online(t, srv, "alice")
	b := online(t, srv, "bob")
	befriend(t, a, b)

	block(t, a, "bob@localhost")
	// 3.3: bob, allowed to see alice's presence, is told she went away.
	b.Expect(t, "alice's unavailable presence", xmpptest.IsPresenceFrom(a.JID.String(), "unavailable"))

	// Messages of type chat and normal come back as service-unavailable,
	// from alice, as for an account that does not exist or is offline.
	for _, typ := range []string{"chat", "normal"} {
		b.SendRaw(t, `<message type='`+typ+`' id='m-`+typ+`' to='`+bare(a)+`'><body>hello `+typ+`</body></message>`)
		n := b.Expect(t, "error for "+typ, func(n Node) bool { return n.XMLName.Local == "message" && n.Attr("id") == "m-"+typ })
		wantError(t, n, "cancel", "service-unavailable")
		if n.Attr("from") != bare(a) {
			t.Errorf("error from %q, want %q", n.Attr("from"), bare(a))
		}
	}
	// To the full JID as well; an iq get too (to the bare and the full
	// JID: neither the account nor its client answers bob).
	b.SendRaw(t, `<message type='chat' id='m-full' to='`+a.JID.String()+`'><body>to the full JID</body></message>`)
	wantError(t, b.Expect(t, "error for the full JID", func(n Node) bool { return n.Attr("id") == "m-full" }), "cancel", "service-unavailable")
	for _, to := range []string{bare(a), a.JID.String()} {
		r := b.IQ(t, `<iq type='get' id='v' to='`+to+`'><query xmlns='jabber:iq:version'/></iq>`)
		wantError(t, r, "cancel", "service-unavailable")
	}
	r := b.IQ(t, `<iq type='get' id='v' to='`+bare(a)+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	wantError(t, r, "cancel", "service-unavailable")
	// Headlines, presence of every kind and iq results go without a trace.
	b.SendRaw(t, `<message type='headline' to='`+bare(a)+`'><body>news</body></message>`)
	b.SendRaw(t, `<presence><show>chat</show></presence>`)
	b.SendRaw(t, `<presence to='`+a.JID.String()+`'><status>directed</status></presence>`)
	b.SendRaw(t, `<presence type='subscribe' to='`+bare(a)+`'/>`)
	b.SendRaw(t, `<iq type='result' id='nothing' to='`+a.JID.String()+`'/>`)
	settled(t, b)
	expectNone(t, a, "a stanza from bob", func(n Node) bool { return strings.HasPrefix(n.Attr("from"), "bob@") })
	expectNone(t, b, "an answer to a stanza that gets none", func(n Node) bool {
		return n.Attr("from") == bare(a) || n.Attr("from") == a.JID.String()
	})

	// alice's presence does not reach bob while he is blocked.
	a.SendRaw(t, `<presence><status>busy</status></presence>`)
	settled(t, a)
	expectNone(t, b, "alice's presence", func(n Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == a.JID.String() })

	// Offline: a chat message is refused, not stored.
	a.Close()
	b.SendRaw(t, `<message type='chat' id='m-off' to='`+bare(a)+`'><body>while you were away</body></message>`)
	wantError(t, b.Expect(t, "error while offline", func(n Node) bool { return n.Attr("id") == "m-off" }), "cancel", "service-unavailable")

	// The block is kept in storage: it holds after a restart.
	b.Close()
	srv.Restart(t)
	a = online(t, srv, "alice")
	b = online(t, srv, "bob")
	expectNone(t, a, "the refused message, stored offline after all", xmpptest.IsMessage("while you were away"))
	if got := blocklist(t, a); strings.Join(got, " ") != "bob@localhost" {
		t.Fatalf("blocklist after restart = %v", got)
	}
	b.SendRaw(t, `<message type='chat' id='m-rs' to='`+bare(a)+`'><body>after the restart</body></message>`)
	wantError(t, b.Expect(t, "error after restart", func(n Node) bool { return n.Attr("id") == "m-rs" }), "cancel", "service-unavailable")
	expectNone(t, a, "bob's message after the restart", xmpptest.IsMessage("after the restart"))
	// bob, back online, probed alice: the probe got no answer.
	expectNone(t, b, "alice's presence", func(n Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == a.JID.String() })

	// 3.4: unblocking sends alice's current presence to bob, and bob's
	// stanzas reach her again.
	unblock(t, a, "bob@localhost")
	b.Expect(t, "alice's presence after unblock", xmpptest.IsPresenceFrom(a.JID.String(), ""))
	b.SendRaw(t, `<message type='chat' to='`+bare(a)+`'><body>hello again</body></message>`)
	a.Expect(t, "bob's message after unblock", xmpptest.IsMessage("hello again"))
}

// TestE2EOutbound: what alice sends to a JID she blocks does not leave
// the server: not-acceptable with <blocked/> (section 3.3) for messages,
// iq requests and directed presence, nothing for errors; her roster can
// still be cleaned up (unsubscribed), and her own account is never
// blocked.
func TestE2EOutbound(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	a := online(t, srv, "alice")
	b := online(t, srv, "bob")
	c := online(t, srv, "carol")
	befriend(t, a, b)
	block(t, a, "bob@localhost", "localhost", "alice@localhost")
	b.Expect(t, "alice's unavailable presence", xmpptest.IsPresenceFrom(a.JID.String(), "unavailable"))

	a.SendRaw(t, `<message type='chat' id='o1' to='`+b.JID.String()+`'><body>psst</body></message>`)
	wantBlocked(t, a.Expect(t, "error for the message", func(n Node) bool { return n.Attr("id") == "o1" }), b.JID.String())
	wantBlocked(t, a.IQ(t, `<iq type='get' id='o2' to='`+bare(b)+`'><query xmlns='jabber:iq:version'/></iq>`), bare(b))
	a.SendRaw(t, `<presence id='o3' to='`+b.JID.String()+`'/>`)
	p := a.Expect(t, "error for the presence", func(n Node) bool { return n.XMLName.Local == "presence" && n.Attr("id") == "o3" })
	wantBlocked(t, p, b.JID.String())
	// A domain blocks every account at it: the server's own domain
	// (alice blocked "localhost") blocks carol, but not the server itself,
	// which still answers, nor alice's own account.
	a.SendRaw(t, `<message type='chat' id='o4' to='`+bare(c)+`'><body>carol?</body></message>`)
	wantBlocked(t, a.Expect(t, "error for carol", func(n Node) bool { return n.Attr("id") == "o4" }), bare(c))
	settled(t, a)
	if r := a.IQ(t, `<iq type='get' id='o5'><query xmlns='jabber:iq:roster'/></iq>`); r.Attr("type") != "result" {
		t.Errorf("roster get with own account blocked: %s", r)
	}
	a.SendRaw(t, `<message type='headline' id='o6' to='`+a.JID.String()+`'><body>note to self</body></message>`)
	a.Expect(t, "own message", xmpptest.IsMessage("note to self"))
	// An error to a blocked JID is dropped, not answered.
	a.SendRaw(t, `<message type='error' id='o7' to='`+bare(b)+`'><error type='cancel'><service-unavailable xmlns='`+nsStanzas+`'/></error></message>`)
	settled(t, a)
	expectNone(t, a, "an answer to an error", func(n Node) bool { return n.Attr("id") == "o7" })
	expectNone(t, b, "anything from alice", func(n Node) bool { return strings.HasPrefix(n.Attr("from"), "alice@") })
	expectNone(t, c, "anything from alice", func(n Node) bool { return strings.HasPrefix(n.Attr("from"), "alice@") })

	// Cancelling bob's subscription still updates alice's roster, and
	// bob, blocked, is not told.
	a.SendRaw(t, `<presence type='unsubscribed' to='`+bare(b)+`'/>`)
	push := a.Expect(t, "roster push", func(n Node) bool {
		q := n.Child("jabber:iq:roster", "query")
		return n.XMLName.Local == "iq" && q != nil && len(q.Nodes) == 1 && q.Nodes[0].Attr("jid") == bare(b)
	})
	if sub := push.Child("jabber:iq:roster", "query").Nodes[0].Attr("subscription"); sub != "to" {
		t.Errorf("bob's subscription after unsubscribed = %q, want to: %s", sub, push)
	}
	settled(t, a)
	expectNone(t, b, "the unsubscribed", func(n Node) bool { return n.Attr("type") == "unsubscribed" })
}

// TestE2EOccupant: blocking one occupant of a room (its occupant JID)
// stops its private messages, groupchat and presence, without an error
// that would make the room take alice for a ghost: she stays in the room
// and hears the others. What she sends the occupant is refused.
func TestE2EOccupant(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	a := online(t, srv, "alice")
	b := online(t, srv, "bob")
	c := online(t, srv, "carol")
	room := "blocked@" + srv.Config.MUC.Domain
	enter := func(cl *xmpptest.Client, nick string) {
		cl.SendRaw(t, `<presence to='`+room+`/`+nick+`'><x xmlns='`+nsMUC+`'/></presence>`)
		self := cl.Expect(t, "self-presence", func(n Node) bool {
			return n.XMLName.Local == "presence" && n.Attr("from") == room+"/"+nick && n.Attr("type") == ""
		})
		if hasStatus(self, "201") {
			r := cl.IQ(t, `<iq type='set' id='cfg' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
			if r.Attr("type") != "result" {
				t.Fatalf("instant room: %s", r)
			}
		}
		cl.Expect(t, "subject", func(n Node) bool { return n.XMLName.Local == "message" && n.Child("", "subject") != nil })
	}
	enter(a, "al")
	enter(b, "bo")
	enter(c, "ca")
	a.Expect(t, "carol's presence", func(n Node) bool { return n.Attr("from") == room+"/ca" })

	block(t, a, room+"/bo")
	b.SendRaw(t, `<message type='chat' to='`+room+`/al'><body>private from bob</body></message>`)
	b.SendRaw(t, `<message type='groupchat' to='`+room+`'><body>bob to all</body></message>`)
	b.SendRaw(t, `<presence to='`+room+`/bo'><show>away</show></presence>`)
	// carol's message comes after bob's through the room: when it reached
	// alice, bob's would have too.
	c.SendRaw(t, `<message type='groupchat' to='`+room+`'><body>carol to all</body></message>`)
	c.Expect(t, "own reflection", xmpptest.IsMessage("carol to all"))
	b.Expect(t, "carol's message", xmpptest.IsMessage("carol to all"))
	seen := map[string]bool{}
	for {
		n := <-a.In
		if n.Attr("from") == room+"/bo" {
			t.Fatalf("alice got a stanza from the blocked occupant: %s", n)
		}
		if xmpptest.IsMessage("carol to all")(n) {
			break
		}
		seen[n.XMLName.Local] = true
	}
	// bob got no error for his private message, and the room did not
	// drop alice: bob still sees her, and she still hears carol.
	expectNone(t, b, "an error for the private message", func(n Node) bool { return n.Attr("type") == "error" })
	expectNone(t, b, "alice leaving", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
	c.SendRaw(t, `<message type='groupchat' to='`+room+`'><body>still there?</body></message>`)
	a.Expect(t, "carol's second message", xmpptest.IsMessage("still there?"))

	// alice's private message to the blocked occupant is refused.
	a.SendRaw(t, `<message type='chat' id='pm' to='`+room+`/bo'><body>hi bob</body></message>`)
	wantBlocked(t, a.Expect(t, "error for the private message", func(n Node) bool { return n.Attr("id") == "pm" }), room+"/bo")
	settled(t, a)
	expectNone(t, b, "alice's private message", xmpptest.IsMessage("hi bob"))

	// Unblocked, bob is heard again.
	unblock(t, a, room+"/bo")
	b.SendRaw(t, `<message type='groupchat' to='`+room+`'><body>bob again</body></message>`)
	a.Expect(t, "bob's message after unblock", xmpptest.IsMessage("bob again"))
}

func hasStatus(n Node, code string) bool {
	x := n.Child(nsMUCUser, "x")
	if x == nil {
		return false
	}
	for _, s := range x.Children(nsMUCUser, "status") {
		if s.Attr("code") == code {
			return true
		}
	}
	return false
}
