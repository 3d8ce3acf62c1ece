package server_test

import (
	"crypto/tls"
	"testing"

	"mellium.im/sasl"

	"minimix/internal/xmpptest"
)

// TestE2ELogin authenticates with every mechanism the server offers,
// over STARTTLS and over direct TLS (XEP-0368), and checks on the wire
// that the mechanism asked for was the one used and that the -PLUS
// variants bound the TLS channel with tls-exporter (RFC 9266, TLS 1.3).
func TestE2ELogin(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	mechs := []struct {
		mech sasl.Mechanism
		gs2  string
	}{
		{sasl.ScramSha256, "n,,"},
		{sasl.ScramSha1, "n,,"},
		{sasl.Plain, ""},
		{sasl.ScramSha256Plus, "p=tls-exporter,,"},
		{sasl.ScramSha1Plus, "p=tls-exporter,,"},
	}
	for _, direct := range []bool{false, true} {
		transport := "starttls"
		if direct {
			transport = "directtls"
		}
		for _, m := range mechs {
			t.Run(transport+"/"+m.mech.Name, func(t *testing.T) {
				c := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Mechanisms: []sasl.Mechanism{m.mech}, DirectTLS: direct})
				if c.Mechanism != m.mech.Name {
					t.Errorf("authenticated with %q, want %q", c.Mechanism, m.mech.Name)
				}
				if m.gs2 != "" && c.GS2Header != m.gs2 {
					t.Errorf("gs2 header %q, want %q", c.GS2Header, m.gs2)
				}
				if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
					t.Errorf("TLS version %x, want 1.3", v)
				}
				if got := bare(c); got != "alice@localhost" {
					t.Errorf("bound %s, want alice@localhost/...", c.JID)
				}
				if c.JID.Resourcepart() == "" {
					t.Errorf("bound JID %s has no resource", c.JID)
				}
				// The session works: the server answers a ping.
				r := c.IQ(t, `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
				wantAttrs(t, r, "type", "result", "id", "p1", "from", "localhost")
			})
		}
	}
}

// TestE2ELoginFailures checks that a wrong password and an unknown
// account fail alike with not-authorized (RFC 6120 6.5.10), whatever the
// mechanism, and that -PLUS is not offered without TLS.
func TestE2ELoginFailures(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	for _, tc := range []struct {
		name, user, pass string
		mech             sasl.Mechanism
	}{
		{"wrong password scram-sha-256", "alice", "not-the-password", sasl.ScramSha256},
		{"wrong password scram-sha-1-plus", "alice", "not-the-password", sasl.ScramSha1Plus},
		{"wrong password plain", "alice", "not-the-password", sasl.Plain},
		{"unknown account scram-sha-256", "nobody", "whatever-secret", sasl.ScramSha256},
		{"unknown account plain", "nobody", "whatever-secret", sasl.Plain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := srv.TryDial(t, tc.user, tc.pass, xmpptest.DialOptions{Mechanisms: []sasl.Mechanism{tc.mech}})
			if err == nil {
				c.Close()
				t.Fatal("login succeeded")
			}
			// Every SASL failure says what happened (issue 10 item 13),
			// without telling an unknown account from a wrong password.
			cond, text, ok := xmpptest.SASLFailure(err)
			if !ok || cond != "not-authorized" || text != "wrong username or password" {
				t.Errorf("login failed with %v (condition %q, text %q), want SASL not-authorized with a text", err, cond, text)
			}
		})
	}
}

// TestE2ELoginPlaintext checks that with require_tls = false SCRAM (and
// PLAIN) work on a connection without TLS, where the -PLUS variants are
// not offered since there is no channel to bind to.
func TestE2ELoginPlaintext(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithPlaintext())
	for _, m := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain} {
		t.Run(m.Name, func(t *testing.T) {
			c := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Mechanisms: []sasl.Mechanism{m}, Plaintext: true})
			if c.Mechanism != m.Name {
				t.Errorf("authenticated with %q, want %q", c.Mechanism, m.Name)
			}
			if c.ConnectionState().Version != 0 {
				t.Errorf("connection uses TLS")
			}
			if m.Name != "PLAIN" && c.GS2Header != "n,," {
				t.Errorf("gs2 header %q, want n,,", c.GS2Header)
			}
			r := c.IQ(t, `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
			wantAttrs(t, r, "type", "result", "id", "p1")
		})
	}
	t.Run("no PLUS without TLS", func(t *testing.T) {
		c, err := srv.TryDial(t, "alice", pw("alice"), xmpptest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256Plus}, Plaintext: true})
		if err == nil {
			c.Close()
			t.Fatal("SCRAM-SHA-256-PLUS succeeded on a plaintext connection")
		}
	})
}
