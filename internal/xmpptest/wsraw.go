package xmpptest

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// NSFraming is RFC 7395's namespace of <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// WSRaw is a client stream over XMPP over WebSocket (RFC 7395) driven by
// hand: each Send is one message, each Next reads one message and
// decodes it with encoding/xml.
type WSRaw struct {
	t      testing.TB
	domain string
	Conn   *websocket.Conn
	// JID is the full JID after Bind.
	JID string

	msgs chan wsMsg
}

type wsMsg struct {
	typ websocket.MessageType
	b   []byte
	err error
}

// WSOptions tune DialWebSocket.
type WSOptions struct {
	// Origin is sent as the Origin header; "" sends none.
	Origin string
	// Subprotocols offered; nil offers "xmpp".
	Subprotocols []string
	// TLS dials the HTTPS listener (http.tls_listen) with wss://.
	TLS bool
}

// WebSocketURL is the server's /xmpp-websocket, ws:// on the HTTP
// listener or wss:// on the HTTPS one.
func (s *Server) WebSocketURL(tls bool) string {
	if tls {
		return "wss://" + s.HTTPSAddr().String() + "/xmpp-websocket"
	}
	return "ws://" + s.HTTPAddr().String() + "/xmpp-websocket"
}

// TryDialWebSocket opens a WebSocket to /xmpp-websocket and returns the
// handshake's response and error.
func (s *Server) TryDialWebSocket(t testing.TB, o WSOptions) (*WSRaw, *http.Response, error) {
	t.Helper()
	protos := o.Subprotocols
	if protos == nil {
		protos = []string{"xmpp"}
	}
	h := http.Header{}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	opts := &websocket.DialOptions{Subprotocols: protos, HTTPHeader: h}
	if o.TLS {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.WebSocketURL(o.TLS), opts)
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(64 << 20)
	w := &WSRaw{t: t, domain: s.Domain, Conn: ws, msgs: make(chan wsMsg, 100)}
	go func() {
		defer close(w.msgs)
		for {
			typ, b, err := ws.Read(context.Background())
			w.msgs <- wsMsg{typ, b, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ws.CloseNow()
		for range w.msgs {
		}
	})
	return w, resp, nil
}

// DialWebSocket is TryDialWebSocket failing the test on error.
func (s *Server) DialWebSocket(t testing.TB, o WSOptions) *WSRaw {
	t.Helper()
	w, _, err := s.TryDialWebSocket(t, o)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	return w
}

// ErrWSClosed is returned by WSRaw.Next when the WebSocket closed; the
// error it wraps is the library's (websocket.CloseStatus reads it).
var ErrWSClosed = errors.New("xmpptest: websocket closed")

// Send sends s as one text message.
func (w *WSRaw) Send(s string) {
	w.t.Helper()
	if err := w.TrySend(websocket.MessageText, s); err != nil {
		w.t.Fatalf("websocket send: %v", err)
	}
}

// TrySend sends one message of type typ.
func (w *WSRaw) TrySend(typ websocket.MessageType, s string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.Conn.Write(ctx, typ, []byte(s))
}

// Next returns the next message, decoded. A message that is not one
// well-formed element fails the test: RFC 7395 3.3.3 wants exactly one.
func (w *WSRaw) Next(timeout time.Duration) (Node, error) {
	w.t.Helper()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			return Node{}, ErrWSClosed
		}
		if m.err != nil {
			return Node{}, errors.Join(ErrWSClosed, m.err)
		}
		if m.typ != websocket.MessageText {
			w.t.Fatalf("websocket: server sent a binary message")
		}
		var n Node
		d := xml.NewDecoder(strings.NewReader(string(m.b)))
		if err := d.Decode(&n); err != nil {
			w.t.Fatalf("websocket: message %q is not an element: %v", m.b, err)
		}
		if _, err := d.Token(); err == nil {
			w.t.Fatalf("websocket: message %q holds more than one element", m.b)
		}
		return n, nil
	case <-time.After(timeout):
		return Node{}, ErrTimeout
	}
}

// Expect returns the next message, failing the test unless it is named
// local in space.
func (w *WSRaw) Expect(space, local string) Node {
	w.t.Helper()
	n, err := w.Next(5 * time.Second)
	if err != nil {
		w.t.Fatalf("websocket: waiting for <%s xmlns='%s'>: %v", local, space, err)
	}
	if n.XMLName.Local != local || n.XMLName.Space != space {
		w.t.Fatalf("websocket: got %s, want <%s xmlns='%s'>", n, local, space)
	}
	return n
}

// ExpectStanza skips messages until one that match accepts.
func (w *WSRaw) ExpectStanza(what string, timeout time.Duration, match func(Node) bool) Node {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := w.Next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("websocket %s: waiting for %s: %v", w.JID, what, err)
		}
		if match(n) {
			return n
		}
	}
}

// Open sends <open/> and returns the features after the server's
// <open/>.
func (w *WSRaw) Open() Node {
	w.t.Helper()
	w.Send("<open xmlns='" + NSFraming + "' to='" + w.domain + "' version='1.0'/>")
	o := w.Expect(NSFraming, "open")
	if o.Attr("id") == "" || o.Attr("from") != w.domain || o.Attr("version") != "1.0" {
		w.t.Fatalf("websocket: server's open %s", o)
	}
	return w.Expect(NSStream, "features")
}

// AuthPlain authenticates with PLAIN and returns the server's answer.
func (w *WSRaw) AuthPlain(user, password string) Node {
	w.t.Helper()
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	w.Send("<auth xmlns='" + NSSASL + "' mechanism='PLAIN'>" + ir + "</auth>")
	n, err := w.Next(5 * time.Second)
	if err != nil {
		w.t.Fatalf("websocket: waiting for the SASL answer: %v", err)
	}
	return n
}

// Bind binds resource ("" lets the server choose).
func (w *WSRaw) Bind(resource string) string {
	w.t.Helper()
	res := ""
	if resource != "" {
		res = "<resource>" + resource + "</resource>"
	}
	w.Send("<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='" + NSBind + "'>" + res + "</bind></iq>")
	n := w.Expect(NSClient, "iq")
	j := n.Find("bind/jid")
	if n.Attr("type") != "result" || j == nil || j.Text == "" {
		w.t.Fatalf("websocket: bind failed: %s", n)
	}
	w.JID = j.Text
	return w.JID
}

// Login opens, authenticates (PLAIN), opens again and binds.
func (w *WSRaw) Login(user, password, resource string) string {
	w.t.Helper()
	w.Open()
	if n := w.AuthPlain(user, password); n.XMLName.Local != "success" {
		w.t.Fatalf("websocket: authentication as %s failed: %s", user, n)
	}
	w.Open()
	return w.Bind(resource)
}

// ExpectStreamError reads until a <stream:error/> and checks its
// condition, then that <close/> follows and the WebSocket closes.
func (w *WSRaw) ExpectStreamError(cond string) Node {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var se Node
	for {
		n, err := w.Next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("websocket: waiting for stream error %s: %v", cond, err)
		}
		if n.XMLName.Space == NSStream && n.XMLName.Local == "error" {
			se = n
			break
		}
	}
	if se.Child(NSStreams, cond) == nil {
		w.t.Fatalf("websocket: stream error %s, want %s", se, cond)
	}
	w.ExpectClose()
	return se
}

// ExpectClose checks that the server sends <close/> and closes the
// WebSocket.
func (w *WSRaw) ExpectClose() {
	w.t.Helper()
	w.Expect(NSFraming, "close")
	if _, err := w.Next(10 * time.Second); !errors.Is(err, ErrWSClosed) {
		w.t.Fatalf("websocket: after <close/>: %v, want the WebSocket closed", err)
	}
}
