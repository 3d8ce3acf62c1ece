package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// flood sends numbered messages from c to `to` with stream management on
// until stop is closed, and counts in acked what the server acknowledged
// (<a h/>). It returns when the flood ended and the reader saw the end.
func flood(c *xmpptest.Raw, to, prefix string, acked *atomic.Int64, stop <-chan struct{}) (wait func()) {
	c.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	c.Expect(xmpptest.NSSM, "enabled")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			n, err := c.Next(20 * time.Second)
			if err != nil {
				return
			}
			if n.XMLName.Space == xmpptest.NSSM && n.XMLName.Local == "a" {
				if h, err := strconv.ParseInt(n.Attr("h"), 10, 64); err == nil && h > acked.Load() {
					acked.Store(h)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				// The reader above sees the server's answer and ends.
				_ = c.TrySend("</stream:stream>")
				return
			default:
			}
			msg := fmt.Sprintf(`<message to='%s' type='chat' id='%s%d'><body>%s%d</body></message><r xmlns='urn:xmpp:sm:3'/>`, to, prefix, i, prefix, i)
			if c.TrySend(msg) != nil {
				return
			}
			if i%50 == 49 {
				// Let the acknowledgements catch up so that the flood is
				// a steady load, not one burst in the socket's buffer.
				for acked.Load() < int64(i)-200 {
					select {
					case <-stop:
					case <-time.After(time.Millisecond):
						continue
					}
					break
				}
			}
		}
	}()
	return func() {
		wg.Wait()
		c.Kill()
	}
}

// TestBackupUnderLoad takes a backup with minimix backup while two
// clients keep sending messages to accounts with no session, restores it
// into an empty data_dir, starts the server on it, and checks that every
// message acknowledged before the backup began is there: delivered to the
// offline recipient and kept in the sender's archive.
func TestBackupUnderLoad(t *testing.T) {
	p := xmpptest.StartProcess(t, xmpptest.ProcessConfig{C2S: "offline_max = 1000000\n"})
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		p.AddUser(u, u+"-secret")
	}
	var ackedA, ackedC atomic.Int64
	stop := make(chan struct{})
	waitA := flood(p.Login("alice", "alice-secret", "flood"), "bob@localhost", "a", &ackedA, stop)
	waitC := flood(p.Login("carol", "carol-secret", "flood"), "dave@localhost", "c", &ackedC, stop)
	stopped := false
	stopFlood := func() {
		if !stopped {
			stopped = true
			close(stop)
			waitA()
			waitC()
		}
	}
	defer stopFlood()
	deadline := time.Now().Add(60 * time.Second)
	for (ackedA.Load() < 500 || ackedC.Load() < 500) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	hA, hC := ackedA.Load(), ackedC.Load()
	if hA < 500 || hC < 500 {
		t.Fatalf("only %d and %d messages acknowledged in 60 s", hA, hC)
	}
	file := filepath.Join(t.TempDir(), "minimix-backup.db")
	out := p.Run("", "backup", file)
	afterA, afterC := ackedA.Load(), ackedC.Load()
	if !strings.Contains(out, "taken by the running server") {
		t.Errorf("backup did not ask the running server: %s", out)
	}
	if afterA <= hA && afterC <= hC {
		t.Errorf("no message was acknowledged while the backup ran (%d, %d before; %d, %d after): not a backup under load", hA, hC, afterA, afterC)
	}
	t.Logf("backup %q; acknowledged before it %d+%d, when it returned %d+%d", strings.TrimSpace(out), hA, hC, afterA, afterC)
	stopFlood()
	p.Stop()

	// Into an empty data_dir: the old one is moved away.
	if err := os.Rename(p.DataDir, p.DataDir+".old"); err != nil {
		t.Fatal(err)
	}
	p.Run("", "restore", file)
	p.Start()
	defer p.Stop()

	for _, c := range []struct {
		sender, recipient, prefix string
		acked                     int64
	}{{"alice", "bob", "a", hA}, {"carol", "dave", "c", hC}} {
		r := p.Login(c.recipient, c.recipient+"-secret", "phone")
		r.Send("<presence/>")
		got := make(map[string]bool)
		for {
			n, err := r.Next(3 * time.Second)
			if err != nil {
				break
			}
			if b := n.Child("", "body"); n.XMLName.Local == "message" && b != nil {
				got[b.Text] = true
			}
		}
		var lost []string
		for i := int64(0); i < c.acked; i++ {
			if body := fmt.Sprintf("%s%d", c.prefix, i); !got[body] {
				lost = append(lost, body)
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s: %d messages acknowledged before the backup are not in it, first %v", c.recipient, len(lost), lost[:min(5, len(lost))])
		}
		r.Close()

		s := p.Login(c.sender, c.sender+"-secret", "count")
		s.Send(`<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>`)
		res := s.ExpectStanza("archive count", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "q" })
		cnt := res.Find("fin/set/count")
		if cnt == nil {
			t.Fatalf("archive count: %s", res)
		}
		archived, _ := strconv.ParseInt(strings.TrimSpace(cnt.Text), 10, 64)
		if archived < c.acked {
			t.Errorf("%s's archive in the backup holds %d messages, %d were acknowledged before it", c.sender, archived, c.acked)
		}
		s.Close()
	}
}

// TestBackupRestoreCommands covers the commands without a server: an
// offline backup, and what restore and backup refuse.
func TestBackupRestoreCommands(t *testing.T) {
	cfg := writeConfig(t, "data_dir = \"DATA\"\n[http]\nlisten = \"127.0.0.1:1\"\n")
	if code, _, errOut := runCmd(t, "pw-alice-123\n", "user", "add", "alice", "-config", cfg); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "b.db")
	code, out, errOut := runCmd(t, "", "backup", file, "-config", cfg)
	if code != 0 || !strings.Contains(out, "no running server") {
		t.Fatalf("offline backup: code %d, %q, %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "", "backup", file, "-config", cfg); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over an existing file: code %d, %s", code, errOut)
	}
	// Restore refuses the data_dir that is in use, and files that are not
	// minimix databases.
	if code, _, errOut := runCmd(t, "", "restore", file, "-config", cfg); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("restore into a non-empty data_dir: code %d, %s", code, errOut)
	}
	fresh := writeConfig(t, "data_dir = \"DATA\"\n")
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database at all, not even close to one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, "", "restore", junk, "-config", fresh); code != 1 {
		t.Errorf("restore of a junk file: code %d, %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "restore", filepath.Join(dir, "missing.db"), "-config", fresh); code != 1 {
		t.Errorf("restore of a missing file: code %d, %s", code, errOut)
	}
	// A backup of a newer minimix is refused, and leaves data_dir empty.
	newer := filepath.Join(dir, "newer.db")
	if code, _, errOut := runCmd(t, "", "backup", newer, "-config", cfg); code != 0 {
		t.Fatal(errOut)
	}
	sqldb, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqldb.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	sqldb.Close()
	if code, _, errOut := runCmd(t, "", "restore", newer, "-config", fresh); code != 1 || !strings.Contains(errOut, "9999") {
		t.Errorf("restore of a newer schema: code %d, %s", code, errOut)
	}
	if entries, _ := os.ReadDir(filepath.Join(filepath.Dir(fresh), "data")); len(entries) != 0 {
		t.Errorf("a failed restore left %d files in data_dir", len(entries))
	}
	if code, out, errOut := runCmd(t, "", "restore", file, "-config", fresh); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: code %d, %q, %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "", "user", "list", "-config", fresh); code != 0 || out != "alice\n" {
		t.Errorf("user list after restore: code %d, %q, %s", code, out, errOut)
	}
	pg := writeConfig(t, "data_dir = \"DATA\"\n[storage]\ndriver = \"postgres\"\ndsn = \"postgres://x@127.0.0.1:1/x\"\n")
	if code, _, errOut := runCmd(t, "", "backup", filepath.Join(dir, "pg.db"), "-config", pg); code != 1 || !strings.Contains(errOut, "pg_dump") {
		t.Errorf("backup of postgres: code %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"backup"}, {"restore"}, {"backup", "a", "b"}} {
		if code, _, _ := runCmd(t, "", append(args, "-config", cfg)...); code != 2 {
			t.Errorf("%q: code %d, want 2", args, code)
		}
	}
}
