package s2s

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// rawPeer is a hand-driven server-to-server stream, for feeding a Server
// what no well-behaved peer sends.
type rawPeer struct {
	t   testing.TB
	tcp net.Conn
	nc  net.Conn
	dec *xml.Decoder
	// ID is the stream id of the Server's last header.
	ID string
}

func dialPeer(t testing.TB, addr string) *rawPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, tcp: nc, nc: nc, dec: xml.NewDecoder(nc, xml.Limits{MaxStanzaBytes: 1 << 20})}
}

func (r *rawPeer) send(s string) {
	r.t.Helper()
	if err := r.trySend(s); err != nil {
		r.t.Fatalf("raw peer write: %v", err)
	}
}

// trySend writes s; the server may close before it has read all of it.
func (r *rawPeer) trySend(s string) error {
	_ = r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(r.nc, s)
	return err
}

// header opens a stream from from to to and reads the answer's header
// and features (nil when the Server closed with an error instead).
func (r *rawPeer) header(from, to string) (xml.StreamHeader, *xml.Element) {
	r.t.Helper()
	r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' from='" + from + "' to='" + to + "'>")
	_ = r.tcp.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := r.dec.ReadHeader()
	if err != nil {
		r.t.Fatalf("raw peer: reading the header: %v", err)
	}
	r.ID = h.ID
	el, err := r.next()
	if err != nil {
		r.t.Fatalf("raw peer: reading features: %v", err)
	}
	return h, el
}

func (r *rawPeer) next() (*xml.Element, error) {
	_ = r.tcp.SetReadDeadline(time.Now().Add(5 * time.Second))
	return r.dec.Next()
}

func (r *rawPeer) expect(space, local string) *xml.Element {
	r.t.Helper()
	el, err := r.next()
	if err != nil {
		r.t.Fatalf("raw peer: waiting for <%s/>: %v", local, err)
	}
	if el.Space != space || el.Local != local {
		r.t.Fatalf("raw peer: got %s, want <%s xmlns='%s'/>", el, local, space)
	}
	return el
}

// startTLS negotiates STARTTLS presenting cert (none if nil) and opens
// the stream again.
func (r *rawPeer) startTLS(from, to string, cert *tls.Certificate) *xml.Element {
	r.t.Helper()
	r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	r.expect(stream.NSTLS, "proceed")
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: to}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(r.tcp, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("raw peer: TLS: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	r.nc = tc
	r.dec.Reset(tc)
	_, f := r.header(from, to)
	return f
}

// authExternal opens a stream from from to to, with STARTTLS presenting
// cert and SASL EXTERNAL, and returns the features after authentication.
func (r *rawPeer) authExternal(from, to string, cert *tls.Certificate) *xml.Element {
	r.t.Helper()
	r.header(from, to)
	if f := r.startTLS(from, to, cert); !strings.Contains(f.String(), "EXTERNAL") {
		r.t.Fatalf("raw peer: no SASL EXTERNAL offered to a valid certificate: %s", f)
	}
	r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
	r.expect(stream.NSSASL, "success")
	r.dec.Restart()
	_, f := r.header(from, to)
	return f
}

// expectStreamError reads until the stream error and the end of the
// connection, and fails unless the condition is cond.
func (r *rawPeer) expectStreamError(cond xmpperr.StreamCondition) *xmpperr.StreamError {
	r.t.Helper()
	for {
		el, err := r.next()
		if err != nil {
			r.t.Fatalf("raw peer: no stream error %s: %v", cond, err)
		}
		if el.Space == xml.NSStream && el.Local == "error" {
			se := xmpperr.StreamFromElement(el)
			if se.Condition != cond {
				r.t.Fatalf("raw peer: stream error %s (%s), want %s", se.Condition, se.Text, cond)
			}
			r.expectClosed()
			return se
		}
	}
}

// expectClosed fails unless the Server closes the stream and connection.
func (r *rawPeer) expectClosed() {
	r.t.Helper()
	for {
		_, err := r.next()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("raw peer: the connection is still open")
		}
		return
	}
}

// hasChild reports whether features offers space/local.
func hasChild(f *xml.Element, space, local string) bool {
	return f != nil && f.Child(space, local) != nil
}
