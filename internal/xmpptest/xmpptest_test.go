package xmpptest

import (
	"net"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
)

// TestDialResource: DialOptions.Resource is the resource the client asks
// to bind, and the session's JID carries it, over every transport Dial
// offers.
func TestDialResource(t *testing.T) {
	srv := Start(t, WithConfig(func(c *config.Config) {}))
	srv.AddUser(t, "alice", "alice-secret")
	for _, tc := range []struct {
		name string
		o    DialOptions
	}{
		{"starttls", DialOptions{Resource: "phone"}},
		{"direct tls", DialOptions{Resource: "tablet", DirectTLS: true}},
		{"websocket", DialOptions{Resource: "web", WebSocket: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Dial(t, "alice", "alice-secret", tc.o)
			if got := c.JID.Resourcepart(); got != tc.o.Resource {
				t.Errorf("bound %s, want resource %q", c.JID, tc.o.Resource)
			}
			// The server agrees: it routes to that full JID.
			r := c.IQ(t, `<iq type='get' id='p1' to='alice@localhost/`+tc.o.Resource+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
			if r.Attr("type") != "result" {
				t.Errorf("ping to alice@localhost/%s: %s", tc.o.Resource, r)
			}
		})
	}
}

// TestWithDomain: the services whose domains derive from the server's
// follow WithDomain, and the server routes them there: none is left at
// a subdomain of localhost.
func TestWithDomain(t *testing.T) {
	srv := Start(t, WithDomain("example.test"))
	srv.AddUser(t, "alice", "alice-secret")
	want := map[string]string{
		"conference.example.test": srv.Config.MUC.Domain,
		"pubsub.example.test":     srv.Config.PubSub.Domain,
		"upload.example.test":     srv.Config.Upload.Domain,
	}
	for w, got := range want {
		if got != w {
			t.Errorf("service domain %q, want %q", got, w)
		}
	}
	c := srv.Dial(t, "alice", "alice-secret", DialOptions{})
	items := c.IQ(t, `<iq type='get' id='items' to='example.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	q := items.Child("http://jabber.org/protocol/disco#items", "query")
	if q == nil {
		t.Fatalf("disco#items: %s", items)
	}
	listed := map[string]bool{}
	for _, it := range q.Children("http://jabber.org/protocol/disco#items", "item") {
		listed[it.Attr("jid")] = true
		if strings.Contains(it.Attr("jid"), "localhost") {
			t.Errorf("disco#items lists %s", it.Attr("jid"))
		}
	}
	for d := range want {
		if !listed[d] {
			t.Errorf("disco#items of example.test does not list %s: %s", d, items)
		}
		r := c.IQ(t, `<iq type='get' id='info' to='`+d+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		if r.Attr("type") != "result" {
			t.Errorf("disco#info of %s: %s", d, r)
		}
	}
}

// TestExited: a server that cannot bind its port exits, and exited
// notices (waiting for a server to listen fails at once then, and
// StartCluster tries again with new ports when a port chosen free was
// taken meanwhile).
func TestExited(t *testing.T) {
	var p *Process
	var l net.Listener
	for err := error(nil); l == nil; {
		if p = PrepareProcess(t, ProcessConfig{}); err != nil {
			t.Logf("the port chosen was taken meanwhile (%v): another", err)
		}
		l, err = net.Listen("tcp", p.C2S)
	}
	defer l.Close()
	p.Launch()
	deadline := time.Now().Add(time.Minute)
	for !p.exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the server still runs a minute after failing to bind %s; output:\n%s", p.C2S, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.Output(), "address already in use") {
		t.Errorf("output does not say why:\n%s", p.Output())
	}
	p.Kill()
}
