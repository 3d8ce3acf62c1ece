// Package pebble runs Pebble, Let's Encrypt's ACME test server (the Go
// tool github.com/letsencrypt/pebble/v2/cmd/pebble of this module), for
// tests: with a DNS server of its own that resolves every name to
// 127.0.0.1, so that it validates challenges against a server under test
// on loopback.
package pebble

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"minimix/internal/xmpptest/testca"
)

// CA is a running Pebble.
type CA struct {
	// Directory is its ACME directory URL.
	Directory string
	// RootsFile is a PEM file that verifies Directory's HTTPS.
	RootsFile string
	// Issuer verifies the certificates it issues.
	Issuer *x509.CertPool

	cmd *exec.Cmd
	out *bytes.Buffer
}

// Options say where Pebble validates challenges.
type Options struct {
	// HTTPPort is where it sends http-01 requests, TLSPort where it makes
	// tls-alpn-01 handshakes, on 127.0.0.1 (every name resolves there).
	HTTPPort, TLSPort int
	// Validity is the lifetime of the certificates it issues; 0: Pebble's
	// default.
	Validity time.Duration
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the Pebble tool of this module once and returns its path.
func binary() (string, error) {
	binOnce.Do(func() {
		out, err := exec.Command("go", "tool", "-n", "pebble").Output()
		if err != nil {
			binErr = fmt.Errorf("go tool -n pebble: %w", err)
			return
		}
		binPath = strings.TrimSpace(string(out))
	})
	return binPath, binErr
}

// Start runs Pebble until t ends.
func Start(t testing.TB, opts Options) *CA {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("pebble: %v", err)
	}
	dnsAddr := startDNS(t)
	dir := t.TempDir()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteFiles(dir, "localhost", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	rootsFile, err := ca.WriteCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Pebble cannot listen on port 0 and say where it listens: take free
	// ports and give them to it at once.
	listen, mgmt := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + listen,
		"managementListenAddress":        "127.0.0.1:" + mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"profiles": map[string]any{"default": map[string]any{
			"description": "tests", "validityPeriod": int64(opts.Validity / time.Second),
		}},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &CA{Directory: "https://localhost:" + listen + "/dir", RootsFile: rootsFile, out: new(bytes.Buffer)}
	p.cmd = exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr)
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	p.cmd.Stdout, p.cmd.Stderr = syncWriter{p.out}, syncWriter{p.out}
	// Its own process group, killed at cleanup; and killed with the test
	// binary should that die first (a -timeout panic runs no cleanup).
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("pebble: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("pebble's log:\n%s", p.Log())
		}
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	defer client.CloseIdleConnections()
	var roots []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("pebble exited at start (%v):\n%s", err, p.Log())
		default:
		}
		if roots, err = get(client, "https://localhost:"+mgmt+"/roots/0"); err == nil {
			if _, err = get(client, p.Directory); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, p.Log())
		}
	}
	p.Issuer = x509.NewCertPool()
	if !p.Issuer.AppendCertsFromPEM(roots) {
		t.Fatalf("pebble: no root certificate at /roots/0: %q", roots)
	}
	return p
}

// Log returns what Pebble logged.
func (p *CA) Log() string {
	logMu.Lock()
	defer logMu.Unlock()
	return p.out.String()
}

var logMu sync.Mutex

type syncWriter struct{ b *bytes.Buffer }

func (w syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return w.b.Write(p)
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", url, resp.Status)
	}
	return b, err
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startDNS serves A 127.0.0.1 for every name (and nothing else: no AAAA,
// no CAA), on a TCP port of 127.0.0.1 (Pebble asks its resolver over
// TCP), until t ends.
func startDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return ln.Addr().String()
}
