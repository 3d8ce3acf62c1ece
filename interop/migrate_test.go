package interop

// Moving in from Prosody and ejabberd (XEP-0227, docs/migrating.md): each
// test runs the real server from Debian's package on loopback in a
// temporary directory, makes accounts and data there with its own tools
// and a client, exports with the server's exporter (ejabberdctl
// export_piefxis, prosody-migrator with its xep0227 store), imports the
// export with minimix import xep0227 into a minimix process, and logs in
// with the old password to find the roster, the bookmarks (and the
// account's join of the bookmarked room), the vCard and the rest.
//
// They run where the packages are installed (apt-get install -y
// prosody ejabberd) and skip with a message where they are not, unless
// MINIMIX_INTEROP=1 or MINIMIX_INTEROP_MIGRATE=1 (CI sets the first) says
// they must run.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"minimix/internal/xmpptest"

	"mellium.im/sasl"
)

const migrateEnv = "MINIMIX_INTEROP_MIGRATE"

// needBinary returns the path of a peer's program, or skips (fails when
// the environment says the suite must run).
func needBinary(t *testing.T, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err == nil {
		return p
	}
	if os.Getenv("MINIMIX_INTEROP") == "1" || os.Getenv(migrateEnv) == "1" {
		t.Fatalf("%s is not installed (apt-get install -y %s), and MINIMIX_INTEROP or %s says this test must run", bin, pkg, migrateEnv)
	}
	t.Skipf("skipping: %s is not installed (apt-get install -y %s; with MINIMIX_INTEROP=1 or %s=1 its absence fails)", bin, pkg, migrateEnv)
	return ""
}

// importInto stops p, imports the export at path into it (a dry run
// first, which must write nothing), starts it again and returns what the
// import printed.
func importInto(t *testing.T, p *xmpptest.Process, path string) string {
	t.Helper()
	dry := p.Run("", "import", "xep0227", "-dry-run", path)
	t.Logf("dry run:\n%s", dry)
	p.Stop()
	if out := p.Run("", "user", "list"); strings.TrimSpace(out) != "keeper" {
		t.Fatalf("the dry run created accounts: %q", out)
	}
	out := p.Run("", "import", "xep0227", path)
	t.Logf("import:\n%s", out)
	again := p.Run("", "import", "xep0227", path)
	for _, line := range strings.Split(again, "\n") {
		if strings.Contains(line, "already there") && !strings.Contains(line, " 0 imported") {
			t.Errorf("a second import wrote again: %q", line)
		}
	}
	p.Start()
	return out
}

// createPersistentRoom makes room on p's MUC service, persistent, so
// that it is there when the server starts again: account join never
// creates the rooms of bookmarks (docs/account-join.md, rule 24), and the
// old server's rooms move separately.
func createPersistentRoom(t *testing.T, p *xmpptest.Process, room string) {
	t.Helper()
	p.AddUser("keeper", "keeper-secret")
	r := p.Login("keeper", "keeper-secret", "desk")
	defer r.Close()
	peerCreateRoom(t, r, room, "keeper")
	form := `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field></x>`
	iq(t, r, "persist", `<iq type='set' id='persist' to='`+room+`'><query xmlns='`+nsMUCOwner+`'>`+form+`</query></iq>`)
}

// iq sends a request and returns the answer with its id.
func iq(t *testing.T, r *xmpptest.Raw, id, body string) xmpptest.Node {
	t.Helper()
	r.Send(body)
	n := r.ExpectStanza("iq "+id, 10*time.Second, func(n xmpptest.Node) bool { return n.XMLName.Local == "iq" && n.Attr("id") == id })
	if n.Attr("type") != "result" {
		t.Fatalf("iq %s: %s", id, n)
	}
	return n
}

// checkMovedIn logs in as user with password and checks what both
// servers can export: the roster item of contact with its name and
// group, the vCard's FN, and the bookmark of room with autojoin, which
// the account has joined.
func checkMovedIn(t *testing.T, p *xmpptest.Process, r *xmpptest.Raw, user, contact, name, group, fn, room string) {
	t.Helper()
	roster := iq(t, r, "roster", "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
	found := false
	for _, it := range roster.Find("query").Children("jabber:iq:roster", "item") {
		if it.Attr("jid") == contact {
			found = true
			if it.Attr("name") != name || it.Attr("subscription") != "both" || (group != "" && !strings.Contains(it.String(), group)) {
				t.Errorf("roster item: %s", it)
			}
		}
	}
	if !found {
		t.Errorf("%s is not in %s's roster: %s", contact, user, roster)
	}
	vc := iq(t, r, "vc", "<iq type='get' id='vc'><vCard xmlns='vcard-temp'/></iq>")
	if !strings.Contains(vc.String(), fn) {
		t.Errorf("vCard lacks %q: %s", fn, vc)
	}
	bm := iq(t, r, "bm", "<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
	if !strings.Contains(bm.String(), room) || !strings.Contains(bm.String(), "autojoin") {
		t.Errorf("bookmark of %s missing: %s", room, bm)
	}
	// The bookmark with autojoin makes the account join at start.
	var joins string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if joins = p.Run("", "joins", "list", user+"@"+p.Domain); strings.Contains(joins, room) {
			break
		}
	}
	if !strings.Contains(joins, room) {
		t.Errorf("%s did not join %s from its bookmark:\n%s\nminimix's log:\n%s", user, room, joins, p.Output())
	}
}

// TestMigrateEjabberd: ejabberd keeps SCRAM-SHA-256 credentials
// (auth_password_format: scram), its export carries them and minimix
// keeps them as they are.
func TestMigrateEjabberd(t *testing.T) {
	needBinary(t, "ejabberdctl", "ejabberd")
	cred := systemUser(t, "ejabberd")
	ed := serverDir(t, "minimix-migrate-ejabberd-")
	for _, d := range []string{"spool", "logs", "export"} {
		if err := os.MkdirAll(filepath.Join(ed, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c2s := freePort(t)
	yml := `# Written by minimix's interop suite (interop/migrate_test.go).
hosts:
  - localhost
loglevel: info
log_rotate_count: 0
listen:
  - port: ` + c2s + `
    ip: "127.0.0.1"
    module: ejabberd_c2s
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_admin_extra: {}
  mod_offline: {}
  mod_private: {}
  mod_roster: {}
  mod_vcard: {}
`
	files := map[string]string{
		"ejabberd.yml":    yml,
		"ejabberdctl.cfg": "ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0\"\nERL_DIST_PORT=" + freePort(t) + "\n",
		"inetrc":          "{lookup,[\"file\",\"native\"]}.\n{file, resolv, \"/etc/resolv.conf\"}.\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(ed, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if cred != nil {
		chownAll(t, ed, int(cred.Uid), int(cred.Gid))
	}
	node := fmt.Sprintf("minimix-migrate-%d@localhost", os.Getpid())
	ctl := func(args ...string) *exec.Cmd {
		cmd := exec.Command("ejabberdctl", append([]string{"--config-dir", ed, "--logs", filepath.Join(ed, "logs"), "--spool", filepath.Join(ed, "spool"), "--node", node}, args...)...)
		cmd.Dir = ed
		cmd.Env = append(os.Environ(), "HOME="+ed)
		return cmd
	}
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(ed, "logs", "ejabberd.log"))
		return string(b)
	}
	try := func(args ...string) (string, error) {
		cmd := ctl(args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Its client port opens before the node has started every module
	// (mod_admin_extra's commands among them): ready is when ejabberdctl
	// says the ejabberd application runs.
	runDaemon(t, "ejabberd", ctl("foreground"), cred, logs, func() bool {
		if !listening("127.0.0.1:" + c2s) {
			return false
		}
		_, err := try("status")
		return err == nil
	})
	run := func(args ...string) string {
		t.Helper()
		out, err := try(args...)
		if err != nil {
			t.Fatalf("ejabberdctl %s: %v\n%s\n%s", strings.Join(args, " "), err, out, logs())
		}
		return out
	}
	run("register", "alice", "localhost", "alice-on-ejabberd")
	run("register", "bob", "localhost", "bob-on-ejabberd")
	run("add_rosteritem", "alice", "localhost", "bob", "localhost", "Bob", "Friends", "both")
	run("add_rosteritem", "bob", "localhost", "alice", "localhost", "Alice", "Friends", "both")
	run("set_vcard", "alice", "localhost", "FN", "Alice Liddell")
	run("private_set", "alice", "localhost", "<storage xmlns='storage:bookmarks'><conference jid='tea@conference.localhost' autojoin='true' name='Tea party'><nick>Alice</nick></conference></storage>")
	run("send_message", "chat", "bob@localhost", "alice@localhost", "", "sent while alice was on ejabberd")
	// The export must see the message in alice's offline store, not
	// only on its way there.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if n := strings.TrimSpace(run("get_offline_count", "alice", "localhost")); n != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ejabberd did not store the offline message:\n%s", logs())
		}
	}
	run("export_piefxis", filepath.Join(ed, "export"))
	export := filepath.Join(ed, "export")
	if b, err := exec.Command("sh", "-c", "cat "+export+"/*.xml").CombinedOutput(); err == nil {
		t.Logf("ejabberd's export:\n%s", b)
	}

	p := xmpptest.StartProcess(t, xmpptest.ProcessConfig{})
	createPersistentRoom(t, p, "tea@conference.localhost")
	out := importInto(t, p, export)
	if !strings.Contains(out, "offline messages:") {
		t.Errorf("import summary: %s", out)
	}
	r := p.Login("alice", "alice-on-ejabberd", "laptop")
	defer r.Close()
	checkMovedIn(t, p, r, "alice", "bob@localhost", "Bob", "Friends", "Alice Liddell", "tea@conference.localhost")
	r.Send("<presence/>")
	r.ExpectStanza("the offline message", 10*time.Second, xmpptest.IsMessage("sent while alice was on ejabberd"))
	// The wrong password still fails.
	w := xmpptest.DialRawAddr(t, p.C2S, p.Domain, nil)
	w.Open()
	if n := w.AuthSCRAM("bob", "not-bobs-password"); n.XMLName.Local != "failure" {
		t.Errorf("a wrong password: %s", n)
	}
	w.Close()
}

// prosodyLogin logs in to Prosody with PLAIN on a loopback stream (the
// test's Prosody allows it; it has no certificate).
func prosodyLogin(t *testing.T, addr, user, resource string) *xmpptest.Raw {
	t.Helper()
	r := xmpptest.DialRawAddr(t, addr, "localhost", nil)
	r.Open()
	if n := r.AuthPlain(user, user+"-on-prosody"); n.XMLName.Local != "success" {
		t.Fatalf("PLAIN as %s on Prosody: %s", user, n)
	}
	r.Open()
	r.Bind(resource)
	return r
}

// prosodyMigrateConfig is a Prosody configuration with its data in data,
// clients on 127.0.0.1:c2s (plaintext, PLAIN allowed: no certificate),
// logging to dir/name.log, and the vCard modules given (Debian's default
// configuration has "vcard4"; "vcard_legacy", which keep vCards in PEP;
// "vcard" keeps them in a store of their own).
func prosodyMigrateConfig(dir, data, c2s, name, vcard string) string {
	q := luaString
	return `-- Written by minimix's interop suite (interop/migrate_test.go).
data_path = ` + q(data) + `
log = { info = ` + q(filepath.Join(dir, name+".log")) + ` }
pidfile = ` + q(filepath.Join(dir, name+".pid")) + `
interfaces = { "127.0.0.1" }
c2s_ports = { ` + c2s + ` }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "disco"; "private"; ` + vcard + `; "pep"; "bookmarks"; "mam" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
archive_expires_after = "never"

VirtualHost "localhost"
`
}

// writeMigrator writes a copy of Debian's prosody-migrator to path whose
// xep0227 store lives in xepDir: Prosody's xep0227 store reads and
// writes user@host.xml where Prosody keeps its data (CFG_DATADIR,
// /var/lib/prosody), whatever the migrator's configuration says.
func writeMigrator(t *testing.T, migrator, path, xepDir string) string {
	t.Helper()
	src, err := os.ReadFile(migrator)
	if err != nil {
		t.Fatal(err)
	}
	mig := strings.Replace(string(src), "CFG_DATADIR='/var/lib/prosody'", "CFG_DATADIR="+luaString(xepDir), 1)
	if mig == string(src) {
		t.Fatalf("%s does not set CFG_DATADIR='/var/lib/prosody' as Debian's does", migrator)
	}
	if err := os.WriteFile(path, []byte(mig), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateProsody: Prosody keeps SCRAM-SHA-1 credentials
// (internal_hashed), PEP bookmarks (XEP-0402, mod_bookmarks) and a MAM
// archive, and prosody-migrator writes them as XEP-0227.
func TestMigrateProsody(t *testing.T) {
	bin := needBinary(t, "prosody", "prosody")
	migrator := needBinary(t, "prosody-migrator", "prosody")
	ctl := needBinary(t, "prosodyctl", "prosody")
	cred := systemUser(t, "prosody")
	dir := serverDir(t, "minimix-migrate-prosody-")
	data, out := filepath.Join(dir, "data"), filepath.Join(dir, "export")
	for _, d := range []string{data, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c2s := freePort(t)
	q := luaString
	// As Debian's configuration has it: vCards in PEP (XEP-0292), which
	// the export carries as PEP items only.
	cfg := prosodyMigrateConfig(dir, data, c2s, "prosody", `"vcard4"; "vcard_legacy"`)
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	migFile := writeMigrator(t, migrator, filepath.Join(dir, "prosody-migrator"), out)
	migCfg := filepath.Join(dir, "migrator.cfg.lua")
	stores := `{ "accounts"; "roster"; "vcard"; "private"; "pep-pubsub"; "archive-archive" }`
	if err := errors.Join(
		os.WriteFile(migCfg, []byte("input { type = \"internal\"; path = "+q(data)+"; hosts = { [\"localhost\"] = "+stores+" } }\noutput { type = \"xep0227\" }\n"), 0o644),
	); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		chownAll(t, dir, int(cred.Uid), int(cred.Gid))
	}
	asProsody := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
		}
	}
	for _, u := range []string{"pat", "alice"} {
		asProsody(ctl, "--config", cfgFile, "register", u, "localhost", u+"-on-prosody")
	}
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
		return string(b)
	}
	addr := "127.0.0.1:" + c2s
	runDaemon(t, "prosody", exec.Command(bin, "--config", cfgFile, "-F"), cred, logs, func() bool { return listening(addr) })

	pat := prosodyLogin(t, addr, "pat", "laptop")
	alice := prosodyLogin(t, addr, "alice", "phone")
	// A mutual subscription, as two clients make it (requests go to
	// available resources).
	pat.Send("<presence/>")
	alice.Send("<presence/>")
	pat.Send("<presence to='alice@localhost' type='subscribe'/>")
	alice.ExpectStanza("pat's request", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "subscribe"
	})
	alice.Send("<presence to='pat@localhost' type='subscribed'/><presence to='pat@localhost' type='subscribe'/>")
	pat.ExpectStanza("alice's request", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "subscribe"
	})
	pat.Send("<presence to='alice@localhost' type='subscribed'/>")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res := iq(t, pat, "roster", "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
		if it := res.Find("query/item"); it != nil && it.Attr("subscription") == "both" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pat's roster on Prosody: %s", res)
		}
	}
	iq(t, pat, "name", "<iq type='set' id='name'><query xmlns='jabber:iq:roster'><item jid='alice@localhost' name='Alice'><group>Garden</group></item></query></iq>")
	iq(t, pat, "vcard", "<iq type='set' id='vcard'><vCard xmlns='vcard-temp'><FN>Pat Prosody</FN></vCard></iq>")
	iq(t, pat, "bm", `<iq type='set' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='garden@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='The garden' autojoin='true'><nick>Pat</nick></conference></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`)
	iq(t, pat, "notes", "<iq type='set' id='notes'><query xmlns='jabber:iq:private'><notes xmlns='storage:rosternotes'><note jid='alice@localhost'>grows roses</note></notes></query></iq>")
	pat.Send("<message to='alice@localhost' type='chat' id='hello1'><body>hello from prosody</body></message>")
	alice.ExpectStanza("pat's message", 10*time.Second, xmpptest.IsMessage("hello from prosody"))
	pat.Close()
	alice.Close()

	asProsody(migFile, "--config="+migCfg, "input", "output")
	files, _ := filepath.Glob(filepath.Join(out, "*.xml"))
	if len(files) != 2 {
		t.Fatalf("prosody-migrator wrote %v into %s", files, out)
	}
	if b, err := os.ReadFile(filepath.Join(out, "pat@localhost.xml")); err == nil {
		t.Logf("prosody-migrator's export of pat:\n%s", b)
	}

	p := xmpptest.StartProcess(t, xmpptest.ProcessConfig{})
	createPersistentRoom(t, p, "garden@conference.localhost")
	importInto(t, p, out)
	// Prosody 0.12 keeps SCRAM-SHA-1 only: the old password works with
	// SCRAM-SHA-1 (the imported data as they are) and PLAIN.
	r := xmpptest.DialRawAddr(t, p.C2S, p.Domain, nil)
	r.Open()
	if n := r.AuthMechanism(sasl.ScramSha1, "pat", "pat-on-prosody"); n.XMLName.Local != "success" {
		t.Fatalf("SCRAM-SHA-1 with the old password: %s", n)
	}
	r.Open()
	r.Bind("laptop")
	defer r.Close()
	checkMovedIn(t, p, r, "pat", "alice@localhost", "Alice", "Garden", "Pat Prosody", "garden@conference.localhost")
	notes := iq(t, r, "notes", "<iq type='get' id='notes'><query xmlns='jabber:iq:private'><notes xmlns='storage:rosternotes'/></query></iq>")
	if !strings.Contains(notes.String(), "grows roses") {
		t.Errorf("private XML: %s", notes)
	}
	// The archive: results come before the query's answer.
	r.Send("<iq type='set' id='mam'><query xmlns='urn:xmpp:mam:2'/></iq>")
	var archived bool
	r.ExpectStanza("the archive query's answer", 10*time.Second, func(n xmpptest.Node) bool {
		if n.XMLName.Local == "message" && strings.Contains(n.String(), "hello from prosody") {
			archived = true
		}
		return n.XMLName.Local == "iq" && n.Attr("id") == "mam"
	})
	if !archived {
		t.Error("pat's archived message did not come from the archive")
	}
	// SCRAM-SHA-256 needs credentials Prosody never had; the first PLAIN
	// login makes them.
	s256 := xmpptest.DialRawAddr(t, p.C2S, p.Domain, nil)
	s256.Open()
	if n := s256.AuthSCRAM("alice", "alice-on-prosody"); n.XMLName.Local != "failure" {
		t.Errorf("SCRAM-SHA-256 before a PLAIN login: %s", n)
	}
	s256.Close()
	pl := xmpptest.DialRawAddr(t, p.C2S, p.Domain, nil)
	pl.Open()
	if n := pl.AuthPlain("alice", "alice-on-prosody"); n.XMLName.Local != "success" {
		t.Errorf("PLAIN with alice's old password: %s", n)
	}
	pl.Close()
	s256 = xmpptest.DialRawAddr(t, p.C2S, p.Domain, nil)
	s256.Open()
	if n := s256.AuthSCRAM("alice", "alice-on-prosody"); n.XMLName.Local != "success" {
		t.Errorf("SCRAM-SHA-256 after a PLAIN login: %s", n)
	}
	s256.Close()

	// And back: minimix's export, read by prosody-migrator into a fresh
	// Prosody, where pat logs in with SCRAM-SHA-1 (the credentials that
	// made the whole trip) and finds the roster and the vCard.
	back, data2 := filepath.Join(dir, "from-minimix"), filepath.Join(dir, "data2")
	p.Run("", "export", "xep0227", back)
	if err := os.MkdirAll(data2, 0o755); err != nil {
		t.Fatal(err)
	}
	c2s2 := freePort(t)
	cfg2 := filepath.Join(dir, "prosody2.cfg.lua")
	mig2 := writeMigrator(t, migrator, filepath.Join(dir, "prosody-migrator2"), back)
	mig2Cfg := filepath.Join(dir, "migrator2.cfg.lua")
	if err := errors.Join(
		os.WriteFile(cfg2, []byte(prosodyMigrateConfig(dir, data2, c2s2, "prosody2", `"vcard"`)), 0o644),
		os.WriteFile(mig2Cfg, []byte("input { type = \"xep0227\"; hosts = { [\"localhost\"] = { \"accounts\"; \"roster\"; \"vcard\" } } }\noutput { type = \"internal\"; path = "+q(data2)+" }\n"), 0o644),
	); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		chownAll(t, dir, int(cred.Uid), int(cred.Gid))
	}
	asProsody(mig2, "--config="+mig2Cfg, "input", "output")
	addr2 := "127.0.0.1:" + c2s2
	logs2 := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "prosody2.log"))
		return string(b)
	}
	runDaemon(t, "prosody (from minimix)", exec.Command(bin, "--config", cfg2, "-F"), cred, logs2, func() bool { return listening(addr2) })
	r2 := xmpptest.DialRawAddr(t, addr2, "localhost", nil)
	r2.Open()
	if n := r2.AuthMechanism(sasl.ScramSha1, "pat", "pat-on-prosody"); n.XMLName.Local != "success" {
		t.Fatalf("SCRAM-SHA-1 on the Prosody that read minimix's export: %s\n%s", n, logs2())
	}
	r2.Open()
	r2.Bind("back")
	defer r2.Close()
	roster2 := iq(t, r2, "roster", "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
	if it := roster2.Find("query/item"); it == nil || it.Attr("jid") != "alice@localhost" || it.Attr("name") != "Alice" || it.Attr("subscription") != "both" {
		t.Errorf("pat's roster on the Prosody that read minimix's export: %s", roster2)
	}
	if vc := iq(t, r2, "vc", "<iq type='get' id='vc'><vCard xmlns='vcard-temp'/></iq>"); !strings.Contains(vc.String(), "Pat Prosody") {
		t.Errorf("pat's vCard there: %s", vc)
	}
}
