// Package xmpptest starts real minimix servers on loopback ports for
// end-to-end tests, and gives tests clients to talk to them: mellium.im/xmpp
// sessions (a client library nobody here wrote) and a raw stream client for
// feeding bad input.
package xmpptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/logctx"
	"minimix/internal/server"
)

// Server is a running minimix instance for a test.
type Server struct {
	*server.Server
	Config *config.Config
	Domain string
	// RootCAs trusts the server's generated certificate.
	RootCAs *x509.CertPool

	log   *slog.Logger
	peers []*Server // federated with Federate
}

// Option changes the test server's configuration before it starts.
type Option func(*config.Config)

// WithPlaintext sets require_tls = false.
func WithPlaintext() Option { return func(c *config.Config) { c.C2S.RequireTLS = false } }

// WithDomain serves domain, with the services whose domains derive from
// it there too, as a configuration file that sets only domain has them:
// MUC at conference.<domain>, publish-subscribe at pubsub.<domain>, HTTP
// upload at upload.<domain> (config.SetDomain). A service domain an
// earlier option set otherwise stays.
func WithDomain(domain string) Option {
	return func(c *config.Config) { c.SetDomain(domain) }
}

// WithConfig lets a test change anything.
func WithConfig(f func(*config.Config)) Option { return Option(f) }

// Start starts a server on 127.0.0.1 ports chosen by the kernel, with its
// data in a temporary directory, and stops it when the test ends. Unlike
// config.Default, the login limiter is loose and the per-connection read
// rate is off (see below); options may set them back.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return StartConfig(t, testConfig(t, opts))
}

func testConfig(t testing.TB, opts []Option) *config.Config {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	cfg.C2S.DirectTLSListen = []string{"127.0.0.1:0"}
	cfg.S2S.Listen = []string{"127.0.0.1:0"}
	cfg.S2S.DirectTLSListen = []string{"127.0.0.1:0"}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Components.Listen = []string{"127.0.0.1:0"}
	// Tests log in and send far more than any one user: the login limiter
	// is loosened and the per-connection read rate is off, unless a test
	// sets them (their own tests do).
	cfg.C2S.LoginFailuresPerMinute = 1000
	cfg.C2S.AddressLoginFailuresPerMinute = 0
	cfg.Limits.C2SBytesPerSecond = 0
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// StartConfig starts a server with exactly cfg.
func StartConfig(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	return startConfig(t, cfg, nil)
}

// StartWithLog is Start with the server's log (text, info and above)
// written to w as well, for tests of what it logs.
func StartWithLog(t testing.TB, w io.Writer, opts ...Option) *Server {
	t.Helper()
	cfg := testConfig(t, opts)
	return startConfig(t, cfg, w)
}

func startConfig(t testing.TB, cfg *config.Config, logTo io.Writer) *Server {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	var logOut io.Writer = io.Discard
	level := slog.LevelInfo
	if os.Getenv("MINIMIX_TEST_LOG") != "" {
		logOut = os.Stderr
		level = slog.LevelDebug
	}
	if logTo != nil {
		logOut = io.MultiWriter(logOut, logTo)
	}
	log := slog.New(logctx.NewHandler(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})))
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	s := &Server{Server: srv, Config: cfg, Domain: cfg.Domain}
	s.RootCAs = x509.NewCertPool()
	crt, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", cfg.Domain+".crt"))
	if err == nil {
		s.RootCAs.AppendCertsFromPEM(crt)
	}
	s.log = log
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		checkDataDirClosed(t, s.Config.DataDir)
	})
	return s
}

// Restart shuts the server down gracefully and starts a new one on the
// same configuration and data directory, as an operator's restart does.
// Listeners get new ports; clients must dial again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Server.Shutdown(ctx); err != nil {
		t.Fatalf("restart: shutdown: %v", err)
	}
	checkDataDirClosed(t, s.Config.DataDir)
	srv, err := server.New(context.Background(), s.Config, s.log)
	if err != nil {
		t.Fatalf("restart: server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("restart: server.Start: %v", err)
	}
	s.Server = srv
	for _, p := range s.peers {
		link(s, p)
	}
}

// RestartKeepPorts is Restart on the listeners' current ports, as an
// operator's restart keeps them: peers that knew the server's addresses
// find it again.
func (s *Server) RestartKeepPorts(t testing.TB) {
	t.Helper()
	cfg := *s.Config
	keep := func(addr net.Addr) []string {
		if addr == nil {
			return nil
		}
		return []string{addr.String()}
	}
	cfg.C2S.Listen, cfg.C2S.DirectTLSListen = keep(s.C2SAddr()), keep(s.DirectTLSAddr())
	cfg.S2S.Listen, cfg.S2S.DirectTLSListen = keep(s.S2SAddr()), keep(s.S2SDirectTLSAddr())
	if a := s.HTTPAddr(); a != nil {
		cfg.HTTP.Listen = a.String()
	}
	s.Config = &cfg
	s.Restart(t)
}

// Federate makes a and b reach each other's domains (and MUC services')
// through their static s2s tables, at their loopback s2s listeners, also
// after either restarts.
func Federate(a, b *Server) {
	a.peers = append(a.peers, b)
	b.peers = append(b.peers, a)
	link(a, b)
}

func link(a, b *Server) {
	for _, p := range [][2]*Server{{a, b}, {b, a}} {
		from, to := p[0], p[1]
		addr := to.S2SAddr().String()
		for _, d := range []string{to.Domain, to.Config.MUC.Domain, to.Config.PubSub.Domain, to.Config.Upload.Domain} {
			if d != "" {
				from.S2S.SetHost(d, addr)
			}
		}
	}
}

// TLSConfig returns a client TLS configuration that trusts the server.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{ServerName: s.Domain, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
}

// AddUser creates an account.
func (s *Server) AddUser(t testing.TB, name, password string) {
	t.Helper()
	if err := s.Accounts.Add(context.Background(), name, password); err != nil {
		t.Fatalf("add user %s: %v", name, err)
	}
}

// Admin calls the running server's admin API (server.AdminAPIPrefix + path)
// as the command line does, with the token from the data directory; form,
// when not nil, is posted. It returns the status and the body.
func (s *Server) Admin(t testing.TB, method, path string, form url.Values) (int, []byte) {
	t.Helper()
	token, err := server.ReadAdminToken(s.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, "http://"+s.HTTPAddr().String()+server.AdminAPIPrefix+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin API %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin API %s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}
