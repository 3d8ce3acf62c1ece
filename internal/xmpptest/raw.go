package xmpptest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
)

// Namespaces a raw client needs to recognise what the server says.
const (
	NSStream  = "http://etherx.jabber.org/streams"
	NSStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSM      = "urn:xmpp:sm:3"
	NSClient  = "jabber:client"
)

// ErrStreamEnd is returned by Raw.Next when the server closed the stream
// with </stream:stream>.
var ErrStreamEnd = errors.New("xmpptest: server closed the stream")

// ErrTimeout is returned by Raw.Next when nothing arrived in time.
var ErrTimeout = errors.New("xmpptest: timed out waiting for the server")

// Raw is a client stream driven by hand, for feeding a server input that no
// client library would produce. It writes exactly the strings it is given
// and reads what the server sends with encoding/xml, a parser independent
// of the server's.
//
// Reading is lazy: the socket is read only while Next waits (and, after Next
// timed out, until that one element arrives), so a test can stop reading
// simply by not calling Next.
type Raw struct {
	t      testing.TB
	domain string
	tlsCfg *tls.Config

	tcp  net.Conn
	conn net.Conn // tcp, or TLS over it
	br   *bufio.Reader
	dec  *xml.Decoder

	// Header is the last stream header the server sent.
	Header xml.StartElement
	// JID is the full JID after Bind or Login.
	JID string
	// Handled counts the stanzas (message, presence, iq in jabber:client)
	// Next returned, for XEP-0198 acknowledgements; tests set it to zero
	// when they enable stream management.
	Handled uint32

	reqs    chan *xml.Decoder
	results chan rawResult
	pending bool
}

type rawResult struct {
	n      Node
	header *xml.StartElement
	err    error
}

// RawOptions tune DialRaw.
type RawOptions struct {
	// DirectTLS connects to the XEP-0368 port and does the TLS handshake
	// at once.
	DirectTLS bool
	// LocalAddr is the local IP address to connect from, such as
	// "127.0.0.2", so that a test can be a different client address.
	LocalAddr string
	// ReadBuffer, if positive, sets the socket's receive buffer
	// (SO_RCVBUF, on Unix) before connecting, so that a client that stops
	// reading fills up quickly.
	ReadBuffer int
}

// DialRaw connects to the client port. It opens no stream.
func (s *Server) DialRaw(t testing.TB, o RawOptions) *Raw {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if o.LocalAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalAddr)}
	}
	if o.ReadBuffer > 0 {
		// Before connecting: the window scale is agreed in the handshake,
		// and a buffer shrunk afterwards makes the peer probe a zero
		// window with growing back-off.
		d.Control = setReadBuffer(o.ReadBuffer)
	}
	addr := s.C2SAddr()
	if o.DirectTLS {
		addr = s.DirectTLSAddr()
	}
	return dialRaw(t, d, addr.String(), s.Domain, s.TLSConfig(), o)
}

// DialRawAddr connects to a client port at addr of a server for domain
// that is not in this process (one started with StartProcess). tlsCfg is
// used for STARTTLS and direct TLS; nil allows plaintext streams only.
func DialRawAddr(t testing.TB, addr, domain string, tlsCfg *tls.Config) *Raw {
	t.Helper()
	return dialRaw(t, net.Dialer{Timeout: 5 * time.Second}, addr, domain, tlsCfg, RawOptions{})
}

func dialRaw(t testing.TB, d net.Dialer, addr, domain string, tlsCfg *tls.Config, o RawOptions) *Raw {
	t.Helper()
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("raw dial %s: %v", addr, err)
	}
	r := &Raw{t: t, domain: domain, tlsCfg: tlsCfg, tcp: nc, conn: nc, reqs: make(chan *xml.Decoder), results: make(chan rawResult, 1)}
	if o.DirectTLS {
		tc := tls.Client(nc, tlsCfg)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			t.Fatalf("raw direct TLS handshake: %v", err)
		}
		_ = tc.SetDeadline(time.Time{})
		r.conn = tc
	}
	r.br = bufio.NewReader(r.wire())
	r.dec = xml.NewDecoder(r.br)
	go r.reader()
	t.Cleanup(func() {
		_ = r.tcp.Close()
		close(r.reqs)
	})
	return r
}

// Login dials, negotiates STARTTLS, authenticates with SCRAM-SHA-256 and
// binds resource ("" lets the server choose), failing the test on error.
func (s *Server) Login(t testing.TB, user, password, resource string) *Raw {
	t.Helper()
	r := s.DialRaw(t, RawOptions{})
	r.Open()
	r.StartTLS()
	r.Authenticate(user, password)
	r.Bind(resource)
	return r
}

// wire returns what reads and writes go through, with a wire trace when
// MINIMIX_TEST_WIRE is set.
func (r *Raw) wire() io.Reader {
	if os.Getenv("MINIMIX_TEST_WIRE") != "" {
		return io.TeeReader(r.conn, prefixWriter{"IN  raw: "})
	}
	return r.conn
}

// reader decodes one top-level element per request, so that the socket
// is read only on demand.
func (r *Raw) reader() {
	for d := range r.reqs {
		var res rawResult
		res.n, res.header, res.err = readTop(d)
		r.results <- res
	}
}

// readTop reads the next child of the stream element, skipping (and
// returning) a stream header on the way.
func readTop(d *xml.Decoder) (Node, *xml.StartElement, error) {
	var header *xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return Node{}, header, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space == NSStream && tok.Name.Local == "stream" {
				h := tok.Copy()
				header = &h
				continue
			}
			var n Node
			err := d.DecodeElement(&n, &tok)
			return n, header, err
		case xml.EndElement:
			return Node{}, header, ErrStreamEnd
		case xml.CharData:
			if strings.TrimSpace(string(tok)) != "" {
				return Node{}, header, fmt.Errorf("xmpptest: text at stream level: %q", tok)
			}
		}
	}
}

// Next returns the next top-level element the server sends, ErrStreamEnd
// once it closed the stream, ErrTimeout if nothing complete arrived within
// timeout, or the read or parse error.
func (r *Raw) Next(timeout time.Duration) (Node, error) {
	if !r.pending {
		r.reqs <- r.dec
		r.pending = true
	}
	select {
	case res := <-r.results:
		r.pending = false
		if res.header != nil {
			r.Header = *res.header
		}
		if res.err == nil && res.n.XMLName.Space == NSClient {
			switch res.n.XMLName.Local {
			case "message", "presence", "iq":
				r.Handled++
			}
		}
		return res.n, res.err
	case <-time.After(timeout):
		return Node{}, ErrTimeout
	}
}

// Expect returns the next element and fails the test unless it is named
// local in space (any namespace if space is "").
func (r *Raw) Expect(space, local string) Node {
	r.t.Helper()
	n, err := r.Next(5 * time.Second)
	if err != nil {
		r.t.Fatalf("raw: waiting for <%s xmlns='%s'>: %v", local, space, err)
	}
	if n.XMLName.Local != local || (space != "" && n.XMLName.Space != space) {
		r.t.Fatalf("raw: got %s, want <%s xmlns='%s'>", n, local, space)
	}
	return n
}

// ExpectStanza skips elements until one that match accepts, failing the test
// after timeout or when the stream ends first.
func (r *Raw) ExpectStanza(what string, timeout time.Duration, match func(Node) bool) Node {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := r.Next(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("raw %s: waiting for %s: %v", r.JID, what, err)
		}
		if match(n) {
			return n
		}
	}
}

// Send writes s on the stream, failing the test on error.
func (r *Raw) Send(s string) {
	r.t.Helper()
	if err := r.TrySend(s); err != nil {
		r.t.Fatalf("raw send: %v", err)
	}
}

// TrySend writes s and returns the error: when a test sends something the
// server refuses mid-way, the server may close before all of it is written.
func (r *Raw) TrySend(s string) error {
	if os.Getenv("MINIMIX_TEST_WIRE") != "" {
		fmt.Fprintf(os.Stderr, "OUT raw: %s\n", s)
	}
	_ = r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(r.conn, s)
	return err
}

// Conn returns the connection (TLS after StartTLS).
func (r *Raw) Conn() net.Conn { return r.conn }

// StreamHeader is the header Open sends.
func StreamHeader(to string) string {
	return "<?xml version='1.0'?><stream:stream to='" + to + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
}

// Open sends a stream header for the server's domain and returns the
// features the server offers.
func (r *Raw) Open() Node {
	r.t.Helper()
	r.restart()
	r.Send(StreamHeader(r.domain))
	f := r.Expect(NSStream, "features")
	if r.Header.Name.Local != "stream" {
		r.t.Fatalf("raw: features without a stream header")
	}
	return f
}

// restart starts a new XML document on the same connection, as a stream
// restart does.
func (r *Raw) restart() {
	if r.pending {
		r.t.Fatalf("raw: stream restart while a read is pending")
	}
	r.dec = xml.NewDecoder(r.br)
	r.Header = xml.StartElement{}
}

// StartTLS negotiates TLS and opens the new stream, returning its features.
func (r *Raw) StartTLS() Node {
	r.t.Helper()
	r.Send("<starttls xmlns='" + NSTLS + "'/>")
	r.Expect(NSTLS, "proceed")
	if r.br.Buffered() > 0 {
		r.t.Fatalf("raw: server sent data after <proceed/>")
	}
	if _, err := r.handshake(r.tlsCfg); err != nil {
		r.t.Fatalf("raw: TLS handshake: %v", err)
	}
	return r.Open()
}

// StartTLSConfig is StartTLS with the test's own client TLS configuration
// (ALPN, versions, cipher suites). It returns the handshake's outcome
// instead of failing the test; after a successful handshake the stream is
// open again.
func (r *Raw) StartTLSConfig(cfg *tls.Config) (tls.ConnectionState, error) {
	r.t.Helper()
	r.Send("<starttls xmlns='" + NSTLS + "'/>")
	r.Expect(NSTLS, "proceed")
	st, err := r.handshake(cfg)
	if err == nil {
		r.Open()
	}
	return st, err
}

func (r *Raw) handshake(cfg *tls.Config) (tls.ConnectionState, error) {
	tc := tls.Client(r.tcp, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	_ = tc.SetDeadline(time.Time{})
	r.conn = tc
	r.br = bufio.NewReader(r.wire())
	return tc.ConnectionState(), nil
}

// AuthPlain sends a PLAIN authentication and returns the server's answer
// (<success/> or <failure/>), without restarting the stream.
func (r *Raw) AuthPlain(user, password string) Node {
	r.t.Helper()
	msg := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	r.Send("<auth xmlns='" + NSSASL + "' mechanism='PLAIN'>" + msg + "</auth>")
	n, err := r.Next(5 * time.Second)
	if err != nil {
		r.t.Fatalf("raw: waiting for the PLAIN outcome: %v", err)
	}
	return n
}

// AuthSCRAM runs SCRAM-SHA-256 (with mellium.im/sasl's client) and returns
// the server's final answer, <success/> or <failure/>. The server's
// signature in <success/> is verified.
func (r *Raw) AuthSCRAM(user, password string) Node {
	r.t.Helper()
	return r.AuthMechanism(sasl.ScramSha256, user, password)
}

// AuthMechanism is AuthSCRAM with another SCRAM mechanism of
// mellium.im/sasl (sasl.ScramSha1).
func (r *Raw) AuthMechanism(mech sasl.Mechanism, user, password string) Node {
	r.t.Helper()
	neg := sasl.NewClient(mech, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), nil
	}))
	_, resp, err := neg.Step(nil)
	if err != nil {
		r.t.Fatalf("raw: SCRAM first message: %v", err)
	}
	r.Send("<auth xmlns='" + NSSASL + "' mechanism='" + mech.Name + "'>" + base64.StdEncoding.EncodeToString(resp) + "</auth>")
	for {
		n, err := r.Next(5 * time.Second)
		if err != nil {
			r.t.Fatalf("raw: SCRAM: %v", err)
		}
		if n.XMLName.Space != NSSASL {
			return n
		}
		switch n.XMLName.Local {
		case "challenge":
			ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(n.Text))
			if err != nil {
				r.t.Fatalf("raw: SCRAM challenge: %v", err)
			}
			if _, resp, err = neg.Step(ch); err != nil {
				r.t.Fatalf("raw: SCRAM step: %v", err)
			}
			r.Send("<response xmlns='" + NSSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>")
		case "success":
			final, err := base64.StdEncoding.DecodeString(strings.TrimSpace(n.Text))
			if err != nil {
				r.t.Fatalf("raw: SCRAM success data: %v", err)
			}
			if _, _, err := neg.Step(final); err != nil {
				r.t.Fatalf("raw: server signature does not verify: %v", err)
			}
			return n
		default:
			return n
		}
	}
}

// Authenticate runs SCRAM-SHA-256, requires success and restarts the
// stream, returning the new features.
func (r *Raw) Authenticate(user, password string) Node {
	r.t.Helper()
	if n := r.AuthSCRAM(user, password); n.XMLName.Local != "success" {
		r.t.Fatalf("raw: authentication as %s failed: %s", user, n)
	}
	return r.Open()
}

// Bind binds resource ("" lets the server choose) and returns the full JID.
func (r *Raw) Bind(resource string) string {
	r.t.Helper()
	res := ""
	if resource != "" {
		res = "<resource>" + resource + "</resource>"
	}
	r.Send("<iq type='set' id='bind1'><bind xmlns='" + NSBind + "'>" + res + "</bind></iq>")
	n := r.Expect(NSClient, "iq")
	if n.Attr("type") != "result" || n.Attr("id") != "bind1" {
		r.t.Fatalf("raw: bind failed: %s", n)
	}
	j := n.Find("bind/jid")
	if j == nil || j.Text == "" {
		r.t.Fatalf("raw: bind result without a jid: %s", n)
	}
	r.JID = j.Text
	return r.JID
}

// ExpectStreamError reads until a <stream:error/>, checks that its
// condition is cond (in urn:ietf:params:xml:ns:xmpp-streams), that the
// server then closes the stream and the connection, and returns the error
// element. Other elements on the way are skipped (a session may receive
// stanzas before its error).
func (r *Raw) ExpectStreamError(cond string) Node {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var se Node
	for {
		n, err := r.Next(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("raw: waiting for stream error %s: %v", cond, err)
		}
		if n.XMLName.Space == NSStream && n.XMLName.Local == "error" {
			se = n
			break
		}
		r.t.Logf("raw: skipping %s before the stream error", n)
	}
	if got := StreamErrorCondition(se); got != cond {
		r.t.Fatalf("raw: stream error %q, want %q: %s", got, cond, se)
	}
	if _, err := r.Next(5 * time.Second); !errors.Is(err, ErrStreamEnd) {
		r.t.Fatalf("raw: after the stream error: want </stream:stream>, got %v", err)
	}
	r.ExpectClosed()
	return se
}

// StreamErrorCondition returns the defined condition of a stream error.
func StreamErrorCondition(se Node) string {
	for _, c := range se.Nodes {
		if c.XMLName.Space == NSStreams && c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return ""
}

// ExpectClosed fails the test unless the server closes the connection
// (after anything still buffered) within a few seconds.
func (r *Raw) ExpectClosed() {
	r.t.Helper()
	if r.pending {
		r.t.Fatalf("raw: ExpectClosed while a read is pending")
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = r.conn.SetReadDeadline(time.Time{}) }()
	var buf [512]byte
	for {
		n, err := r.br.Read(buf[:])
		if n > 0 {
			r.t.Fatalf("raw: data after the stream was closed: %q", buf[:n])
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				r.t.Fatalf("raw: server did not close the connection")
			}
			return
		}
	}
}

// Close sends </stream:stream> and waits for the server to answer with its
// own closing tag and close the connection.
func (r *Raw) Close() {
	r.t.Helper()
	r.Send("</stream:stream>")
	for {
		_, err := r.Next(5 * time.Second)
		if errors.Is(err, ErrStreamEnd) {
			break
		}
		if err != nil {
			r.t.Fatalf("raw: closing: %v", err)
		}
	}
	r.ExpectClosed()
}

// Kill closes the TCP connection without closing the stream, as a client
// losing its network does.
func (r *Raw) Kill() { _ = r.tcp.Close() }

// IsStanzaError matches a stanza of kind local with type='error' whose
// defined condition is cond.
func IsStanzaError(local, cond string) func(Node) bool {
	return func(n Node) bool {
		if n.XMLName.Local != local || n.Attr("type") != "error" {
			return false
		}
		e := n.Child("", "error")
		return e != nil && e.Child(NSStanzas, cond) != nil
	}
}
