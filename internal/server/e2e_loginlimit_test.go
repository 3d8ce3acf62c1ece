package server_test

import (
	"fmt"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// attempt logs in as user from the address from (127.0.0.x) with a raw
// stream and returns the SASL outcome (<success/> or <failure/>).
func attempt(t *testing.T, srv *xmpptest.Server, from, user, password string) Node {
	t.Helper()
	r := srv.DialRaw(t, xmpptest.RawOptions{LocalAddr: from})
	defer r.Kill()
	r.Open()
	r.StartTLS()
	return r.AuthSCRAM(user, password)
}

func wantOutcome(t *testing.T, n Node, what, outcome, cond string) {
	t.Helper()
	if n.XMLName.Local != outcome || cond != "" && n.Child(xmpptest.NSSASL, cond) == nil {
		t.Fatalf("%s: got %s, want %s %s", what, n, outcome, cond)
	}
	if outcome == "failure" {
		if txt := n.Child(xmpptest.NSSASL, "text"); txt == nil || strings.TrimSpace(txt.Text) == "" {
			t.Errorf("%s: a SASL failure without a <text/>: %s", what, n)
		}
	}
}

// TestE2ELoginLimiterPerAccount (issue 10 item 16): someone guessing
// alice's password from an address shared by many (a NAT) is blocked
// from alice's account at that address, and nobody else is: bob, behind
// the same NAT, logs in with his password at once.
func TestE2ELoginLimiterPerAccount(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := xmpptest.StartWithLog(t, &logs, xmpptest.WithConfig(func(c *config.Config) {
		d := config.Default()
		c.C2S.LoginFailuresPerMinute = d.C2S.LoginFailuresPerMinute
		c.C2S.AddressLoginFailuresPerMinute = d.C2S.AddressLoginFailuresPerMinute
	}))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, pw(u))
	}
	const nat, elsewhere = "127.0.0.1", "127.0.0.2"
	for i := range 5 {
		wantOutcome(t, attempt(t, srv, nat, "alice", "guess"), fmt.Sprintf("guess %d", i), "failure", "not-authorized")
	}
	n := attempt(t, srv, nat, "alice", pw("alice"))
	wantOutcome(t, n, "alice behind the NAT after the guesses", "failure", "temporary-auth-failure")
	if txt := n.Child(xmpptest.NSSASL, "text"); !strings.Contains(txt.Text, "too many failed logins") {
		t.Errorf("the refusal does not say why: %s", n)
	}
	wantOutcome(t, attempt(t, srv, nat, "bob", pw("bob")), "bob behind the same NAT", "success", "")
	wantOutcome(t, attempt(t, srv, elsewhere, "alice", pw("alice")), "alice from elsewhere", "success", "")

	out := logs.String()
	for _, want := range []string{
		`msg="login failed" component=c2s remote=127.0.0.1`,
		`user=alice`,
		`msg="login refused by the login limiter"`,
		`reason="too many failed logins; try again in 1m0s"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}

// TestE2ELoginLimiterSpraying: guessing across many accounts from one
// address blocks the address (c2s.address_login_failures_per_minute),
// except for accounts that logged in from it before.
func TestE2ELoginLimiterSpraying(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := xmpptest.StartWithLog(t, &logs, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.LoginFailuresPerMinute = 5
		c.C2S.AddressLoginFailuresPerMinute = 12
	}))
	for _, u := range []string{"bob", "carol"} {
		srv.AddUser(t, u, pw(u))
	}
	const addr = "127.0.0.3"
	wantOutcome(t, attempt(t, srv, addr, "bob", pw("bob")), "bob before the attack", "success", "")
	for i := range 12 {
		wantOutcome(t, attempt(t, srv, addr, fmt.Sprintf("user%d", i), "guess"), fmt.Sprintf("spray %d", i), "failure", "not-authorized")
	}
	wantOutcome(t, attempt(t, srv, addr, "carol", pw("carol")), "carol, new at the address", "failure", "temporary-auth-failure")
	wantOutcome(t, attempt(t, srv, addr, "bob", pw("bob")), "bob, known at the address", "success", "")
	wantOutcome(t, attempt(t, srv, "127.0.0.4", "carol", pw("carol")), "carol elsewhere", "success", "")

	for range 5 {
		wantOutcome(t, attempt(t, srv, addr, "carol", "guess"), "carol guessed while blocked", "failure", "temporary-auth-failure")
	}
	if n := srv.C2S.Stats.AuthThrottled.Load(); n != 6 {
		t.Errorf("%d refusals counted, want 6", n)
	}
	if !strings.Contains(logs.String(), `msg="login refused by the login limiter" component=c2s remote=127.0.0.3`) {
		t.Errorf("the refusals are not logged:\n%s", logs.String())
	}
}
