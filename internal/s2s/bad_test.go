package s2s

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
	"minimix/internal/xmpptest/testca"
)

// linkUp checks that a's stream to b, set up before some bad input to b,
// still carries stanzas and is the same stream.
func linkUp(t *testing.T, a, b *peer, before time.Time, body string) {
	t.Helper()
	a.send("alice@a.test/phone", "bob@b.test", body)
	eventually(t, "b gets "+body, func() bool { return len(b.r.got(body)) == 1 })
	out := a.list("out")
	if len(out) != 1 || !out[0].Since.Equal(before) {
		t.Errorf("a's stream to b changed: %+v", out)
	}
}

// establish sets up a's stream to b and returns when it started.
func establish(t *testing.T, a, b *peer) time.Time {
	t.Helper()
	a.send("alice@a.test/phone", "bob@b.test", "first")
	eventually(t, "b gets first", func() bool { return len(b.r.got("first")) == 1 })
	return a.list("out")[0].Since
}

// Bad input from a peer gets the right stream or dialback error, and
// neither the server nor its other streams notice.
func TestBadInput(t *testing.T) {
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	certA, _ := ca.TLSCertificate("a.test")
	certB, _ := ca.TLSCertificate("b.test")
	certEvil, _ := ca.TLSCertificate("evil.test")
	short := func(c *Config) { c.NegotiateTimeout = 500 * time.Millisecond }
	a, b := pair(t, certA, certB, ca.Pool(), short)
	since := establish(t, a, b)

	t.Run("host-unknown", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='evil.test' to='nowhere.test'>")
		if _, err := r.dec.ReadHeader(); err != nil {
			t.Fatalf("no header before the error: %v", err)
		}
		r.expectStreamError(xmpperr.HostUnknown)
		linkUp(t, a, b, since, "after host-unknown")
	})
	t.Run("invalid-namespace", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='b.test'>")
		r.dec.ReadHeader()
		r.expectStreamError(xmpperr.InvalidNamespace)
	})
	t.Run("no TLS", func(t *testing.T) {
		// TLS is required: dialback before it gets a dialback error,
		// stanzas a stream error.
		r := dialPeer(t, b.addr)
		_, f := r.header("evil.test", "b.test")
		if !hasChild(f, stream.NSTLS, "starttls") || f.Child(stream.NSTLS, "starttls").Child(stream.NSTLS, "required") == nil {
			t.Errorf("features: %s", f)
		}
		r.send("<db:result from='evil.test' to='b.test'>abc</db:result>")
		res := r.expect(stream.NSDialback, "result")
		if se := xmpperr.FromElement(res); res.Attr("type") != "error" || se == nil || se.Condition != xmpperr.PolicyViolationC {
			t.Errorf("dialback before TLS: %s", res)
		}
		r.send("<message from='x@evil.test' to='bob@b.test'><body>hi</body></message>")
		r.expectStreamError(xmpperr.NotAuthorized)
	})
	t.Run("dialback with a wrong key", func(t *testing.T) {
		// Someone claims to be a.test; b.test asks a.test, which made no
		// such key.
		failed := b.srv.Stats.InDialbackFailed.Load()
		r := dialPeer(t, b.addr)
		r.header("a.test", "b.test")
		r.startTLS("a.test", "b.test", nil)
		r.send("<db:result from='a.test' to='b.test'>" + strings.Repeat("ab", 32) + "</db:result>")
		res := r.expect(stream.NSDialback, "result")
		if res.Attr("type") != "invalid" || res.Attr("from") != "b.test" || res.Attr("to") != "a.test" {
			t.Errorf("answer: %s", res)
		}
		if b.srv.Stats.InDialbackFailed.Load() != failed+1 {
			t.Errorf("dialback failures not counted")
		}
		// Not authenticated: a stanza claiming a.test ends the stream.
		r.send("<message from='alice@a.test' to='bob@b.test'><body>forged</body></message>")
		r.expectStreamError(xmpperr.NotAuthorized)
		if len(b.r.got("forged")) != 0 {
			t.Error("a forged stanza was routed")
		}
		if !logged(b, "dialback key refused by its authoritative server", "remote=a.test") {
			t.Errorf("no log line:\n%s", b.log)
		}
		linkUp(t, a, b, since, "after a wrong key")
	})
	t.Run("dialback for a domain not served", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.header("evil.test", "b.test")
		r.startTLS("evil.test", "b.test", nil)
		r.send("<db:result from='evil.test' to='other.test'>abc</db:result>")
		res := r.expect(stream.NSDialback, "result")
		if se := xmpperr.FromElement(res); res.Attr("type") != "error" || se == nil || se.Condition != xmpperr.ItemNotFound || res.Attr("from") != "other.test" {
			t.Errorf("answer: %s", res)
		}
	})
	t.Run("invalid-from", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.authExternal("evil.test", "b.test", &certEvil)
		r.send("<message from='eve@evil.test' to='bob@b.test' id='ok'><body>legit</body></message>")
		eventually(t, "the legitimate stanza", func() bool { return len(b.r.got("legit")) == 1 })
		r.send("<message from='alice@a.test' to='bob@b.test'><body>spoofed</body></message>")
		r.expectStreamError(xmpperr.InvalidFrom)
		if len(b.r.got("spoofed")) != 0 {
			t.Error("a spoofed stanza was routed")
		}
		linkUp(t, a, b, since, "after invalid-from")
	})
	t.Run("stanza to a domain not served", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.authExternal("evil.test", "b.test", &certEvil)
		r.send("<message from='eve@evil.test' to='carol@c.test'><body>relay me</body></message>")
		r.expectStreamError(xmpperr.HostUnknown)
	})
	t.Run("oversized stanza", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.authExternal("evil.test", "b.test", &certEvil)
		_ = r.trySend("<message from='eve@evil.test' to='bob@b.test'><body>" + strings.Repeat("x", 300000) + "</body></message>")
		se := r.expectStreamError(xmpperr.PolicyViolation)
		if se.App == nil || se.App.Local != "stanza-too-big" {
			t.Errorf("no <stanza-too-big/>: %+v", se)
		}
		linkUp(t, a, b, since, "after an oversized stanza")
	})
	t.Run("oversized before authentication", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.header("evil.test", "b.test")
		r.startTLS("evil.test", "b.test", nil)
		_ = r.trySend("<db:result from='evil.test' to='b.test'>" + strings.Repeat("k", 20000) + "</db:result>")
		r.expectStreamError(xmpperr.PolicyViolation)
	})
	t.Run("TLS never finished", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.header("evil.test", "b.test")
		r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		r.expect(stream.NSTLS, "proceed")
		// No ClientHello: the server gives up after negotiate_timeout.
		r.expectClosed()
		d := dialPeer(t, b.tlsAddr)
		d.expectClosed()
		eventually(t, "a log line for the failed handshake", func() bool {
			return logged(b, `msg="s2s connection failed"`, "direction=in", "TLS handshake", "timeout")
		})
		linkUp(t, a, b, since, "after TLS never finished")
	})
	t.Run("stanza before authentication", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.header("evil.test", "b.test")
		r.startTLS("evil.test", "b.test", nil)
		r.send("<iq from='eve@evil.test' to='b.test' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>")
		r.expectStreamError(xmpperr.NotAuthorized)
	})
	t.Run("not XML", func(t *testing.T) {
		r := dialPeer(t, b.addr)
		r.header("evil.test", "b.test")
		r.send("<a><b></a>")
		r.expectStreamError(xmpperr.NotWellFormed)
	})
	_ = xml.NSStream
}

// fakeReceiver accepts one stream on ln as a receiving server that
// offers STARTTLS, then feats (dialback, and what else a test wants), and
// runs then with the first element after the new stream's features (the
// dialback request, or the bidi request) and the connection.
func fakeReceiver(ln net.Listener, cert tls.Certificate, feats string, then func(first *xml.Element, conn net.Conn, dec *xml.Decoder)) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	var conn net.Conn = nc
	dec := xml.NewDecoder(conn, xml.Limits{})
	header := func() {
		if _, err := dec.ReadHeader(); err != nil {
			return
		}
		_, _ = io.WriteString(conn, "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' id='fake1' from='b.test' version='1.0'>")
	}
	header()
	_, _ = io.WriteString(conn, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
	if el, err := dec.Next(); err != nil || el.Local != "starttls" {
		return
	}
	_, _ = io.WriteString(conn, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}})
	if tc.Handshake() != nil {
		return
	}
	conn = tc
	dec.Reset(tc)
	header()
	_, _ = io.WriteString(conn, "<stream:features>"+feats+"</stream:features>")
	first, err := dec.Next()
	if err != nil {
		return
	}
	then(first, conn, dec)
}

// answerDialback answers the dialback request req with answer (a
// <db:result/> whose FROM and TO are filled in from req).
func answerDialback(conn net.Conn, req *xml.Element, answer string) {
	_, _ = io.WriteString(conn, strings.NewReplacer("FROM", req.Attr("to"), "TO", req.Attr("from")).Replace(answer))
}

const offerDialback = "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>"

// The receiving server's dialback error (XEP-0220 2.4) bounces what
// waited with remote-server-timeout; a refused key with
// remote-server-not-found; no answer, after connect_timeout and
// negotiate_timeout, with remote-server-timeout.
func TestDialbackRefusedBounces(t *testing.T) {
	for _, c := range []struct {
		answer string
		cond   xmpperr.Condition
	}{
		{"<db:result from='FROM' to='TO' type='error'><error type='cancel'><remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>", xmpperr.RemoteServerTimeout},
		{"<db:result from='FROM' to='TO' type='invalid'/>", xmpperr.RemoteServerNotFound},
		{"", xmpperr.RemoteServerTimeout}, // no answer at all
	} {
		a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil, func(c *Config) {
			c.ConnectTimeout, c.NegotiateTimeout = 100*time.Millisecond, 200*time.Millisecond
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		cert := selfSigned(t, "b.test")
		go func() {
			defer close(done)
			fakeReceiver(ln, cert, offerDialback, func(req *xml.Element, conn net.Conn, dec *xml.Decoder) {
				answerDialback(conn, req, c.answer)
				_, _ = dec.Next() // until the initiating server closes
			})
		}()
		a.srv.SetHost("b.test", ln.Addr().String())
		a.send("alice@a.test/phone", "bob@b.test", "refused")
		eventually(t, "the bounce", func() bool { return len(a.r.bounces("refused")) == 1 })
		if got := a.r.bounces("refused")[0].cond; got != c.cond {
			t.Errorf("after %s: bounced with %s, want %s", c.answer, got, c.cond)
		}
		if a.srv.Stats.OutDialbackFail.Load() != 1 {
			t.Errorf("dialback failures: %d", a.srv.Stats.OutDialbackFail.Load())
		}
		ln.Close()
		<-done
	}
}

// A receiving server that offers XEP-0288 is asked for a bidirectional
// stream, and its stanzas for us arrive on our stream, from its own
// domain only.
func TestBidiOnOutgoingStream(t *testing.T) {
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cert := selfSigned(t, "b.test")
	done := make(chan struct{})
	var asked bool
	go func() {
		defer close(done)
		fakeReceiver(ln, cert, offerDialback+"<bidi xmlns='urn:xmpp:features:bidi'/>", func(first *xml.Element, conn net.Conn, dec *xml.Decoder) {
			asked = first.Space == NSBidi && first.Local == "bidi"
			req, err := dec.Next()
			if err != nil {
				return
			}
			answerDialback(conn, req, "<db:result from='FROM' to='TO' type='valid'/>")
			if m, err := dec.Next(); err != nil || m.Local != "message" {
				return
			}
			_, _ = io.WriteString(conn, "<message from='bob@b.test/x' to='alice@a.test' type='chat' id='back'><body>back on your stream</body></message>")
			_, _ = io.WriteString(conn, "<message from='mallory@evil.test' to='alice@a.test' id='spoof'><body>spoofed</body></message>")
			for {
				if _, err := dec.Next(); err != nil {
					return
				}
			}
		})
	}()
	a.srv.SetHost("b.test", ln.Addr().String())
	a.send("alice@a.test/phone", "bob@b.test", "hello")
	eventually(t, "the message on our own stream", func() bool { return len(a.r.got("back on your stream")) == 1 })
	eventually(t, "the stream ended by the spoofed one", func() bool { return logged(a, `msg="s2s connection closed"`, "invalid-from") })
	<-done
	if !asked {
		t.Error("no <bidi/> request")
	}
	if len(a.r.got("spoofed")) != 0 {
		t.Error("a stanza from another domain was taken on the stream")
	}
	if m := a.r.got("back on your stream")[0]; m.Space != xml.NSClient || m.Attr("from") != "bob@b.test/x" {
		t.Errorf("routed %s", m)
	}
}
