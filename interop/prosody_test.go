package interop

// Prosody as a second server under test. With MINIMIX_INTEROP_PROSODY=1,
// TestSlixmpp starts one Prosody for the run, with a configuration it
// writes into a temporary directory (loopback ports chosen here, a
// certificate made here, accounts in Prosody's own file storage), and runs
// the scenarios marked prosody against it as TestSlixmpp/prosody/NAME. A
// scenario's expectations then hold for a server nobody here wrote, or
// the scenario says which of its checks are minimix's own promises
// (--server prosody).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prosodyEnv names the environment variable that adds the Prosody runs.
const prosodyEnv = "MINIMIX_INTEROP_PROSODY"

// prosodyDomain is the virtual host; its MUC service is conference.<it>,
// as minimix's test servers have it.
const prosodyDomain = "localhost"

type prosody struct {
	dir              string
	c2sPort, tlsPort string
}

func (p *prosody) target() target {
	return target{
		server:  "prosody",
		c2sPort: p.c2sPort,
		tlsPort: p.tlsPort,
		domain:  prosodyDomain,
		ca:      filepath.Join(p.dir, prosodyDomain+".crt"),
	}
}

// startProsody starts Prosody with the given accounts (passwords from
// password) and stops it when t ends. Debian's package (apt-get install
// prosody) provides /usr/bin/prosody; as root, Prosody runs as the
// package's prosody user.
func startProsody(t *testing.T, accounts []string) *prosody {
	t.Helper()
	bin, err := exec.LookPath("prosody")
	if err != nil {
		t.Fatalf("%s=1, but prosody is not installed (apt-get install -y prosody): %v", prosodyEnv, err)
	}
	cred := systemUser(t, "prosody")
	dir := serverDir(t, "minimix-interop-prosody-")
	p := &prosody{dir: dir, c2sPort: freePort(t), tlsPort: freePort(t)}
	writeCertificate(t, dir, prosodyDomain, "conference."+prosodyDomain)
	writeProsodyAccounts(t, filepath.Join(dir, "data"), prosodyDomain, accounts)
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfg, []byte(prosodyConfig(dir, p.c2sPort, p.tlsPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		chownAll(t, dir, int(cred.Uid), int(cred.Gid))
	}
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
		return string(b)
	}
	runDaemon(t, "prosody", exec.Command(bin, "--config", cfg, "-F"), cred, logs, func() bool {
		return listening(net.JoinHostPort("127.0.0.1", p.c2sPort))
	})
	t.Logf("prosody (%s) on 127.0.0.1:%s, direct TLS %s", bin, p.c2sPort, p.tlsPort)
	return p
}

// prosodyConfig is the whole configuration: loopback c2s only, no s2s,
// HTTP or components ports, the accounts of data_path, one virtual host
// and its MUC service. Tombstones (Prosody's own extension, which keeps a
// destroyed room's name refusing joins for a month) are off: the
// scenarios expect XEP-0045's destroy, after which the name is free.
func prosodyConfig(dir, c2s, tls string) string {
	q := luaString
	return `-- Written by minimix's interop suite (interop/prosody_test.go).
data_path = ` + q(filepath.Join(dir, "data")) + `
log = { info = ` + q(filepath.Join(dir, "prosody.log")) + ` }
interfaces = { "127.0.0.1" }
c2s_ports = { ` + c2s + ` }
c2s_direct_tls_ports = { ` + tls + ` }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping" }
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = true
certificates = ` + q(dir) + `
ssl = { certificate = ` + q(filepath.Join(dir, prosodyDomain+".crt")) + `; key = ` + q(filepath.Join(dir, prosodyDomain+".key")) + ` }

VirtualHost "` + prosodyDomain + `"

Component "conference.` + prosodyDomain + `" "muc"
	modules_enabled = { "muc_mam" }
	muc_tombstones = false
`
}

// luaString quotes s for Lua (ASCII: paths and the test passwords).
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "\\%03d", c)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// freePort returns a loopback port nobody listens on now. (Prosody takes
// its ports from the configuration, so the kernel cannot choose them at
// bind time; the window between this and Prosody's bind is small.)
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return port(t, l.Addr().String())
}

// writeCertificate writes a self-signed certificate for names to
// dir/<names[0]>.crt and .key, which the scripts trust with --ca.
func writeCertificate(t *testing.T, dir string, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kpem := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := errors.Join(
		os.WriteFile(filepath.Join(dir, names[0]+".crt"), crt, 0o644),
		os.WriteFile(filepath.Join(dir, names[0]+".key"), kpem, 0o600),
	); err != nil {
		t.Fatal(err)
	}
}

// chownAll gives dir and everything in it to uid:gid (Prosody's user
// writes its data and log there).
func chownAll(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}
