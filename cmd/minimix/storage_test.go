package main

import (
	"os"
	"strings"
	"testing"

	"minimix/internal/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }

// TestStorageCopy moves a deployment made with the user commands from
// SQLite to PostgreSQL and uses it there.
func TestStorageCopy(t *testing.T) {
	cfg := writeConfig(t, "data_dir = \"DATA\"\n")
	for _, u := range []string{"alice", "bob"} {
		if code, _, errOut := runCmd(t, "pw-"+u+"-123\n", "user", "add", u, "-config", cfg); code != 0 {
			t.Fatalf("user add %s: %s", u, errOut)
		}
	}
	dsn := pgtest.DSN(t)
	db := strings.Replace(cfg, "minimix.toml", "data/minimix.db", 1)
	code, out, errOut := runCmd(t, "", "storage", "copy", "-from", "sqlite:"+db, "-to", "postgres:"+dsn)
	if code != 0 {
		t.Fatalf("storage copy: code %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"accounts", "scram_credentials", "every count matches", "sample digest"} {
		if !strings.Contains(out, want) {
			t.Errorf("copy report lacks %q:\n%s", want, out)
		}
	}
	pg := writeConfig(t, "data_dir = \"DATA\"\n[storage]\ndriver = \"postgres\"\ndsn = \""+dsn+"\"\n")
	code, out, errOut = runCmd(t, "", "user", "list", "-config", pg)
	if code != 0 || out != "alice\nbob\n" {
		t.Errorf("user list on PostgreSQL: code %d, %q, %s", code, out, errOut)
	}
	// Copying again into the same database is refused.
	if code, _, errOut := runCmd(t, "", "storage", "copy", "-from", "sqlite:"+db, "-to", dsn); code == 0 || !strings.Contains(errOut, "already holds data") {
		t.Errorf("second copy: code %d, %s", code, errOut)
	}
	for _, args := range [][]string{
		{"storage"},
		{"storage", "move"},
		{"storage", "copy", "-from", db, "-to", dsn},
		{"storage", "copy", "-from", "sqlite:" + db, "-to", "mysql://x"},
	} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%q: code %d, want 2", args, code)
		}
	}
}
