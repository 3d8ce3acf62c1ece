package xmpptest

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Node is a generic XML element decoded with encoding/xml, so that tests
// read what the server sent with a parser independent of ours.
type Node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []Node     `xml:",any"`
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

// Find follows a path of local names ("result/forwarded/message").
func (n Node) Find(path string) *Node {
	cur := &n
	for _, p := range strings.Split(path, "/") {
		cur = cur.Child("", p)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// String renders the node approximately, for failure messages.
func (n Node) String() string {
	b, err := xml.Marshal(n)
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

	t    testing.TB
	done chan error
	once sync.Once
}

// DialOptions tune Dial.
type DialOptions struct {
	Resource   string
	Mechanisms []sasl.Mechanism // default SCRAM-SHA-256
	DirectTLS  bool             // connect to the XEP-0368 port
	Plaintext  bool             // no TLS at all (server must allow it)
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
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
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
	var d net.Dialer
	var conn net.Conn
	features := []xmpp.StreamFeature{xmpp.SASL("", password, mechs...), xmpp.BindResource()}
	var state xmpp.SessionState
	switch {
	case o.DirectTLS:
		conn, err = (&tls.Dialer{Config: s.TLSConfig()}).DialContext(ctx, "tcp", s.DirectTLSAddr().String())
		state = xmpp.Secure
	case o.Plaintext:
		conn, err = d.DialContext(ctx, "tcp", s.C2SAddr().String())
	default:
		conn, err = d.DialContext(ctx, "tcp", s.C2SAddr().String())
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(s.TLSConfig())}, features...)
	}
	if err != nil {
		return nil, err
	}
	sess, err := xmpp.NewSession(ctx, j.Domain(), j, conn, state, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		sc := xmpp.StreamConfig{Features: features}
		if os.Getenv("MINIMIX_TEST_WIRE") != "" {
			sc.TeeIn = prefixWriter{"IN  " + addr + ": "}
			sc.TeeOut = prefixWriter{"OUT " + addr + ": "}
		}
		return sc
	}))
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{Session: sess, JID: sess.LocalAddr(), In: make(chan Node, 1000), t: t, done: make(chan error, 1)}
	go func() {
		defer func() {
			if os.Getenv("MINIMIX_TEST_WIRE") != "" {
				fmt.Fprintf(os.Stderr, "client %s: Serve returned\n", addr)
			}
		}()
		c.done <- sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
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
			// Answer iq get/set so the server is never left waiting
			// (mellium answers service-unavailable when we do not).
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Session.Send(ctx, xml.NewDecoder(strings.NewReader(s))); err != nil {
		t.Fatalf("%s send: %v", c.JID, err)
	}
}

// IQ sends an iq (raw XML with an id) and returns the reply.
func (c *Client) IQ(t testing.TB, raw string) Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Session.SendIQ(ctx, xml.NewDecoder(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("%s iq: %v", c.JID, err)
	}
	defer r.Close()
	var n Node
	if err := xml.NewTokenDecoder(r).Decode(&n); err != nil {
		t.Fatalf("%s iq reply: %v", c.JID, err)
	}
	return n
}

// Expect waits for the next received stanza that match accepts, skipping
// others, and fails the test after timeout.
func (c *Client) Expect(t testing.TB, what string, match func(Node) bool) Node {
	t.Helper()
	timeout := time.After(10 * time.Second)
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

// prefixWriter prints wire traffic for debugging (MINIMIX_TEST_WIRE=1).
type prefixWriter struct{ prefix string }

func (w prefixWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(os.Stderr, "%s%s\n", w.prefix, p)
	return len(p), nil
}
