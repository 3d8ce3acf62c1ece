package xmpptest

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NSBOSH is XEP-0124's namespace of <body/>.
const NSBOSH = "http://jabber.org/protocol/httpbind"

// BOSH is a client of XMPP over BOSH (XEP-0124/0206) driven by hand:
// each Post is one HTTP request, numbered with the next rid unless the
// test says otherwise.
type BOSH struct {
	t      testing.TB
	domain string
	URL    string
	Client *http.Client
	// Origin, if set, is sent as the Origin header.
	Origin string
	SID    string
	// RID is the rid of the last request sent.
	RID uint64
	// JID is the full JID after Bind.
	JID string
}

// BOSHURL is the server's /http-bind on its HTTP listener.
func (s *Server) BOSHURL() string { return "http://" + s.HTTPAddr().String() + "/http-bind" }

// NewBOSH returns a BOSH client of the server; it sends nothing yet.
func (s *Server) NewBOSH(t testing.TB) *BOSH {
	tr := &http.Transport{MaxConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &BOSH{t: t, domain: s.Domain, URL: s.BOSHURL(), Client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, RID: 1000}
}

// PostRaw posts body as it is and returns the response.
func (b *BOSH) PostRaw(body string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if b.Origin != "" {
		req.Header.Set("Origin", b.Origin)
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp, out, err
}

// Post posts body and decodes the answer, failing the test unless it is
// a 200 with a <body/>.
func (b *BOSH) Post(body string) Node {
	b.t.Helper()
	resp, out, err := b.PostRaw(body)
	if err != nil {
		b.t.Fatalf("bosh: post: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("bosh: status %d: %s", resp.StatusCode, out)
	}
	return b.decode(out)
}

func (b *BOSH) decode(out []byte) Node {
	b.t.Helper()
	var n Node
	if err := xml.Unmarshal(out, &n); err != nil {
		b.t.Fatalf("bosh: answer %q: %v", out, err)
	}
	if n.XMLName.Space != NSBOSH || n.XMLName.Local != "body" {
		b.t.Fatalf("bosh: answer is not a body: %s", out)
	}
	return n
}

// Body is a request's <body/> with rid and sid, the given extra
// attributes and payload.
func (b *BOSH) Body(rid uint64, attrs, payload string) string {
	s := "<body xmlns='" + NSBOSH + "' xmlns:xmpp='urn:xmpp:xbosh' rid='" + strconv.FormatUint(rid, 10) + "'"
	if b.SID != "" {
		s += " sid='" + b.SID + "'"
	}
	if attrs != "" {
		s += " " + attrs
	}
	if payload == "" {
		return s + "/>"
	}
	return s + ">" + payload + "</body>"
}

// Create starts a session with the given wait and hold and returns the
// creation answer.
func (b *BOSH) Create(wait, hold int) Node {
	b.t.Helper()
	b.RID++
	n := b.Post(b.Body(b.RID, "to='"+b.domain+"' wait='"+strconv.Itoa(wait)+"' hold='"+strconv.Itoa(hold)+"' ver='1.6' xmpp:version='1.0' xml:lang='en' ack='1'", ""))
	b.SID = n.Attr("sid")
	if b.SID == "" {
		b.t.Fatalf("bosh: creation answer without sid: %s", n)
	}
	return n
}

// Send posts payload with the next rid and returns the answer.
func (b *BOSH) Send(payload string) Node {
	b.t.Helper()
	b.RID++
	return b.Post(b.Body(b.RID, "", payload))
}

// Restart posts a stream restart and returns its answer.
func (b *BOSH) Restart() Node {
	b.t.Helper()
	b.RID++
	return b.Post(b.Body(b.RID, "to='"+b.domain+"' xml:lang='en' xmpp:restart='true'", ""))
}

// Find returns the first element named local in the answer n, waiting
// with empty requests (up to timeout) until one carries it.
func (b *BOSH) Find(n Node, what string, timeout time.Duration, match func(Node) bool) Node {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range n.Nodes {
			if match(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("bosh: no %s before the deadline", what)
		}
		if n.Attr("type") == "terminate" {
			b.t.Fatalf("bosh: session terminated waiting for %s: %s", what, n)
		}
		n = b.Send("")
	}
}

// Login creates a session, authenticates with PLAIN, restarts and binds
// resource.
func (b *BOSH) Login(user, password, resource string) string {
	b.t.Helper()
	b.Authenticate(user, password)
	res := ""
	if resource != "" {
		res = "<resource>" + resource + "</resource>"
	}
	n := b.Send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='" + NSBind + "'>" + res + "</bind></iq>")
	iq := b.Find(n, "bind result", 10*time.Second, func(c Node) bool { return c.XMLName.Local == "iq" && c.Attr("id") == "bind1" })
	j := iq.Find("bind/jid")
	if iq.Attr("type") != "result" || j == nil {
		b.t.Fatalf("bosh: bind: %s", iq)
	}
	b.JID = j.Text
	return b.JID
}

// Authenticate creates a session, authenticates with PLAIN and restarts
// the stream; it returns the features after the restart.
func (b *BOSH) Authenticate(user, password string) Node {
	b.t.Helper()
	n := b.Create(60, 1)
	if n.Child(NSStream, "features") == nil {
		n = b.Find(n, "features", 10*time.Second, func(c Node) bool { return c.XMLName.Local == "features" })
	}
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	n = b.Send("<auth xmlns='" + NSSASL + "' mechanism='PLAIN'>" + ir + "</auth>")
	b.Find(n, "SASL success", 10*time.Second, func(c Node) bool {
		if c.XMLName.Local == "failure" {
			b.t.Fatalf("bosh: authentication failed: %s", c)
		}
		return c.XMLName.Local == "success"
	})
	n = b.Restart()
	return b.Find(n, "features after restart", 10*time.Second, func(c Node) bool { return c.XMLName.Local == "features" })
}
