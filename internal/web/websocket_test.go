package web_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

func pw(user string) string { return user + "-secret" }

func startServer(t *testing.T, users []string, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, opts...)
	for _, u := range users {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

func isMessage(body string) func(xmpptest.Node) bool { return xmpptest.IsMessage(body) }

// TestWebSocketChat: a session over WebSocket (mellium's RFC 7395
// client) is an ordinary session: it chats with one over TCP both ways,
// and its own TCP session gets carbons of what it sends.
func TestWebSocketChat(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{WebSocket: true, Resource: "web"})
	a2 := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "phone"})
	b := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	a2.IQ(t, `<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)

	a.SendRaw(t, `<message to='`+b.JID.String()+`' type='chat' id='m1'><body>hi from the browser</body></message>`)
	n := b.Expect(t, "message from the WebSocket session", isMessage("hi from the browser"))
	if n.Attr("from") != a.JID.String() {
		t.Errorf("from = %q, want %q", n.Attr("from"), a.JID)
	}
	a2.Expect(t, "sent carbon", func(n xmpptest.Node) bool { return n.Child("urn:xmpp:carbons:2", "sent") != nil })

	b.SendRaw(t, `<message to='`+a.JID.String()+`' type='chat' id='m2'><body>hi from TCP</body></message>`)
	a.Expect(t, "message over WebSocket", isMessage("hi from TCP"))
}

// TestWebSocketWSS: over the HTTPS listener (http.tls_listen) with the
// server's certificate, wss:// works, with SCRAM.
func TestWebSocketWSS(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.TLSListen = "127.0.0.1:0"
		// Nothing counts as secure but TLS itself.
		c.HTTP.SecureNetworks = nil
	}))
	a := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{WebSocket: true})
	b := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	a.SendRaw(t, `<message to='`+b.JID.String()+`' type='chat'><body>over wss</body></message>`)
	b.Expect(t, "message over wss", isMessage("over wss"))
}

// TestWebSocketFraming checks RFC 7395's framing on the wire: our
// <open/>, features with the stream prefix declared, stanzas with their
// namespace, one element a message, <close/> answered with <close/>.
func TestWebSocketFraming(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	w := srv.DialWebSocket(t, xmpptest.WSOptions{})
	if got := w.Conn.Subprotocol(); got != "xmpp" {
		t.Fatalf("subprotocol %q, want xmpp", got)
	}
	f := w.Open()
	if f.Child(xmpptest.NSTLS, "starttls") != nil {
		t.Errorf("features offer STARTTLS over WebSocket: %s", f)
	}
	if f.Find("mechanisms") == nil {
		t.Fatalf("no SASL mechanisms from loopback (a secure network): %s", f)
	}
	if n := w.AuthPlain("alice", pw("alice")); n.XMLName.Local != "success" {
		t.Fatalf("auth: %s", n)
	}
	f = w.Open()
	if f.Child(xmpptest.NSSM, "sm") == nil || f.Child(xmpptest.NSBind, "bind") == nil {
		t.Fatalf("features after auth: %s", f)
	}
	w.Bind("web")
	// A stanza that names no namespace is in jabber:client, as on TCP.
	w.Send(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if n := w.Expect(xmpptest.NSClient, "iq"); n.Attr("type") != "result" || n.Attr("id") != "p1" {
		t.Fatalf("ping: %s", n)
	}
	w.Send(`<close xmlns='` + xmpptest.NSFraming + `'/>`)
	w.ExpectClose()
}

// TestWebSocketBadInput: what is not one element, or not XML, or too
// big, ends the stream with the stream error TCP would get.
func TestWebSocketBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		c.Limits.MaxStanzaBytes = 10000
	}))
	for _, tc := range []struct {
		name string
		send func(w *xmpptest.WSRaw)
		cond string
	}{
		{"two elements in a message", func(w *xmpptest.WSRaw) {
			w.Send(`<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`)
		}, "not-well-formed"},
		{"half an element", func(w *xmpptest.WSRaw) {
			w.Send(`<message xmlns='jabber:client'><body>`)
		}, "not-well-formed"},
		{"restricted XML", func(w *xmpptest.WSRaw) {
			w.Send(`<!-- hi --><presence xmlns='jabber:client'/>`)
		}, "restricted-xml"},
		{"too big", func(w *xmpptest.WSRaw) {
			w.Send(`<message xmlns='jabber:client' to='alice@localhost'><body>` + strings.Repeat("x", 20000) + `</body></message>`)
		}, "policy-violation"},
		{"binary message", func(w *xmpptest.WSRaw) {
			if err := w.TrySend(websocket.MessageBinary, `<presence xmlns='jabber:client'/>`); err != nil {
				t.Fatal(err)
			}
		}, "bad-format"},
		{"open again", func(w *xmpptest.WSRaw) {
			w.Send(`<open xmlns='` + xmpptest.NSFraming + `' to='localhost' version='1.0'/>`)
		}, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := srv.DialWebSocket(t, xmpptest.WSOptions{})
			w.Login("alice", pw("alice"), "")
			tc.send(w)
			se := w.ExpectStreamError(tc.cond)
			if tc.name == "too big" && se.Child("urn:xmpp:errors", "stanza-too-big") == nil {
				t.Errorf("too big without <stanza-too-big/>: %s", se)
			}
		})
	}

	t.Run("no open", func(t *testing.T) {
		w := srv.DialWebSocket(t, xmpptest.WSOptions{})
		w.Send(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost'/>`)
		// RFC 6120 4.9.1.3: the server opens its stream to say why.
		w.Expect(xmpptest.NSFraming, "open")
		w.ExpectStreamError("invalid-namespace")
	})
	t.Run("wrong host", func(t *testing.T) {
		w := srv.DialWebSocket(t, xmpptest.WSOptions{})
		w.Send(`<open xmlns='` + xmpptest.NSFraming + `' to='elsewhere.example' version='1.0'/>`)
		w.Expect(xmpptest.NSFraming, "open")
		w.ExpectStreamError("host-unknown")
	})
	t.Run("stanza before auth", func(t *testing.T) {
		w := srv.DialWebSocket(t, xmpptest.WSOptions{})
		w.Open()
		w.Send(`<message xmlns='jabber:client' to='alice@localhost'><body>x</body></message>`)
		w.ExpectStreamError("not-authorized")
	})
}

// TestWebSocketHandshake: the subprotocol is required, and pages from
// other origins only when http.allowed_origins names them.
func TestWebSocketHandshake(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.AllowedOrigins = []string{"https://chat.example.org", "*.example.net"}
	}))
	for _, tc := range []struct {
		name   string
		o      xmpptest.WSOptions
		status int // 0: the handshake succeeds
	}{
		{"no subprotocol", xmpptest.WSOptions{Subprotocols: []string{"chat"}}, http.StatusBadRequest},
		{"no origin (not a browser)", xmpptest.WSOptions{}, 0},
		{"same origin", xmpptest.WSOptions{Origin: "http://" + srv.HTTPAddr().String()}, 0},
		{"allowed origin", xmpptest.WSOptions{Origin: "https://chat.example.org"}, 0},
		{"allowed by host pattern", xmpptest.WSOptions{Origin: "https://web.example.net"}, 0},
		{"allowed origin, other scheme", xmpptest.WSOptions{Origin: "http://chat.example.org"}, http.StatusForbidden},
		{"other origin", xmpptest.WSOptions{Origin: "https://evil.example.com"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, resp, err := srv.TryDialWebSocket(t, tc.o)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				w.Open()
				return
			}
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				code := 0
				if resp != nil {
					code = resp.StatusCode
				}
				t.Fatalf("handshake: err %v, status %d; want status %d", err, code, tc.status)
			}
		})
	}
}

// TestWebSocketRequireTLS: with nothing counted as secure, a plain ws://
// stream is offered no authentication, as a plain TCP one is.
func TestWebSocketRequireTLS(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.SecureNetworks = nil
	}))
	w := srv.DialWebSocket(t, xmpptest.WSOptions{})
	f := w.Open()
	if f.Find("mechanisms") != nil {
		t.Fatalf("mechanisms offered on plain ws:// from an untrusted network: %s", f)
	}
	n := w.AuthPlain("alice", pw("alice"))
	if n.XMLName.Local != "failure" || n.Child(xmpptest.NSSASL, "encryption-required") == nil {
		t.Fatalf("auth on plain ws://: %s", n)
	}
}

// TestWebSocketNegotiationTimeout: a client that opens nothing in time
// gets connection-timeout, as over TCP.
func TestWebSocketNegotiationTimeout(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.NegotiateTimeout.Duration = 300 * time.Millisecond
	}))
	w := srv.DialWebSocket(t, xmpptest.WSOptions{})
	w.ExpectStreamError("connection-timeout")
}

// TestWebSocketResume: stream management over WebSocket: a session whose
// WebSocket drops hibernates, and resumes on a new WebSocket with what it
// missed.
func TestWebSocketResume(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	w := srv.DialWebSocket(t, xmpptest.WSOptions{})
	full := w.Login("alice", pw("alice"), "web")
	w.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	en := w.Expect(xmpptest.NSSM, "enabled")
	id := en.Attr("id")
	if id == "" {
		t.Fatalf("enabled without id: %s", en)
	}
	w.Send(`<presence xmlns='jabber:client'/>`)
	w.ExpectStanza("own presence", 5*time.Second, func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" })
	_ = w.Conn.CloseNow() // the network goes

	b := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	b.SendRaw(t, `<message to='`+full+`' type='chat'><body>while you were away</body></message>`)

	w2 := srv.DialWebSocket(t, xmpptest.WSOptions{})
	w2.Open()
	if n := w2.AuthPlain("alice", pw("alice")); n.XMLName.Local != "success" {
		t.Fatalf("auth: %s", n)
	}
	w2.Open()
	// h=1: the client saw its own presence.
	w2.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + id + `' h='1'/>`)
	r := w2.Expect(xmpptest.NSSM, "resumed")
	if r.Attr("previd") != id {
		t.Fatalf("resumed: %s", r)
	}
	w2.ExpectStanza("the message sent while away", 5*time.Second, isMessage("while you were away"))
}

// TestWebSocketPingTimeout: a client that does not answer the server's
// WebSocket pings (http.websocket_ping_interval) is disconnected. The
// client here does the handshake by hand and then reads nothing, so
// nothing answers the pings.
func TestWebSocketPingTimeout(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.WebSocketPingInterval.Duration = time.Second
	}))
	nc, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = io.WriteString(nc, "GET /xmpp-websocket HTTP/1.1\r\nHost: "+srv.HTTPAddr().String()+
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	// The stream starts after the handshake's answer.
	deadline := time.Now().Add(30 * time.Second)
	for srv.C2S.Stats.Connections.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want the WebSocket's", srv.C2S.Stats.Connections.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Nothing answers the first ping: within its interval the server
	// gives up on the connection.
	for srv.C2S.Stats.Connections.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that answers no ping is still connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The socket is closed: what is left to read ends.
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("reading the closed WebSocket: %v", err)
	}
}

// TestWebSocketChannelBinding: over wss:// (one TLS connection of the
// server's own under the whole stream) the -PLUS mechanisms are offered;
// over BOSH, whose requests may come over several connections, they are
// not.
func TestWebSocketChannelBinding(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.TLSListen = "127.0.0.1:0"
	}))
	mechs := func(f xmpptest.Node) []string {
		var out []string
		if m := f.Child(xmpptest.NSSASL, "mechanisms"); m != nil {
			for _, c := range m.Nodes {
				out = append(out, c.Text)
			}
		}
		return out
	}
	w := srv.DialWebSocket(t, xmpptest.WSOptions{TLS: true})
	f := w.Open()
	if got := mechs(f); !slices.Contains(got, "SCRAM-SHA-256-PLUS") {
		t.Errorf("mechanisms over wss:// %v, want SCRAM-SHA-256-PLUS among them", got)
	}
	b := srv.NewBOSH(t)
	n := b.Create(60, 1)
	if got := mechs(*n.Child(xmpptest.NSStream, "features")); len(got) == 0 || slices.ContainsFunc(got, func(m string) bool { return strings.HasSuffix(m, "-PLUS") }) {
		t.Errorf("mechanisms over BOSH %v, want some and no -PLUS", got)
	}
}
