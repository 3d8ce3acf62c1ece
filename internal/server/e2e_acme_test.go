package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
	"minimix/internal/xmpptest/netproxy"
	"minimix/internal/xmpptest/pebble"
)

// TestE2EACME (issue 13 item 1): with tls.acme the server obtains a
// certificate from Pebble for its domain and its MUC, pubsub and upload
// subdomains, by http-01 on its HTTP listener and by tls-alpn-01 on its
// direct TLS listener, presents it to clients without a restart, keeps it
// in data_dir/acme, and serves the stored one after a restart without
// asking the CA again.
func TestE2EACME(t *testing.T) {
	// Pebble needs the challenge ports when it starts, the server has
	// its ports when it has started: proxies in between, pointed at the
	// server once it listens.
	httpProxy, tlsProxy := netproxy.New(t, ""), netproxy.New(t, "")
	port := func(p *netproxy.Proxy) int {
		_, s, _ := net.SplitHostPort(p.Addr())
		n, _ := strconv.Atoi(s)
		return n
	}
	ca := pebble.Start(t, pebble.Options{HTTPPort: port(httpProxy), TLSPort: port(tlsProxy)})
	for i, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			domain := "acme" + strconv.Itoa(i) + ".test"
			srv := xmpptest.Start(t, xmpptest.WithDomain(domain), xmpptest.WithConfig(func(c *config.Config) {
				c.Upload.Domain = "upload." + domain
				c.TLS.ACME = true
				c.TLS.ACMEEmail = "hostmaster@" + domain
				c.TLS.ACMEDirectory = ca.Directory
				c.TLS.ACMECARoots = ca.RootsFile
				c.TLS.ACMEChallenge = challenge
			}))
			httpProxy.SetTarget(srv.HTTPAddr().String())
			tlsProxy.SetTarget(srv.DirectTLSAddr().String())
			names := []string{domain, "conference." + domain, "pubsub." + domain, "upload." + domain}
			leaf := waitForIssued(t, srv.DirectTLSAddr().String(), ca, names)
			if _, err := os.Stat(filepath.Join(srv.Config.DataDir, "acme", domain+".pem")); err != nil {
				t.Errorf("certificate not kept in data_dir/acme: %v", err)
			}
			// A client that trusts only the CA connects to each name.
			for _, n := range names {
				c, err := tls.Dial("tcp", srv.DirectTLSAddr().String(), &tls.Config{ServerName: n, RootCAs: ca.Issuer, NextProtos: []string{"xmpp-client"}})
				if err != nil {
					t.Fatalf("TLS to %s verified by the CA: %v", n, err)
				}
				c.Close()
			}

			// After a restart the stored certificate is presented at once.
			httpProxy.SetTarget(netproxy.ClosedAddr(t))
			tlsProxy.SetTarget(netproxy.ClosedAddr(t))
			srv.Restart(t)
			if got := presented(t, srv.DirectTLSAddr().String(), domain); !got.Equal(leaf) {
				t.Errorf("after a restart the server presents %v (serial %v), want the stored certificate (serial %v)", got.Subject, got.SerialNumber, leaf.SerialNumber)
			}
		})
	}
}

// presented returns the certificate the server presents for name.
func presented(t *testing.T, addr, name string) *x509.Certificate {
	t.Helper()
	return chain(t, addr, name)[0]
}

// chain returns the certificates the server presents for name.
func chain(t *testing.T, addr, name string) []*x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}}) //nolint:gosec // inspected by the caller
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates
}

// waitForIssued waits until the server presents a certificate from the
// CA that verifies for every name, and returns it.
func waitForIssued(t *testing.T, addr string, ca *pebble.CA, names []string) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		certs := chain(t, addr, names[0])
		inter := x509.NewCertPool()
		for _, ic := range certs[1:] {
			inter.AddCert(ic)
		}
		ok := true
		for _, n := range names {
			if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: n, Roots: ca.Issuer, Intermediates: inter}); err != nil {
				ok = false
			}
		}
		if ok {
			return certs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate from the CA for %v; the server presents %v from %v; pebble says:\n%s", names, certs[0].DNSNames, certs[0].Issuer, ca.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
