package s2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
	"minimix/internal/xmpptest/testca"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRouter records what a Server hands the router.
type fakeRouter struct {
	mu      sync.Mutex
	routed  []*xml.Element
	bounced []bounce
}

type bounce struct {
	el   *xml.Element
	cond xmpperr.Condition
}

func (r *fakeRouter) Route(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if el.Attr("from") != from.String() || el.Attr("to") != to.String() {
		panic("Route: addresses differ from the element's")
	}
	r.mu.Lock()
	r.routed = append(r.routed, el)
	r.mu.Unlock()
}

func (r *fakeRouter) Bounce(ctx context.Context, el *xml.Element, se *xmpperr.StanzaError) {
	r.mu.Lock()
	r.bounced = append(r.bounced, bounce{el, se.Condition})
	r.mu.Unlock()
}

// got returns the routed stanzas whose body (or id) is s.
func (r *fakeRouter) got(s string) []*xml.Element {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*xml.Element
	for _, el := range r.routed {
		if el.ChildText(xml.NSClient, "body") == s || el.Attr("id") == s {
			out = append(out, el)
		}
	}
	return out
}

func (r *fakeRouter) bounces(id string) []bounce {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []bounce
	for _, b := range r.bounced {
		if b.el.Attr("id") == id {
			out = append(out, b)
		}
	}
	return out
}

// eventually fails the test unless cond holds within 10 seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// peer is one s2s Server on loopback with a fake router.
type peer struct {
	srv     *Server
	r       *fakeRouter
	domain  string
	addr    string // STARTTLS listener
	tlsAddr string // direct TLS listener
	log     *logBuf
}

// logBuf keeps what a Server logs, for tests of its log lines.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("MINIMIX_TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type peerOpt func(*Config)

// newPeer starts a Server for domain (and its conference. subdomain)
// with cert, trusting roots (nil: the system's), listening on 127.0.0.1.
func newPeer(t testing.TB, domain string, cert tls.Certificate, roots *x509.CertPool, opts ...peerOpt) *peer {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	lb := &logBuf{}
	p := &peer{r: &fakeRouter{}, domain: domain, log: lb}
	cfg := Config{
		Domain:         domain,
		Hosted:         func(d string) bool { return d == domain || d == "conference."+domain },
		TLS:            &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		RootCAs:        roots,
		RequireTLS:     true,
		DialbackSecret: secret,
		Router:         p.r,
		Hosts:          map[string]string{},
		Logger:         slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	p.srv = New(cfg)
	for _, direct := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if direct {
			p.tlsAddr = ln.Addr().String()
		} else {
			p.addr = ln.Addr().String()
		}
		go func() { _ = p.srv.Serve(ln, direct) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown %s: %v", domain, err)
		}
	})
	return p
}

// knows makes a reach other's domains through the static table.
func (a *peer) knows(b *peer) {
	a.srv.SetHost(b.domain, b.addr)
	a.srv.SetHost("conference."+b.domain, b.addr)
}

// pair starts two peers that know each other.
func pair(t testing.TB, certA, certB tls.Certificate, roots *x509.CertPool, opts ...peerOpt) (*peer, *peer) {
	a := newPeer(t, "a.test", certA, roots, opts...)
	b := newPeer(t, "b.test", certB, roots, opts...)
	a.knows(b)
	b.knows(a)
	return a, b
}

// selfSigned returns a certificate for domain that no one trusts.
func selfSigned(t testing.TB, domain string) tls.Certificate {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.TLSCertificate(domain)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// send routes a chat message from -> to with body through p's s2s.
func (p *peer) send(from, to, body string) *xml.Element {
	m := xml.New(xml.NSClient, stanza.Message, "from", from, "to", to, "type", "chat", "id", body)
	m.Append(xml.New(xml.NSClient, "body").AppendText(body))
	p.srv.RouteStanza(context.Background(), m, jid.MustParse(from), jid.MustParse(to))
	return m
}

func (p *peer) list(dir string) []Info {
	var out []Info
	for _, in := range p.srv.List() {
		if in.Direction == dir {
			out = append(out, in)
		}
	}
	return out
}

var _ = io.Discard
var _ = slices.Contains[[]string]

// logged reports whether one line of p's log has every part.
func logged(p *peer, parts ...string) bool {
	for _, line := range strings.Split(p.log.String(), "\n") {
		ok := true
		for _, part := range parts {
			ok = ok && strings.Contains(line, part)
		}
		if ok {
			return true
		}
	}
	return false
}

// ctxShutdown shuts p down now.
func ctxShutdown(t testing.TB, p *peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
