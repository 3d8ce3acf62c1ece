package component_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end tests of external components (XEP-0114): a real server with
// components configured, a raw stream as the component (what bridges and
// slixmpp's ComponentXMPP send) and mellium clients as users.

type Node = xmpptest.Node

const (
	domain = "bot.localhost"
	secret = "s3cr3t & <more>"
)

func withComponents(extra ...func(*config.Config)) xmpptest.Option {
	return xmpptest.WithConfig(func(c *config.Config) {
		c.Components.External = []config.ExternalComponent{
			{Domain: domain, Secret: secret},
			{Domain: "other.localhost", Secret: "other"},
		}
		for _, f := range extra {
			f(c)
		}
	})
}

func start(t *testing.T, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, opts...)
	srv.AddUser(t, "alice", "alice-secret")
	return srv
}

func online(t *testing.T, srv *xmpptest.Server) *xmpptest.Client {
	t.Helper()
	c := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	c.SendRaw(t, `<presence/>`)
	c.Expect(t, "own presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

func next(t *testing.T, r *xmpptest.Raw, what string, match func(Node) bool) Node {
	t.Helper()
	return r.ExpectStanza(what, 10*time.Second, match)
}

// TestE2ERouting: after the handshake the component's domain is routed
// like a local one, both ways: messages, iqs to it and from it (to a user
// and to the server itself), presence.
func TestE2ERouting(t *testing.T) {
	t.Parallel()
	srv := start(t, withComponents())
	comp := srv.Component(t, domain, secret)
	a := online(t, srv)

	a.SendRaw(t, `<message type='chat' id='m1' to='echo@`+domain+`/x'><body>hello bot</body></message>`)
	m := next(t, comp, "alice's message", func(n Node) bool { return n.XMLName.Local == "message" })
	if m.XMLName.Space != xmpptest.NSComponent || m.Attr("from") != a.JID.String() || m.Attr("to") != "echo@"+domain+"/x" || m.Attr("id") != "m1" {
		t.Errorf("message as the component got it: %s", m)
	}
	if b := m.Child("", "body"); b == nil || b.Text != "hello bot" {
		t.Errorf("body lost: %s", m)
	}

	comp.Send(`<message type='chat' from='echo@` + domain + `/x' to='` + a.JID.String() + `' id='r1'><body>hello alice</body></message>`)
	n := a.Expect(t, "the component's answer", xmpptest.IsMessage("hello alice"))
	if n.Attr("from") != "echo@"+domain+"/x" || n.Attr("type") != "chat" {
		t.Errorf("message from the component: %s", n)
	}
	// A component may send from any address at its domain, the bare
	// domain included.
	comp.Send(`<presence from='` + domain + `' to='` + a.JID.String() + `'><status>up</status></presence>`)
	a.Expect(t, "the component's presence", xmpptest.IsPresenceFrom(domain, ""))

	// An iq from alice to the component, answered by it.
	done := make(chan Node, 1)
	go func() {
		done <- a.IQ(t, `<iq type='get' id='v1' to='`+domain+`'><query xmlns='jabber:iq:version'/></iq>`)
	}()
	q := next(t, comp, "alice's iq", func(n Node) bool { return n.XMLName.Local == "iq" })
	comp.Send(`<iq type='result' from='` + domain + `' to='` + q.Attr("from") + `' id='` + q.Attr("id") + `'><query xmlns='jabber:iq:version'><name>bot</name></query></iq>`)
	if r := <-done; r.Attr("type") != "result" || r.Attr("from") != domain {
		t.Errorf("iq answered by the component: %s", r)
	}

	// The component asks the server itself (disco#info), as bridges do.
	comp.Send(`<iq type='get' from='` + domain + `' to='localhost' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	d := next(t, comp, "the server's answer", func(n Node) bool { return n.XMLName.Local == "iq" && n.Attr("id") == "d1" })
	if d.Attr("type") != "result" || d.Attr("from") != "localhost" || d.Attr("to") != domain {
		t.Errorf("server's answer to the component: %s", d)
	}
	// And a user's bare JID, which the server answers for.
	comp.Send(`<iq type='get' from='` + domain + `' to='alice@localhost' id='d2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if d := next(t, comp, "the account's answer", func(n Node) bool { return n.Attr("id") == "d2" }); d.Attr("type") != "result" {
		t.Errorf("account's answer to the component: %s", d)
	}

	// A configured component that is not connected is unavailable, not a
	// remote server that cannot be found.
	r := a.IQ(t, `<iq type='get' id='o1' to='other.localhost'><query xmlns='jabber:iq:version'/></iq>`)
	if typ, cond := r.Error(); typ != "cancel" || cond != "service-unavailable" || r.Attr("from") != "other.localhost" {
		t.Errorf("iq to a component that is not connected: %s", r)
	}
	comp.Close()
	a.SendRaw(t, `<message type='chat' id='m2' to='`+domain+`'><body>anyone?</body></message>`)
	e := a.Expect(t, "error for the disconnected component", func(n Node) bool { return n.Attr("id") == "m2" })
	if typ, cond := e.Error(); typ != "cancel" || cond != "service-unavailable" {
		t.Errorf("message to a disconnected component: %s", e)
	}

	// It may connect again.
	comp = srv.Component(t, domain, secret)
	a.SendRaw(t, `<message type='chat' id='m3' to='`+domain+`'><body>back?</body></message>`)
	next(t, comp, "message after reconnecting", func(n Node) bool { return n.Attr("id") == "m3" })
}

// TestE2EHandshake: the stream errors of XEP-0114 section 3 and RFC 6120
// for what a component gets wrong before and at the handshake.
func TestE2EHandshake(t *testing.T) {
	t.Parallel()
	srv := start(t, withComponents())

	t.Run("wrong secret", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		id := r.OpenComponent(domain)
		r.Send("<handshake>" + xmpptest.ComponentHandshake(id, "guess") + "</handshake>")
		r.ExpectStreamError("not-authorized")
	})
	t.Run("handshake of another stream", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		r.OpenComponent(domain)
		r.Send("<handshake>" + xmpptest.ComponentHandshake("another-id", secret) + "</handshake>")
		r.ExpectStreamError("not-authorized")
	})
	t.Run("stanza before the handshake", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		r.OpenComponent(domain)
		r.Send(`<message from='` + domain + `' to='alice@localhost'><body>sneaky</body></message>`)
		r.ExpectStreamError("not-authorized")
	})
	t.Run("unknown domain", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		r.OpenComponent("nobody.localhost")
		r.ExpectStreamError("host-unknown")
	})
	t.Run("the server's own domain", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		r.OpenComponent("localhost")
		r.ExpectStreamError("host-unknown")
	})
	t.Run("client namespace", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		r.Send(xmpptest.StreamHeader(domain))
		r.ExpectStreamError("invalid-namespace")
	})
	t.Run("not XML", func(t *testing.T) {
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		r.Send("GET / HTTP/1.1\r\n\r\n")
		r.ExpectStreamError("not-well-formed")
	})
	t.Run("second connection", func(t *testing.T) {
		first := srv.Component(t, "other.localhost", "other")
		r := srv.DialComponent(t, xmpptest.RawOptions{})
		id := r.OpenComponent("other.localhost")
		r.Send("<handshake>" + xmpptest.ComponentHandshake(id, "other") + "</handshake>")
		r.ExpectStreamError("conflict")
		// The first one is unharmed.
		a := online(t, srv)
		a.SendRaw(t, `<message type='chat' id='c1' to='other.localhost'><body>still you?</body></message>`)
		next(t, first, "message to the first connection", func(n Node) bool { return n.Attr("id") == "c1" })
	})
	if n := srv.Components.Stats.HandshakeFail.Load(); n != 4 {
		t.Errorf("handshake failures counted: %d, want 4 (two wrong secrets, one stanza before, one conflict)", n)
	}
}

// TestE2EStreamErrors: once connected, a component must address its
// stanzas from its domain and to someone, and keep to the limits.
func TestE2EStreamErrors(t *testing.T) {
	t.Parallel()
	srv := start(t, withComponents(func(c *config.Config) { c.Limits.MaxStanzaBytes = 10000 }))
	a := online(t, srv)
	for _, tc := range []struct{ name, send, cond string }{
		{"from another domain", `<message from='alice@localhost' to='alice@localhost'><body>I am alice</body></message>`, "invalid-from"},
		{"from a subdomain's sibling", `<message from='x.other.localhost' to='alice@localhost'><body>hi</body></message>`, "invalid-from"},
		{"without from", `<message to='alice@localhost'><body>hi</body></message>`, "improper-addressing"},
		{"without to", `<message from='` + domain + `'><body>hi</body></message>`, "improper-addressing"},
		{"not a stanza", `<foo xmlns='urn:example'/>`, "unsupported-stanza-type"},
		{"too big", `<message from='` + domain + `' to='alice@localhost'><body>` + strings.Repeat("x", 20000) + `</body></message>`, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Component(t, domain, secret)
			c.Send(tc.send)
			c.ExpectStreamError(tc.cond)
		})
	}
	// Nothing of it reached alice; a JID that does not parse is a stanza
	// error, not a stream error.
	c := srv.Component(t, domain, secret)
	c.Send(`<message from='` + domain + `' to='@@' id='bad'><body>x</body></message>`)
	e := next(t, c, "jid-malformed", func(n Node) bool { return n.Attr("id") == "bad" })
	if e.Attr("type") != "error" || !xmpptest.IsStanzaError("message", "jid-malformed")(e) {
		t.Errorf("bad to: %s", e)
	}
	c.Send(`<message from='` + domain + `' to='` + a.JID.String() + `'><body>last</body></message>`)
	n := a.Expect(t, "the last message", func(n Node) bool { return n.XMLName.Local == "message" })
	if !xmpptest.IsMessage("last")(n) {
		t.Errorf("alice got %s before the last message", n)
	}
}

// TestE2ENotReading: a component that stops reading is cut off once
// components.send_queue stanzas wait for it, and what it did not get is
// bounced to the senders.
func TestE2ENotReading(t *testing.T) {
	t.Parallel()
	srv := start(t, withComponents(func(c *config.Config) { c.Components.SendQueue = 16 }))
	r := srv.DialComponent(t, xmpptest.RawOptions{ReadBuffer: 4096})
	id := r.OpenComponent(domain)
	r.Send("<handshake>" + xmpptest.ComponentHandshake(id, secret) + "</handshake>")
	r.Expect(xmpptest.NSComponent, "handshake")
	a := online(t, srv)
	body := strings.Repeat("y", 8000)
	// Send until the server has cut the component off and bounced
	// something to alice; the socket buffers in between hold an unknown
	// amount.
	for i := 0; ; i++ {
		if i == 5000 {
			t.Fatal("5000 messages and the component, which reads nothing, was never cut off")
		}
		a.SendRaw(t, fmt.Sprintf(`<message type='chat' id='f%d' to='%s'><body>%s</body></message>`, i, domain, body))
		if srv.Components.Stats.Overflows.Load() > 0 {
			break
		}
		if i%100 == 99 {
			// Let the writer catch up so that a slow run is not taken
			// for an overflow by the test's own queue.
			a.IQ(t, `<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		}
	}
	e := a.Expect(t, "a bounce", xmpptest.IsStanzaError("message", "service-unavailable"))
	if !strings.HasPrefix(e.Attr("id"), "f") || e.Attr("from") != domain {
		t.Errorf("bounce: %s", e)
	}
	r.ExpectStreamError("policy-violation")
}

// TestE2EShutdown: a stopping server ends component streams with
// system-shutdown.
func TestE2EShutdown(t *testing.T) {
	t.Parallel()
	srv := start(t, withComponents())
	c := srv.Component(t, domain, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	c.ExpectStreamError("system-shutdown")
	if _, err := c.Next(time.Second); err == nil || errors.Is(err, xmpptest.ErrTimeout) {
		t.Errorf("read after the close: %v", err)
	}
}
