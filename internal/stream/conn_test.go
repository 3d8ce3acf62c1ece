package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
	"minimix/internal/xmpptest/testca"
)

// pipe returns a Conn over one end of a loopback TCP connection and the
// other end.
func pipe(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc, xml.NSClient, xml.Limits{}, time.Second, nil)
	t.Cleanup(c.Abort)
	return c, peer
}

// readAll reads what the peer end gets until it is closed.
func readAll(t *testing.T, peer net.Conn) string {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(peer)
	return string(b)
}

// Elements in writeNS go out unqualified, stream and dialback elements
// with their prefixes, an error with the closing tag, and nothing after.
func TestConnWrites(t *testing.T) {
	c, peer := pipe(t)
	if err := c.WriteHeader(Header{ContentNS: xml.NSServer, ID: "i", From: "a.test", Version: "1.0", Dialback: true}); err != nil {
		t.Fatal(err)
	}
	m := xml.New(xml.NSClient, "message", "to", "b@b.test").Append(xml.New(xml.NSClient, "body").AppendText("hi"))
	db := xml.New(NSDialback, "result", "from", "a.test", "to", "b.test").AppendText("key")
	if err := c.Send(m, db, xml.New(xml.NSStream, "features")); err != nil {
		t.Fatal(err)
	}
	c.CloseWithError(xmpperr.Stream(xmpperr.HostUnknown, ""))
	if err := c.Send(m); err == nil {
		t.Error("a write after the close succeeded")
	}
	got := readAll(t, peer)
	for _, want := range []string{
		"xmlns='jabber:server'", "xmlns:db='jabber:server:dialback'",
		`<message to="b@b.test"><body>hi</body></message>`, `<db:result from="a.test" to="b.test">key</db:result>`,
		"<stream:features/>", `<stream:error><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></stream:stream>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	if strings.Count(got, "<message") != 1 {
		t.Errorf("written after the close: %s", got)
	}
}

// STARTTLS as server refuses what the peer pipelined after <starttls/>:
// it would be read as if it came through TLS.
func TestStartTLSRefusesPipelinedData(t *testing.T) {
	c, peer := pipe(t)
	_, _ = io.WriteString(peer, "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>")
	if _, err := c.ReadHeader(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dec.Next(); err != nil {
		t.Fatal(err)
	}
	err := c.StartTLS(context.Background(), &tls.Config{}, true, time.Second)
	var se *xmpperr.StreamError
	if !errors.As(err, &se) || se.Condition != xmpperr.PolicyViolation {
		t.Errorf("StartTLS with data pipelined: %v", err)
	}
}

// A peer that never starts TLS makes StartTLS fail with ErrTLSHandshake
// within its timeout, and End then writes nothing (no error in plaintext
// into what should be TLS).
func TestStartTLSTimeout(t *testing.T) {
	ca, _ := testca.New()
	cert, _ := ca.TLSCertificate("a.test")
	c, peer := pipe(t)
	err := c.StartTLS(context.Background(), &tls.Config{Certificates: []tls.Certificate{cert}}, true, 100*time.Millisecond)
	if !errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("StartTLS: %v", err)
	}
	if end, _ := c.End(err); end != EndBroken {
		t.Errorf("End after a failed handshake: %v", end)
	}
	if got := readAll(t, peer); got != "" {
		t.Errorf("written after a failed handshake: %q", got)
	}
}

// The peer's closing tag is answered with ours.
func TestEndAnswersClose(t *testing.T) {
	c, peer := pipe(t)
	_, _ = io.WriteString(peer, "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'></stream:stream>")
	if _, err := c.ReadHeader(time.Second); err != nil {
		t.Fatal(err)
	}
	_, err := c.Dec.Next()
	if end, _ := c.End(err); end != EndClosed {
		t.Errorf("End: %v (%v)", end, err)
	}
	if got := readAll(t, peer); got != Close {
		t.Errorf("answer %q", got)
	}
}

// Serve hands accepted connections over until Close, then returns the
// closed error.
func TestListeners(t *testing.T) {
	var ls Listeners
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := errors.New("closed")
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() {
		done <- ls.Serve(ln, closed, slog.New(slog.NewTextHandler(io.Discard, nil)), func(nc net.Conn) bool {
			got <- nc
			return true
		})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-got).Close()
	ls.Close()
	if err := <-done; !errors.Is(err, closed) {
		t.Errorf("Serve after Close: %v", err)
	}
	if err := ls.Serve(ln, closed, slog.Default(), nil); !errors.Is(err, closed) {
		t.Errorf("Serve on a closed set: %v", err)
	}
}
