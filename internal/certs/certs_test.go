package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestGenerateAndReuse(t *testing.T) {
	dir := t.TempDir()
	cert, err := LoadOrCreate("", "", dir, "localhost")
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("Leaf not set")
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 365*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("valid for %v, want one year", life)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "*.localhost"}) {
		t.Errorf("DNSNames = %q", leaf.DNSNames)
	}
	for _, name := range []string{"localhost", "conference.localhost", "upload.localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	if err := leaf.VerifyHostname("example.org"); err == nil {
		t.Error("certificate is valid for example.org")
	}

	keyFile := filepath.Join(dir, "tls", "localhost.key")
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "localhost.crt")); err != nil {
		t.Error(err)
	}

	again, err := LoadOrCreate("", "", dir, "localhost")
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if again.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("second call serial %v, want reused %v", again.Leaf.SerialNumber, leaf.SerialNumber)
	}

	// Another domain in the same data directory gets its own certificate.
	other, err := LoadOrCreate("", "", dir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if other.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("example.org reused the localhost certificate")
	}
	if len(other.Leaf.IPAddresses) != 0 {
		t.Errorf("example.org certificate has IP addresses %v", other.Leaf.IPAddresses)
	}
	if err := other.Leaf.VerifyHostname("conference.example.org"); err != nil {
		t.Error(err)
	}
}

func TestHandshake(t *testing.T) {
	cert, err := LoadOrCreate("", "", t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	server := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	client := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "conference.localhost"})
	if err := client.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestRegenerateMissingHalf(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreate("", "", dir, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	// A crash between writing the key and the certificate leaves no certificate.
	if err := os.Remove(filepath.Join(dir, "tls", "localhost.crt")); err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreate("", "", dir, "localhost")
	if err != nil {
		t.Fatalf("LoadOrCreate after losing the certificate: %v", err)
	}
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Error("serial unchanged after regeneration")
	}
}

func TestExplicitFiles(t *testing.T) {
	// Generate a pair in one place and serve it as the operator's files.
	src := t.TempDir()
	want, err := LoadOrCreate("", "", src, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(src, "tls", "example.org.crt")
	keyFile := filepath.Join(src, "tls", "example.org.key")

	dataDir := t.TempDir()
	got, err := LoadOrCreate(certFile, keyFile, dataDir, "localhost")
	if err != nil {
		t.Fatalf("LoadOrCreate(explicit): %v", err)
	}
	if got.Leaf == nil || got.Leaf.SerialNumber.Cmp(want.Leaf.SerialNumber) != 0 {
		t.Errorf("explicit files not used")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tls")); !os.IsNotExist(err) {
		t.Errorf("data_dir/tls created although files were given: %v", err)
	}
}

func TestBadFiles(t *testing.T) {
	src := t.TempDir()
	if _, err := LoadOrCreate("", "", src, "a.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate("", "", src, "b.example"); err != nil {
		t.Fatal(err)
	}
	crtA := filepath.Join(src, "tls", "a.example.crt")
	keyB := filepath.Join(src, "tls", "b.example.key")
	garbage := filepath.Join(src, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(src, "missing.pem")

	tests := []struct {
		name              string
		certFile, keyFile string
	}{
		{"missing cert", missing, keyB},
		{"missing key", crtA, missing},
		{"garbage cert", garbage, keyB},
		{"garbage key", crtA, garbage},
		{"mismatched pair", crtA, keyB},
		{"cert without key", crtA, ""},
		{"key without cert", "", keyB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadOrCreate(tc.certFile, tc.keyFile, t.TempDir(), "localhost"); err == nil {
				t.Error("LoadOrCreate succeeded")
			}
		})
	}
}

func TestCorruptGeneratedFileIsNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate("", "", dir, "localhost"); err != nil {
		t.Fatal(err)
	}
	crt := filepath.Join(dir, "tls", "localhost.crt")
	if err := os.WriteFile(crt, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate("", "", dir, "localhost"); err == nil {
		t.Fatal("LoadOrCreate accepted a corrupt certificate")
	}
	if b, _ := os.ReadFile(crt); string(b) != "corrupt" {
		t.Error("corrupt certificate was overwritten")
	}
}

func TestBadDomain(t *testing.T) {
	for _, domain := range []string{"", ".", "..", "../etc", `a\b`} {
		if _, err := LoadOrCreate("", "", t.TempDir(), domain); err == nil {
			t.Errorf("LoadOrCreate(domain %q) succeeded", domain)
		}
	}
}

func TestRegenerateExpired(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "localhost.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "localhost.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	cert, err := LoadOrCreate("", "", dir, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.SerialNumber.Int64() == 42 || !time.Now().Before(cert.Leaf.NotAfter) {
		t.Error("expired certificate reused")
	}
}

// A generated certificate close to its end is renewed at start, with the
// same key (clients may have pinned it); one with time left is kept.
func TestRenewBeforeExpiry(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now()
	first, err := loadOrCreate("", "", dir, "localhost", t0)
	if err != nil {
		t.Fatal(err)
	}
	// 300 days on: 65 days left, kept.
	kept, err := loadOrCreate("", "", dir, "localhost", t0.Add(300*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if kept.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Errorf("renewed with 65 days left")
	}
	// 340 days on: 25 days left, renewed for a year from then.
	later := t0.Add(340 * 24 * time.Hour)
	renewed, err := loadOrCreate("", "", dir, "localhost", later)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatalf("not renewed with 25 days left")
	}
	if left := renewed.Leaf.NotAfter.Sub(later); left < 364*24*time.Hour {
		t.Errorf("renewed certificate has %v left, want a year", left)
	}
	if !renewed.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(first.Leaf.PublicKey) {
		t.Errorf("renewal changed the key")
	}
	// An expired one is renewed too, and the files hold the renewal.
	expired, err := loadOrCreate("", "", dir, "localhost", later.Add(400*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := load(filepath.Join(dir, "tls", "localhost.crt"), filepath.Join(dir, "tls", "localhost.key"))
	if err != nil {
		t.Fatal(err)
	}
	if onDisk.Leaf.SerialNumber.Cmp(expired.Leaf.SerialNumber) != 0 || expired.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) == 0 {
		t.Errorf("expired certificate not renewed on disk")
	}
}
