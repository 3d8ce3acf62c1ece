package push_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/jid"
	"minimix/internal/xmpptest"
)

// End-to-end tests of push notifications (XEP-0357): a real server, the
// phone as a raw client stream (it enables push, then goes away, goes
// inactive or loses its connection), bob as a mellium client, and the app
// server as an external component (XEP-0114) that receives and counts
// the publishes.

type Node = xmpptest.Node

const (
	app       = "push.localhost"
	appSecret = "app-secret"
	nsPush    = "urn:xmpp:push:0"
	nsPubSub  = "http://jabber.org/protocol/pubsub"
	nsData    = "jabber:x:data"
	nsOptions = "http://jabber.org/protocol/pubsub#publish-options"
)

func pw(user string) string { return user + "-secret" }

func start(t *testing.T, opts ...func(*config.Config)) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.Components.External = []config.ExternalComponent{{Domain: app, Secret: appSecret}, {Domain: "push2.localhost", Secret: appSecret}}
		for _, o := range opts {
			o(c)
		}
	}))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

var ids atomic.Int64

// iq sends a raw iq (with id 'ID' replaced) and returns the answer.
func iq(t *testing.T, r *xmpptest.Raw, raw string) Node {
	t.Helper()
	id := fmt.Sprintf("iq-%d", ids.Add(1))
	r.Send(strings.Replace(raw, "'ID'", "'"+id+"'", 1))
	return r.ExpectStanza("answer "+id, 10*time.Second, func(n Node) bool { return n.XMLName.Local == "iq" && n.Attr("id") == id })
}

// phone logs alice in as resource, with initial presence, optionally
// with stream management (resumable), and enables push to app's node.
func phone(t *testing.T, srv *xmpptest.Server, resource, node string, sm bool) *xmpptest.Raw {
	t.Helper()
	r := srv.Login(t, "alice", pw("alice"), resource)
	if sm {
		r.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
		r.Expect(xmpptest.NSSM, "enabled")
	}
	r.Send("<presence/>")
	enable(t, r, app, node, "s3cret")
	return r
}

func enable(t *testing.T, r *xmpptest.Raw, service, node, secret string) {
	t.Helper()
	form := ""
	if secret != "" {
		form = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>` + nsOptions + `</value></field><field var='secret'><value>` + secret + `</value></field></x>`
	}
	if res := iq(t, r, `<iq type='set' id='ID'><enable xmlns='urn:xmpp:push:0' jid='`+service+`' node='`+node+`'>`+form+`</enable></iq>`); res.Attr("type") != "result" {
		t.Fatalf("enable: %s", res)
	}
}

// gone closes r's stream and waits until the server ended its session: a
// message that came while it was closing would be its client's.
func gone(t *testing.T, srv *xmpptest.Server, r *xmpptest.Raw) {
	t.Helper()
	r.Close()
	full := jid.MustParse(r.JID)
	deadline := time.Now().Add(10 * time.Second)
	for srv.Registry.Get(full) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the session did not end", full)
		}
		time.Sleep(time.Millisecond)
	}
}

// settle returns once the server handled what r sent so far.
func settle(t *testing.T, r *xmpptest.Raw) {
	t.Helper()
	if res := iq(t, r, `<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`); res.Attr("type") != "result" {
		t.Fatalf("ping: %s", res)
	}
}

// publish is one notification as the app server received it.
type publish struct {
	iq      Node
	node    string
	summary map[string]string
	options map[string]string
}

func formFields(x *Node) map[string]string {
	out := map[string]string{}
	if x == nil {
		return out
	}
	for _, f := range x.Children(nsData, "field") {
		v := ""
		if val := f.Child(nsData, "value"); val != nil {
			v = val.Text
		}
		out[f.Attr("var")] = v
	}
	return out
}

// nextPublish waits for the app server's next publish, checks its
// envelope (XEP-0357 section 7) and answers it with a result.
func nextPublish(t *testing.T, a *xmpptest.Raw) publish {
	t.Helper()
	n := a.ExpectStanza("a publish", 10*time.Second, func(n Node) bool { return n.XMLName.Local == "iq" })
	p := parsePublish(t, n)
	a.Send(`<iq type='result' from='` + app + `' to='` + n.Attr("from") + `' id='` + n.Attr("id") + `'/>`)
	return p
}

func parsePublish(t *testing.T, n Node) publish {
	t.Helper()
	if n.Attr("type") != "set" || n.Attr("from") != "alice@localhost" {
		t.Fatalf("publish not an iq set from the account's bare JID: %s", n)
	}
	ps := n.Child(nsPubSub, "pubsub")
	pub := ps.Child(nsPubSub, "publish")
	if pub == nil {
		t.Fatalf("no <publish/>: %s", n)
	}
	notif := pub.Find("item/notification")
	if notif == nil || notif.XMLName.Space != nsPush {
		t.Fatalf("no <item><notification xmlns='%s'/></item>: %s", nsPush, n)
	}
	p := publish{iq: n, node: pub.Attr("node"), summary: formFields(notif.Child(nsData, "x"))}
	if p.summary["FORM_TYPE"] != "urn:xmpp:push:summary" {
		t.Errorf("summary FORM_TYPE %q: %s", p.summary["FORM_TYPE"], n)
	}
	if po := ps.Child(nsPubSub, "publish-options"); po != nil {
		p.options = formFields(po.Child(nsData, "x"))
	}
	return p
}

func wantSummary(t *testing.T, p publish, count, sender string) {
	t.Helper()
	if p.summary["message-count"] != count || p.summary["last-message-sender"] != sender {
		t.Errorf("summary count=%q sender=%q, want %q %q: %s", p.summary["message-count"], p.summary["last-message-sender"], count, sender, p.iq)
	}
}

func online(t *testing.T, srv *xmpptest.Server, user string) *xmpptest.Client {
	t.Helper()
	c := srv.Dial(t, user, pw(user), xmpptest.DialOptions{})
	c.SendRaw(t, `<presence/>`)
	c.Expect(t, "own presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
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

// TestE2EEnable: section 4's discovery, section 5's enable and section 6's
// disable, with the errors of a malformed request and the configured
// bound.
func TestE2EEnable(t *testing.T) {
	t.Parallel()
	srv := start(t, func(c *config.Config) { c.Push.MaxRegistrations = 2 })
	r := srv.Login(t, "alice", pw("alice"), "phone")
	for _, to := range []string{"alice@localhost", "localhost"} {
		if res := iq(t, r, `<iq type='get' id='ID' to='`+to+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); !hasFeature(res, nsPush) {
			t.Errorf("disco#info of %s lacks %s: %s", to, nsPush, res)
		}
	}
	for _, tc := range []struct{ name, payload, cond string }{
		{"no jid", `<enable xmlns='urn:xmpp:push:0' node='n'/>`, "bad-request"},
		{"bad jid", `<enable xmlns='urn:xmpp:push:0' jid='a@b@c' node='n'/>`, "bad-request"},
		{"no node", `<enable xmlns='urn:xmpp:push:0' jid='` + app + `'/>`, "bad-request"},
		{"another form", `<enable xmlns='urn:xmpp:push:0' jid='` + app + `' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:example</value></field></x></enable>`, "bad-request"},
		{"broken form", `<enable xmlns='urn:xmpp:push:0' jid='` + app + `' node='n'><x xmlns='jabber:x:data' type='bogus'/></enable>`, "bad-request"},
		{"disable without jid", `<disable xmlns='urn:xmpp:push:0'/>`, "bad-request"},
	} {
		res := iq(t, r, `<iq type='set' id='ID'>`+tc.payload+`</iq>`)
		if typ, cond := res.Error(); res.Attr("type") != "error" || cond != tc.cond || typ != "modify" {
			t.Errorf("%s: %s, want %s", tc.name, res, tc.cond)
		}
	}
	if res := iq(t, r, `<iq type='get' id='ID'><enable xmlns='urn:xmpp:push:0' jid='`+app+`' node='n'/></iq>`); res.Attr("type") != "error" {
		t.Errorf("enable with get: %s", res)
	}
	// XEP-0357's own example form has no type: it is taken as submit.
	if res := iq(t, r, `<iq type='set' id='ID'><enable xmlns='urn:xmpp:push:0' jid='`+app+`' node='n1'><x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>`+nsOptions+`</value></field><field var='secret'><value>x</value></field></x></enable></iq>`); res.Attr("type") != "result" {
		t.Errorf("enable with the XEP's form: %s", res)
	}
	enable(t, r, app, "n2", "")
	enable(t, r, app, "n2", "again") // enabling again replaces, it is no third
	res := iq(t, r, `<iq type='set' id='ID'><enable xmlns='urn:xmpp:push:0' jid='`+app+`' node='n3'/></iq>`)
	if typ, cond := res.Error(); typ != "cancel" || cond != "resource-constraint" {
		t.Errorf("a third registration past push.max_registrations = 2: %s", res)
	}
	regs, err := srv.Store().PushRegistrations(context.Background())
	if err != nil || len(regs) != 2 || regs[1].Node != "n2" || !strings.Contains(string(regs[1].Options), "again") || regs[0].Resource != "phone" {
		t.Fatalf("stored registrations %+v (%v)", regs, err)
	}
	// Disabling one node, then the whole service; disabling what is not
	// enabled is no error.
	for _, d := range []string{`node='n1'`, ``, `node='gone'`} {
		if res := iq(t, r, `<iq type='set' id='ID'><disable xmlns='urn:xmpp:push:0' jid='`+app+`' `+d+`/></iq>`); res.Attr("type") != "result" {
			t.Errorf("disable %s: %s", d, res)
		}
	}
	if regs, _ := srv.Store().PushRegistrations(context.Background()); len(regs) != 0 {
		t.Errorf("registrations after disabling: %+v", regs)
	}
	if n := srv.Push().Stats.Registrations.Load(); n != 0 {
		t.Errorf("registrations in memory after disabling: %d", n)
	}
}

// TestE2ESessionGone: once the session that enabled push is gone, each
// message worth it (a body, an encrypted payload) is published with the
// count since then, the sender, the publish options, and no body; chat
// states, receipts and headlines are not.
func TestE2ESessionGone(t *testing.T) {
	t.Parallel()
	srv := start(t)
	a := srv.Component(t, app, appSecret)
	p := phone(t, srv, "phone", "node-1", false)
	bob := online(t, srv, "bob")
	gone(t, srv, p)

	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>hello</body></message>`)
	got := nextPublish(t, a)
	if got.iq.Attr("to") != app || got.node != "node-1" {
		t.Errorf("publish to %q node %q: %s", got.iq.Attr("to"), got.node, got.iq)
	}
	wantSummary(t, got, "1", bob.JID.String())
	if _, ok := got.summary["last-message-body"]; ok {
		t.Errorf("body published with push.include_body = false: %s", got.iq)
	}
	if got.options["FORM_TYPE"] != nsOptions || got.options["secret"] != "s3cret" {
		t.Errorf("publish options %v: %s", got.options, got.iq)
	}

	// Nothing for these; the next publish is the encrypted message's.
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><received xmlns='urn:xmpp:receipts' id='x'/></message>`)
	bob.SendRaw(t, `<message type='headline' to='alice@localhost'><body>news</body></message>`)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAAA</payload></encrypted></message>`)
	wantSummary(t, nextPublish(t, a), "2", bob.JID.String())
	// A normal message to the account's full JID that is gone is treated
	// as one to the bare JID (RFC 6121 8.5.3.2.1) and kept offline.
	bob.SendRaw(t, `<message to='alice@localhost/phone'><body>normal</body></message>`)
	wantSummary(t, nextPublish(t, a), "3", bob.JID.String())
	if n := srv.Push().Stats.Published.Load(); n != 3 {
		t.Errorf("published %d, want 3", n)
	}
}

// TestE2EInactive: while the phone's session says it is inactive (CSI)
// its messages are pushed; while it is active, not, and the count starts
// over.
func TestE2EInactive(t *testing.T) {
	t.Parallel()
	srv := start(t)
	a := srv.Component(t, app, appSecret)
	p := phone(t, srv, "phone", "n", false)
	bob := online(t, srv, "bob")

	p.Send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	settle(t, p)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>one</body></message>`)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>two</body></message>`)
	wantSummary(t, nextPublish(t, a), "1", bob.JID.String())
	wantSummary(t, nextPublish(t, a), "2", bob.JID.String())
	// The inactive client still got them.
	p.ExpectStanza("message two", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "message" && n.Find("body") != nil && n.Find("body").Text == "two"
	})

	p.Send(`<active xmlns='urn:xmpp:csi:0'/>`)
	settle(t, p)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>three</body></message>`)
	p.ExpectStanza("message three", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "message" && n.Find("body") != nil && n.Find("body").Text == "three"
	})
	p.Send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	settle(t, p)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>four</body></message>`)
	// Had "three" been published, it would come first, with count 3.
	wantSummary(t, nextPublish(t, a), "1", bob.JID.String())

	// Another session of the account being active does not stop the
	// phone's pushes: the phone is asleep all the same.
	laptop := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "laptop"})
	laptop.SendRaw(t, `<presence/>`)
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>five</body></message>`)
	wantSummary(t, nextPublish(t, a), "2", bob.JID.String())
}

// TestE2EHibernated: a session waiting to be resumed (XEP-0198) gets its
// messages pushed; when its resumption window closes, what it had queued
// goes offline, and is not pushed a second time.
func TestE2EHibernated(t *testing.T) {
	t.Parallel()
	srv := start(t, func(c *config.Config) {
		c.C2S.ResumeTimeout = config.Duration{Duration: 500 * time.Millisecond}
		c.Push.IncludeBody = true
	})
	a := srv.Component(t, app, appSecret)
	p := phone(t, srv, "phone", "n", true)
	bob := online(t, srv, "bob")
	settle(t, p)
	p.Kill()
	for srv.C2S.Stats.Hibernated.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>while away</body></message>`)
	got := nextPublish(t, a)
	wantSummary(t, got, "1", bob.JID.String())
	if got.summary["last-message-body"] != "while away" {
		t.Errorf("body with push.include_body = true: %s", got.iq)
	}
	// The window closes: the queued message is kept offline, which the
	// push service hears of again.
	for srv.Push().Stats.Queued.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>after</body></message>`)
	got = nextPublish(t, a)
	if got.summary["last-message-body"] != "after" || got.summary["message-count"] != "2" {
		t.Errorf("the next publish is not the next message's (pushed twice?): %s", got.iq)
	}
}

// TestE2ERooms: the account stays in its rooms with no session online,
// and a room message wakes the phone: mentions by default
// (push.rooms), every message or none as the room's bookmark says
// (XEP-0492), private messages always, the account's own never.
func TestE2ERooms(t *testing.T) {
	t.Parallel()
	// Bodies in the summaries tell which message each publish is for.
	srv := start(t, func(c *config.Config) { c.Push.IncludeBody = true })
	a := srv.Component(t, app, appSecret)
	bob := online(t, srv, "bob")
	room := "push@" + srv.Config.MUC.Domain
	bob.SendRaw(t, `<presence to='`+room+`/bo'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.Expect(t, "room created", func(n Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == room+"/bo" })
	if res := bob.IQ(t, `<iq type='set' id='cfg' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`); res.Attr("type") != "result" {
		t.Fatalf("instant room: %s", res)
	}
	p := phone(t, srv, "phone", "n", false)
	p.Send(`<presence to='` + room + `/al'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	p.ExpectStanza("subject", 10*time.Second, func(n Node) bool { return n.XMLName.Local == "message" && n.Child("", "subject") != nil })
	gone(t, srv, p) // the account stays in the room (docs/account-join.md, rule 15)

	say := func(body, extra string) {
		bob.SendRaw(t, `<message type='groupchat' to='`+room+`'><body>`+body+`</body>`+extra+`</message>`)
		bob.Expect(t, "reflection of "+body, xmpptest.IsMessage(body))
	}
	say("hello everyone", "")
	say("al: are you there?", "")
	wantRoomPublish(t, a, "1", room+"/bo", "al: are you there?") // not "hello everyone"
	say("hey you", `<reference xmlns='urn:xmpp:reference:0' type='mention' begin='4' end='7' uri='xmpp:`+room+`/al'/>`)
	wantRoomPublish(t, a, "2", room+"/bo", "hey you")
	bob.SendRaw(t, `<message type='chat' to='`+room+`/al'><body>psst</body></message>`)
	wantRoomPublish(t, a, "3", room+"/bo", "psst")

	// alice's laptop sets the room to notify always, in its bookmark.
	laptop := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "laptop"})
	bookmark := func(setting string) {
		t.Helper()
		res := laptop.IQ(t, `<iq type='set' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='`+room+`'>`+
			`<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>al</nick><extensions><notify xmlns='urn:xmpp:notification-settings:1'><`+setting+`/></notify></extensions></conference>`+
			`</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>`+nsOptions+`</value></field>`+
			`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`)
		if res.Attr("type") != "result" {
			t.Fatalf("bookmark: %s", res)
		}
	}
	bookmark("always")
	say("no mention now", "")
	wantRoomPublish(t, a, "4", room+"/bo", "no mention now")

	bookmark("never")
	say("al: muted?", "")
	bob.SendRaw(t, `<message type='chat' to='`+room+`/al'><body>still private</body></message>`)
	wantRoomPublish(t, a, "5", room+"/bo", "still private") // not "al: muted?"

	// The account's own messages are never pushed: the laptop joins and
	// speaks.
	bookmark("always")
	laptop.SendRaw(t, `<presence to='`+room+`/al'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	laptop.Expect(t, "subject", func(n Node) bool { return n.XMLName.Local == "message" && n.Child("", "subject") != nil })
	laptop.SendRaw(t, `<message type='groupchat' to='`+room+`'><body>my own words</body></message>`)
	bob.Expect(t, "alice's message", xmpptest.IsMessage("my own words"))
	say("after alice spoke", "")
	wantRoomPublish(t, a, "6", room+"/bo", "after alice spoke") // not "my own words"
}

// wantRoomPublish checks that the app server's next publish is for the
// message with body.
func wantRoomPublish(t *testing.T, a *xmpptest.Raw, count, sender, body string) {
	t.Helper()
	p := nextPublish(t, a)
	wantSummary(t, p, count, sender)
	if got := p.summary["last-message-body"]; got != body {
		t.Errorf("publish for %q, want %q: %s", got, body, p.iq)
	}
}

// TestE2EFailures: an app server's error disables its registration at
// once (XEP-0357 section 7.1), a temporary one (type wait) only after
// push.max_failures in a row; the registrations survive a restart.
func TestE2EFailures(t *testing.T) {
	t.Parallel()
	srv := start(t, func(c *config.Config) { c.Push.MaxFailures = 2 })
	a := srv.Component(t, app, appSecret)
	a2 := srv.Component(t, "push2.localhost", appSecret)
	p := phone(t, srv, "phone", "n", false)
	enable(t, p, "push2.localhost", "m", "")
	bob := online(t, srv, "bob")
	gone(t, srv, p)

	next := func(r *xmpptest.Raw) Node {
		t.Helper()
		return r.ExpectStanza("a publish", 10*time.Second, func(n Node) bool { return n.XMLName.Local == "iq" && n.Attr("type") == "set" })
	}
	fail := func(r *xmpptest.Raw, from string, n Node, typ, cond string) {
		r.Send(`<iq type='error' from='` + from + `' to='` + n.Attr("from") + `' id='` + n.Attr("id") + `'><error type='` + typ + `'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	}
	ok := func(r *xmpptest.Raw, from string, n Node) {
		r.Send(`<iq type='result' from='` + from + `' to='` + n.Attr("from") + `' id='` + n.Attr("id") + `'/>`)
	}
	regs := func() int {
		rs, err := srv.Store().PushRegistrations(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}

	// An answer from someone else is not the app server's.
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>m1</body></message>`)
	n1, m1 := next(a), next(a2)
	bob.SendRaw(t, `<iq type='error' to='alice@localhost' id='`+n1.Attr("id")+`'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	fail(a2, "push2.localhost", m1, "wait", "resource-constraint") // temporary: 1 of 2
	ok(a, app, n1)

	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>m2</body></message>`)
	n2, m2 := next(a), next(a2)
	fail(a, app, n2, "cancel", "item-not-found")                   // disables at once
	fail(a2, "push2.localhost", m2, "wait", "resource-constraint") // 2 of 2: disabled
	for regs() != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if d := srv.Push().Stats.Disabled.Load(); d != 2 {
		t.Errorf("disabled %d registrations, want 2", d)
	}

	// A restart keeps registrations: enable again, restart, and a message
	// still wakes the phone.
	p = phone(t, srv, "phone", "n", false)
	gone(t, srv, p)
	bob.Close()
	a.Close()
	a2.Close()
	srv.Restart(t)
	a = srv.Component(t, app, appSecret)
	bob = online(t, srv, "bob")
	bob.SendRaw(t, `<message type='chat' to='alice@localhost'><body>after the restart</body></message>`)
	wantSummary(t, nextPublish(t, a), "1", bob.JID.String())
}
