package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/jid"
	"minimix/internal/xmpptest"
)

// End-to-end tests of stream handling: bad input must get the stream or
// stanza error that RFC 6120 names, and the server must stay up for the
// next client.

// stillUp fails the test unless a new client can log in and get an answer
// to a ping, proving that bad input hurt only its own stream.
func stillUp(t *testing.T, srv *xmpptest.Server) {
	t.Helper()
	r := srv.Login(t, "alice", "alice-secret", "")
	rawPing(t, r)
	r.Close()
}

// rawPing sends an XEP-0199 ping to the server and waits for the result.
func rawPing(t *testing.T, r *xmpptest.Raw) {
	t.Helper()
	r.Send("<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	r.ExpectStanza("ping result", 5*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "iq" && n.Attr("id") == "ping1" && n.Attr("type") == "result"
	})
}

// rawHeader builds a client stream header; attrs replace the defaults.
func rawHeader(attrs string) string {
	return "<?xml version='1.0'?><stream:stream " + attrs + ">"
}

const goodAttrs = "to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'"

func TestStreamBadInput(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.Limits.MaxStanzaBytes = 10000
		c.Limits.MaxDepth = 16
		c.Limits.MaxHeaderBytes = 1024
	}))
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")

	big := "<message to='bob@localhost'><body>" + strings.Repeat("x", 20000) + "</body></message>"
	deep := strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20)
	const (
		// What a case sends: a raw stream header and then its input, the
		// input after a good header and features, or the input on a
		// bound session.
		raw = iota
		opened
		bound
	)
	cases := []struct {
		name  string
		stage int
		input string
		cond  string
		// tooBig expects <stanza-too-big xmlns='urn:xmpp:errors'/>.
		tooBig bool
	}{
		{"malformed", opened, "<message><body>hi</message>", "not-well-formed", false},
		{"malformed attribute", opened, "<message to=bob@localhost/>", "not-well-formed", false},
		{"text at stream level", opened, "hello", "not-well-formed", false},
		{"malformed after bind", bound, "<message><body>hi</body></mesage>", "not-well-formed", false},
		{"stanza too big", opened, big, "policy-violation", true},
		{"stanza too big after bind", bound, big, "policy-violation", true},
		{"nested too deep", bound, "<message>" + deep + "</message>", "policy-violation", false},
		{"DTD", raw, "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>" + rawHeader(goodAttrs), "restricted-xml", false},
		{"comment at stream level", opened, "<!-- hello -->", "restricted-xml", false},
		{"comment in a stanza", bound, "<message to='bob@localhost'><!-- hello --><body>x</body></message>", "restricted-xml", false},
		{"processing instruction", opened, "<?foo bar?>", "restricted-xml", false},
		{"processing instruction in a stanza", bound, "<message><?foo bar?></message>", "restricted-xml", false},
		// RFC 6120 11.1 and 4.9.3.18: entity references other than the
		// five predefined ones are restricted XML.
		{"undefined entity", bound, "<message to='bob@localhost'><body>&nbsp;</body></message>", "restricted-xml", false},
		{"undefined entity in attribute", bound, "<message to='&bob;'/>", "restricted-xml", false},
		{"undeclared prefix", bound, "<foo:message/>", "bad-namespace-prefix", false},
		{"header too big", raw, rawHeader(goodAttrs + " id='" + strings.Repeat("x", 2000) + "'"), "policy-violation", false},
		{"not UTF-8", raw, "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream " + goodAttrs + ">", "unsupported-encoding", false},
		{"server namespace on c2s", raw, rawHeader("to='localhost' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'"), "invalid-namespace", false},
		{"no content namespace", raw, rawHeader("to='localhost' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'"), "invalid-namespace", false},
		{"wrong stream namespace", raw, rawHeader("to='localhost' xmlns='jabber:client' xmlns:stream='urn:example:streams' version='1.0'"), "invalid-namespace", false},
		{"unknown host", raw, rawHeader("to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'"), "host-unknown", false},
		{"missing version", raw, rawHeader("to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"), "unsupported-version", false},
		{"version 2.0", raw, rawHeader("to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'"), "unsupported-version", false},
		{"message before auth", opened, "<message to='bob@localhost'><body>hi</body></message>", "not-authorized", false},
		{"iq before auth", opened, "<iq type='get' id='1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "not-authorized", false},
		{"unknown element after bind", bound, "<foo xmlns='urn:example:foo'/>", "unsupported-stanza-type", false},
		{"unknown client element after bind", bound, "<foo/>", "unsupported-stanza-type", false},
		{"forged from", bound, "<message from='bob@localhost/x' to='alice@localhost'><body>hi</body></message>", "invalid-from", false},
		{"other resource in from", bound, "<message from='alice@localhost/other' to='bob@localhost'><body>hi</body></message>", "invalid-from", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r *xmpptest.Raw
			switch tc.stage {
			case raw:
				r = srv.DialRaw(t, xmpptest.RawOptions{})
			case opened:
				r = srv.DialRaw(t, xmpptest.RawOptions{})
				r.Open()
			case bound:
				r = srv.Login(t, "alice", "alice-secret", "bad")
			}
			// The server may close before all of a large input is written.
			_ = r.TrySend(tc.input)
			se := r.ExpectStreamError(tc.cond)
			tooBig := se.Child("urn:xmpp:errors", "stanza-too-big") != nil
			if tooBig != tc.tooBig {
				t.Errorf("stanza-too-big present = %v, want %v: %s", tooBig, tc.tooBig, se)
			}
			stillUp(t, srv)
		})
	}
}

// TestStanzaErrors checks errors that answer one stanza and leave the
// stream open.
func TestStanzaErrors(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	r := srv.Login(t, "alice", "alice-secret", "phone")
	cases := []struct {
		name, input, kind, cond string
		id                      string // the id the error must carry
	}{
		{"iq without id", "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "iq", "bad-request", ""},
		{"iq get without payload", "<iq type='get' id='e1' to='localhost'/>", "iq", "bad-request", "e1"},
		{"unknown iq type", "<iq type='fetch' id='e2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "iq", "bad-request", "e2"},
		{"malformed to", "<message to='@localhost' id='e3' type='chat'><body>x</body></message>", "message", "jid-malformed", "e3"},
		{"malformed to in iq", "<iq type='get' id='e4' to='alice@localhost/'><ping xmlns='urn:xmpp:ping'/></iq>", "iq", "jid-malformed", "e4"},
		{"malformed to in presence", "<presence to='a@b@c' id='e5'/>", "presence", "jid-malformed", "e5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.Send(tc.input)
			n := r.ExpectStanza(tc.cond, 5*time.Second, xmpptest.IsStanzaError(tc.kind, tc.cond))
			if n.Attr("id") != tc.id {
				t.Errorf("error id = %q, want %q: %s", n.Attr("id"), tc.id, n)
			}
			if to := n.Attr("to"); to != r.JID {
				t.Errorf("error to = %q, want %q", to, r.JID)
			}
			// The error comes from the server, not from an address that
			// does not parse.
			if from := n.Attr("from"); from != "" {
				if _, err := jid.Parse(from); err != nil {
					t.Errorf("error from %q is not a JID: %v", from, err)
				}
			}
		})
	}
	// The stream is still usable.
	rawPing(t, r)
}

func TestSASL(t *testing.T) {
	t.Run("auth before STARTTLS", func(t *testing.T) {
		srv := xmpptest.Start(t)
		srv.AddUser(t, "alice", "alice-secret")
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		f := r.Open()
		if f.Find("starttls/required") == nil {
			t.Errorf("STARTTLS not required in %s", f)
		}
		if f.Child(xmpptest.NSSASL, "mechanisms") != nil {
			t.Errorf("SASL offered before TLS: %s", f)
		}
		n := r.AuthPlain("alice", "alice-secret")
		if n.XMLName.Local != "failure" || n.Child(xmpptest.NSSASL, "encryption-required") == nil {
			t.Fatalf("got %s, want <failure><encryption-required/>", n)
		}
		// The stream goes on: TLS and authentication still work.
		r.StartTLS()
		r.Authenticate("alice", "alice-secret")
		r.Bind("")
		stillUp(t, srv)
	})
	t.Run("pipelined after starttls", func(t *testing.T) {
		srv := xmpptest.Start(t)
		srv.AddUser(t, "alice", "alice-secret")
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		// One write, so the server reads both at once: the injected
		// <auth/> must not be taken as if it came through TLS.
		r.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGFsaWNlLXNlY3JldA==</auth>")
		r.ExpectStreamError("policy-violation")
		stillUp(t, srv)
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := xmpptest.Start(t)
		srv.AddUser(t, "alice", "alice-secret")
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		r.StartTLS()
		for i := range 3 {
			var n xmpptest.Node
			if i%2 == 0 {
				n = r.AuthSCRAM("alice", "wrong")
			} else {
				n = r.AuthPlain("alice", "wrong")
			}
			if n.XMLName.Local != "failure" || n.Child(xmpptest.NSSASL, "not-authorized") == nil {
				t.Fatalf("attempt %d: got %s, want <failure><not-authorized/>", i+1, n)
			}
		}
		// RFC 6120 6.4.5: past the retries, a stream error that SHOULD
		// be policy-violation.
		r.ExpectStreamError("policy-violation")
		stillUp(t, srv)
	})
	t.Run("unknown user looks like a wrong password", func(t *testing.T) {
		srv := xmpptest.Start(t)
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		r.StartTLS()
		if n := r.AuthSCRAM("nobody", "x"); n.Child(xmpptest.NSSASL, "not-authorized") == nil {
			t.Fatalf("got %s, want <failure><not-authorized/>", n)
		}
	})
	t.Run("failed logins are rate limited per address", func(t *testing.T) {
		srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) { c.C2S.LoginFailuresPerMinute = 2 }))
		srv.AddUser(t, "alice", "alice-secret")
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		r.StartTLS()
		for i := range 2 {
			if n := r.AuthPlain("alice", "wrong"); n.Child(xmpptest.NSSASL, "not-authorized") == nil {
				t.Fatalf("attempt %d: got %s, want not-authorized", i+1, n)
			}
		}
		if n := r.AuthPlain("alice", "alice-secret"); n.Child(xmpptest.NSSASL, "temporary-auth-failure") == nil {
			t.Fatalf("third attempt: got %s, want temporary-auth-failure", n)
		}
		// Another connection from the same address is limited too, even
		// with the right password...
		r2 := srv.DialRaw(t, xmpptest.RawOptions{})
		r2.Open()
		r2.StartTLS()
		if n := r2.AuthSCRAM("alice", "alice-secret"); n.Child(xmpptest.NSSASL, "temporary-auth-failure") == nil {
			t.Fatalf("new connection: got %s, want temporary-auth-failure", n)
		}
		// ...while another address logs in.
		r3 := srv.DialRaw(t, xmpptest.RawOptions{LocalAddr: "127.0.0.2"})
		r3.Open()
		r3.StartTLS()
		r3.Authenticate("alice", "alice-secret")
		r3.Bind("")
		rawPing(t, r3)
	})
}

// TestPipelining sends each step of negotiation without waiting where RFC
// 6120 allows it: the restarted stream's header right behind the SASL
// response, and the bind request right behind that header.
func TestPipelining(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	r.StartTLS()
	if n := r.AuthPlain("alice", "alice-secret"); n.XMLName.Local != "success" {
		t.Fatalf("auth: %s", n)
	}
	r.Send(xmpptest.StreamHeader("localhost") + "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>" +
		"<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	r.Expect(xmpptest.NSStream, "features")
	if n := r.Expect(xmpptest.NSClient, "iq"); n.Attr("id") != "b1" || n.Attr("type") != "result" {
		t.Fatalf("bind: %s", n)
	}
	if n := r.Expect(xmpptest.NSClient, "iq"); n.Attr("id") != "p1" || n.Attr("type") != "result" {
		t.Fatalf("ping: %s", n)
	}
}

// TestCloseBeforeAuth checks that a client may close its stream at any
// stage and gets the closing tag back.
func TestCloseBeforeAuth(t *testing.T) {
	srv := xmpptest.Start(t)
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	r.Close()
	r = srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	r.StartTLS()
	r.Close()
}

func TestBindConflict(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	first := srv.Login(t, "alice", "alice-secret", "phone")
	first.Send("<presence/>")
	second := srv.Login(t, "alice", "alice-secret", "phone")
	if second.JID != "alice@localhost/phone" {
		t.Errorf("second session bound %q", second.JID)
	}
	first.ExpectStreamError("conflict")
	rawPing(t, second)
	// The new session gets what is sent to the full JID.
	bob := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{Resource: "laptop"})
	bob.SendRaw(t, "<message to='alice@localhost/phone' type='chat'><body>to phone</body></message>")
	second.ExpectStanza("message", 5*time.Second, xmpptest.IsMessage("to phone"))
}

func TestDirectTLS(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	// An independent client library...
	a := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{DirectTLS: true, Resource: "tls"})
	// ...and by hand: no STARTTLS is offered on a TLS stream.
	r := srv.DialRaw(t, xmpptest.RawOptions{DirectTLS: true})
	f := r.Open()
	if f.Child(xmpptest.NSTLS, "starttls") != nil {
		t.Errorf("STARTTLS offered on direct TLS: %s", f)
	}
	r.Authenticate("bob", "bob-secret")
	r.Bind("direct")
	a.SendRaw(t, "<message to='bob@localhost/direct' type='chat'><body>over tls</body></message>")
	r.ExpectStanza("message", 5*time.Second, xmpptest.IsMessage("over tls"))
	r.Close()
}

func TestShutdownSendsSystemShutdown(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	bound := srv.Login(t, "alice", "alice-secret", "phone")
	negotiating := srv.DialRaw(t, xmpptest.RawOptions{})
	negotiating.Open()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	bound.ExpectStreamError("system-shutdown")
	negotiating.ExpectStreamError("system-shutdown")
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", srv.C2SAddr().String(), time.Second); err == nil {
		t.Errorf("still accepting connections after Shutdown")
	}
}

// TestShutdownWithStuckClient checks that a client whose socket is full,
// with the server's writer blocked on it, holds neither the other
// clients' system-shutdown nor Shutdown itself for the write timeout.
func TestShutdownWithStuckClient(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	stuck := srv.DialRaw(t, xmpptest.RawOptions{ReadBuffer: 4096})
	stuck.Open()
	stuck.StartTLS()
	stuck.Authenticate("alice", "alice-secret")
	stuck.Bind("stuck")
	bob := srv.Login(t, "bob", "bob-secret", "")
	// Far more than the socket buffers hold, far less than the queue.
	pad := strings.Repeat("x", 60<<10)
	for i := range 200 {
		bob.Send(fmt.Sprintf("<message to='alice@localhost/stuck' type='chat'><body>%d %s</body></message>", i, pad))
	}
	rawPing(t, bob)
	if n := srv.C2S.Stats.Overflows.Load(); n != 0 {
		t.Fatalf("%d overflows; the test wants a blocked writer, not a cut-off", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	bob.ExpectStreamError("system-shutdown")
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

// TestSlowReader floods a client that stopped reading. The server must cut
// it off rather than queue without bound, and every message must end up
// somewhere the user sees: either the server wrote it to the socket (the
// client reads it once it reads again; without stream management a client
// that never reads again loses those, and only those) or it was put back
// through the router into offline storage, delivered at the next login.
func TestSlowReader(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.SendQueue = 16
		c.C2S.OfflineMax = 10000
	}))
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	slow := srv.DialRaw(t, xmpptest.RawOptions{ReadBuffer: 4096})
	slow.Open()
	slow.StartTLS()
	slow.Authenticate("alice", "alice-secret")
	slow.Bind("slow")
	// From here on the slow client reads nothing.

	bob := srv.Login(t, "bob", "bob-secret", "flood")
	pad := strings.Repeat("x", 16<<10)
	sent := 0
	send := func() {
		sent++
		bob.Send(fmt.Sprintf("<message to='alice@localhost/slow' type='chat'><body>msg-%d %s</body></message>", sent, pad))
	}
	for srv.C2S.Stats.Overflows.Load() == 0 {
		if sent == 2000 {
			t.Fatalf("no overflow after %d messages", sent)
		}
		send()
	}
	// A few more while the server cuts it off, and after.
	for range 5 {
		send()
	}
	waitFor(t, "the slow session to end", func() bool {
		return srv.Registry.Get(jid.MustParse("alice@localhost/slow")) == nil
	})
	for range 5 {
		send()
	}
	rawPing(t, bob) // the router handled everything bob sent
	t.Logf("sent %d messages before and after the cut", sent)

	// What reached the socket: read it all now.
	var wire bytes.Buffer
	_ = slow.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(&wire, slow.Conn())
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server did not close the slow connection")
	}
	got := make(map[int]int)
	bodyRE := regexp.MustCompile(`msg-(\d+) `)
	for _, m := range bodyRE.FindAllSubmatch(wire.Bytes(), -1) {
		n, _ := strconv.Atoi(string(m[1]))
		got[n]++
	}
	onWire := len(got)

	// The rest: in offline storage. (They are read from the store, not
	// with a new login: with a queue this small, flushing this many
	// offline messages at initial presence overflows the new session's
	// queue too, and the server cuts it off.)
	stored, err := srv.Store().OfflineMessages(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	offline := 0
	for _, m := range stored {
		if sm := bodyRE.FindSubmatch(m.Stanza); sm != nil {
			k, _ := strconv.Atoi(string(sm[1]))
			got[k]++
			offline++
		}
	}
	t.Logf("%d messages reached the socket, %d came from offline storage", onWire, offline)
	if offline == 0 {
		t.Errorf("no message went to offline storage")
	}
	var missing []int
	for i := 1; i <= sent; i++ {
		if got[i] == 0 {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d messages lost: %v", len(missing), sent, missing)
	}
}

// TestTLSInputHeldAcrossIdle sends three stanzas of exactly the decoder's
// buffer size (4 KiB) in one TLS record. The server's decoder reads one
// stanza per buffer, so after each it holds nothing while TLS still holds
// the rest of the record: a reader that then waited for the socket would
// wait for input it already has. Every stanza must be handled.
func TestTLSInputHeldAcrossIdle(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	bob := srv.Login(t, "bob", "bob-secret", "b")
	alice := srv.Login(t, "alice", "alice-secret", "a")
	var batch strings.Builder
	for i := range 3 {
		head := fmt.Sprintf("<message to='bob@localhost/b' type='chat'><body>m%d ", i)
		tail := "</body></message>"
		batch.WriteString(head + strings.Repeat("x", 4096-len(head)-len(tail)) + tail)
	}
	if batch.Len() != 3*4096 {
		t.Fatalf("batch is %d bytes", batch.Len())
	}
	alice.Send(batch.String()) // one write, one TLS record
	for i := range 3 {
		bob.ExpectStanza("message", 5*time.Second, func(n xmpptest.Node) bool {
			b := n.Child("", "body")
			return b != nil && strings.HasPrefix(b.Text, fmt.Sprintf("m%d ", i))
		})
	}
}
