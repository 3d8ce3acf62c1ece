package sasl

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"minimix/internal/storage"
)

// accounts is a Lookup over a map.
type accounts map[string]storage.Credentials

func (a accounts) lookup(_ context.Context, user string) (storage.Credentials, error) {
	c, ok := a[user]
	if !ok {
		return storage.Credentials{}, fmt.Errorf("account %q: %w", user, storage.ErrNotFound)
	}
	return c, nil
}

// testServer has alice/pencil and x=y,z/secret (a username that needs
// SCRAM escaping).
func testServer(t *testing.T) *Server {
	t.Helper()
	a := accounts{}
	for user, pw := range map[string]string{"alice": "pencil", "x=y,z": "secret"} {
		c, err := NewCredentials(pw, 0)
		if err != nil {
			t.Fatal(err)
		}
		a[user] = c
	}
	return NewServer(a.lookup, []byte("test secret"))
}

// selfSigned makes a certificate for example.net with key.
func selfSigned(t *testing.T, key crypto.Signer) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example.net"},
		DNSNames:     []string{"example.net"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func ecdsaCert(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, key)
}

func ed25519Cert(t *testing.T) tls.Certificate {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, key)
}

// handshake runs a TLS handshake of the given version over net.Pipe and
// returns both ends' connection states.
func handshake(t *testing.T, cert tls.Certificate, version uint16) (server, client tls.ConnectionState) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	sc, cc := net.Pipe()
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	cli := tls.Client(cc, &tls.Config{RootCAs: roots, ServerName: "example.net", MinVersion: version, MaxVersion: version})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	server, client = srv.ConnectionState(), cli.ConnectionState()
	sc.Close()
	cc.Close()
	return server, client
}

// conn is one TLS connection seen from both ends.
type conn struct {
	server ConnState // what the stream layer gives the mechanisms
	client *tls.ConnectionState
}

func tlsConn(t *testing.T, cert tls.Certificate, version uint16) conn {
	s, c := handshake(t, cert, version)
	return conn{server: ConnState{TLS: &s, ServerCert: cert.Leaf, AllowPlain: true}, client: &c}
}

// condition is the failure condition of err, "" for nil, and fails the
// test for an error that is not a *Failure.
func condition(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error is not a *Failure: %v", err)
	}
	return f.Condition
}

func TestMechanisms(t *testing.T) {
	cert := ecdsaCert(t)
	tls13 := tlsConn(t, cert, tls.VersionTLS13)
	tls12 := tlsConn(t, cert, tls.VersionTLS12)
	edCert := ed25519Cert(t)
	ed := tlsConn(t, edCert, tls.VersionTLS13)
	noCert := tls13.server
	noCert.ServerCert = nil
	noPlain := tls13.server
	noPlain.AllowPlain = false

	all := []string{SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1, Plain}
	for _, tc := range []struct {
		name      string
		cs        ConnState
		wantMechs []string
		wantCB    []string
	}{
		{"plaintext", ConnState{}, []string{SCRAMSHA256, SCRAMSHA1}, nil},
		{"plaintext allow plain", ConnState{AllowPlain: true}, []string{SCRAMSHA256, SCRAMSHA1, Plain}, nil},
		{"tls 1.3", tls13.server, all, []string{TLSExporter, TLSServerEndPoint}},
		{"tls 1.2 with ems", tls12.server, all, []string{TLSExporter, TLSServerEndPoint}},
		{"no server cert", noCert, all, []string{TLSExporter}},
		{"ed25519 cert has no end-point hash", ed.server, all, []string{TLSExporter}},
		{"plain not allowed", noPlain, all[:4], []string{TLSExporter, TLSServerEndPoint}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Mechanisms(tc.cs); !slices.Equal(got, tc.wantMechs) {
				t.Errorf("Mechanisms = %v, want %v", got, tc.wantMechs)
			}
			if got := ChannelBindingTypes(tc.cs); !slices.Equal(got, tc.wantCB) {
				t.Errorf("ChannelBindingTypes = %v, want %v", got, tc.wantCB)
			}
		})
	}
}

func TestStart(t *testing.T) {
	srv := testServer(t)
	tls13 := tlsConn(t, ecdsaCert(t), tls.VersionTLS13)
	noPlain := tls13.server
	noPlain.AllowPlain = false
	for _, tc := range []struct {
		name string
		mech string
		cs   ConnState
		want string
	}{
		{"scram on plaintext", SCRAMSHA256, ConnState{}, ""},
		{"plus on plaintext", SCRAMSHA256Plus, ConnState{}, InvalidMechanism},
		{"plain on plaintext", Plain, ConnState{}, EncryptionRequired},
		{"plain on plaintext when allowed", Plain, ConnState{AllowPlain: true}, ""},
		{"plain disabled on tls", Plain, noPlain, InvalidMechanism},
		{"plus on tls", SCRAMSHA1Plus, tls13.server, ""},
		{"unknown", "DIGEST-MD5", tls13.server, InvalidMechanism},
		{"lower case", "scram-sha-1", tls13.server, InvalidMechanism},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := srv.Start(context.Background(), tc.mech, tc.cs)
			if got := condition(t, err); got != tc.want {
				t.Errorf("Start(%q) = %q, want %q (%v)", tc.mech, got, tc.want, err)
			}
		})
	}
}

func TestLookupError(t *testing.T) {
	broken := errors.New("disk on fire")
	srv := NewServer(func(context.Context, string) (storage.Credentials, error) {
		return storage.Credentials{}, broken
	}, nil)
	for _, tc := range []struct {
		mech string
		msg  string
	}{
		{SCRAMSHA256, "n,,n=alice,r=0123456789abcdef"},
		{Plain, "\x00alice\x00pencil"},
	} {
		neg, err := srv.Start(context.Background(), tc.mech, ConnState{AllowPlain: true})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = neg.Step(context.Background(), []byte(tc.msg))
		if got := condition(t, err); got != TemporaryAuthFailure || !errors.Is(err, broken) {
			t.Errorf("%s: Step = %v, want temporary-auth-failure wrapping the storage error", tc.mech, err)
		}
	}
}
