// Package interop runs slixmpp, a client library minimix did not write,
// against a real minimix server: one Python script per scenario in
// scenarios/, each a subtest of TestSlixmpp with a server of its own.
//
// The scripts need Debian's python3-slixmpp under /usr/bin/python3. Without
// it the test is skipped, unless MINIMIX_INTEROP=1 says it must run (CI).
//
// With MINIMIX_INTEROP_PROSODY=1 the scenarios whose expectations are
// plain XEP-0045 also run against Prosody (prosody_test.go), so that what
// they expect is checked against a server nobody here wrote.
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/xmpptest"
	"minimix/internal/xmpptest/testca"
)

// TestMain stops the private PostgreSQL the cluster scenarios start.
func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }

// python is the interpreter the scenarios run under: the system one, which
// is where apt installs python3-slixmpp (a pyenv python on PATH is not).
const python = "/usr/bin/python3"

// scenarioTimeout bounds one script; the scripts bound themselves to 50s.
const scenarioTimeout = 60 * time.Second

// scenario is one script and the accounts it expects to exist. prosody
// marks the scenarios whose expectations are plain XEP-0045, which
// Prosody must meet as well (MINIMIX_INTEROP_PROSODY=1).
type scenario struct {
	name     string
	accounts []string
	prosody  bool
}

var scenarios = []scenario{
	{"login", []string{"alice", "zoe"}, false},
	{"subscription", []string{"alice", "bob"}, false},
	{"chat", []string{"alice", "bob"}, false},
	{"offline", []string{"alice", "bob"}, false},
	{"carbons", []string{"alice", "bob"}, false},
	{"sm_resume", []string{"alice", "bob"}, false},
	{"mam", []string{"alice", "bob", "carol"}, false},
	{"bookmarks", []string{"alice", "bob"}, false},
	{"disco_storage", []string{"alice"}, false},
	{"muc", []string{"alice", "bob"}, true},
	{"muc_clients", []string{"alice", "bob"}, true},
	{"accountjoin_sessions", []string{"alice", "bob"}, false},
	{"accountjoin_archive", []string{"alice", "bob"}, false},
	{"autojoin", []string{"alice", "bob"}, false},
	{"accountjoin_restart", []string{"alice", "bob"}, false},
	{"pubsub", []string{"alice", "bob", "carol"}, false},
	{"adhoc", []string{"alice", "bob"}, false},
	{"blocking", []string{"alice", "bob"}, false},
	{"extdisco", []string{"alice"}, false},
	{"components", []string{"alice"}, false},
	{"push", []string{"alice", "bob"}, false},
	{"moderation", []string{"alice", "bob"}, false},
	{"muc_register", []string{"alice", "bob", "carol"}, false},
	{"avatar", []string{"alice", "bob", "carol"}, false},
	{"upload", []string{"alice", "bob"}, false},
	{"sm_cluster", []string{"alice", "bob"}, false},
}

// clusterScenarios run against two minimix nodes of one cluster
// (runClusterScenario) instead of one server.
var clusterScenarios = map[string]bool{"sm_cluster": true}

// componentSecret is the secret of the external components the scenarios
// configure (common.COMPONENT_SECRET in the scripts).
const componentSecret = "interop-component-secret"

// serverOptions change the minimix server's configuration for a scenario.
var serverOptions = map[string][]xmpptest.Option{
	"adhoc": {xmpptest.WithConfig(func(c *config.Config) { c.Admins = []string{"alice@localhost"} })},
	"components": {xmpptest.WithConfig(func(c *config.Config) {
		c.Components.External = []config.ExternalComponent{
			{Domain: "echo.localhost", Secret: componentSecret},
			{Domain: "absent.localhost", Secret: componentSecret},
		}
	})},
	"push": {xmpptest.WithConfig(func(c *config.Config) {
		c.Components.External = []config.ExternalComponent{{Domain: "push.localhost", Secret: componentSecret}}
	})},
	"upload": {xmpptest.WithConfig(func(c *config.Config) {
		c.Upload.MaxFileBytes = 100000
		c.Upload.QuotaBytes = 150000
	})},
	"extdisco": {xmpptest.WithConfig(func(c *config.Config) {
		c.ExternalServices.Secret = "interop-secret"
		c.ExternalServices.CredentialTTL = config.Duration{Duration: time.Hour}
		c.ExternalServices.Services = []config.ExternalService{
			{Type: "stun", Host: "turn.localhost", Port: 3478, Transport: "udp"},
			{Type: "turn", Host: "turn.localhost", Port: 3478, Transport: "udp", Secret: true},
		}
	})},
}

// password gives each account a password; zoe's is not ASCII so that
// SASLprep and the SCRAM salted password are exercised across both ends.
func password(name string) string {
	if name == "zoe" {
		return "Zoë’s pässwörd Ω"
	}
	return name + "-secret"
}

func TestSlixmpp(t *testing.T) {
	version := requireSlixmpp(t)
	t.Logf("slixmpp %s", version)
	// Reading the scripts here, in the test process, is what makes go
	// test's cache notice when they change; the interpreter's reads are
	// invisible to it.
	scripts, err := filepath.Glob(filepath.Join("scenarios", "*.py"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scenario scripts in scenarios/ (err %v)", err)
	}
	listed := map[string]bool{"common": true}
	for _, sc := range scenarios {
		listed[sc.name] = true
	}
	for _, f := range scripts {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		if name := strings.TrimSuffix(filepath.Base(f), ".py"); !listed[name] {
			t.Errorf("%s is not in the scenarios table, so it never runs", f)
		}
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if clusterScenarios[sc.name] {
				runClusterScenario(t, sc)
				return
			}
			runScenario(t, sc)
		})
	}
	if os.Getenv(prosodyEnv) == "1" {
		t.Run("prosody", func(t *testing.T) {
			var accounts []string
			for _, sc := range scenarios {
				if sc.prosody {
					accounts = append(accounts, sc.accounts...)
				}
			}
			p := startProsody(t, accounts)
			for _, sc := range scenarios {
				if sc.prosody {
					t.Run(sc.name, func(t *testing.T) { runScript(t, sc, p.target()) })
				}
			}
		})
	}
}

// requireSlixmpp returns the installed slixmpp version, or skips (fails
// with MINIMIX_INTEROP=1) when it cannot be imported.
func requireSlixmpp(t *testing.T) string {
	t.Helper()
	missing := func(reason string) {
		t.Helper()
		if os.Getenv("MINIMIX_INTEROP") == "1" {
			t.Fatalf("slixmpp interop suite required (MINIMIX_INTEROP=1), but %s", reason)
		}
		t.Skipf("skipping the slixmpp interop suite: %s. Install Debian's package for %s with "+
			"`apt-get install -y python3-slixmpp`; set MINIMIX_INTEROP=1 to make this a failure", reason, python)
	}
	if _, err := os.Stat(python); err != nil {
		missing(fmt.Sprintf("%s is missing (%v)", python, err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", "import slixmpp; print(slixmpp.__version__)")
	cmd.Env = pythonEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		missing(fmt.Sprintf("%s cannot import slixmpp (%v: %s)", python, err, lines[len(lines)-1]))
	}
	return strings.TrimSpace(string(out))
}

// target is the server a script runs against.
type target struct {
	server           string // "minimix" or "prosody" (the scripts' --server)
	c2sPort, tlsPort string
	domain, ca       string
	// compPort is the external components' port, "" when there is none.
	compPort string
	// c2sPort2 is a second cluster node's client port (cluster
	// scenarios), "" otherwise.
	c2sPort2 string
	// restart restarts the server and returns its new ports; nil when
	// the server cannot be restarted for a script.
	restart func(t *testing.T) (c2sPort, tlsPort string)
}

// runScenario runs sc against a fresh minimix server of its own.
func runScenario(t *testing.T, sc scenario) {
	srv := xmpptest.Start(t, serverOptions[sc.name]...)
	for _, name := range sc.accounts {
		srv.AddUser(t, name, password(name))
	}
	compPort := ""
	if a := srv.ComponentAddr(); a != nil {
		compPort = port(t, a.String())
	}
	runScript(t, sc, target{
		compPort: compPort,
		server:   "minimix",
		c2sPort:  port(t, srv.C2SAddr().String()),
		tlsPort:  port(t, srv.DirectTLSAddr().String()),
		domain:   srv.Domain,
		ca:       filepath.Join(srv.Config.DataDir, "tls", srv.Domain+".crt"),
		restart: func(t *testing.T) (string, string) {
			srv.Restart(t)
			return port(t, srv.C2SAddr().String()), port(t, srv.DirectTLSAddr().String())
		},
	})
}

// runClusterScenario runs sc against two nodes of a minimix cluster over
// one PostgreSQL (skipped without one, failed under
// MINIMIX_POSTGRES=require), which serve one certificate from a test CA.
func runClusterScenario(t *testing.T, sc scenario) {
	dsn := pgtest.DSN(t)
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key, err := ca.WriteFiles(dir, "localhost", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	nodes := xmpptest.StartCluster(t, 2, xmpptest.ClusterConfig{
		DSN:    dsn,
		Tables: fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", cert, key),
	})
	for _, name := range sc.accounts {
		nodes[0].AddUser(name, password(name))
	}
	runScript(t, sc, target{
		server:   "minimix",
		c2sPort:  port(t, nodes[0].C2S),
		c2sPort2: port(t, nodes[1].C2S),
		domain:   nodes[0].Domain,
		ca:       caFile,
	})
}

// runScript runs sc's script against srv and fails t with the script's
// output when it fails.
func runScript(t *testing.T, sc scenario, srv target) {
	script, err := filepath.Abs(filepath.Join("scenarios", sc.name+".py"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		script,
		"--host", "127.0.0.1",
		"--port", srv.c2sPort,
		"--domain", srv.domain,
		"--ca", srv.ca,
		"--server", srv.server,
	}
	for _, name := range sc.accounts {
		args = append(args, "--account", name+"="+password(name))
	}
	if srv.compPort != "" {
		args = append(args, "--component-port", srv.compPort)
	}
	if srv.tlsPort != "" {
		args = append(args, "--tls-port", srv.tlsPort)
	}
	if srv.c2sPort2 != "" {
		args = append(args, "--port2", srv.c2sPort2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = pythonEnv()
	cmd.WaitDelay = 5 * time.Second
	out := &scriptOutput{restarts: make(chan struct{}, 8)}
	cmd.Stdout = out
	cmd.Stderr = out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Whatever ends the test early (a failed restart) still shows what the
	// script did up to then.
	reported := false
	defer func() {
		if t.Failed() && !reported {
			t.Logf("%s.py output so far:\n%s", sc.name, out.Bytes())
		}
	}()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s.py: %v", sc.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-out.restarts:
			// The script asked for a restart (see restartRequest): its
			// clients must dial the new ports.
			t.Logf("%s.py asked for a server restart after %v", sc.name, time.Since(start).Round(time.Millisecond))
			if srv.restart == nil {
				t.Errorf("%s.py asked for a restart, which %s cannot do here", sc.name, srv.server)
				continue // the script times out waiting, saying so
			}
			c2s, tls := srv.restart(t)
			fmt.Fprintf(stdin, "restarted %s %s\n", c2s, tls)
		}
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	reported = true
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("%s.py did not finish within %v; its output:\n%s", sc.name, scenarioTimeout, out.Bytes())
	case err != nil:
		t.Fatalf("%s.py failed after %v (%v); its output:\n%s", sc.name, elapsed, err, out.Bytes())
	case testing.Verbose():
		t.Logf("%s.py passed in %v; its steps:\n%s", sc.name, elapsed, withoutWire(out.Bytes()))
	}
}

// restartRequest is the line a script prints (alone, on stdout) to have
// the server restarted on the same data directory; the test answers on
// the script's stdin with "restarted C2S_PORT DIRECT_TLS_PORT". See
// Scenario.restart_server in scenarios/common.py.
const restartRequest = "interop: restart the server"

// scriptOutput collects a script's stdout and stderr and notices the
// restart requests among its lines.
type scriptOutput struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	partial  []byte
	restarts chan struct{}
}

func (o *scriptOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		if string(bytes.TrimSpace(o.partial[:i])) == restartRequest {
			select {
			case o.restarts <- struct{}{}:
			default: // unanswered: the script times out saying so
			}
		}
		o.partial = o.partial[i+1:]
	}
	return len(p), nil
}

// Bytes returns a copy of everything the script wrote so far.
func (o *scriptOutput) Bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf.Bytes())
}

// withoutWire drops the wire log lines from a passing script's output,
// which are only worth their length when something failed.
func withoutWire(out []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(out) {
		if !bytes.Contains(line, []byte(" wire DEBUG ")) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// pythonEnv is the test's environment without the variables that would
// point the system python at another installation's modules.
func pythonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHON") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PYTHONIOENCODING=utf-8")
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listener address %q: %v", addr, err)
	}
	return p
}
