package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// TestE2ETLSALPN (issue 10 item 9): on STARTTLS no client is refused over
// ALPN, whatever it offers (Android offers h2 and http/1.1; Go 1.17's
// testssl simulation too); on direct TLS "xmpp-client" is selected, no
// ALPN is fine, and a client offering only other protocols (an HTTPS
// client at the wrong port, ALPACA) is refused.
func TestE2ETLSALPN(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	for _, protos := range [][]string{{"h2", "http/1.1"}, {"http/1.1"}, {"xmpp-client"}, {"imap", "xmpp-server"}, nil} {
		cfg := srv.TLSConfig()
		cfg.NextProtos = protos
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		st, err := r.StartTLSConfig(cfg)
		if err != nil {
			t.Errorf("STARTTLS offering ALPN %q: %v", protos, err)
			continue
		}
		if st.NegotiatedProtocol != "" {
			t.Errorf("STARTTLS offering %q negotiated %q", protos, st.NegotiatedProtocol)
		}
		if n := r.Authenticate("alice", pw("alice")); n.Child(xmpptest.NSBind, "bind") == nil {
			t.Errorf("STARTTLS offering %q: no bind after login: %s", protos, n)
		}
		r.Close()
	}

	direct := func(protos []string) (tls.ConnectionState, error) {
		cfg := srv.TLSConfig()
		cfg.NextProtos = protos
		c, err := tls.Dial("tcp", srv.DirectTLSAddr().String(), cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	for protos, want := range map[string]string{"": "", "xmpp-client": "xmpp-client", "h2,xmpp-client": "xmpp-client", "xmpp-client,http/1.1": "xmpp-client"} {
		var offer []string
		if protos != "" {
			offer = strings.Split(protos, ",")
		}
		st, err := direct(offer)
		if err != nil {
			t.Errorf("direct TLS offering %q: %v", offer, err)
		} else if st.NegotiatedProtocol != want {
			t.Errorf("direct TLS offering %q negotiated %q, want %q", offer, st.NegotiatedProtocol, want)
		}
	}
	for _, offer := range [][]string{{"h2", "http/1.1"}, {"http/1.1"}, {"xmpp-server"}} {
		if _, err := direct(offer); err == nil || !strings.Contains(err.Error(), "no application protocol") {
			t.Errorf("direct TLS offering only %q: %v, want no_application_protocol", offer, err)
		}
	}
	// A direct TLS client with the right ALPN logs in.
	r := srv.DialRaw(t, xmpptest.RawOptions{DirectTLS: true})
	r.Open()
	if n := r.Authenticate("alice", pw("alice")); n.Child(xmpptest.NSBind, "bind") == nil {
		t.Errorf("direct TLS login: no bind after login: %s", n)
	}
}

// TestE2ETLSCipherSuites: TLS 1.2 offers ECDHE with AEAD only; a client
// that has nothing but CBC suites (LUCKY13) is refused, on both ports.
func TestE2ETLSCipherSuites(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	try := func(suite uint16) error {
		cfg := srv.TLSConfig()
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{suite}
		c, err := tls.Dial("tcp", srv.DirectTLSAddr().String(), cfg)
		if err == nil {
			c.Close()
		}
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		_, serr := r.StartTLSConfig(cfg)
		if (err == nil) != (serr == nil) {
			t.Errorf("suite %s: direct TLS %v, STARTTLS %v", tls.CipherSuiteName(suite), err, serr)
		}
		return err
	}
	for _, s := range []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	} {
		if err := try(s); err == nil {
			t.Errorf("TLS 1.2 with %s accepted", tls.CipherSuiteName(s))
		}
	}
	for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		if err := try(s); err != nil {
			t.Errorf("TLS 1.2 with %s: %v", tls.CipherSuiteName(s), err)
		}
	}
}

// TestE2ETLSSessionTickets: a client resumes its TLS session with a
// ticket, unless tls.session_ticket_lifetime is "0s". (That an old ticket
// is refused is tested with a fake clock in internal/tlsconf.)
func TestE2ETLSSessionTickets(t *testing.T) {
	t.Parallel()
	resumes := func(srv *xmpptest.Server, version uint16) bool {
		cfg := srv.TLSConfig()
		cfg.MinVersion, cfg.MaxVersion = version, version
		cfg.NextProtos = []string{"xmpp-client"}
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		var resumed bool
		for range 2 {
			c, err := tls.Dial("tcp", srv.DirectTLSAddr().String(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// A TLS 1.3 ticket arrives after the handshake: read the
			// server's stream header to take it in.
			_, _ = io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 64)); err != nil {
				t.Fatal(err)
			}
			resumed = c.ConnectionState().DidResume
			c.Close()
		}
		return resumed
	}
	srv := startServer(t, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if !resumes(srv, v) {
			t.Errorf("%s: no resumption with tickets on", tls.VersionName(v))
		}
	}
	off := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) { c.TLS.SessionTicketLifetime.Duration = 0 }))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if resumes(off, v) {
			t.Errorf("%s: resumed with session_ticket_lifetime = 0s", tls.VersionName(v))
		}
	}
}

// TestE2ETLSCertificateRenewal: the generated certificate is valid for a
// year, and one found with less than 30 days left is renewed when the
// server starts, with the same key.
func TestE2ETLSCertificateRenewal(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-340 * 24 * time.Hour),
		NotAfter:     now.Add(25 * 24 * time.Hour),
		DNSNames:     []string{"localhost", "*.localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "tls", "localhost.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "tls", "localhost.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) { c.DataDir = dataDir }))
	c, err := tls.Dial("tcp", srv.DirectTLSAddr().String(), srv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leaf := c.ConnectionState().PeerCertificates[0]
	if leaf.SerialNumber.Cmp(big.NewInt(7)) == 0 {
		t.Fatalf("the server serves the certificate with 25 days left")
	}
	if left := time.Until(leaf.NotAfter); left < 364*24*time.Hour || left > 366*24*time.Hour {
		t.Errorf("renewed certificate has %v left, want a year", left)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Errorf("renewal changed the key")
	}
}
