package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// TestImportExportCommands drives minimix import and export xep0227 on a
// stopped server's data_dir.
func TestImportExportCommands(t *testing.T) {
	cfg := writeConfig(t, "domain = \"example.org\"\ndata_dir = \"DATA\"\n[http]\nlisten = \"127.0.0.1:1\"\n")
	file := filepath.Join(t.TempDir(), "export.xml")
	body := `<?xml version='1.0'?><server-data xmlns='urn:xmpp:pie:0'>
<host jid='example.org'><user name='Ann' password='ann-password'><query xmlns='jabber:iq:roster'><item jid='bo@example.org' subscription='both' name='Bo'/></query></user></host>
<host jid='elsewhere.example'><user name='cy' password='cy-password'/></host></server-data>`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "", "import", "-dry-run", "xep0227", file, "-config", cfg)
	if code != 0 || !strings.Contains(out, "1 to import (dry run") || !strings.Contains(out, "host elsewhere.example (1 users)") {
		t.Fatalf("dry run: code %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "", "user", "list", "-config", cfg); code != 0 || out != "" {
		t.Errorf("accounts after the dry run: %q", out)
	}
	code, out, errOut = runCmd(t, "", "import", "xep0227", file, "-config", cfg)
	if code != 0 || !strings.Contains(out, "accounts:") {
		t.Fatalf("import: code %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "", "user", "list", "-config", cfg); code != 0 || out != "ann\n" {
		t.Errorf("accounts after the import: %q (the name is prepared: Ann is ann)", out)
	}
	code, out, _ = runCmd(t, "", "import", "xep0227", file, "-config", cfg)
	if code != 0 || strings.Count(out, " 0 imported") != 8 {
		t.Errorf("a second import wrote something:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut = runCmd(t, "", "export", "xep0227", dir, "-config", cfg)
	if code != 0 || !strings.Contains(out, "1 accounts exported") {
		t.Fatalf("export: code %d\n%s\n%s", code, out, errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ann@example.org.xml"))
	if err != nil || !strings.Contains(string(b), "SCRAM-SHA-256") || !strings.Contains(string(b), "bo@example.org") {
		t.Errorf("exported file: %v\n%s", err, b)
	}
	for _, args := range [][]string{
		{"import"}, {"import", "csv", file}, {"import", "xep0227"}, {"export", "xep0227"},
		{"import", "xep0227", "-nope", file}, {"export", "xep0227", "-dry-run", dir},
	} {
		if code, _, _ := runCmd(t, "", append(args, "-config", cfg)...); code != 2 {
			t.Errorf("%q: code %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "", "import", "xep0227", filepath.Join(dir, "missing.xml"), "-config", cfg); code != 1 {
		t.Errorf("a missing file: code %d, %s", code, errOut)
	}
}

// TestImportIntoRunningServer: an import beside a running server goes
// through it, so that an autojoin bookmark makes the account join at
// once; the account logs in with its old password.
func TestImportIntoRunningServer(t *testing.T) {
	p := xmpptest.StartProcess(t, xmpptest.ProcessConfig{})
	p.AddUser("keeper", "keeper-secret")
	keeper := p.Login("keeper", "keeper-secret", "desk")
	defer keeper.Close()
	// The room exists while keeper is in it: account join never creates
	// a bookmarked room.
	keeper.Send("<presence to='tea@conference.localhost/keeper'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	self := keeper.ExpectStanza("the room's creation", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == "tea@conference.localhost/keeper"
	})
	if strings.Contains(self.String(), `code="201"`) || strings.Contains(self.String(), "code='201'") {
		keeper.Send("<iq type='set' id='instant' to='tea@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>")
		keeper.ExpectStanza("the instant room", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "instant" })
	}
	file := filepath.Join(t.TempDir(), "export.xml")
	body := `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='ann' password='ann-password'>
<query xmlns='jabber:iq:roster'><item jid='bo@localhost' subscription='both' name='Bo'/></query>
<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='tea@conference.localhost' autojoin='true' name='Tea'><nick>Ann</nick></conference></storage></query>
</user></host></server-data>`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "", "import", "xep0227", file, "-config", p.Config)
	if code != 0 || !strings.Contains(out, "imported by the running server") || !strings.Contains(out, "1 imported") {
		t.Fatalf("import into a running server: code %d\n%s\n%s", code, out, errOut)
	}
	var joins string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if joins = p.Run("", "joins", "list", "ann@localhost"); strings.Contains(joins, "tea@conference.localhost") {
			break
		}
	}
	if !strings.Contains(joins, "tea@conference.localhost") || !strings.Contains(joins, "bookmark") {
		t.Errorf("ann did not join tea from her imported bookmark:\n%s", joins)
	}
	ann := p.Login("ann", "ann-password", "phone")
	ann.Send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
	res := ann.ExpectStanza("the roster", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "r" })
	if it := res.Find("query/item"); it == nil || it.Attr("jid") != "bo@localhost" || it.Attr("name") != "Bo" {
		t.Errorf("ann's roster: %s", res)
	}
	ann.Close()
	code, out, _ = runCmd(t, "", "import", "xep0227", file, "-config", p.Config)
	if code != 0 || strings.Count(out, " 0 imported") != 8 {
		t.Errorf("a second import into the running server wrote something:\n%s", out)
	}
	if code, out, errOut := runCmd(t, "", "import", "xep0227", "-dry-run", file, "-config", p.Config); code != 0 || !strings.Contains(out, "dry run") {
		t.Errorf("dry run beside a running server: code %d, %s %s", code, out, errOut)
	}
	p.Stop()
}
