package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "minimix.toml")
	body = strings.ReplaceAll(body, "DATA", filepath.Join(dir, "data"))
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	good := writeConfig(t, "domain = \"example.org\"\ndata_dir = \"DATA\"\n")
	if code, out, errOut := runCmd(t, "", "config", "check", "-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("good config: code %d, out %q, err %q", code, out, errOut)
	}
	bad := writeConfig(t, "domain = \"example.org\"\n[c2s]\nlisen = [\":5222\"]\n[limits]\nmax_stanza_bytes = 5\n")
	code, out, _ := runCmd(t, "", "config", "check", "-config", bad)
	if code == 0 {
		t.Fatal("bad config passed the check")
	}
	for _, want := range []string{bad + ":3:", "lisen", bad + ":5:", "max_stanza_bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	// MINIMIX_CONFIG is used when no flag is given.
	t.Setenv("MINIMIX_CONFIG", good)
	if code, _, errOut := runCmd(t, "", "config", "check"); code != 0 {
		t.Errorf("check via MINIMIX_CONFIG: code %d: %s", code, errOut)
	}
}

func TestUserCommands(t *testing.T) {
	cfg := writeConfig(t, "data_dir = \"DATA\"\n")
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"s3cret-pw\n", []string{"user", "add", "Alice", "-config", cfg}, 0, "ok"},
		{"s3cret-pw\n", []string{"user", "add", "alice", "-config", cfg}, 1, ""},
		{"x\n", []string{"user", "add", "bob", "-config", cfg}, 1, ""}, // too short
		{"another-pw\n", []string{"-config", cfg, "user", "add", "bob"}, 0, "ok"},
		{"", []string{"user", "list", "-config", cfg}, 0, "alice\nbob\n"},
		{"new-password\n", []string{"user", "passwd", "bob", "-config", cfg}, 0, "ok"},
		{"new-password\n", []string{"user", "passwd", "nobody", "-config", cfg}, 1, ""},
		{"", []string{"user", "del", "alice", "-config", cfg}, 0, "deleted"},
		{"", []string{"user", "list", "-config", cfg}, 0, "bob\n"},
	}
	for i, s := range steps {
		code, out, errOut := runCmd(t, s.stdin, s.args...)
		if code != s.code || !strings.Contains(out, s.out) {
			t.Errorf("step %d %v: code %d out %q err %q; want code %d out containing %q", i, s.args, code, out, errOut, s.code, s.out)
		}
	}
	// The stored credentials are not the password.
	db, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "data", "minimix.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte("new-password")) || bytes.Contains(db, []byte("another-pw")) {
		t.Error("a password is stored in plaintext")
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "minimix ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, out, _ := runCmd(t, "", "config", "example"); code != 0 || !strings.Contains(out, "[account_join]") {
		t.Errorf("config example: %d", code)
	}
}
