package interop

// Federation with servers nobody here wrote: Prosody 0.12 and ejabberd
// 23.01 from Debian's packages, each started once for the run with a
// configuration written here, each on its own loopback address and
// domain, all on port 5269, found by their addresses (A records, which
// the test adds to /etc/hosts) after SRV lookups that find nothing:
//
//	127.0.0.2 mm.test        minimix (this tree), certificate self-signed
//	127.0.0.3 prosody.test   Prosody, certificate from a test CA
//	127.0.0.4 ejabberd.test  ejabberd, certificate from the same CA
//
// minimix trusts the test CA (s2s.ca_file), the others do not trust
// minimix's self-signed certificate: their streams to minimix
// authenticate with SASL EXTERNAL (XEP-0178), minimix's to them with
// Server Dialback (XEP-0220), and both are checked; Prosody, with
// mod_s2s_bidi, offers XEP-0288 on minimix's stream. Accounts on the other
// servers are driven by the raw stream client, minimix's by mellium.
//
// It needs root (for /etc/hosts, and to run each server as its system
// user) and the packages (apt-get install -y prosody ejabberd). It runs
// when MINIMIX_INTEROP=1 (CI, where anything missing is a failure) or
// MINIMIX_INTEROP_FEDERATION=1; otherwise it is skipped, because the
// fixed addresses and port would collide with another run on the same
// machine.

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
	"minimix/internal/xmpptest/testca"
)

// federationEnv names the environment variable that runs the federation
// suite outside CI.
const federationEnv = "MINIMIX_INTEROP_FEDERATION"

const (
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = nsMUC + "#user"
	nsMUCAdmin = nsMUC + "#admin"
	nsMUCOwner = nsMUC + "#owner"
)

// peer is another server under test.
type peer struct {
	name, domain, ip string
	c2s              string // host:port of its client listener
	tls              *tls.Config
	users            []string
}

func (p *peer) muc() string { return "conference." + p.domain }

// login connects an account of p over STARTTLS, authenticates it with
// PLAIN and binds resource.
func (p *peer) login(t *testing.T, user, resource string) *xmpptest.Raw {
	t.Helper()
	r := xmpptest.DialRawAddr(t, p.c2s, p.domain, p.tls)
	r.Open()
	r.StartTLS()
	if n := r.AuthPlain(user, password(user)); n.XMLName.Local != "success" {
		t.Fatalf("%s: login of %s: %s", p.name, user, n)
	}
	r.Open()
	r.Bind(resource)
	return r
}

// TestFederation runs minimix, Prosody and ejabberd once, and the
// scenarios between minimix and each of the others.
func TestFederation(t *testing.T) {
	requireFederation(t)
	dir := serverDir(t, "minimix-interop-federation-")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	addHosts(t, map[string]string{
		"mm.test": "127.0.0.2", "conference.mm.test": "127.0.0.2",
		"prosody.test": "127.0.0.3", "conference.prosody.test": "127.0.0.3",
		"ejabberd.test": "127.0.0.4", "conference.ejabberd.test": "127.0.0.4",
	})
	mm := xmpptest.Start(t, xmpptest.WithDomain("mm.test"), xmpptest.WithConfig(func(c *config.Config) {
		c.S2S.Listen = []string{"127.0.0.2:5269"}
		c.S2S.DirectTLSListen = []string{}
		c.S2S.CAFile = caFile
	}))
	for _, u := range []string{"alice", "bob"} {
		mm.AddUser(t, u, password(u))
	}
	peers := []*peer{startFedProsody(t, dir, ca, caFile), startFedEjabberd(t, dir, ca, caFile)}
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			t.Run("chat", func(t *testing.T) { fedChat(t, mm, p) })
			t.Run("authentication", func(t *testing.T) { fedAuth(t, mm, p) })
			t.Run("subscription", func(t *testing.T) { fedSubscription(t, mm, p) })
			t.Run("account join in a room there", func(t *testing.T) { fedRemoteRoom(t, mm, p) })
			t.Run("their account in a minimix room", func(t *testing.T) { fedLocalRoom(t, mm, p) })
		})
	}
}

// requireFederation skips unless the suite is asked for, and fails when
// asked for but impossible.
func requireFederation(t *testing.T) {
	t.Helper()
	if os.Getenv("MINIMIX_INTEROP") != "1" && os.Getenv(federationEnv) != "1" {
		t.Skipf("skipping the federation suite (Prosody, ejabberd on 127.0.0.2-4:5269); set %s=1 or MINIMIX_INTEROP=1 to run it", federationEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the federation suite needs root: it adds the test domains to /etc/hosts and runs each server as its user")
	}
	for _, bin := range []string{"prosody", "ejabberdctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the federation suite needs %s (apt-get install -y prosody ejabberd): %v", bin, err)
		}
	}
}

// addHosts adds names to /etc/hosts, where minimix (Go's resolver),
// Prosody (unbound's hoststxt) and ejabberd (Erlang's inetrc) find them,
// and takes its lines out again when t ends.
func addHosts(t *testing.T, names map[string]string) {
	t.Helper()
	const file, mark = "/etc/hosts", " # minimix interop"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var add strings.Builder
	for name, ip := range names {
		line := ip + " " + name + mark
		if !strings.Contains(string(b), line) {
			add.WriteString(line + "\n")
		}
	}
	if add.Len() > 0 {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			add.WriteString("") // the file ends without a newline: start ours on a line of its own
			_, _ = f.WriteString("\n")
		}
		_, err = f.WriteString(add.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		b, err := os.ReadFile(file)
		if err != nil {
			return
		}
		var keep []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if !strings.Contains(l, mark) {
				keep = append(keep, l)
			}
		}
		// In place: /etc/hosts may be a bind mount that cannot be
		// replaced.
		_ = os.WriteFile(file, []byte(strings.Join(keep, "")), 0o644)
	})
}

// peerTLS trusts the test CA for domain.
func peerTLS(ca *testca.CA, domain string) *tls.Config {
	return &tls.Config{ServerName: domain, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// startFedProsody runs Prosody for prosody.test on 127.0.0.3.
func startFedProsody(t *testing.T, dir string, ca *testca.CA, caFile string) *peer {
	t.Helper()
	p := &peer{name: "prosody", domain: "prosody.test", ip: "127.0.0.3", users: []string{"pat", "paula"}}
	p.c2s = net.JoinHostPort(p.ip, freePort(t))
	p.tls = peerTLS(ca, p.domain)
	pd := filepath.Join(dir, "prosody")
	if err := os.MkdirAll(pd, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.WriteFiles(pd, p.domain, 0o600); err != nil {
		t.Fatal(err)
	}
	writeProsodyAccounts(t, filepath.Join(pd, "data"), p.domain, p.users)
	q := luaString
	_, port, _ := net.SplitHostPort(p.c2s)
	cfg := `-- Written by minimix's interop suite (interop/federation_test.go).
data_path = ` + q(filepath.Join(pd, "data")) + `
log = { debug = ` + q(filepath.Join(pd, "prosody.log")) + ` }
interfaces = { "` + p.ip + `" }
c2s_ports = { ` + port + ` }
s2s_ports = { 5269 }
component_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "s2s_bidi"; "disco"; "ping"; "version"; "vcard_legacy"; "pep" }
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
unbound = { hoststxt = true }
certificates = ` + q(pd) + `
ssl = { certificate = ` + q(filepath.Join(pd, p.domain+".crt")) + `; key = ` + q(filepath.Join(pd, p.domain+".key")) + `; cafile = ` + q(caFile) + ` }

VirtualHost "` + p.domain + `"

Component "` + p.muc() + `" "muc"
	muc_tombstones = false
	restrict_room_creation = false
`
	cfgFile := filepath.Join(pd, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cred := systemUser(t, "prosody")
	if cred != nil {
		chownAll(t, pd, int(cred.Uid), int(cred.Gid))
	}
	bin, _ := exec.LookPath("prosody")
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(pd, "prosody.log"))
		return string(b)
	}
	runDaemon(t, "prosody", exec.Command(bin, "--config", cfgFile, "-F"), cred, logs, func() bool {
		return listening(p.c2s) && listening(net.JoinHostPort(p.ip, "5269"))
	})
	return p
}

// startFedEjabberd runs ejabberd for ejabberd.test on 127.0.0.4, as a
// node of its own that needs no epmd, and registers its accounts.
func startFedEjabberd(t *testing.T, dir string, ca *testca.CA, caFile string) *peer {
	t.Helper()
	p := &peer{name: "ejabberd", domain: "ejabberd.test", ip: "127.0.0.4", users: []string{"erin", "eve"}}
	p.c2s = net.JoinHostPort(p.ip, freePort(t))
	p.tls = peerTLS(ca, p.domain)
	ed := filepath.Join(dir, "ejabberd")
	for _, d := range []string{ed, filepath.Join(ed, "spool"), filepath.Join(ed, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	crt, key, err := ca.Issue(p.domain)
	if err != nil {
		t.Fatal(err)
	}
	pem := filepath.Join(ed, p.domain+".pem")
	if err := os.WriteFile(pem, append(crt, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(p.c2s)
	yml := `# Written by minimix's interop suite (interop/federation_test.go).
hosts:
  - ` + p.domain + `
loglevel: info
log_rotate_count: 0
certfiles:
  - ` + pem + `
ca_file: ` + caFile + `
listen:
  - port: 5269
    ip: "` + p.ip + `"
    module: ejabberd_s2s_in
  - port: ` + port + `
    ip: "` + p.ip + `"
    module: ejabberd_c2s
    starttls_required: true
s2s_use_starttls: required
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  muc_create:
    allow: all
modules:
  mod_caps: {}
  mod_disco: {}
  mod_muc:
    host: ` + p.muc() + `
    access_create: muc_create
    default_room_options:
      mam: false
  mod_ping: {}
  mod_roster: {}
  mod_s2s_dialback: {}
  mod_vcard: {}
  mod_version: {}
`
	distPort := freePort(t)
	files := map[string]string{
		"ejabberd.yml":    yml,
		"ejabberdctl.cfg": "ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0\"\nERL_DIST_PORT=" + distPort + "\n",
		// Names from /etc/hosts first, as the package's own inetrc says.
		"inetrc": "{lookup,[\"file\",\"native\"]}.\n{file, resolv, \"/etc/resolv.conf\"}.\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(ed, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cred := systemUser(t, "ejabberd")
	if cred != nil {
		chownAll(t, ed, int(cred.Uid), int(cred.Gid))
	}
	node := fmt.Sprintf("minimix-interop-%d@localhost", os.Getpid())
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
	// Its ports open before the node has started every module and
	// table (register failed on a loaded machine with mnesia's
	// no_exists for passwd): ready is when ejabberdctl says the
	// ejabberd application runs, as in migrate_test.go.
	runDaemon(t, "ejabberd", ctl("foreground"), cred, logs, func() bool {
		if !listening(p.c2s) || !listening(net.JoinHostPort(p.ip, "5269")) {
			return false
		}
		cmd := ctl("status")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd.Run() == nil
	})
	for _, u := range p.users {
		cmd := ctl("register", u, p.domain, password(u))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ejabberdctl register %s: %v\n%s", u, err, out)
		}
	}
	return p
}

var fedSeq atomic.Int64

// fresh returns a name not used before in this run.
func fresh(prefix string) string { return fmt.Sprintf("%s%d", prefix, fedSeq.Add(1)) }

// Node is a received stanza.
type Node = xmpptest.Node

// expectRaw waits for what match accepts on r, skipping the rest.
func expectRaw(t *testing.T, r *xmpptest.Raw, what string, match func(Node) bool) Node {
	t.Helper()
	return r.ExpectStanza(what, 20*time.Second, match)
}

// expectMM waits for what match accepts on c, skipping the rest (20
// seconds: a stream to another server may be set up on the way).
func expectMM(t *testing.T, c *xmpptest.Client, what string, match func(Node) bool) Node {
	t.Helper()
	return c.ExpectWithin(t, what, 20*time.Second, match)
}

func isMessageBody(body string) func(Node) bool { return xmpptest.IsMessage(body) }

// hasStatus reports whether a presence carries the muc#user status code.
func hasStatus(n Node, code string) bool {
	if x := n.Child(nsMUCUser, "x"); x != nil {
		for _, s := range x.Children(nsMUCUser, "status") {
			if s.Attr("code") == code {
				return true
			}
		}
	}
	return false
}

// fedChat: messages both ways between an account of minimix and one of
// the peer.
func fedChat(t *testing.T, mm *xmpptest.Server, p *peer) {
	alice := mm.Dial(t, "alice", password("alice"), xmpptest.DialOptions{Resource: "chat"})
	them := p.login(t, p.users[0], "chat")
	them.Send(`<presence/>`) // available: a chat to the bare JID is delivered, not kept offline
	expectRaw(t, them, "its own presence", func(n Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == them.JID })
	theirs := p.users[0] + "@" + p.domain
	body := fresh("to " + p.name + " ")
	alice.SendRaw(t, `<message to='`+theirs+`' type='chat' id='c1'><body>`+body+`</body></message>`)
	m := expectRaw(t, them, "alice's message", isMessageBody(body))
	if m.Attr("from") != alice.JID.String() || m.Attr("type") != "chat" {
		t.Errorf("%s got %s", p.name, m)
	}
	body = fresh("from " + p.name + " ")
	them.Send(`<message to='` + alice.JID.String() + `' type='chat' id='c2'><body>` + body + `</body></message>`)
	if m := expectMM(t, alice, "the answer", isMessageBody(body)); m.Attr("from") != them.JID {
		t.Errorf("alice got %s", m)
	}
	// An IQ to the peer server and its answer.
	if r := alice.IQ(t, `<iq type='get' to='`+p.domain+`' id='v1'><query xmlns='jabber:iq:version'/></iq>`); r.Attr("type") != "result" {
		t.Errorf("version of %s: %s", p.domain, r)
	}
	alice.Close()
	them.Close()
}

// fedAuth: the peer's stream to minimix authenticated with SASL EXTERNAL
// (its certificate verifies against the test CA minimix trusts), and
// minimix's to the peer with dialback (the peer cannot verify minimix's
// self-signed certificate).
func fedAuth(t *testing.T, mm *xmpptest.Server, p *peer) {
	var in, out bool
	for _, s := range mm.S2S.List() {
		for _, r := range s.Remote {
			if r != p.domain {
				continue
			}
			switch {
			case s.Direction == "in" && s.State == "established":
				in = true
				if s.Auth != "sasl-external" || !s.CertValid || s.TLS == "" {
					t.Errorf("%s's stream to minimix: %+v, want SASL EXTERNAL over TLS", p.name, s)
				}
			case s.Direction == "out" && s.State == "established":
				out = true
				if s.Auth != "dialback" || !s.CertValid || s.TLS == "" {
					t.Errorf("minimix's stream to %s: %+v, want dialback over TLS", p.name, s)
				}
				// Prosody runs mod_s2s_bidi, which offers XEP-0288.
				if s.Bidi != (p.name == "prosody") {
					t.Errorf("minimix's stream to %s: bidi %v", p.name, s.Bidi)
				}
			}
		}
	}
	if !in || !out {
		t.Errorf("streams with %s: in %v, out %v: %+v", p.name, in, out, mm.S2S.List())
	}
}

// fedSubscription: RFC 6121's subscription handshake both ways.
func fedSubscription(t *testing.T, mm *xmpptest.Server, p *peer) {
	alice := mm.Dial(t, "alice", password("alice"), xmpptest.DialOptions{Resource: "sub"})
	if r := alice.IQ(t, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`); r.Attr("type") != "result" {
		t.Fatalf("roster: %s", r)
	}
	alice.SendRaw(t, `<presence/>`)
	them := p.login(t, p.users[1], "sub")
	them.Send(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	expectRaw(t, them, "roster", func(n Node) bool { return n.Attr("id") == "r1" })
	them.Send(`<presence/>`)
	theirs := p.users[1] + "@" + p.domain
	const ours = "alice@mm.test"

	alice.SendRaw(t, `<presence to='`+theirs+`' type='subscribe'/>`)
	expectRaw(t, them, "alice's request", xmpptest.IsPresenceFrom(ours, "subscribe"))
	them.Send(`<presence to='` + ours + `' type='subscribed'/>`)
	expectMM(t, alice, "the approval", xmpptest.IsPresenceFrom(theirs, "subscribed"))
	expectMM(t, alice, "their presence", func(n Node) bool {
		return n.XMLName.Local == "presence" && strings.HasPrefix(n.Attr("from"), theirs+"/") && n.Attr("type") == ""
	})
	them.Send(`<presence to='` + ours + `' type='subscribe'/>`)
	expectMM(t, alice, "their request", xmpptest.IsPresenceFrom(theirs, "subscribe"))
	alice.SendRaw(t, `<presence to='`+theirs+`' type='subscribed'/>`)
	expectRaw(t, them, "the approval", xmpptest.IsPresenceFrom(ours, "subscribed"))
	expectRaw(t, them, "alice's presence", xmpptest.IsPresenceFrom(alice.JID.String(), ""))
	alice.Close()
	them.Close()
}

// fedRemoteRoom: an account of minimix with two sessions in a room of the
// peer through account-based group chat: join, messages, a nick change,
// a kick, and a leave.
func fedRemoteRoom(t *testing.T, mm *xmpptest.Server, p *peer) {
	room := fresh("fed") + "@" + p.muc()
	owner := p.login(t, p.users[0], "owner")
	peerCreateRoom(t, owner, room, "owner")
	phone := mm.Dial(t, "alice", password("alice"), xmpptest.DialOptions{Resource: "phone"})
	laptop := mm.Dial(t, "alice", password("alice"), xmpptest.DialOptions{Resource: "laptop"})
	sessions := []*xmpptest.Client{phone, laptop}
	for i, c := range sessions {
		id := fmt.Sprintf("join%d", i)
		c.SendRaw(t, `<presence to='`+room+`/alice' id='`+id+`'><x xmlns='`+nsMUC+`'/></presence>`)
		self := expectMM(t, c, "self-presence", func(n Node) bool {
			return n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && (hasStatus(n, "110") || n.Attr("type") == "error")
		})
		if self.Attr("type") == "error" || self.Attr("id") != id {
			t.Fatalf("%s's join: %s", c.JID, self)
		}
		expectMM(t, c, "the subject", func(n Node) bool {
			return n.XMLName.Local == "message" && n.Attr("from") == room && n.Child("", "subject") != nil
		})
	}
	// The room sees one occupant, the account.
	entered := expectRaw(t, owner, "alice enters", xmpptest.IsPresenceFrom(room+"/alice", ""))
	if it := entered.Find("x/item"); it != nil && it.Attr("jid") != "" && !strings.HasPrefix(it.Attr("jid"), "alice@mm.test") {
		t.Errorf("the room sees %s", entered)
	}

	owner.Send(`<message to='` + room + `' type='groupchat'><body>welcome alice</body></message>`)
	for _, c := range sessions {
		expectMM(t, c, "the owner's message", isMessageBody("welcome alice"))
	}
	phone.SendRaw(t, `<message to='`+room+`' type='groupchat' id='g1'><body>thanks from the phone</body></message>`)
	if m := expectRaw(t, owner, "alice's message", isMessageBody("thanks from the phone")); m.Attr("from") != room+"/alice" {
		t.Errorf("the owner got %s", m)
	}
	for _, c := range sessions {
		expectMM(t, c, "the reflection", isMessageBody("thanks from the phone"))
	}

	// A nick change from one session: the room and both sessions see it.
	laptop.SendRaw(t, `<presence to='`+room+`/alicia'/>`)
	for _, c := range sessions {
		gone := expectMM(t, c, "303", xmpptest.IsPresenceFrom(room+"/alice", "unavailable"))
		if !hasStatus(gone, "303") {
			t.Errorf("%s: the nick change without 303: %s", c.JID, gone)
		}
		expectMM(t, c, "the new nick", xmpptest.IsPresenceFrom(room+"/alicia", ""))
	}
	expectRaw(t, owner, "the new nick", xmpptest.IsPresenceFrom(room+"/alicia", ""))

	// The owner kicks her: both sessions learn it (307, 110).
	owner.Send(`<iq type='set' id='kick' to='` + room + `'><query xmlns='` + nsMUCAdmin + `'><item nick='alicia' role='none'><reason>test kick</reason></item></query></iq>`)
	for _, c := range sessions {
		kicked := expectMM(t, c, "the kick", xmpptest.IsPresenceFrom(room+"/alicia", "unavailable"))
		if !hasStatus(kicked, "307") || !hasStatus(kicked, "110") {
			t.Errorf("%s: the kick: %s", c.JID, kicked)
		}
	}

	// Back in, then out again: the first session's leave stays local,
	// the last one's reaches the room.
	for _, c := range sessions {
		c.SendRaw(t, `<presence to='`+room+`/alice' id='again'><x xmlns='`+nsMUC+`'/></presence>`)
		expectMM(t, c, "self-presence", func(n Node) bool {
			return n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && hasStatus(n, "110")
		})
	}
	expectRaw(t, owner, "alice back", xmpptest.IsPresenceFrom(room+"/alice", ""))
	laptop.SendRaw(t, `<presence to='`+room+`/alice' type='unavailable'/>`)
	expectMM(t, laptop, "the laptop's leave", xmpptest.IsPresenceFrom(room+"/alice", "unavailable"))
	phone.SendRaw(t, `<presence to='`+room+`/alice' type='unavailable'/>`)
	expectMM(t, phone, "the phone's leave", xmpptest.IsPresenceFrom(room+"/alice", "unavailable"))
	expectRaw(t, owner, "alice leaves", xmpptest.IsPresenceFrom(room+"/alice", "unavailable"))
	phone.Close()
	laptop.Close()
	owner.Close()
}

// peerCreateRoom makes room on the peer, owned by r, as an instant room.
func peerCreateRoom(t *testing.T, r *xmpptest.Raw, room, nick string) {
	t.Helper()
	r.Send(`<presence to='` + room + `/` + nick + `'><x xmlns='` + nsMUC + `'/></presence>`)
	self := expectRaw(t, r, "the room's creation", func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/"+nick
	})
	if self.Attr("type") == "error" {
		t.Fatalf("creating %s: %s", room, self)
	}
	if hasStatus(self, "201") {
		r.Send(`<iq type='set' id='instant' to='` + room + `'><query xmlns='` + nsMUCOwner + `'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
		if res := expectRaw(t, r, "the instant room", func(n Node) bool { return n.Attr("id") == "instant" }); res.Attr("type") != "result" {
			t.Fatalf("instant room %s: %s", room, res)
		}
	}
}

// fedLocalRoom: an account of the peer in a room of minimix's MUC
// service.
func fedLocalRoom(t *testing.T, mm *xmpptest.Server, p *peer) {
	room := fresh("mmroom") + "@conference.mm.test"
	bob := mm.Dial(t, "bob", password("bob"), xmpptest.DialOptions{Resource: "desk"})
	bob.SendRaw(t, `<presence to='`+room+`/bob'><x xmlns='`+nsMUC+`'/></presence>`)
	self := expectMM(t, bob, "the room's creation", func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/bob"
	})
	if hasStatus(self, "201") {
		if res := bob.IQ(t, `<iq type='set' id='instant' to='`+room+`'><query xmlns='`+nsMUCOwner+`'><x xmlns='jabber:x:data' type='submit'/></query></iq>`); res.Attr("type") != "result" {
			t.Fatalf("instant room: %s", res)
		}
	}
	them := p.login(t, p.users[1], "muc")
	them.Send(`<presence to='` + room + `/guest'><x xmlns='` + nsMUC + `'/></presence>`)
	joined := expectRaw(t, them, "self-presence", func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/guest"
	})
	if joined.Attr("type") == "error" || !hasStatus(joined, "110") {
		t.Fatalf("%s's join: %s", p.name, joined)
	}
	expectRaw(t, them, "the subject", func(n Node) bool {
		return n.XMLName.Local == "message" && n.Attr("from") == room && n.Child("", "subject") != nil
	})
	expectMM(t, bob, "the guest enters", xmpptest.IsPresenceFrom(room+"/guest", ""))
	them.Send(`<message to='` + room + `' type='groupchat'><body>hello from ` + p.name + `</body></message>`)
	expectMM(t, bob, "the guest's message", isMessageBody("hello from "+p.name))
	bob.SendRaw(t, `<message to='`+room+`' type='groupchat'><body>hello `+p.name+`</body></message>`)
	if m := expectRaw(t, them, "bob's message", isMessageBody("hello "+p.name)); m.Attr("from") != room+"/bob" {
		t.Errorf("%s got %s", p.name, m)
	}
	them.Send(`<presence to='` + room + `/guest' type='unavailable'/>`)
	expectMM(t, bob, "the guest leaves", xmpptest.IsPresenceFrom(room+"/guest", "unavailable"))
	bob.Close()
	them.Close()
}
