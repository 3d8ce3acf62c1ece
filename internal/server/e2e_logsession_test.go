package server_test

import (
	"regexp"
	"strings"
	"testing"

	"minimix/internal/xmpptest"
)

// TestE2ELogSessionID (issue 13 item 6): every line logged about a client
// connection carries session=ID, the same from accept to close across
// stream restarts (STARTTLS, SASL) and different for another connection.
func TestE2ELogSessionID(t *testing.T) {
	var log syncBuffer
	srv := xmpptest.StartWithLog(t, &log)
	srv.AddUser(t, "alice", pw("alice"))
	fail := func(r *xmpptest.Raw) {
		t.Helper()
		if n := r.AuthPlain("alice", "wrong"); n.XMLName.Local != "failure" {
			t.Fatalf("wrong password: %s", n)
		}
	}
	a := srv.DialRaw(t, xmpptest.RawOptions{})
	a.Open()
	a.StartTLS()
	fail(a)
	fail(a)
	b := srv.DialRaw(t, xmpptest.RawOptions{})
	b.Open()
	b.StartTLS()
	fail(b)

	re := regexp.MustCompile(`session=([0-9a-f]{16})\b`)
	var ids []string
	for _, line := range strings.Split(log.String(), "\n") {
		if !strings.Contains(line, `msg="login failed"`) {
			continue
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("login failure logged without a session id: %s", line)
		}
		ids = append(ids, m[1])
	}
	if len(ids) != 3 {
		t.Fatalf("%d login failures logged, want 3:\n%s", len(ids), log.String())
	}
	if ids[0] != ids[1] {
		t.Errorf("one connection logged as sessions %s and %s", ids[0], ids[1])
	}
	if ids[2] == ids[0] {
		t.Errorf("two connections logged as the same session %s", ids[0])
	}
}
