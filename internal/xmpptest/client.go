package xmpptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	xwebsocket "golang.org/x/net/websocket"
	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	wsxmpp "mellium.im/xmpp/websocket"
)

// Node is a generic XML element decoded with encoding/xml, so that tests
// read what the server sent with a parser independent of ours.
type Node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []Node     `xml:",any"`
}

// HasAttr reports whether the unprefixed attribute name is present.
func (n Node) HasAttr(name string) bool {
	for _, a := range n.Attrs {
		if a.Name.Local == name && (a.Name.Space == "" || a.Name.Space == n.XMLName.Space) {
			return true
		}
	}
	return false
}

// Attr returns the value of the unprefixed attribute name.
func (n Node) Attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name && (a.Name.Space == "" || a.Name.Space == n.XMLName.Space) {
			return a.Value
		}
	}
	return ""
}

// Child returns the first child with local name (and namespace, if not
// empty), or nil.
func (n Node) Child(space, local string) *Node {
	for i := range n.Nodes {
		c := &n.Nodes[i]
		if c.XMLName.Local == local && (space == "" || c.XMLName.Space == space) {
			return c
		}
	}
	return nil
}

// Find follows a path of local names ("result/forwarded/message"). Where
// several children have a step's name (a presence with a vcard-temp:x:update
// <x/> before its muc#user <x/>), it takes the first one the rest of the
// path can be followed from.
func (n Node) Find(path string) *Node {
	first, rest, more := strings.Cut(path, "/")
	for i := range n.Nodes {
		c := &n.Nodes[i]
		if c.XMLName.Local != first {
			continue
		}
		if !more {
			return c
		}
		if found := c.Find(rest); found != nil {
			return found
		}
	}
	return nil
}

// withoutXMLNS returns a copy of n without namespace declarations among
// the attributes: encoding/xml writes the namespace of XMLName itself,
// and would write it twice.
func (n Node) withoutXMLNS() Node {
	c := n
	c.Attrs = nil
	for _, a := range n.Attrs {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		c.Attrs = append(c.Attrs, a)
	}
	c.Nodes = make([]Node, len(n.Nodes))
	for i, k := range n.Nodes {
		c.Nodes[i] = k.withoutXMLNS()
	}
	return c
}

// Children returns the children with local name (and namespace, if not
// empty).
func (n Node) Children(space, local string) []Node {
	var out []Node
	for _, c := range n.Nodes {
		if c.XMLName.Local == local && (space == "" || c.XMLName.Space == space) {
			out = append(out, c)
		}
	}
	return out
}

// Error returns the type and defined condition of a stanza's <error/>
// (RFC 6120 8.3), or two empty strings when it has none.
func (n Node) Error() (typ, condition string) {
	e := n.Child("", "error")
	if e == nil {
		return "", ""
	}
	for _, c := range e.Nodes {
		if c.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.XMLName.Local != "text" {
			return e.Attr("type"), c.XMLName.Local
		}
	}
	return e.Attr("type"), ""
}

// String renders the node approximately, for failure messages.
func (n Node) String() string {
	b, err := xml.Marshal(n.withoutXMLNS())
	if err != nil {
		return fmt.Sprintf("<%s (unprintable: %v)>", n.XMLName.Local, err)
	}
	return string(b)
}

// Client is a mellium.im/xmpp session with everything the server sends it
// (other than replies to its own iqs) collected on In.
type Client struct {
	*xmpp.Session
	JID jid.JID
	In  chan Node

	// Mechanism is the SASL mechanism the client authenticated with and
	// GS2Header the gs2 header of its initial response ("n,," without
	// channel binding, "p=tls-exporter,," with it), read off the wire.
	Mechanism, GS2Header string

	t    testing.TB
	done chan struct{} // closed when the session stopped reading
	once sync.Once
}

// DialOptions tune Dial.
type DialOptions struct {
	Resource   string
	Mechanisms []sasl.Mechanism // default SCRAM-SHA-256
	DirectTLS  bool             // connect to the XEP-0368 port
	Plaintext  bool             // no TLS at all (server must allow it)
	// WebSocket connects over XMPP over WebSocket (RFC 7395) to the HTTP
	// listener's /xmpp-websocket (plain ws:// from loopback, which the
	// server counts as secure), or to the HTTPS one's with wss:// when
	// the server has http.tls_listen.
	WebSocket bool
}

// Dial logs user in over STARTTLS (or direct TLS) with mellium and binds a
// resource. It fails the test on error.
func (s *Server) Dial(t testing.TB, user, password string, o DialOptions) *Client {
	t.Helper()
	c, err := s.TryDial(t, user, password, o)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	return c
}

// TryDial is Dial returning the error.
func (s *Server) TryDial(t testing.TB, user, password string, o DialOptions) (*Client, error) {
	t.Helper()
	ctx := opContext(t, 15*time.Second)
	mechs := o.Mechanisms
	if len(mechs) == 0 {
		mechs = []sasl.Mechanism{sasl.ScramSha256}
	}
	addr := user + "@" + s.Domain
	if o.Resource != "" {
		addr += "/" + o.Resource
	}
	j, err := jid.Parse(addr)
	if err != nil {
		return nil, err
	}
	auth := &authRecorder{}
	var d net.Dialer
	var conn net.Conn
	features := []xmpp.StreamFeature{xmpp.SASL("", password, mechs...), bindResource(j)}
	var state xmpp.SessionState
	negotiator := xmpp.NewNegotiator
	switch {
	case o.WebSocket:
		conn, err = s.dialWebSocket()
		state = xmpp.Secure
		negotiator = wsxmpp.Negotiator
	case o.DirectTLS:
		conn, err = (&tls.Dialer{Config: s.TLSConfig()}).DialContext(ctx, "tcp", s.DirectTLSAddr().String())
		state = xmpp.Secure
	case o.Plaintext:
		conn, err = d.DialContext(ctx, "tcp", s.C2SAddr().String())
		// mellium negotiates SASL only on a secure stream; tell it this
		// one is, so that it authenticates without STARTTLS.
		state = xmpp.Secure
	default:
		conn, err = d.DialContext(ctx, "tcp", s.C2SAddr().String())
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(s.TLSConfig())}, features...)
	}
	if err != nil {
		return nil, err
	}
	// The stream's from is the account's bare JID (RFC 6120 4.7.1); the
	// resource is asked for at binding (bindResource).
	sess, err := xmpp.NewSession(ctx, j.Domain(), j.Bare(), conn, state, negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		sc := xmpp.StreamConfig{Features: features, TeeOut: auth}
		if os.Getenv("MINIMIX_TEST_WIRE") != "" {
			sc.TeeIn = prefixWriter{"IN  " + addr + ": "}
			sc.TeeOut = io.MultiWriter(auth, prefixWriter{"OUT " + addr + ": "})
		}
		return sc
	}))
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{Session: sess, JID: sess.LocalAddr(), In: make(chan Node, 1000), t: t, done: make(chan struct{})}
	c.Mechanism, c.GS2Header = auth.result()
	go func() {
		defer func() {
			if os.Getenv("MINIMIX_TEST_WIRE") != "" {
				fmt.Fprintf(os.Stderr, "client %s: Serve returned\n", addr)
			}
		}()
		defer close(c.done)
		_ = sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			var n Node
			// The handler is given the start element already consumed;
			// put it back so encoding/xml sees a balanced element.
			full := xmlstream.MultiReader(xmlstream.Token(*start), xmlstream.Inner(r), xmlstream.Token(start.End()))
			if err := xml.NewTokenDecoder(full).Decode(&n); err != nil {
				if os.Getenv("MINIMIX_TEST_WIRE") != "" {
					fmt.Fprintf(os.Stderr, "client %s: decode: %v\n", addr, err)
				}
				return err
			}
			c.restoreFrom(&n)
			// Answer roster pushes and pings as a client must (RFC 6121
			// 2.1.6, XEP-0199); mellium answers every other get and set
			// we leave alone with service-unavailable.
			if err := c.answer(r, n); err != nil {
				return err
			}
			select {
			case c.In <- n:
			default:
				t.Errorf("%s: inbound queue full, dropping %s", c.JID, n.XMLName.Local)
			}
			return nil
		}))
	}()
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// dialWebSocket opens a WebSocket with the xmpp subprotocol to the
// server's /xmpp-websocket: over HTTPS when it has an HTTPS listener.
func (s *Server) dialWebSocket() (net.Conn, error) {
	loc := "ws://" + s.HTTPAddr().String() + "/xmpp-websocket"
	origin := "http://" + s.HTTPAddr().String()
	if a := s.HTTPSAddr(); a != nil {
		loc = "wss://" + a.String() + "/xmpp-websocket"
		origin = "https://" + a.String()
	}
	cfg, err := xwebsocket.NewConfig(loc, origin)
	if err != nil {
		return nil, err
	}
	cfg.Protocol = []string{"xmpp"}
	cfg.TlsConfig = s.TLSConfig()
	return xwebsocket.DialConfig(cfg)
}

// opContext returns a context for one mellium operation that is not
// canceled when the operation returns, only when its timeout passes or
// the test ends. mellium enforces a context on the connection with a
// goroutine that waits for either the context or the end of the
// operation; canceling the context right after the operation makes both
// ready at once, and when the goroutine picks the context it sets the
// connection's deadline into the past, which breaks whatever read or
// write is in progress then (a TLS write that times out leaves the
// connection unusable for good).
func opContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Closed is closed once the session stopped reading: the server closed
// the stream or the connection, or the client did.
func (c *Client) Closed() <-chan struct{} { return c.done }

// Close ends the stream.
func (c *Client) Close() {
	c.once.Do(func() {
		_ = c.Session.Close()
		select {
		case <-c.done:
		case <-time.After(3 * time.Second):
		}
		_ = c.Session.Conn().Close()
	})
}

// Kill drops the TCP connection without closing the stream, as a phone
// losing its network does.
func (c *Client) Kill() {
	c.once.Do(func() { _ = c.Session.Conn().Close() })
}

// SendRaw writes raw XML on the stream.
func (c *Client) SendRaw(t testing.TB, s string) {
	t.Helper()
	ctx := opContext(t, 5*time.Second)
	if err := c.Session.Send(ctx, xml.NewDecoder(strings.NewReader(s))); err != nil {
		t.Fatalf("%s send: %v", c.JID, err)
	}
}

// IQ sends an iq (raw XML with an id) and returns the reply.
func (c *Client) IQ(t testing.TB, raw string) Node {
	t.Helper()
	ctx := opContext(t, 10*time.Second)
	r, err := c.Session.SendIQ(ctx, xml.NewDecoder(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("%s iq: %v", c.JID, err)
	}
	defer r.Close()
	var n Node
	if err := xml.NewTokenDecoder(r).Decode(&n); err != nil {
		t.Fatalf("%s iq reply: %v", c.JID, err)
	}
	c.restoreFrom(&n)
	return n
}

// restoreFrom undoes mellium's normalisation of received stanzas: it
// blanks a from that equals the session's own bare JID (RFC 6120 8.1.2.1
// lets it), which would hide from tests what the server actually sent.
// The server never sends an empty from, so an empty one was the bare JID.
func (c *Client) restoreFrom(n *Node) {
	for i, a := range n.Attrs {
		if a.Name.Local == "from" && a.Name.Space == "" && a.Value == "" {
			n.Attrs[i].Value = c.JID.Bare().String()
		}
	}
}

// answer replies with an empty result to a roster push or a ping.
func (c *Client) answer(w xmlstream.TokenWriter, n Node) error {
	if n.XMLName.Local != "iq" {
		return nil
	}
	typ := n.Attr("type")
	push := typ == "set" && n.Child("jabber:iq:roster", "query") != nil
	ping := typ == "get" && n.Child("urn:xmpp:ping", "ping") != nil
	if !push && !ping {
		return nil
	}
	start := xml.StartElement{Name: xml.Name{Local: "iq"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: "result"},
		{Name: xml.Name{Local: "id"}, Value: n.Attr("id")},
	}}
	if from := n.Attr("from"); from != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "to"}, Value: from})
	}
	if err := w.EncodeToken(start); err != nil {
		return err
	}
	return w.EncodeToken(start.End())
}

// Expect waits for the next received stanza that match accepts, skipping
// others, and fails the test after 10 seconds.
func (c *Client) Expect(t testing.TB, what string, match func(Node) bool) Node {
	t.Helper()
	return c.ExpectWithin(t, what, 10*time.Second, match)
}

// ExpectWithin is Expect waiting up to d: what comes from another server
// may wait for a server-to-server stream to be set up.
func (c *Client) ExpectWithin(t testing.TB, what string, d time.Duration, match func(Node) bool) Node {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case n := <-c.In:
			if match(n) {
				return n
			}
		case <-timeout:
			t.Fatalf("%s: timed out waiting for %s", c.JID, what)
			return Node{}
		}
	}
}

// ExpectNone fails if a stanza that match accepts arrives within d.
func (c *Client) ExpectNone(t testing.TB, what string, d time.Duration, match func(Node) bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case n := <-c.In:
			if match(n) {
				t.Fatalf("%s: unexpected %s: %s", c.JID, what, n)
			}
		case <-timeout:
			return
		}
	}
}

// IsMessage matches a message with the given body.
func IsMessage(body string) func(Node) bool {
	return func(n Node) bool {
		if n.XMLName.Local != "message" {
			return false
		}
		b := n.Child("", "body")
		return b != nil && b.Text == body
	}
}

// IsPresenceFrom matches a presence from the given address with type typ
// ("" for available).
func IsPresenceFrom(from, typ string) func(Node) bool {
	return func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == from && n.Attr("type") == typ
	}
}

// authRecorder reads the SASL mechanism and gs2 header off the client's
// <auth/>, which mellium writes in one piece.
type authRecorder struct {
	mu        sync.Mutex
	mechanism string
	gs2       string
}

var authRE = regexp.MustCompile(`<auth [^>]*mechanism=["']([^"']+)["'][^>]*>([^<]*)<`)

func (a *authRecorder) Write(p []byte) (int, error) {
	m := authRE.FindSubmatch(p)
	if m == nil {
		return len(p), nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mechanism = string(m[1])
	if b, err := base64.StdEncoding.DecodeString(string(m[2])); err == nil {
		// gs2-header = gs2-cbind-flag "," [authzid] ","
		if i := bytes.IndexByte(b, ','); i >= 0 {
			if j := bytes.IndexByte(b[i+1:], ','); j >= 0 {
				a.gs2 = string(b[:i+1+j+1])
			}
		}
	}
	return len(p), nil
}

func (a *authRecorder) result() (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mechanism, a.gs2
}

// prefixWriter prints wire traffic for debugging (MINIMIX_TEST_WIRE=1).
type prefixWriter struct{ prefix string }

func (w prefixWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(os.Stderr, "%s%s\n", w.prefix, p)
	return len(p), nil
}

// SASLFailure returns the condition and text of the SASL <failure/> that
// made a TryDial fail, and false for any other error. mellium's failure
// type is internal to it (and its Error returns the text when there is
// one), so it is read by reflection.
func SASLFailure(err error) (condition, text string, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		if v.Kind() != reflect.Struct || v.Type().Name() != "Error" || v.Type().PkgPath() != "mellium.im/xmpp/internal/saslerr" {
			continue
		}
		cond, _ := v.FieldByName("Condition").Interface().(fmt.Stringer)
		if cond == nil {
			return "", "", false
		}
		return cond.String(), v.FieldByName("Text").String(), true
	}
	return "", "", false
}
