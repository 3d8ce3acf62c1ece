package c2s_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sasl"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpptest"
)

// The c2s tests run a c2s.Server alone on a loopback listener, with a
// router whose handlers record what reaches them, and drive it with the
// raw stream client. They can see what the server does at points the
// full server cannot show, through the hooks in export_test.go.

const testDomain = "localhost"

// testServer is a c2s.Server on 127.0.0.1 with in-memory accounts.
type testServer struct {
	*c2s.Server
	addr     string
	router   *router.Router
	handlers *handlers
	ended    *endedHooks
}

type testOption func(*c2s.Config)

// startServer starts a c2s server that knows alice and bob (password
// "<name>-secret") and stops it when the test ends.
func startServer(t *testing.T, opts ...testOption) *testServer {
	t.Helper()
	creds := map[string]storage.Credentials{}
	for _, u := range []string{"alice", "bob"} {
		c, err := sasl.NewCredentials(u+"-secret", 0)
		if err != nil {
			t.Fatal(err)
		}
		creds[u] = c
	}
	lookup := func(ctx context.Context, user string) (storage.Credentials, error) {
		if c, ok := creds[user]; ok {
			return c, nil
		}
		return storage.Credentials{}, storage.ErrNotFound
	}
	h := &handlers{}
	r := router.New(router.Config{Domain: testDomain, Registry: router.NewRegistry(), Handlers: h})
	ended := &endedHooks{}
	cfg := c2s.Config{
		Domain:     testDomain,
		RequireTLS: false,
		Router:     r,
		SASL:       sasl.NewServer(lookup, nil),
		Hooks:      ended,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := c2s.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, false) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, c2s.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &testServer{Server: srv, addr: ln.Addr().String(), router: r, handlers: h, ended: ended}
}

// login opens a stream as user, authenticates and binds resource.
func (s *testServer) login(t *testing.T, user, resource string) *xmpptest.Raw {
	t.Helper()
	r := xmpptest.DialRawAddr(t, s.addr, testDomain, nil)
	r.Open()
	r.Authenticate(user, user+"-secret")
	r.Bind(resource)
	return r
}

// loginMany logs in alice n times, on resources r0, r1, ...
func (s *testServer) loginMany(t *testing.T, n int) []*xmpptest.Raw {
	t.Helper()
	out := make([]*xmpptest.Raw, n)
	for i := range n {
		out[i] = s.login(t, "alice", fmt.Sprintf("r%d", i))
	}
	return out
}

// session returns the registered session of full, failing if none.
func (s *testServer) session(t *testing.T, full string) router.Session {
	t.Helper()
	se := s.router.Registry().Get(jid.MustParse(full))
	if se == nil {
		t.Fatalf("no session %s", full)
	}
	return se
}

// handlers answers nothing and records presences; every account exists.
type handlers struct {
	mu        sync.Mutex
	presences []*xml.Element
}

func (h *handlers) ServerStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {}
func (h *handlers) AccountIQ(ctx context.Context, el *xml.Element, from, to jid.JID)    {}
func (h *handlers) Presence(ctx context.Context, el *xml.Element, from, to jid.JID)     {}
func (h *handlers) AccountExists(ctx context.Context, local string) bool                { return true }
func (h *handlers) SessionPresence(ctx context.Context, s router.Session, el *xml.Element, to jid.JID) {
	h.mu.Lock()
	h.presences = append(h.presences, el)
	h.mu.Unlock()
}

// endedHooks records the sessions that ended for good.
type endedHooks struct {
	mu    sync.Mutex
	ended []string
	hook  func(ctx context.Context, s router.Session) // optional, called first
}

func (e *endedHooks) SessionEnded(ctx context.Context, s router.Session) {
	if e.hook != nil {
		e.hook(ctx, s)
	}
	e.mu.Lock()
	e.ended = append(e.ended, s.JID().String())
	e.mu.Unlock()
}

func (e *endedHooks) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.ended...)
}

// waitFor polls cond until it holds, failing after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHarnessLogin(t *testing.T) {
	srv := startServer(t)
	r := srv.login(t, "alice", "phone")
	if r.JID != "alice@localhost/phone" {
		t.Fatalf("bound %q", r.JID)
	}
	srv.session(t, r.JID)
	r.Close()
	waitFor(t, "session end", func() bool { return len(srv.ended.list()) == 1 })
}
