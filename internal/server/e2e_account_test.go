package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

const nsRegister = "jabber:iq:register"

// hasRegisterFeature reports whether stream features offer in-band
// registration (XEP-0077 section 4).
func hasRegisterFeature(f Node) bool {
	return f.Child("http://jabber.org/features/iq-register", "register") != nil
}

// rawIQ sends an iq on a raw stream and returns the stanza answering it.
func rawIQ(t *testing.T, r *xmpptest.Raw, id, iq string) Node {
	t.Helper()
	r.Send(iq)
	return r.ExpectStanza("iq "+id, 5*time.Second, func(n Node) bool { return n.XMLName.Local == "iq" && n.Attr("id") == id })
}

// TestE2ERegistrationDisabled checks that by default in-band
// registration is neither offered nor served.
func TestE2ERegistrationDisabled(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	f := r.StartTLS()
	if hasRegisterFeature(f) {
		t.Errorf("registration offered although disabled: %s", f)
	}
	r.Send(`<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>eve</username><password>eve-secret</password></query></iq>`)
	r.ExpectStreamError("not-authorized")
	if _, err := srv.TryDial(t, "eve", "eve-secret", xmpptest.DialOptions{}); err == nil {
		t.Errorf("an account was registered although registration is disabled")
	}
}

// TestE2EAccountLifecycle registers an account in-band over TLS (XEP-0077
// section 3.1), logs in with it, changes its password (3.3) and removes it
// (3.2), checking that each step takes effect.
func TestE2EAccountLifecycle(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) { c.C2S.AllowRegistration = true }))

	// Before TLS the feature is not offered and a registration fails.
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	if f := r.Open(); hasRegisterFeature(f) {
		t.Errorf("registration offered before TLS: %s", f)
	}
	n := rawIQ(t, r, "plain", `<iq type='set' id='plain'><query xmlns='jabber:iq:register'><username>dave</username><password>sniffed-secret</password></query></iq>`)
	if n.Attr("type") != "error" {
		t.Errorf("registration without TLS: %s", n)
	}

	r = srv.DialRaw(t, xmpptest.RawOptions{})
	r.Open()
	f := r.StartTLS()
	if !hasRegisterFeature(f) {
		t.Fatalf("registration not offered: %s", f)
	}
	n = rawIQ(t, r, "get", `<iq type='get' id='get'><query xmlns='jabber:iq:register'/></iq>`)
	q := n.Child(nsRegister, "query")
	if n.Attr("type") != "result" || q == nil || q.Child(nsRegister, "username") == nil || q.Child(nsRegister, "password") == nil {
		t.Fatalf("registration form: %s", n)
	}
	n = rawIQ(t, r, "set", `<iq type='set' id='set'><query xmlns='jabber:iq:register'><username>dave</username><password>dave-secret</password></query></iq>`)
	wantAttrs(t, n, "type", "result", "id", "set")
	// 3.1: a taken username is a conflict.
	n = rawIQ(t, r, "again", `<iq type='set' id='again'><query xmlns='jabber:iq:register'><username>alice</username><password>other-secret</password></query></iq>`)
	wantError(t, n, "cancel", "conflict")
	r.Close()

	// The new account works, and is empty.
	d := srv.Dial(t, "dave", "dave-secret", xmpptest.DialOptions{})
	rr := d.IQ(t, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	if items := rosterItems(t, rr); len(items) != 0 {
		t.Errorf("new account's roster: %s", rr)
	}
	r2 := d.IQ(t, `<iq type='get' id='info' to='localhost'><query xmlns='jabber:iq:register'/></iq>`)
	if r2.Find("query/registered") == nil {
		t.Errorf("register get after login does not say registered: %s", r2)
	}

	// 3.3: change the password; the old one stops working.
	res := d.IQ(t, `<iq type='set' id='pw' to='localhost'><query xmlns='jabber:iq:register'><username>dave</username><password>new-dave-secret</password></query></iq>`)
	wantAttrs(t, res, "type", "result", "id", "pw")
	if c, err := srv.TryDial(t, "dave", "dave-secret", xmpptest.DialOptions{}); err == nil {
		c.Close()
		t.Errorf("old password still works")
	}
	// Nobody changes someone else's password.
	res = d.IQ(t, `<iq type='set' id='pw2' to='localhost'><query xmlns='jabber:iq:register'><username>alice</username><password>stolen-secret</password></query></iq>`)
	if res.Attr("type") != "error" {
		t.Errorf("changed another account's password: %s", res)
	}
	srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{}).Close()

	// 3.2: remove the account; its sessions end and it is gone.
	d2 := srv.Dial(t, "dave", "new-dave-secret", xmpptest.DialOptions{})
	res = d.IQ(t, `<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	wantAttrs(t, res, "type", "result", "id", "rm")
	for _, c := range []*xmpptest.Client{d, d2} {
		select {
		case <-c.Closed():
		case <-time.After(5 * time.Second):
			t.Errorf("%s: session of the removed account still open", c.JID)
		}
	}
	if c, err := srv.TryDial(t, "dave", "new-dave-secret", xmpptest.DialOptions{}); err == nil {
		c.Close()
		t.Errorf("removed account can still log in")
	}
	a := goOnline(t, srv, "alice", "")
	a.SendRaw(t, `<message to='dave@localhost' type='chat' id='gone'><body>hello?</body></message>`)
	n = a.Expect(t, "error", isStanza("message", "error"))
	wantError(t, n, "cancel", "service-unavailable")
}

// TestE2EHTTP checks the HTTP listener: health and Prometheus metrics
// that follow what happens on the XMPP side.
func TestE2EHTTP(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	base := "http://" + srv.HTTPAddr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}

	c1 := loginAs(t, srv, "alice")
	loginAs(t, srv, "alice")
	if _, err := srv.TryDial(t, "alice", "wrong-password", xmpptest.DialOptions{}); err == nil {
		t.Fatal("wrong password accepted")
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"\nminimix_c2s_sessions 2\n",
		"\nminimix_c2s_auth_successes_total 2\n",
		"\nminimix_c2s_auth_failures_total 1\n",
		"# TYPE minimix_c2s_sessions gauge\n",
		"# TYPE minimix_router_routed_total counter\n",
		"# TYPE minimix_archive_write_failures_total counter\n",
		"\nminimix_c2s_stanzas_in_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	// The gauge follows sessions going away.
	c1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, body = get("/metrics"); strings.Contains(body, "\nminimix_c2s_sessions 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("minimix_c2s_sessions did not drop to 1")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d", code)
	}
}
