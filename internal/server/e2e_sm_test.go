package server_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end tests of stream management (XEP-0198) and client state
// indication (XEP-0352), driven with the raw client so that the test
// decides exactly what is acknowledged and when the connection drops.

// smLogin logs user in on resource and enables stream management with
// resumption, returning the client (its Handled count reset) and the
// <enabled/> element.
func smLogin(t *testing.T, srv *xmpptest.Server, user, resource string) (*xmpptest.Raw, xmpptest.Node) {
	t.Helper()
	r := srv.Login(t, user, user+"-secret", resource)
	r.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	en := r.Expect(xmpptest.NSSM, "enabled")
	r.Handled = 0
	return r, en
}

// smResume authenticates a new connection as user and asks to resume
// previd having handled h stanzas; it returns the client and the answer
// (<resumed/> or <failed/>).
func smResume(t *testing.T, srv *xmpptest.Server, user, previd string, h uint32) (*xmpptest.Raw, xmpptest.Node) {
	t.Helper()
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	r.StartTLS()
	r.Authenticate(user, user+"-secret")
	r.Send(fmt.Sprintf("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>", previd, h))
	n, err := r.Next(5 * time.Second)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	return r, n
}

// imServer starts a server with the accounts alice and bob.
func imServer(t *testing.T, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, opts...)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	return srv
}

// imOnline logs user in with the mellium client, fetches the roster and
// sends initial presence, and waits for it to be reflected.
func imOnline(t *testing.T, srv *xmpptest.Server, user string) *xmpptest.Client {
	t.Helper()
	c := srv.Dial(t, user, user+"-secret", xmpptest.DialOptions{})
	if r := c.IQ(t, "<iq type='get' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>"); r.Attr("type") != "result" {
		t.Fatalf("%s roster get: %s", c.JID, r)
	}
	c.SendRaw(t, "<presence/>")
	c.Expect(t, "own initial presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

// imBefriend gives a and b a mutual subscription through the protocol.
func imBefriend(t *testing.T, a, b *xmpptest.Client) {
	t.Helper()
	for _, p := range [][2]*xmpptest.Client{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		xb, yb := x.JID.Bare().String(), y.JID.Bare().String()
		x.SendRaw(t, "<presence type='subscribe' to='"+yb+"'/>")
		y.Expect(t, "subscribe", xmpptest.IsPresenceFrom(xb, "subscribe"))
		y.SendRaw(t, "<presence type='subscribed' to='"+xb+"'/>")
		x.Expect(t, "subscribed", xmpptest.IsPresenceFrom(yb, "subscribed"))
	}
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bodies reads until nothing arrives for quiet and returns the bodies of
// the messages received, in order.
func bodies(t *testing.T, r *xmpptest.Raw, quiet time.Duration) []string {
	t.Helper()
	var out []string
	for {
		n, err := r.Next(quiet)
		if errors.Is(err, xmpptest.ErrTimeout) {
			return out
		}
		if err != nil {
			t.Fatalf("reading messages: %v", err)
		}
		if b := n.Child("", "body"); n.XMLName.Local == "message" && b != nil {
			out = append(out, b.Text)
		}
	}
}

func TestSMEnableAndAck(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.ResumeTimeout = config.Duration{Duration: 90 * time.Second}
	}))
	srv.AddUser(t, "alice", "alice-secret")
	r, en := smLogin(t, srv, "alice", "phone")
	if en.Attr("id") == "" || en.Attr("resume") != "true" || en.Attr("max") != "90" {
		t.Errorf("enabled = %s, want an id, resume='true' and max='90'", en)
	}
	// Three stanzas of every kind, then a request: h counts them all.
	r.Send("<presence/>")
	r.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	r.Send("<message to='" + r.JID + "' type='chat'><body>to myself</body></message>")
	r.Send("<r xmlns='urn:xmpp:sm:3'/>")
	a := r.ExpectStanza("<a/>", 5*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Space == xmpptest.NSSM && n.XMLName.Local == "a"
	})
	if a.Attr("h") != "3" {
		t.Errorf("a = %s, want h='3'", a)
	}
	// Enabling twice is refused without ending the stream.
	r.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	f := r.ExpectStanza("<failed/>", 5*time.Second, func(n xmpptest.Node) bool { return n.XMLName.Local == "failed" })
	if f.Child(xmpptest.NSStanzas, "unexpected-request") == nil {
		t.Errorf("second enable: %s, want unexpected-request", f)
	}
	rawPing(t, r)
}

func TestSMAckTooHigh(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	r, _ := smLogin(t, srv, "alice", "phone")
	r.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	r.ExpectStanza("ping result", 5*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "p1" })
	r.Send("<a xmlns='urn:xmpp:sm:3' h='100'/>")
	se := r.ExpectStreamError("undefined-condition")
	hc := se.Child(xmpptest.NSSM, "handled-count-too-high")
	if hc == nil || hc.Attr("h") != "100" || hc.Attr("send-count") != "1" {
		t.Errorf("stream error %s, want <handled-count-too-high h='100' send-count='1'/>", se)
	}
	stillUp(t, srv)
}

// TestSMResume drops the connection of a session with unacknowledged
// messages, sends it more while it is detached, and resumes it: what the
// client did not acknowledge and what arrived meanwhile comes exactly once.
func TestSMResume(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	bob := srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	alice, en := smLogin(t, srv, "alice", "phone")
	for i := 1; i <= 3; i++ {
		bob.SendRaw(t, fmt.Sprintf("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>", i))
	}
	var acked uint32
	for i := 1; i <= 3; i++ {
		alice.ExpectStanza("message", 5*time.Second, xmpptest.IsMessage("m"+strconv.Itoa(i)))
		if i == 2 {
			acked = alice.Handled
		}
	}
	// The client acknowledges the first two; the third is read but not
	// acknowledged when the connection drops.
	alice.Send(fmt.Sprintf("<a xmlns='urn:xmpp:sm:3' h='%d'/>", acked))
	alice.Send("<message to='" + bob.JID.String() + "' type='chat'><body>from alice</body></message>")
	bob.Expect(t, "message from alice", xmpptest.IsMessage("from alice"))
	alice.Kill()
	waitFor(t, "hibernation", func() bool { return srv.C2S.Stats.Hibernated.Load() == 1 })

	for i := 4; i <= 5; i++ {
		bob.SendRaw(t, fmt.Sprintf("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>", i))
	}
	// Bob's ping is answered after his messages were routed.
	if res := bob.IQ(t, "<iq type='get' id='bp' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); res.Attr("type") != "result" {
		t.Fatalf("bob ping: %s", res)
	}

	again, n := smResume(t, srv, "alice", en.Attr("id"), acked)
	if n.XMLName.Local != "resumed" || n.Attr("previd") != en.Attr("id") {
		t.Fatalf("resume: %s", n)
	}
	// Alice sent one message before the drop.
	if n.Attr("h") != "1" {
		t.Errorf("resumed h = %q, want 1", n.Attr("h"))
	}
	got := bodies(t, again, time.Second)
	if fmt.Sprint(got) != "[m3 m4 m5]" {
		t.Errorf("after resumption got %v, want [m3 m4 m5]", got)
	}
	// The resumed session is the same one: its address and its routing.
	bob.SendRaw(t, "<message to='alice@localhost/phone' type='chat'><body>m6</body></message>")
	again.ExpectStanza("m6", 5*time.Second, xmpptest.IsMessage("m6"))
	// Counting goes on across the resumption: acknowledging everything
	// received on both connections is exactly right, not too high.
	again.Send(fmt.Sprintf("<a xmlns='urn:xmpp:sm:3' h='%d'/>", acked+again.Handled))
	rawPing(t, again)
	if hib := srv.C2S.Stats.Hibernated.Load(); hib != 0 {
		t.Errorf("hibernated = %d after resumption", hib)
	}
}

// TestSMResumeWhileAttached resumes a session whose old connection the
// server still thinks is alive (a NAT dropped it silently): the old one is
// closed with a conflict, and the new one gets what was not acknowledged.
func TestSMResumeWhileAttached(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	bob := srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	old, en := smLogin(t, srv, "alice", "phone")
	bob.SendRaw(t, "<message to='alice@localhost/phone' type='chat'><body>unacked</body></message>")
	old.ExpectStanza("message", 5*time.Second, xmpptest.IsMessage("unacked"))

	r, n := smResume(t, srv, "alice", en.Attr("id"), 0)
	if n.XMLName.Local != "resumed" {
		t.Fatalf("resume: %s", n)
	}
	old.ExpectStreamError("conflict")
	if got := bodies(t, r, 500*time.Millisecond); fmt.Sprint(got) != "[unacked]" {
		t.Errorf("after resumption got %v, want [unacked]", got)
	}
	bob.SendRaw(t, "<message to='alice@localhost/phone' type='chat'><body>next</body></message>")
	r.ExpectStanza("next", 5*time.Second, xmpptest.IsMessage("next"))
	if n := srv.C2S.Sessions(); n != 2 {
		t.Errorf("%d sessions, want alice's and bob's", n)
	}
}

func TestSMResumeUnknown(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	r, n := smResume(t, srv, "alice", "no-such-session", 0)
	if n.XMLName.Local != "failed" || n.Child(xmpptest.NSStanzas, "item-not-found") == nil {
		t.Fatalf("resume of an unknown id: %s, want <failed><item-not-found/>", n)
	}
	// Enabling before binding is refused, and the stream goes on.
	r.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	if n := r.Expect(xmpptest.NSSM, "failed"); n.Child(xmpptest.NSStanzas, "unexpected-request") == nil {
		t.Errorf("enable before bind: %s, want <failed><unexpected-request/>", n)
	}
	// The stream goes on to bind a new session.
	r.Bind("phone")
	rawPing(t, r)

	// Another account cannot resume alice's session.
	_, en := smLogin(t, srv, "alice", "tablet")
	if _, n := smResume(t, srv, "bob", en.Attr("id"), 0); n.Child(xmpptest.NSStanzas, "item-not-found") == nil {
		t.Fatalf("bob resumed alice's session: %s", n)
	}
}

// TestSMResumeTimeout lets a detached session's resumption window pass:
// it ends, contacts see it go unavailable, and what it had not delivered
// goes to offline storage.
func TestSMResumeTimeout(t *testing.T) {
	srv := imServer(t, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.ResumeTimeout = config.Duration{Duration: 2 * time.Second}
	}))
	a := imOnline(t, srv, "alice")
	bob := imOnline(t, srv, "bob")
	imBefriend(t, a, bob)
	a.Close()
	bob.Expect(t, "alice's first session going", xmpptest.IsPresenceFrom(a.JID.String(), "unavailable"))

	alice, en := smLogin(t, srv, "alice", "phone")
	if en.Attr("max") != "2" {
		t.Errorf("enabled max = %q, want 2", en.Attr("max"))
	}
	alice.Send("<presence/>")
	bob.Expect(t, "alice available", xmpptest.IsPresenceFrom("alice@localhost/phone", ""))
	bob.SendRaw(t, "<message to='alice@localhost' type='chat'><body>read, not acked</body></message>")
	alice.ExpectStanza("message", 5*time.Second, xmpptest.IsMessage("read, not acked"))
	alice.Kill()
	waitFor(t, "hibernation", func() bool { return srv.C2S.Stats.Hibernated.Load() == 1 })
	bob.SendRaw(t, "<message to='alice@localhost' type='chat'><body>while away</body></message>")

	cut := time.Now()
	bob.Expect(t, "alice unavailable", xmpptest.IsPresenceFrom("alice@localhost/phone", "unavailable"))
	if d := time.Since(cut); d > 5*time.Second {
		t.Errorf("session ended %v after the drop, want about 2s", d)
	}
	if _, n := smResume(t, srv, "alice", en.Attr("id"), 1); n.Child(xmpptest.NSStanzas, "item-not-found") == nil {
		t.Fatalf("resumed after the timeout: %s", n)
	}
	// Both messages wait offline, and come at the next login.
	again := srv.Login(t, "alice", "alice-secret", "laptop")
	again.Send("<presence/>")
	got := bodies(t, again, time.Second)
	want := map[string]bool{"read, not acked": true, "while away": true}
	for _, b := range got {
		delete(want, b)
	}
	if len(want) > 0 {
		t.Errorf("offline delivery got %q; missing %v", got, want)
	}
}

// TestSMCleanClose checks that closing the stream ends a resumable session
// at once: no hibernation, no resumption.
func TestSMCleanClose(t *testing.T) {
	srv := imServer(t)
	a := imOnline(t, srv, "alice")
	bob := imOnline(t, srv, "bob")
	imBefriend(t, a, bob)
	a.Close()
	bob.Expect(t, "alice's first session going", xmpptest.IsPresenceFrom(a.JID.String(), "unavailable"))

	alice, en := smLogin(t, srv, "alice", "phone")
	alice.Send("<presence/>")
	bob.Expect(t, "alice available", xmpptest.IsPresenceFrom("alice@localhost/phone", ""))
	alice.Close()
	bob.Expect(t, "alice unavailable", xmpptest.IsPresenceFrom("alice@localhost/phone", "unavailable"))
	if hib := srv.C2S.Stats.Hibernated.Load(); hib != 0 {
		t.Errorf("hibernated = %d after a clean close", hib)
	}
	if _, n := smResume(t, srv, "alice", en.Attr("id"), 0); n.Child(xmpptest.NSStanzas, "item-not-found") == nil {
		t.Fatalf("resumed a closed session: %s", n)
	}
}

// TestCSI checks client state indication: while inactive, presence
// updates are held and only the latest per contact is delivered on
// becoming active; messages are delivered at once.
func TestCSI(t *testing.T) {
	srv := imServer(t)
	a := imOnline(t, srv, "alice")
	bob := imOnline(t, srv, "bob")
	imBefriend(t, a, bob)
	a.Close()

	alice := srv.Login(t, "alice", "alice-secret", "phone")
	alice.Send("<presence/>")
	alice.ExpectStanza("bob's presence", 5*time.Second, xmpptest.IsPresenceFrom(bob.JID.String(), ""))
	alice.Send("<inactive xmlns='urn:xmpp:csi:0'/>")
	rawPing(t, alice) // the server has seen <inactive/>

	for i := 1; i <= 3; i++ {
		bob.SendRaw(t, fmt.Sprintf("<presence><show>away</show><status>s%d</status></presence>", i))
	}
	bob.SendRaw(t, "<message to='alice@localhost/phone' type='chat'><body>while inactive</body></message>")
	alice.ExpectStanza("message while inactive", 5*time.Second, func(n xmpptest.Node) bool {
		if n.XMLName.Local == "presence" && n.Attr("from") == bob.JID.String() {
			t.Errorf("presence delivered while inactive: %s", n)
		}
		return xmpptest.IsMessage("while inactive")(n)
	})

	alice.Send("<active xmlns='urn:xmpp:csi:0'/>")
	alice.Send("<iq type='get' id='after-active' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	var statuses []string
	alice.ExpectStanza("ping result", 5*time.Second, func(n xmpptest.Node) bool {
		if n.XMLName.Local == "presence" && n.Attr("from") == bob.JID.String() {
			st := ""
			if s := n.Child("", "status"); s != nil {
				st = s.Text
			}
			statuses = append(statuses, st)
		}
		return n.Attr("id") == "after-active"
	})
	if fmt.Sprint(statuses) != "[s3]" {
		t.Errorf("presences from bob after <active/>: %v, want only the latest [s3]", statuses)
	}
}
