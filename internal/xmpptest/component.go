package xmpptest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"net"
	"testing"
	"time"
)

// NSComponent is the content namespace of an external component's stream
// (XEP-0114).
const NSComponent = "jabber:component:accept"

// DialComponent connects to the server's external components' listener,
// as a component does. It opens no stream. Of o, only LocalAddr and
// ReadBuffer apply.
func (s *Server) DialComponent(t testing.TB, o RawOptions) *Raw {
	t.Helper()
	addr := s.ComponentAddr()
	if addr == nil {
		t.Fatal("xmpptest: the server has no components' listener (configure components.external)")
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if o.LocalAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalAddr)}
	}
	if o.ReadBuffer > 0 {
		d.Control = setReadBuffer(o.ReadBuffer)
	}
	o.DirectTLS = false
	return dialRaw(t, d, addr.String(), s.Domain, nil, o)
}

// Component connects as the external component of domain, with secret:
// it opens the stream and completes the handshake, failing the test
// unless the server answers <handshake/>.
func (s *Server) Component(t testing.TB, domain, secret string) *Raw {
	t.Helper()
	r := s.DialComponent(t, RawOptions{})
	id := r.OpenComponent(domain)
	r.Send("<handshake>" + ComponentHandshake(id, secret) + "</handshake>")
	r.Expect(NSComponent, "handshake")
	r.JID = domain
	return r
}

// ComponentStreamHeader is the header a component sends for domain.
func ComponentStreamHeader(domain string) string {
	return "<stream:stream xmlns='" + NSComponent + "' xmlns:stream='http://etherx.jabber.org/streams' to='" + domain + "'>"
}

// OpenComponent sends a component's stream header for domain and returns
// the stream id of the server's answer.
func (r *Raw) OpenComponent(domain string) string {
	r.t.Helper()
	r.restart()
	r.Send(ComponentStreamHeader(domain))
	h, err := r.ReadHeader(5 * time.Second)
	if err != nil {
		r.t.Fatalf("raw: waiting for the server's stream header: %v", err)
	}
	for _, a := range h.Attr {
		if a.Name.Local == "id" && a.Name.Space == "" {
			return a.Value
		}
	}
	r.t.Fatalf("raw: stream header without an id: %v", h)
	return ""
}

// ReadHeader reads the server's stream header alone, which Next cannot
// (it returns elements): a component needs its id before it sends
// anything more.
func (r *Raw) ReadHeader(timeout time.Duration) (xml.StartElement, error) {
	if r.pending {
		r.t.Fatalf("raw: ReadHeader while a read is pending")
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = r.conn.SetReadDeadline(time.Time{}) }()
	for {
		tok, err := r.dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space == NSStream && se.Name.Local == "stream" {
				r.Header = se.Copy()
				return r.Header, nil
			}
			r.t.Fatalf("raw: <%s/> before the stream header", se.Name.Local)
		}
	}
}

// ComponentHandshake is the XEP-0114 handshake value: the lowercase hex
// SHA-1 of the stream id followed by the secret.
func ComponentHandshake(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}
