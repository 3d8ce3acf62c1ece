package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"minimix/internal/certs"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// handshake connects a client to srv over a pipe and reports whether the
// session was resumed; the client reads one byte so that a TLS 1.3 ticket
// sent after the handshake is taken in.
func handshake(t *testing.T, srv, cli *tls.Config) (resumed bool, proto string, err error) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		ss := tls.Server(s, srv)
		if err := ss.Handshake(); err != nil {
			done <- err
			return
		}
		_, err := ss.Write([]byte{'x'})
		done <- err
	}()
	cc := tls.Client(c, cli)
	if err = cc.Handshake(); err != nil {
		s.Close()
		<-done
		return false, "", err
	}
	if _, err = cc.Read(make([]byte, 1)); err != nil {
		return false, "", err
	}
	if err = <-done; err != nil {
		return false, "", err
	}
	st := cc.ConnectionState()
	return st.DidResume, st.NegotiatedProtocol, nil
}

func setup(t *testing.T, lifetime time.Duration) (starttls, direct *tls.Config, client func() *tls.Config, clk *clock) {
	t.Helper()
	cert, err := certs.LoadOrCreate("", "", t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	clk = &clock{t: time.Now()}
	starttls, direct = New(Config{Certificate: cert, TicketLifetime: lifetime, Now: clk.now})
	client = func() *tls.Config { return &tls.Config{RootCAs: roots, ServerName: "localhost"} }
	return starttls, direct, client, clk
}

// A ticket resumes the session while it is younger than the lifetime,
// and not after; the key that made it is forgotten two lifetimes later.
func TestTicketLifetime(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srv, _, client, clk := setup(t, time.Hour)
			cli := client()
			cli.MinVersion, cli.MaxVersion = v, v
			cli.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			if r, _, err := handshake(t, srv, cli); err != nil || r {
				t.Fatalf("first handshake: resumed %v, %v", r, err)
			}
			clk.add(59 * time.Minute)
			if r, _, err := handshake(t, srv, cli); err != nil || !r {
				t.Fatalf("59 minutes on: resumed %v, %v", r, err)
			}
			// The resumed session got a fresh ticket (TLS 1.3) or kept the
			// old one (TLS 1.2); either way, past the lifetime of the one
			// in the cache nothing resumes.
			clk.add(61 * time.Minute)
			if r, _, err := handshake(t, srv, cli); err != nil || r {
				t.Fatalf("past the lifetime: resumed %v, %v", r, err)
			}
		})
	}
	tk := newTicketer(time.Hour, nil)
	t0 := time.Now()
	k1, _ := tk.current(t0)
	k2, _ := tk.current(t0.Add(time.Hour))
	if k1.id == k2.id {
		t.Fatal("key not replaced after a lifetime")
	}
	if _, ok := tk.key(k1.id[:], t0.Add(90*time.Minute)); !ok {
		t.Error("previous key forgotten while its tickets may be valid")
	}
	if _, ok := tk.key(k1.id[:], t0.Add(2*time.Hour)); ok {
		t.Error("previous key kept two lifetimes after it was made")
	}
}

func TestTicketsOff(t *testing.T) {
	srv, _, client, _ := setup(t, 0)
	cli := client()
	cli.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	for range 2 {
		if r, _, err := handshake(t, srv, cli); err != nil || r {
			t.Fatalf("resumed %v, %v with tickets off", r, err)
		}
	}
}

// A damaged or foreign ticket gives a full handshake, never an error.
func TestBadTicketIgnored(t *testing.T) {
	tk := newTicketer(time.Hour, nil)
	for _, id := range [][]byte{nil, {1, 2}, make([]byte, 40), make([]byte, 200)} {
		if ss, err := tk.unwrap(id, tls.ConnectionState{}); ss != nil || err != nil {
			t.Errorf("unwrap(%d bytes) = %v, %v", len(id), ss, err)
		}
	}
}

func TestALPN(t *testing.T) {
	starttls, direct, client, _ := setup(t, time.Hour)
	for _, tc := range []struct {
		name   string
		srv    *tls.Config
		offer  []string
		want   string
		refuse bool
	}{
		{"starttls h2", starttls, []string{"h2", "http/1.1"}, "", false},
		{"starttls xmpp-client", starttls, []string{"xmpp-client"}, "", false},
		{"starttls other", starttls, []string{"foo"}, "", false},
		{"direct none", direct, nil, "", false},
		{"direct xmpp-client", direct, []string{"h2", "xmpp-client"}, "xmpp-client", false},
		{"direct h2", direct, []string{"h2", "http/1.1"}, "", true},
		{"direct xmpp-server", direct, []string{"xmpp-server"}, "", true},
	} {
		cli := client()
		cli.NextProtos = tc.offer
		_, proto, err := handshake(t, tc.srv, cli)
		switch {
		case tc.refuse && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !tc.refuse && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case proto != tc.want:
			t.Errorf("%s: negotiated %q, want %q", tc.name, proto, tc.want)
		}
	}
}
