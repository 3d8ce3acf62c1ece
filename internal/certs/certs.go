// Package certs provides the TLS certificate the server presents: the
// operator's files, or a self-signed one generated once and kept in the data
// directory so that clients that pinned it keep trusting it across restarts.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// validity is how long a generated certificate lasts; one that has less
// than renewBefore left is renewed when the server starts.
const (
	validity    = 365 * 24 * time.Hour
	renewBefore = 30 * 24 * time.Hour
)

// LoadOrCreate returns the TLS certificate to serve, with Leaf set.
//
// When certFile or keyFile is set, both must be, and they are loaded as PEM.
// Otherwise the certificate is dataDir/tls/<domain>.crt with its key in
// <domain>.key: a self-signed ECDSA P-256 certificate generated on first run
// (valid one year, for domain and *.domain so that conference.<domain> and
// other subdomains are covered, and for 127.0.0.1 and ::1 when domain is
// "localhost"), written with the key readable only by its owner, and reused
// after. A generated certificate with less than 30 days left (or expired) is
// renewed with the same key, so that clients that pinned the key keep
// trusting it; files that exist but cannot be loaded are an error rather
// than silently overwritten.
func LoadOrCreate(certFile, keyFile, dataDir, domain string) (tls.Certificate, error) {
	return loadOrCreate(certFile, keyFile, dataDir, domain, time.Now())
}

func loadOrCreate(certFile, keyFile, dataDir, domain string, now time.Time) (tls.Certificate, error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return tls.Certificate{}, errors.New("certs: cert_file and key_file must be set together")
		}
		return load(certFile, keyFile)
	}

	if domain == "" || domain == "." || domain == ".." || strings.ContainsAny(domain, `/\`) {
		return tls.Certificate{}, fmt.Errorf("certs: %q cannot name a certificate file", domain)
	}
	dir := filepath.Join(dataDir, "tls")
	certFile = filepath.Join(dir, domain+".crt")
	keyFile = filepath.Join(dir, domain+".key")

	cert, err := load(certFile, keyFile)
	var key crypto.Signer
	switch {
	case err == nil && cert.Leaf.NotAfter.Sub(now) > renewBefore:
		return cert, nil
	case err == nil:
		// Expiring or expired: renew, keeping the key when it can sign.
		key, _ = cert.PrivateKey.(crypto.Signer)
	case errors.Is(err, fs.ErrNotExist):
		// First run or a half-written pair: make one.
	default:
		return tls.Certificate{}, err
	}
	if err := generate(certFile, keyFile, domain, key, now); err != nil {
		return tls.Certificate{}, err
	}
	return load(certFile, keyFile)
}

// load reads a PEM certificate chain and key and parses the leaf.
func load(certFile, keyFile string) (tls.Certificate, error) {
	// Read both first so that a missing file reports fs.ErrNotExist.
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %s and %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("certs: %s: %w", certFile, err)
		}
	}
	return cert, nil
}

// generate writes a new self-signed certificate for domain, valid from now,
// and a new key unless key is given. The key is written first, so a crash
// leaves at worst a key without a certificate, which the next start
// replaces.
func generate(certFile, keyFile, domain string, key crypto.Signer, now time.Time) error {
	newKey := key == nil
	if newKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("certs: generating key: %w", err)
		}
		key = k
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("certs: generating serial: %w", err)
	}
	// Backdated an hour so that a client whose clock runs a little behind
	// still accepts it.
	notBefore := now.Add(-time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: domain, Organization: []string{"minimix self-signed"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(domain); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{domain, "*." + domain}
	}
	if domain == "localhost" {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("certs: creating certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if newKey {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("certs: encoding key: %w", err)
		}
		if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return err
		}
	}
	return writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile replaces name with data atomically, so a reader sees the old file
// or the whole new one.
func writeFile(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("certs: writing %s: %w", name, err)
	}
	return nil
}
