package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// TestSmoke drives the command as a script would: create accounts, run a
// small MUC flood and a chat with -json under two labels, and compare them.
func TestSmoke(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithPlaintext(), xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.AllowRegistration = true
		c.C2S.LoginFailuresPerMinute = 0
	}))
	common := []string{"-addr", srv.C2SAddr().String(), "-domain", srv.Domain, "-q", "-timeout", "20s"}
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(context.Background(), append(append([]string{}, common...), args...), &out, &errb); code != 0 {
			t.Fatalf("minimix-bench %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	if out := runOK("-accounts", "6", "accounts"); !strings.Contains(out, "created") {
		t.Errorf("accounts output:\n%s", out)
	}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	var all strings.Builder
	for _, label := range []string{"a", "b"} {
		all.WriteString(runOK("-json", "-label", label, "-occupants", "3", "-messages", "20", "-pairs", "2", "muc", "chat"))
	}
	if n := strings.Count(all.String(), "\n"); n != 4 {
		t.Fatalf("want 4 JSON lines, got %d:\n%s", n, all.String())
	}
	if err := os.WriteFile(results, []byte(all.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"compare", "-base", "a", results}, &out, &errb); code != 0 {
		t.Fatalf("compare: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"| case | metric | a | b | b / a |", "| muc | deliveries/s", "| chat | msgs/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("compare output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-user", "nopattern", "muc"},
		{"-no-such-flag"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("run(%v) = %d, want 2", args, code)
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:1", "-q", "nosuch"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "unknown scenario") {
		t.Errorf("unknown scenario: %d %s", run(context.Background(), []string{"nosuch"}, &out, &errb), errb.String())
	}
}
