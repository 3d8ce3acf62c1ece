package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// TestReload (issue 13 item 2): the running server reads its config file
// again on SIGHUP and on `minimix reload`; a session open before stays
// open, the live keys take their new values (in-band registration, seen
// in the stream features of a new connection), and a key that needs a
// restart is named in one log line of its own.
func TestReload(t *testing.T) {
	p := xmpptest.StartProcess(t, xmpptest.ProcessConfig{Tables: "[log]\nlevel = \"info\"\n"})
	p.AddUser("alice", "alice-secret")
	alice := p.Login("alice", "alice-secret", "before")

	register := func() bool {
		r := xmpptest.DialRawAddr(t, p.C2S, p.Domain, nil)
		defer r.Close()
		return r.Open().Child("http://jabber.org/features/iq-register", "register") != nil
	}
	ping := func(id string) {
		t.Helper()
		alice.Send("<iq type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>")
		alice.ExpectStanza("ping result "+id, 10*time.Second, func(n xmpptest.Node) bool {
			return n.XMLName.Local == "iq" && n.Attr("id") == id && n.Attr("type") == "result"
		})
	}
	edit := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(p.Config)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			t.Fatalf("config has no %q:\n%s", from, b)
		}
		if err := os.WriteFile(p.Config, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); strings.Count(p.Output(), what) < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q %d times:\n%s", what, n, p.Output())
			}
		}
	}
	if register() {
		t.Fatal("registration offered before it was turned on")
	}

	// SIGHUP: registration on, log level debug (live); shutdown_grace
	// and the MUC service's domain (restart).
	edit("require_tls = false\n", "require_tls = false\nallow_registration = true\n")
	edit("level = \"info\"", "level = \"debug\"")
	edit("data_dir = ", "shutdown_grace = \"7s\"\ndata_dir = ")
	edit("[log]", "[muc]\ndomain = \"rooms.localhost\"\n[log]")
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("configuration reloaded", 1)
	out := p.Output()
	for _, want := range []string{
		`key=shutdown_grace`, `key=muc.domain`,
		`applied="[c2s.allow_registration log.level]"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log after SIGHUP lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "keeps its old value until the server restarts"); n != 2 {
		t.Errorf("%d restart lines, want one per key (2):\n%s", n, out)
	}
	if !register() {
		t.Error("registration not offered after SIGHUP turned it on")
	}
	ping("after-sighup")

	// minimix reload: registration off again.
	edit("allow_registration = true\n", "")
	got := p.Run("", "reload")
	if !strings.Contains(got, "applied: c2s.allow_registration") || !strings.Contains(got, "needs a restart: shutdown_grace, muc.domain") {
		t.Errorf("minimix reload printed:\n%s", got)
	}
	waitLog("configuration reloaded", 2)
	if register() {
		t.Error("registration still offered after minimix reload turned it off")
	}
	ping("after-reload")

	// A file with a mistake changes nothing and says so.
	edit("[log]", "[log]\nlevle = 1\n")
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("configuration not reloaded", 1)
	ping("after-bad-file")
	alice.Close()
}
