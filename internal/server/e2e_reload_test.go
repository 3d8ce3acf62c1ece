package server_test

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
	"minimix/internal/xmpptest/testca"
)

// TestE2EReload (issue 13 items 1 and 2): a reload reads the certificate
// files again (the next handshake gets the new certificate, the log names
// its expiry, and one that expires within 14 days is warned about in the
// log and the metrics) and applies the live limits to new streams, while
// a session open before stays open with what it had; a key that needs a
// restart is named.
func TestE2EReload(t *testing.T) {
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, err := ca.WriteFiles(dir, "localhost", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	srv := xmpptest.StartWithLog(t, &log, xmpptest.WithConfig(func(c *config.Config) {
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
	}))
	srv.RootCAs.AddCert(ca.Cert)
	srv.AddUser(t, "alice", pw("alice"))
	alice := srv.Login(t, "alice", pw("alice"), "before")
	first := presented(t, srv.DirectTLSAddr().String(), "localhost")
	if !strings.Contains(log.String(), "the TLS certificate expires soon") {
		t.Errorf("no expiry warning at start for a certificate valid one day:\n%s", log.String())
	}
	if body := metricsBody(t, srv); !strings.Contains(body, "\nminimix_tls_certificate_expiring 1\n") {
		t.Errorf("/metrics: minimix_tls_certificate_expiring is not 1")
	}

	// The operator replaces the files and lowers the stanza limit, and
	// changes a key that needs a restart.
	if _, _, err := ca.WriteFiles(dir, "localhost", 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(certFile)
	blk, _ := pem.Decode(b)
	second, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	next := *srv.Config
	next.Limits.MaxStanzaBytes = 10000
	next.C2S.ResumeTimeout.Duration = 2 * next.C2S.ResumeTimeout.Duration
	res, err := srv.Reload(&next)
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !slicesEqual(res.Applied, []string{"limits.max_stanza_bytes"}) || !slicesEqual(res.Restart, []string{"c2s.resume_timeout"}) {
		t.Errorf("Reload = %+v", res)
	}
	if got := presented(t, srv.DirectTLSAddr().String(), "localhost"); !got.Equal(second) || got.Equal(first) {
		t.Errorf("after the reload the server presents serial %v, want the new file's %v", got.SerialNumber, second.SerialNumber)
	}
	wantLine := "not_after=" + second.NotAfter.UTC().Format(time.RFC3339)
	if out := log.String(); !strings.Contains(out, `msg="TLS certificate reloaded"`) || !strings.Contains(out, wantLine) {
		t.Errorf("log lacks the reload line with %s:\n%s", wantLine, out)
	}
	if out := log.String(); !strings.Contains(out, "keeps its old value until the server restarts\" key=c2s.resume_timeout") {
		t.Errorf("log does not name c2s.resume_timeout as needing a restart:\n%s", out)
	}

	// The old session keeps its limits: a 20000-byte message goes through.
	big := strings.Repeat("x", 20000)
	alice.Send("<message to='alice@localhost/before' id='big'><body>" + big + "</body></message>")
	alice.ExpectStanza("own big message", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && n.Attr("id") == "big"
	})
	// A new stream has the new limit.
	bob := srv.Login(t, "alice", pw("alice"), "after")
	bob.Send("<message to='alice@localhost/before' id='too-big'><body>" + big + "</body></message>")
	bob.ExpectStreamError("policy-violation")
	// And the old session is still there.
	alice.Send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.ExpectStanza("ping result", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "iq" && n.Attr("id") == "p1" && n.Attr("type") == "result"
	})
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func metricsBody(t *testing.T, srv *xmpptest.Server) string {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
