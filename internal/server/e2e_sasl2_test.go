package server_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end tests of fast login: SASL2 (XEP-0388) with Bind 2
// (XEP-0386), inline stream management (XEP-0198) and FAST tokens
// (XEP-0484), driven with the raw client the way Conversations and Monal
// log in, and SASL beside it.

const uaPhone = `<user-agent xmlns='urn:xmpp:sasl:2' id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>Phone</software><device>Test</device></user-agent>`

// sasl2Open dials, upgrades to TLS and returns the client with the
// pre-authentication features.
func sasl2Open(t *testing.T, srv *xmpptest.Server) (*xmpptest.Raw, xmpptest.Node) {
	t.Helper()
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	return r, r.StartTLS()
}

func featureVars(n *xmpptest.Node) []string {
	var out []string
	if n == nil {
		return nil
	}
	for _, f := range n.Nodes {
		out = append(out, f.XMLName.Local+"="+f.Attr("var")+strings.TrimSpace(f.Text))
	}
	return out
}

func TestE2ESASL2Features(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	_, f := sasl2Open(t, srv)
	a := f.Child(xmpptest.NSSASL2, "authentication")
	if a == nil {
		t.Fatalf("no SASL2 feature: %s", f)
	}
	var mechs []string
	for _, m := range a.Children(xmpptest.NSSASL2, "mechanism") {
		mechs = append(mechs, m.Text)
	}
	if !strings.Contains(strings.Join(mechs, " "), "SCRAM-SHA-256") {
		t.Errorf("mechanisms %v", mechs)
	}
	in := a.Child(xmpptest.NSSASL2, "inline")
	if in == nil {
		t.Fatalf("no inline features: %s", a)
	}
	b := in.Child(xmpptest.NSBind2, "bind")
	if got := strings.Join(featureVars(b.Child(xmpptest.NSBind2, "inline")), " "); got != "feature=urn:xmpp:carbons:2 feature=urn:xmpp:csi:0 feature=urn:xmpp:sm:3" {
		t.Errorf("bind 2 inline features: %s", got)
	}
	if in.Child(xmpptest.NSSM, "sm") == nil {
		t.Errorf("no inline sm: %s", in)
	}
	fast := in.Child(xmpptest.NSFAST, "fast")
	if got := strings.Join(featureVars(fast), " "); !strings.Contains(got, "HT-SHA-256-NONE") || !strings.Contains(got, "HT-SHA-256-EXPR") {
		t.Errorf("FAST mechanisms: %s", got)
	}
	// SASL stays.
	if f.Child(xmpptest.NSSASL, "mechanisms") == nil {
		t.Errorf("SASL mechanisms gone: %s", f)
	}
}

// The whole phone story: password login with Bind 2 (carbons, SM with
// resumption) and a FAST token; a dropped connection; a FAST login that
// resumes the session inline and gets what was sent meanwhile; a token
// that is rotated, invalidated, and one a password change kills.
func TestE2ESASL2BindResumeFAST(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	r, _ := sasl2Open(t, srv)
	succ := r.SASL2SCRAM("alice", pw("alice"), uaPhone+
		`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`+
		`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`)
	if succ.XMLName.Local != "success" {
		t.Fatalf("SASL2: %s", succ)
	}
	full := succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text
	if !strings.HasPrefix(full, "alice@localhost/Phone/") {
		t.Fatalf("authorization-identifier %q is not alice's full JID with the tag", full)
	}
	bound := succ.Child(xmpptest.NSBind2, "bound")
	if bound == nil {
		t.Fatalf("no <bound/>: %s", succ)
	}
	en := bound.Child(xmpptest.NSSM, "enabled")
	if en == nil || en.Attr("resume") != "true" || en.Attr("id") == "" {
		t.Fatalf("no resumable <enabled/> in <bound/>: %s", succ)
	}
	if bound.Child("urn:xmpp:mam:2", "metadata") == nil {
		t.Errorf("no archive metadata in <bound/>: %s", succ)
	}
	tok := succ.Child(xmpptest.NSFAST, "token")
	if tok == nil || tok.Attr("token") == "" || tok.Attr("expiry") == "" {
		t.Fatalf("no FAST token: %s", succ)
	}
	token := tok.Attr("token")
	f := r.Expect(xmpptest.NSStream, "features")
	if f.Child(xmpptest.NSBind, "bind") != nil {
		t.Errorf("bind offered on a bound stream: %s", f)
	}
	r.Handled = 0

	// The session is live: an iq works, and carbons are on (a sent
	// carbon of another session's chat arrives).
	r.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if n := r.ExpectStanza("ping result", 5e9, func(n xmpptest.Node) bool { return n.Attr("id") == "p1" }); n.Attr("type") != "result" {
		t.Fatalf("ping: %s", n)
	}
	laptop := loginAs(t, srv, "alice")
	laptop.SendRaw(t, `<message to='bob@localhost' type='chat' id='c1'><body>from the laptop</body></message>`)
	r.ExpectStanza("sent carbon", 5e9, func(n xmpptest.Node) bool { return n.Find("sent/forwarded/message/body") != nil })

	// The connection drops; bob writes meanwhile.
	h := r.Handled
	r.Conn().Close()
	bob := loginAs(t, srv, "bob")
	bob.SendRaw(t, `<message to='`+full+`' type='chat' id='m1'><body>while you were away</body></message>`)

	// FAST with inline resumption: one round trip.
	r2, _ := sasl2Open(t, srv)
	succ = r2.SASL2FAST("alice", token, "HT-SHA-256-NONE", uaPhone+
		`<resume xmlns='urn:xmpp:sm:3' previd='`+en.Attr("id")+`' h='`+itoa(h)+`'/>`+
		`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag></bind><fast xmlns='urn:xmpp:fast:0'/>`)
	if succ.XMLName.Local != "success" {
		t.Fatalf("FAST: %s", succ)
	}
	ad, _ := base64.StdEncoding.DecodeString(succ.Child(xmpptest.NSSASL2, "additional-data").Text)
	if !bytes.Equal(ad, xmpptest.HTResponder(token, nil)) {
		t.Errorf("additional data is not HMAC(token, Responder)")
	}
	if got := succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text; got != full {
		t.Errorf("resumed as %q, want %q", got, full)
	}
	if succ.Child(xmpptest.NSSM, "resumed") == nil || succ.Child(xmpptest.NSBind2, "bound") != nil {
		t.Fatalf("want <resumed/> and no <bound/>: %s", succ)
	}
	if succ.Child(xmpptest.NSFAST, "token") != nil {
		t.Errorf("a fresh token was rotated: %s", succ)
	}
	r2.Expect(xmpptest.NSStream, "features")
	r2.ExpectStanza("the message sent while away", 5e9, func(n xmpptest.Node) bool {
		return n.Find("body") != nil && n.Find("body").Text == "while you were away"
	})

	// A wrong token fails with credentials-expired, and SASL still works.
	r3, _ := sasl2Open(t, srv)
	fail := r3.SASL2FAST("alice", "not-the-token", "HT-SHA-256-NONE", uaPhone)
	if fail.XMLName.Local != "failure" || fail.Child(xmpptest.NSSASL, "credentials-expired") == nil {
		t.Fatalf("wrong token: %s", fail)
	}
	// The token is bound to its mechanism and its client.
	if n := r3.SASL2FAST("alice", token, "HT-SHA-256-EXPR", uaPhone); n.XMLName.Local != "failure" {
		t.Fatalf("token used with another mechanism: %s", n)
	}
	r4, _ := sasl2Open(t, srv)
	if n := r4.SASL2FAST("alice", token, "HT-SHA-256-NONE", `<user-agent xmlns='urn:xmpp:sasl:2' id='another-device'/>`); n.XMLName.Local != "failure" {
		t.Fatalf("token used by another client: %s", n)
	}
	if n := r4.AuthSCRAM("alice", pw("alice")); n.XMLName.Local != "success" {
		t.Fatalf("SASL after SASL2 failures: %s", n)
	}

	// Invalidation: the token works once more, then never.
	r5, _ := sasl2Open(t, srv)
	if n := r5.SASL2FAST("alice", token, "HT-SHA-256-NONE", uaPhone+`<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>`); n.XMLName.Local != "success" {
		t.Fatalf("invalidating login: %s", n)
	}
	r6, _ := sasl2Open(t, srv)
	if n := r6.SASL2FAST("alice", token, "HT-SHA-256-NONE", uaPhone); n.XMLName.Local != "failure" {
		t.Fatalf("invalidated token accepted: %s", n)
	}

	// A channel-bound token; a password change kills it.
	succ = r6.SASL2SCRAM("alice", pw("alice"), uaPhone+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/>`)
	if succ.XMLName.Local != "success" || succ.Child(xmpptest.NSBind2, "bound") != nil {
		t.Fatalf("SASL2 without bind: %s", succ)
	}
	if got := succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text; got != "alice@localhost" {
		t.Errorf("authorization-identifier without bind %q, want the bare JID", got)
	}
	expr := succ.Child(xmpptest.NSFAST, "token").Attr("token")
	// Without Bind 2 the stream goes on as after SASL: bind offered, no
	// restart.
	if f := r6.Expect(xmpptest.NSStream, "features"); f.Child(xmpptest.NSBind, "bind") == nil {
		t.Fatalf("no bind feature after SASL2 without Bind 2: %s", f)
	}
	r6.Bind("legacy")
	r7, _ := sasl2Open(t, srv)
	succ = r7.SASL2FAST("alice", expr, "HT-SHA-256-EXPR", uaPhone)
	if succ.XMLName.Local != "success" {
		t.Fatalf("HT-SHA-256-EXPR: %s", succ)
	}
	ad, _ = base64.StdEncoding.DecodeString(succ.Child(xmpptest.NSSASL2, "additional-data").Text)
	if !bytes.Equal(ad, xmpptest.HTResponder(expr, r7.ChannelBinding())) {
		t.Errorf("EXPR additional data is not HMAC(token, Responder || tls-exporter)")
	}
	c := loginAs(t, srv, "alice")
	if n := c.IQ(t, `<iq type='set' id='pw' to='localhost'><query xmlns='jabber:iq:register'><username>alice</username><password>a-new-secret</password></query></iq>`); n.Attr("type") != "result" {
		t.Fatalf("password change: %s", n)
	}
	r8, _ := sasl2Open(t, srv)
	if n := r8.SASL2FAST("alice", expr, "HT-SHA-256-EXPR", uaPhone); n.XMLName.Local != "failure" {
		t.Fatalf("token valid after a password change: %s", n)
	}
}

// A resource is stable for one client and tag; another client gets
// another; a new bind of the same client replaces the old session.
func TestE2EBind2StableResource(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	login := func(ua string) (*xmpptest.Raw, string) {
		r, _ := sasl2Open(t, srv)
		n := r.SASL2SCRAM("alice", pw("alice"), ua+`<bind xmlns='urn:xmpp:bind:0'><tag>Dino</tag><inactive xmlns='urn:xmpp:csi:0'/></bind>`)
		if n.XMLName.Local != "success" {
			t.Fatalf("SASL2: %s", n)
		}
		r.Expect(xmpptest.NSStream, "features")
		return r, n.Child(xmpptest.NSSASL2, "authorization-identifier").Text
	}
	r1, a := login(uaPhone)
	_, b := login(uaPhone)
	if a != b || !strings.HasPrefix(a, "alice@localhost/Dino/") {
		t.Fatalf("same client got %q and %q", a, b)
	}
	if strings.Contains(a, "d4565fa7") {
		t.Errorf("resource %q shows the user-agent id", a)
	}
	n, err := r1.Next(5e9)
	if err != nil || n.XMLName.Local != "error" || n.Child(xmpptest.NSStreams, "conflict") == nil {
		t.Errorf("replaced session: %v %s", err, n)
	}
	_, c := login(`<user-agent xmlns='urn:xmpp:sasl:2' id='other'/>`)
	if c == a {
		t.Errorf("another client got the same resource %q", c)
	}
}

// With [c2s] sasl2 = false only SASL is offered.
func TestE2ESASL2Off(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) { c.C2S.SASL2 = false }))
	r, f := sasl2Open(t, srv)
	if f.Child(xmpptest.NSSASL2, "authentication") != nil {
		t.Fatalf("SASL2 offered: %s", f)
	}
	r.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'/>")
	if n, err := r.Next(5e9); err != nil || n.XMLName.Local != "error" {
		t.Fatalf("SASL2 when off: %v %s", err, n)
	}
}

func itoa(n uint32) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// passwordToken logs alice in with her password over SASL2 on a new
// connection, asking for a token for mech, and returns it.
func passwordToken(t *testing.T, srv *xmpptest.Server, mech string) string {
	t.Helper()
	r, _ := sasl2Open(t, srv)
	succ := r.SASL2SCRAM("alice", pw("alice"), uaPhone+`<request-token xmlns='urn:xmpp:fast:0' mechanism='`+mech+`'/>`)
	tok := succ.Child(xmpptest.NSFAST, "token")
	if succ.XMLName.Local != "success" || tok == nil || tok.Attr("token") == "" {
		t.Fatalf("no %s token: %s", mech, succ)
	}
	return tok.Attr("token")
}

// XEP-0484's count: a login with a count not above the last one seen for
// the token is a replay and fails; a count that is not a positive
// integer is malformed; no count is no check.
func TestE2EFASTCount(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	token := passwordToken(t, srv, "HT-SHA-256-NONE")
	login := func(count string) xmpptest.Node {
		r, _ := sasl2Open(t, srv)
		fast := `<fast xmlns='urn:xmpp:fast:0'/>`
		if count != "" {
			fast = `<fast xmlns='urn:xmpp:fast:0' count='` + count + `'/>`
		}
		return r.SASL2FAST("alice", token, "HT-SHA-256-NONE", uaPhone+fast)
	}
	for _, step := range []struct{ count, want, cond string }{
		{"1", "success", ""},
		{"1", "failure", "not-authorized"},
		{"3", "success", ""},
		{"2", "failure", "not-authorized"},
		{"", "success", ""},
		{"0", "failure", "malformed-request"},
		{"-4", "failure", "malformed-request"},
		{"x", "failure", "malformed-request"},
		{"4", "success", ""},
	} {
		n := login(step.count)
		if n.XMLName.Local != step.want || (step.cond != "" && n.Child(xmpptest.NSSASL, step.cond) == nil) {
			t.Fatalf("count %q: want %s %s, got %s", step.count, step.want, step.cond, n)
		}
		if step.want == "failure" && n.Child(xmpptest.NSSASL2, "text") == nil {
			t.Errorf("count %q: failure without a text: %s", step.count, n)
		}
	}
}

// On TLS 1.2 a token can be bound to tls-unique (HT-SHA-256-UNIQ), as
// Conversations does there.
func TestE2EFASTTLSUnique(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	open12 := func() *xmpptest.Raw {
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		cfg := srv.TLSConfig()
		cfg.MaxVersion = tls.VersionTLS12
		if _, err := r.StartTLSConfig(cfg); err != nil {
			t.Fatalf("TLS 1.2: %v", err)
		}
		return r
	}
	r := open12()
	succ := r.SASL2SCRAM("alice", pw("alice"), uaPhone+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-UNIQ'/>`)
	tok := succ.Child(xmpptest.NSFAST, "token")
	if succ.XMLName.Local != "success" || tok == nil {
		t.Fatalf("no HT-SHA-256-UNIQ token on TLS 1.2: %s", succ)
	}
	r2 := open12()
	succ = r2.SASL2FAST("alice", tok.Attr("token"), "HT-SHA-256-UNIQ", uaPhone+`<fast xmlns='urn:xmpp:fast:0'/>`)
	if succ.XMLName.Local != "success" {
		t.Fatalf("HT-SHA-256-UNIQ: %s", succ)
	}
	ad, _ := base64.StdEncoding.DecodeString(succ.Child(xmpptest.NSSASL2, "additional-data").Text)
	if !bytes.Equal(ad, xmpptest.HTResponder(tok.Attr("token"), r2.TLSUnique())) {
		t.Errorf("UNIQ additional data is not HMAC(token, Responder || tls-unique)")
	}
	// tls-unique is undefined on TLS 1.3: not offered there.
	_, f := sasl2Open(t, srv)
	if got := strings.Join(featureVars(f.Find("authentication/inline/fast")), " "); strings.Contains(got, "UNIQ") {
		t.Errorf("HT-SHA-256-UNIQ offered on TLS 1.3: %s", got)
	}
}

// A resumption that fails (the session is unknown) puts <failed/> in
// <success/>, and the Bind 2 request of the same <authenticate/> binds a
// new session, with carbons on as asked.
func TestE2ESASL2ResumeFailsThenBinds(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	r, _ := sasl2Open(t, srv)
	succ := r.SASL2SCRAM("alice", pw("alice"), uaPhone+
		`<resume xmlns='urn:xmpp:sm:3' previd='no-such-session' h='0'/>`+
		`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`)
	if succ.XMLName.Local != "success" {
		t.Fatalf("SASL2: %s", succ)
	}
	failed := succ.Child(xmpptest.NSSM, "failed")
	if failed == nil || failed.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "item-not-found") == nil {
		t.Fatalf("no <failed/> with item-not-found: %s", succ)
	}
	if succ.Child(xmpptest.NSSM, "resumed") != nil {
		t.Fatalf("resumed an unknown session: %s", succ)
	}
	bound := succ.Child(xmpptest.NSBind2, "bound")
	if bound == nil || bound.Child(xmpptest.NSSM, "enabled") == nil || bound.Child("urn:xmpp:carbons:2", "enabled") == nil {
		t.Fatalf("want <bound/> with SM and carbons enabled: %s", succ)
	}
	full := succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text
	if !strings.HasPrefix(full, "alice@localhost/Phone/") {
		t.Fatalf("authorization-identifier %q", full)
	}
	r.Expect(xmpptest.NSStream, "features")
	// Carbons work: bob's chat to alice's bare JID and her laptop's
	// chat both reach the phone.
	laptop := loginAs(t, srv, "alice")
	laptop.SendRaw(t, `<message to='bob@localhost' type='chat' id='c1'><body>from the laptop</body></message>`)
	r.ExpectStanza("sent carbon", 5e9, func(n xmpptest.Node) bool {
		b := n.Find("sent/forwarded/message/body")
		return b != nil && b.Text == "from the laptop"
	})
}

// <inactive/> in Bind 2 starts the session in CSI's inactive state:
// presence updates are held until the client says <active/>, messages
// are not.
func TestE2EBind2Inactive(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	laptop, bob := goOnline(t, srv, "alice", ""), goOnline(t, srv, "bob", "")
	befriend(t, laptop, bob)

	r, _ := sasl2Open(t, srv)
	succ := r.SASL2SCRAM("alice", pw("alice"), uaPhone+`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><inactive xmlns='urn:xmpp:csi:0'/></bind>`)
	if succ.XMLName.Local != "success" {
		t.Fatalf("SASL2: %s", succ)
	}
	full := succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text
	r.Expect(xmpptest.NSStream, "features")
	// A round trip after the initial presence: the server has answered
	// its probe (bob's current presence, held) before bob changes his.
	// Otherwise the probe's answer, computed before bob's update, may be
	// delivered after it and replace it among the held presences.
	r.Send(`<presence/><iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	r.ExpectStanza("the ping result", 5e9, func(n xmpptest.Node) bool { return n.Attr("id") == "sync" })
	bob.Expect(t, "the phone's presence", isPresence(full, ""))
	bob.SendRaw(t, `<presence><show>away</show></presence>`)
	bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>after the presence</body></message>`)
	away := func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Find("show") != nil && n.Find("show").Text == "away"
	}
	for {
		n, err := r.Next(5e9)
		if err != nil {
			t.Fatalf("waiting for bob's message: %v", err)
		}
		if away(n) {
			t.Fatal("a presence update reached an inactive session")
		}
		if b := n.Find("body"); b != nil && b.Text == "after the presence" {
			break
		}
	}
	r.Send(`<active xmlns='urn:xmpp:csi:0'/>`)
	r.ExpectStanza("the held presence", 5e9, away)
}

// SASL2's other outcomes: PLAIN in one message (no additional data), a
// wrong password, a mechanism not offered, an abort in the middle of
// SCRAM, each a <failure/> in SASL2's namespace with SASL's condition
// and a text, after which the stream goes on; and an <authenticate/>
// after <success/> ends the stream.
func TestE2ESASL2Outcomes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	r, _ := sasl2Open(t, srv)
	next := func() xmpptest.Node {
		t.Helper()
		n, err := r.Next(5e9)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	wantFailure := func(n xmpptest.Node, cond string) {
		t.Helper()
		if n.XMLName.Space != xmpptest.NSSASL2 || n.XMLName.Local != "failure" || n.Child(xmpptest.NSSASL, cond) == nil || n.Child(xmpptest.NSSASL2, "text") == nil {
			t.Fatalf("want a SASL2 failure with %s and a text: %s", cond, n)
		}
	}
	plain := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	}
	r.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + plain("alice", "wrong") + `</initial-response></authenticate>`)
	wantFailure(next(), "not-authorized")
	r.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X-NONE'><initial-response>` + plain("alice", pw("alice")) + `</initial-response></authenticate>`)
	wantFailure(next(), "invalid-mechanism")
	r.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>` + base64.StdEncoding.EncodeToString([]byte("n,,n=alice,r=abcdefghijklmnop")) + `</initial-response></authenticate>`)
	if n := next(); n.XMLName.Space != xmpptest.NSSASL2 || n.XMLName.Local != "challenge" {
		t.Fatalf("want a SASL2 challenge: %s", n)
	}
	r.Send(`<abort xmlns='urn:xmpp:sasl:2'/>`)
	wantFailure(next(), "aborted")

	r.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + plain("alice", pw("alice")) + `</initial-response></authenticate>`)
	succ := next()
	if succ.XMLName.Local != "success" || succ.Child(xmpptest.NSSASL2, "additional-data") != nil ||
		succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text != "alice@localhost" {
		t.Fatalf("PLAIN over SASL2: %s", succ)
	}
	r.Expect(xmpptest.NSStream, "features")
	r.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + plain("alice", pw("alice")) + `</initial-response></authenticate>`)
	r.ExpectStreamError("policy-violation")
}

// SASL2 over WebSocket (RFC 7395): each element in its own message,
// standing alone (the features with their stream: prefix declared), and
// no <open/> again after <success/>; Bind 2 and inline SM as over TCP.
func TestE2ESASL2WebSocket(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	for _, bind := range []bool{true, false} {
		w := srv.DialWebSocket(t, xmpptest.WSOptions{})
		f := w.Open()
		if f.Child(xmpptest.NSSASL2, "authentication") == nil {
			t.Fatalf("no SASL2 over WebSocket: %s", f)
		}
		inline := ""
		if bind {
			inline = `<bind xmlns='urn:xmpp:bind:0'><tag>Web</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`
		}
		w.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` +
			base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+pw("alice"))) + `</initial-response>` + uaPhone + inline + `</authenticate>`)
		succ := w.Expect(xmpptest.NSSASL2, "success")
		full := succ.Child(xmpptest.NSSASL2, "authorization-identifier").Text
		// Expect checks the namespace: an undeclared stream: prefix
		// would not be the streams namespace.
		f = w.Expect(xmpptest.NSStream, "features")
		if bind {
			if !strings.HasPrefix(full, "alice@localhost/Web/") || succ.Find("bound/enabled") == nil {
				t.Fatalf("Bind 2 over WebSocket: %s", succ)
			}
		} else {
			if full != "alice@localhost" || f.Child(xmpptest.NSBind, "bind") == nil {
				t.Fatalf("SASL2 without Bind 2 over WebSocket: %s %s", succ, f)
			}
			w.Bind("web")
		}
		w.Send(`<iq type='get' id='p1' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`)
		w.ExpectStanza("ping result", 5e9, func(n xmpptest.Node) bool { return n.Attr("id") == "p1" && n.Attr("type") == "result" })
	}
}

// A client that knows the server sends <authenticate/> right behind its
// stream header, before the features come (Conversations' quick start):
// with a FAST token and Bind 2 that is one round trip.
func TestE2EFASTPipelined(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	token := passwordToken(t, srv, "HT-SHA-256-NONE")
	r := srv.DialRaw(t, xmpptest.RawOptions{DirectTLS: true})
	r.Send(xmpptest.StreamHeader("localhost") +
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>` +
		base64.StdEncoding.EncodeToString(xmpptest.HTProof("alice", token, nil)) + `</initial-response>` + uaPhone +
		`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind><fast xmlns='urn:xmpp:fast:0'/></authenticate>`)
	r.Expect(xmpptest.NSStream, "features")
	succ := r.Expect(xmpptest.NSSASL2, "success")
	if succ.Find("bound/enabled") == nil {
		t.Fatalf("pipelined FAST login: %s", succ)
	}
	r.Expect(xmpptest.NSStream, "features")
}

// XEP-0386: binding with Bind 2 clears the offline messages the archive
// holds, without sending them; the client finds them in the archive
// after the <metadata/> <bound/> gave it.
func TestE2EBind2ClearsOffline(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	bob := loginAs(t, srv, "bob")
	for _, body := range []string{"first", "second"} {
		bob.SendRaw(t, `<message to='alice@localhost' type='chat'><body>`+body+`</body></message>`)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		n, err := srv.Store().CountOffline(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d offline messages, want 2", n)
		}
	}
	r, _ := sasl2Open(t, srv)
	succ := r.SASL2SCRAM("alice", pw("alice"), uaPhone+`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag></bind>`)
	if succ.XMLName.Local != "success" || succ.Find("bound/metadata/end") == nil {
		t.Fatalf("Bind 2 with an archive: %s", succ)
	}
	r.Expect(xmpptest.NSStream, "features")
	if n, err := srv.Store().CountOffline(t.Context(), "alice"); err != nil || n != 0 {
		t.Fatalf("%d offline messages left after Bind 2 (%v)", n, err)
	}
	// Initial presence brings none of them; the archive has both.
	r.Send(`<presence/><iq type='set' id='mam'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>`)
	got := map[string]bool{}
	for {
		n, err := r.Next(5e9)
		if err != nil {
			t.Fatal(err)
		}
		if n.XMLName.Local == "message" && n.Child("", "body") != nil {
			t.Fatalf("an offline message was sent after Bind 2: %s", n)
		}
		if b := n.Find("result/forwarded/message/body"); b != nil {
			got[b.Text] = true
		}
		if n.Attr("id") == "mam" {
			break
		}
	}
	if !got["first"] || !got["second"] {
		t.Errorf("the archive has %v, want both messages", got)
	}
}
