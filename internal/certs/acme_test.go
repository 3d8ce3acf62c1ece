package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"minimix/internal/certs"
	"minimix/internal/xmpptest/pebble"
)

// acmeServer serves what the CA fetches for http-01, and tls-alpn-01
// handshakes, on loopback ports of its own.
type acmeServer struct {
	httpPort, tlsPort int
	handler           http.Handler
	holder            *certs.Holder
}

func startChallengeServers(t *testing.T) (*acmeServer, func(a *certs.ACME)) {
	t.Helper()
	s := &acmeServer{}
	var mu sync.Mutex
	var mgr *certs.ACME
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m := mgr
		mu.Unlock()
		m.HTTPHandler(http.NotFoundHandler()).ServeHTTP(w, r)
	})}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self, err := certs.LoadOrCreate("", "", t.TempDir(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	s.holder = certs.NewHolder(self)
	tlsCfg := &tls.Config{GetCertificate: s.holder.GetCertificate, NextProtos: []string{"xmpp-client", certs.ALPNACME}}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, tlsCfg)
				_ = tc.Handshake()
				_ = tc.Close()
			}()
		}
	}()
	t.Cleanup(func() { _ = tl.Close() })
	s.httpPort = hl.Addr().(*net.TCPAddr).Port
	s.tlsPort = tl.Addr().(*net.TCPAddr).Port
	return s, func(a *certs.ACME) {
		mu.Lock()
		mgr = a
		mu.Unlock()
		s.holder.SetChallenge(a.ChallengeCertificate)
	}
}

func newManager(t *testing.T, ca *pebble.CA, dir, challenge string, names []string, got chan<- tls.Certificate) *certs.ACME {
	t.Helper()
	roots, err := os.ReadFile(ca.RootsFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	m, err := certs.NewACME(certs.ACMEConfig{
		Directory: ca.Directory, Email: "hostmaster@example.test", Roots: pool,
		Names: names, Dir: dir, Challenge: challenge,
		OnCertificate: func(c tls.Certificate) { got <- c },
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func verify(t *testing.T, ca *pebble.CA, c tls.Certificate, names []string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, d := range c.Certificate[1:] {
		ic, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(ic)
	}
	for _, n := range names {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: ca.Issuer, Intermediates: inter}); err != nil {
			t.Errorf("certificate for %s: %v", n, err)
		}
	}
}

// TestACMEPebble obtains a certificate for a domain and its services'
// subdomains from Pebble by each challenge type, stores it, loads it back
// and renews it when a third of its lifetime is left.
func TestACMEPebble(t *testing.T) {
	srv, use := startChallengeServers(t)
	ca := pebble.Start(t, pebble.Options{HTTPPort: srv.httpPort, TLSPort: srv.tlsPort, Validity: 90 * 24 * time.Hour})
	names := []string{"example.test", "conference.example.test", "pubsub.example.test"}
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "acme")
			got := make(chan tls.Certificate, 4)
			m := newManager(t, ca, dir, challenge, names, got)
			use(m)
			if ok, err := m.Load(); err != nil || ok {
				t.Fatalf("Load on an empty dir = %v, %v", ok, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); m.Run(ctx) }()
			defer func() { cancel(); <-done }()
			var first tls.Certificate
			select {
			case first = <-got:
			case <-time.After(60 * time.Second):
				t.Fatalf("no certificate issued; pebble says:\n%s", ca.Log())
			}
			verify(t, ca, first, names)
			if fi, err := os.Stat(filepath.Join(dir, "example.test.pem")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("stored certificate: %v, %v", fi, err)
			}

			// A new manager on the same directory serves the stored one
			// without asking the CA.
			got2 := make(chan tls.Certificate, 1)
			m2 := newManager(t, ca, dir, challenge, names, got2)
			if ok, err := m2.Load(); err != nil || !ok {
				t.Fatalf("Load = %v, %v", ok, err)
			}
			if c := <-got2; !c.Leaf.Equal(first.Leaf) {
				t.Errorf("Load returned another certificate")
			}
			renew := certs.RenewAt(first.Leaf)
			if left := first.Leaf.NotAfter.Sub(renew); left < 29*24*time.Hour || left > 31*24*time.Hour {
				t.Errorf("renewal %v before expiry of a 90-day certificate, want 30 days", left)
			}
		})
	}
}

// TestACMERenewal: when the clock passes the renewal time, Run obtains a
// new certificate on its own.
func TestACMERenewal(t *testing.T) {
	srv, use := startChallengeServers(t)
	ca := pebble.Start(t, pebble.Options{HTTPPort: srv.httpPort, TLSPort: srv.tlsPort, Validity: 90 * 24 * time.Hour})
	names := []string{"renew.test"}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	roots, _ := os.ReadFile(ca.RootsFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	got := make(chan tls.Certificate, 4)
	m, err := certs.NewACME(certs.ACMEConfig{
		Directory: ca.Directory, Roots: pool, Names: names, Dir: t.TempDir(), Challenge: "http-01",
		OnCertificate: func(c tls.Certificate) { got <- c }, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	use(m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	first := <-got
	mu.Lock()
	now = certs.RenewAt(first.Leaf).Add(time.Minute)
	mu.Unlock()
	m.Check() // the timer runs on real time; the check looks at the clock
	select {
	case second := <-got:
		if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Errorf("renewed certificate has the old serial")
		}
		verify(t, ca, second, names)
	case <-time.After(60 * time.Second):
		t.Fatalf("not renewed; pebble says:\n%s", ca.Log())
	}
}
