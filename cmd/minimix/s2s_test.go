package main

import (
	"fmt"
	"strings"
	"testing"

	"minimix/internal/xmpptest"
)

// minimix s2s list shows the running server's streams with other servers
// through the admin API: direction, domains, authentication, TLS.
func TestS2SList(t *testing.T) {
	a := xmpptest.Start(t, xmpptest.WithDomain("a.test"))
	b := xmpptest.Start(t, xmpptest.WithDomain("b.test"))
	xmpptest.Federate(a, b)
	a.AddUser(t, "alice", "alice-secret")
	b.AddUser(t, "bob", "bob-secret")
	alice := a.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	if r := alice.IQ(t, `<iq type='get' id='p' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Attr("type") != "result" {
		t.Fatalf("ping over s2s: %s", r)
	}
	cfg := writeConfig(t, fmt.Sprintf("data_dir = %q\n[http]\nlisten = %q\n", a.Config.DataDir, a.HTTPAddr().String()))
	code, out, errOut := runCmd(t, "", "s2s", "list", "-config", cfg)
	if code != 0 {
		t.Fatalf("s2s list: code %d err %q", code, errOut)
	}
	t.Logf("minimix s2s list:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "DIRECTION") {
		t.Fatalf("s2s list:\n%s", out)
	}
	var outLine, inLine string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case f[0] == "out" && f[1] == "b.test":
			outLine = l
		case f[0] == "in" && f[1] == "b.test":
			inLine = l
		}
	}
	for _, want := range []string{"a.test", "established", "dialback", "TLSv1.3", "invalid"} {
		if !strings.Contains(outLine, want) || !strings.Contains(inLine, want) {
			t.Errorf("no %q in the outgoing and incoming lines:\n%s", want, out)
		}
	}
	if code, _, errOut := runCmd(t, "", "s2s", "frobnicate", "-config", cfg); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("unknown subcommand: code %d err %q", code, errOut)
	}
}
