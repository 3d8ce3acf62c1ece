package extdisco_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end: a server with STUN and TURN servers configured, asked by a
// mellium client the way Conversations asks before a call.

type Node = xmpptest.Node

const ns = "urn:xmpp:extdisco:2"

func services(c *config.Config) {
	c.ExternalServices.Secret = "north"
	c.ExternalServices.CredentialTTL = config.Duration{Duration: 2 * time.Hour}
	c.ExternalServices.Services = []config.ExternalService{
		{Type: "stun", Host: "turn.example.org", Port: 3478, Transport: "udp"},
		{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "udp", Secret: true},
		{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "tcp", Name: "Relay over TCP", Secret: true},
		{Type: "turns", Host: "192.0.2.1", Port: 5349, Transport: "tcp", Username: "guest", Password: "guest-pw"},
	}
}

func hasFeature(n Node, v string) bool {
	q := n.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		return false
	}
	for _, f := range q.Children("http://jabber.org/protocol/disco#info", "feature") {
		if f.Attr("var") == v {
			return true
		}
	}
	return false
}

// attrs is a <service/> as "k=v" pairs in a fixed order, credentials
// left out.
func attrs(n Node) string {
	var out []string
	for _, k := range []string{"type", "host", "port", "transport", "name"} {
		if n.HasAttr(k) {
			out = append(out, k+"="+n.Attr(k))
		}
	}
	return strings.Join(out, " ")
}

// checkREST checks credentials made from secret for user by the TURN
// REST scheme, valid about ttl from now (before: when the request went
// out).
func checkREST(t *testing.T, n Node, secret, user string, ttl time.Duration, before time.Time) {
	t.Helper()
	name, pass := n.Attr("username"), n.Attr("password")
	stamp, who, ok := strings.Cut(name, ":")
	if !ok || who != user {
		t.Fatalf("username %q is not EXPIRY:%s", name, user)
	}
	expiry, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		t.Fatalf("username %q: expiry: %v", name, err)
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(name))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); pass != want {
		t.Errorf("password %q, want base64(HMAC-SHA1(secret, %q)) = %q", pass, name, want)
	}
	exp, err := time.Parse(time.RFC3339, n.Attr("expires"))
	if err != nil || !strings.HasSuffix(n.Attr("expires"), "Z") {
		t.Fatalf("expires %q is not a XEP-0082 UTC dateTime: %v", n.Attr("expires"), err)
	}
	if exp.Unix() != expiry {
		t.Errorf("expires %s and the username's %d differ", n.Attr("expires"), expiry)
	}
	if lo, hi := before.Add(ttl).Add(-time.Second), time.Now().Add(ttl); exp.Before(lo) || exp.After(hi) {
		t.Errorf("expires %s, want credential_ttl (%v) after the request, in [%s, %s]", exp, ttl, lo, hi)
	}
}

func TestE2EServices(t *testing.T) {
	t.Parallel()
	srv := xmpptest.Start(t, xmpptest.WithConfig(services))
	srv.AddUser(t, "alice", "alice-secret")
	a := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})

	r := a.IQ(t, `<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !hasFeature(r, ns) {
		t.Errorf("server does not advertise %s: %s", ns, r)
	}

	before := time.Now()
	r = a.IQ(t, `<iq type='get' id='s' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`)
	if r.Attr("type") != "result" {
		t.Fatalf("services: %s", r)
	}
	list := r.Child(ns, "services").Children(ns, "service")
	var got []string
	for _, s := range list {
		got = append(got, attrs(s))
	}
	want := []string{
		"type=stun host=turn.example.org port=3478 transport=udp",
		"type=turn host=turn.example.org port=3478 transport=udp",
		"type=turn host=turn.example.org port=3478 transport=tcp name=Relay over TCP",
		"type=turns host=192.0.2.1 port=5349 transport=tcp",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("services:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if list[0].HasAttr("username") || list[0].HasAttr("password") || list[0].HasAttr("expires") {
		t.Errorf("STUN service with credentials: %v", list[0])
	}
	checkREST(t, list[1], "north", "alice@localhost", 2*time.Hour, before)
	checkREST(t, list[2], "north", "alice@localhost", 2*time.Hour, before)
	if s := list[3]; s.Attr("username") != "guest" || s.Attr("password") != "guest-pw" || s.HasAttr("expires") {
		t.Errorf("fixed credentials: %v", s)
	}

	// Section 3.2: one type; the answer says which.
	r = a.IQ(t, `<iq type='get' id='t'><services xmlns='urn:xmpp:extdisco:2' type='turn'/></iq>`)
	q := r.Child(ns, "services")
	if q == nil || q.Attr("type") != "turn" || len(q.Children(ns, "service")) != 2 {
		t.Fatalf("services of type turn: %s", r)
	}

	// Section 3.3: credentials for a service named by host and type (and
	// port).
	before = time.Now()
	r = a.IQ(t, `<iq type='get' id='c' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn'/></credentials></iq>`)
	cs := r.Child(ns, "credentials")
	if r.Attr("type") != "result" || cs == nil || len(cs.Children(ns, "service")) != 2 {
		t.Fatalf("credentials: %s", r)
	}
	for _, s := range cs.Children(ns, "service") {
		checkREST(t, s, "north", "alice@localhost", 2*time.Hour, before)
	}
	r = a.IQ(t, `<iq type='get' id='c2' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service host='192.0.2.1' type='turns' port='5349'/></credentials></iq>`)
	if s := r.Child(ns, "credentials").Child(ns, "service"); s == nil || s.Attr("username") != "guest" {
		t.Errorf("fixed credentials by port: %s", r)
	}

	for _, tc := range []struct{ iq, typ, cond string }{
		{`<iq type='get' id='e1' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service host='other.example.org' type='turn'/></credentials></iq>`, "cancel", "item-not-found"},
		{`<iq type='get' id='e2' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn' port='1'/></credentials></iq>`, "cancel", "item-not-found"},
		{`<iq type='get' id='e3' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'/></iq>`, "modify", "bad-request"},
		{`<iq type='get' id='e4' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service type='turn'/></credentials></iq>`, "modify", "bad-request"},
		{`<iq type='set' id='e5' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`, "modify", "bad-request"},
	} {
		r := a.IQ(t, tc.iq)
		if gt, gc := r.Error(); r.Attr("type") != "error" || gt != tc.typ || gc != tc.cond {
			t.Errorf("%s: got %s, want %s %s", tc.iq, r, tc.typ, tc.cond)
		}
	}
}

// TestE2ESecretFile: the secret may come from a file; without services
// the feature is not advertised and requests are not answered.
func TestE2ESecretFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "turn.secret")
	if err := os.WriteFile(file, []byte("  from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.ExternalServices.SecretFile = file
		c.ExternalServices.Services = []config.ExternalService{{Type: "turn", Host: "turn.example.org", Port: 3478, Secret: true}}
	}))
	srv.AddUser(t, "alice", "alice-secret")
	a := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	before := time.Now()
	r := a.IQ(t, `<iq type='get' id='s' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`)
	s := r.Child(ns, "services").Child(ns, "service")
	if s == nil {
		t.Fatalf("services: %s", r)
	}
	checkREST(t, *s, "from-a-file", "alice@localhost", 24*time.Hour, before)

	none := xmpptest.Start(t)
	none.AddUser(t, "bob", "bob-secret")
	b := none.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	if r := b.IQ(t, `<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); hasFeature(r, ns) {
		t.Errorf("%s advertised without services: %s", ns, r)
	}
	r = b.IQ(t, `<iq type='get' id='s' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`)
	if gt, gc := r.Error(); gt != "cancel" || gc != "service-unavailable" {
		t.Errorf("services without any configured: %s", r)
	}
}
