// Package server is the composition root: it builds every subsystem from
// the configuration, wires them together and owns the order in which they
// start and stop. Nothing else knows how the parts fit.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/accountjoin"
	"minimix/internal/accounts"
	"minimix/internal/adminweb"
	"minimix/internal/c2s"
	"minimix/internal/cluster"
	"minimix/internal/component"
	"minimix/internal/config"
	"minimix/internal/iq"
	"minimix/internal/metrics"
	"minimix/internal/push"
	"minimix/internal/router"
	"minimix/internal/s2s"
	"minimix/internal/sasl"
	"minimix/internal/storage"
	"minimix/internal/storage/postgres"
	"minimix/internal/storage/sqlite"
	"minimix/internal/tlsconf"
	"minimix/internal/web"
	"minimix/internal/xml"
)

// Version is the software version reported by XEP-0092.
var Version = "0.1.0-dev"

// Server is one running minimix instance.
type Server struct {
	cfg   *config.Config
	log   *slog.Logger
	store storage.Store

	Router   *router.Router
	Registry *router.Registry
	Mux      *iq.Mux
	C2S      *c2s.Server
	S2S      *s2s.Server // nil when s2s.enabled is false
	Accounts *accounts.Manager
	Metrics  *metrics.Registry
	// Components accepts external components (XEP-0114); nil when none
	// is configured.
	Components *component.Server
	// Cluster is this node's membership in a cluster; nil when
	// cluster.enabled is false.
	Cluster *cluster.Node

	features  *features
	web       *web.Handler // WebSocket, BOSH, host-meta
	tlsConfig *tls.Config  // the client listeners' (STARTTLS), for HTTPS
	// OnReady, when set, is called by Run once every listener is open,
	// and OnStopping when it begins to shut down (the command line tells
	// systemd, sd_notify).
	OnReady, OnStopping func()
	// LogLevel, when set before Start, is the level of the server's log,
	// which a reload changes (log.level).
	LogLevel   *slog.LevelVar
	admins     atomic.Pointer[adminSet]
	reloadMu   sync.Mutex
	loaded     *config.Config // in force after the last reload; nil: cfg
	certs      *serverCerts
	adminToken string        // bearer token of the admin API (data_dir/admin.token)
	metrics    metricsAccess // who may read /metrics
	// errors keeps the recent warnings and errors for the admin page,
	// adminPage is that page (nil when off), stopAdminPage stops its
	// sampler.
	errors        *adminweb.ErrorRing
	adminPage     *adminweb.Handler
	stopAdminPage context.CancelFunc

	mu        sync.Mutex
	listeners []listener
	http      *http.Server
	httpLn    net.Listener
	https     *http.Server
	httpsLn   net.Listener
	serveWG   sync.WaitGroup
	started   bool
	startedAt time.Time
	stopped   bool
	// stopDone is closed when the Shutdown that stopped the server has
	// returned; nil when a failed Start stopped it.
	stopDone chan struct{}
}

type listener struct {
	ln        net.Listener
	directTLS bool
	component bool // an external components' listener
	s2s       bool // a server-to-server listener
}

// OpenStore opens the configured storage backend.
func OpenStore(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	switch cfg.Storage.Driver {
	case "sqlite", "":
		db, err := sqlite.Open(ctx, cfg.DSN())
		if err != nil {
			return nil, fmt.Errorf("open sqlite storage %s: %w", cfg.DSN(), err)
		}
		return db, nil
	case "postgres":
		// postgres.Open's errors name the database without the
		// password; the DSN itself may hold one and is not logged.
		db, err := postgres.Open(ctx, cfg.DSN())
		if err != nil {
			return nil, fmt.Errorf("open postgres storage: %w", err)
		}
		return db, nil
	default:
		return nil, fmt.Errorf("storage driver %q is not available", cfg.Storage.Driver)
	}
}

// New builds a server from cfg. Nothing listens until Start.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	log, errRing := withErrorRing(log)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	sc, err := newServerCerts(cfg, log)
	if err != nil {
		return nil, err
	}
	starttls, directTLS := tlsconf.New(tlsconf.Config{
		GetCertificate: sc.holder.GetCertificate,
		ACMEALPN:       cfg.TLS.ACME && cfg.TLS.ACMEChallenge == "tls-alpn-01",
		TicketLifetime: cfg.TLS.SessionTicketLifetime.Duration,
	})
	secret, err := loadSecret(filepath.Join(cfg.DataDir, "sasl.secret"))
	if err != nil {
		return nil, err
	}
	adminToken, replaced, err := loadAdminToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if replaced {
		log.Warn("the admin token file was readable by others; replaced it with a new token", "file", AdminTokenPath(cfg.DataDir))
	}
	metricsAcc, err := loadMetricsAccess(cfg.HTTP.MetricsAllow, cfg.HTTP.MetricsTokenFile)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{metrics: metricsAcc, cfg: cfg, log: log, store: store, Metrics: metrics.New(), adminToken: adminToken, errors: errRing, certs: sc}
	s.Registry = router.NewRegistry()
	s.Router = router.New(router.Config{Domain: cfg.Domain, Registry: s.Registry, Logger: log.With("component", "router")})
	s.Mux = iq.NewMux(log.With("component", "iq"))
	s.Accounts = NewAccountManager(cfg, store)
	s.Accounts.OnDelete = func(ctx context.Context, user string) {
		if s.features != nil {
			s.features.accountDeleted(ctx, user)
		}
		if s.adminPage != nil {
			s.adminPage.AccountDeleted(user)
		}
		s.kick(user)
	}

	saslSrv := sasl.NewServer(func(ctx context.Context, u string) (storage.Credentials, error) { return store.GetCredentials(ctx, u) }, secret)
	if perAccount, perAddress := cfg.C2S.LoginFailuresPerMinute, cfg.C2S.AddressLoginFailuresPerMinute; perAccount > 0 || perAddress > 0 {
		// 0 in the configuration is unlimited; to the limiter that is -1.
		off := func(n int) int { return cmp.Or(n, -1) }
		saslSrv.SetLimiter(sasl.NewLimiter(sasl.LimiterConfig{Burst: off(perAccount), AddressBurst: off(perAddress), Window: time.Minute}))
	}
	// Accounts imported with SCRAM-SHA-1 credentials only (Prosody,
	// docs/migrating.md) get SCRAM-SHA-256 ones at their first PLAIN
	// login.
	saslSrv.SetCompleter(func(ctx context.Context, user string, c storage.Credentials) {
		if err := store.SetCredentials(ctx, user, c); err != nil {
			log.Warn("credentials not completed after a PLAIN login", "user", user, "err", err)
			return
		}
		log.Info("credentials completed for every SCRAM mechanism after a PLAIN login", "user", user)
	})
	s.admins.Store(newAdminSet(cfg.Domain, cfg.Admins))
	c2cfg := c2s.Config{
		Domain:     cfg.Domain,
		TLS:        starttls,
		DirectTLS:  directTLS,
		RequireTLS: cfg.C2S.RequireTLS,
		Limits: xml.Limits{
			MaxStanzaBytes: cfg.Limits.MaxStanzaBytes,
			MaxDepth:       cfg.Limits.MaxDepth,
			MaxHeaderBytes: cfg.Limits.MaxHeaderBytes,
		},
		Router:           s.Router,
		SASL:             saslSrv,
		ResumeTimeout:    cfg.C2S.ResumeTimeout.Duration,
		MaxResumeTimeout: cfg.C2S.MaxResumeTimeout.Duration,
		SendQueue:        cfg.C2S.SendQueue,
		StanzasPerSecond: float64(cfg.C2S.StanzasPerSecond),
		ReadRate:         float64(cfg.Limits.C2SBytesPerSecond),
		ReadBurst:        cfg.Limits.C2SBurstBytes,
		Unlimited:        func(user string) bool { return s.admins.Load().locals[user] },
		MaxConnections:   cfg.C2S.MaxConnections,
		NegotiateTimeout: cfg.C2S.NegotiateTimeout.Duration,
		WriteTimeout:     cfg.C2S.WriteTimeout.Duration,
		Logger:           log,
	}
	if cfg.C2S.AllowRegistration {
		c2cfg.Registrar = registrar{s.Accounts}
	}
	s.fastLogin(&c2cfg, secret)
	if cfg.Cluster.Enabled {
		// XEP-0198 across nodes (docs/cluster.md): ids say which node
		// holds the session, <enabled/> says where to resume, and a
		// resume sent to another node is redirected (see-other-host).
		c2cfg.ResumeIDPrefix = cfg.Cluster.NodeID + "."
		c2cfg.ResumeLocation = cfg.Cluster.ResumeLocation
		c2cfg.ResumeElsewhere = func(previd string) string {
			if s.Cluster == nil {
				return ""
			}
			return s.Cluster.ResumeAt(previd)
		}
	}
	f, err := s.buildFeatures(ctx)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	s.features = f
	c2cfg.Hooks = f
	c2cfg.Caps = f.disco.CapsElement
	if ext := cfg.Components.External; len(ext) > 0 {
		secrets := make(map[string]string, len(ext))
		for _, e := range ext {
			secrets[e.Domain] = e.Secret
		}
		s.Components = component.New(component.Config{
			Secrets: secrets,
			Router:  s.Router,
			Limits: xml.Limits{
				MaxStanzaBytes: cfg.Limits.MaxStanzaBytes,
				MaxDepth:       cfg.Limits.MaxDepth,
				MaxHeaderBytes: cfg.Limits.MaxHeaderBytes,
			},
			NegotiateTimeout: cfg.Components.NegotiateTimeout.Duration,
			SendQueue:        cfg.Components.SendQueue,
			Logger:           log.With("component", "components"),
		})
	}
	s.C2S = c2s.New(c2cfg)
	s.tlsConfig = starttls
	s.web = s.buildWeb()
	if cfg.Cluster.Enabled {
		s.Cluster = s.buildCluster()
	}
	if cfg.S2S.Enabled {
		if s.S2S, err = s.buildS2S(starttls); err != nil {
			_ = store.Close()
			return nil, err
		}
		s.Router.SetRemote(s.S2S)
	}
	s.adminPage = s.buildAdminPage(saslSrv.CheckPassword)
	s.registerMetrics()
	return s, nil
}

// loadSecret returns the server's persistent random secret, creating it
// on first run. It keys the fake SASL credentials shown for unknown users,
// which must not change across restarts.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return b, nil
}

// Start starts the features and opens every configured listener, then
// begins serving. It returns once all listeners are open, so callers (and
// tests using port 0) can read the addresses. When it fails, what it
// started is stopped again, in reverse order, and only storage is left
// open (Run closes it).
func (s *Server) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server already started")
	}
	s.started = true
	s.startedAt = time.Now()
	if s.Cluster != nil {
		// First: the registry mirrors the other nodes' sessions before
		// anything routes.
		if err := s.Cluster.Start(ctx); err != nil {
			return fmt.Errorf("join the cluster: %w", err)
		}
	}
	if err := s.features.start(ctx); err != nil {
		s.stopCluster(ctx)
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		s.closeListenersLocked()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace.Duration)
		defer cancel()
		if ferr := s.features.shutdown(sctx); ferr != nil {
			s.log.Error("stopping features after a failed start", "err", ferr)
		}
		s.stopCluster(sctx)
		s.stopped = true
	}()
	var lc net.ListenConfig
	open := func(addr string, direct bool) error {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, listener{ln: ln, directTLS: direct})
		return nil
	}
	for _, a := range s.cfg.C2S.Listen {
		if err := open(a, false); err != nil {
			return err
		}
	}
	for _, a := range s.cfg.C2S.DirectTLSListen {
		if err := open(a, true); err != nil {
			return err
		}
	}
	if s.Components != nil {
		for _, a := range s.cfg.Components.Listen {
			ln, err := lc.Listen(ctx, "tcp", a)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", a, err)
			}
			s.listeners = append(s.listeners, listener{ln: ln, component: true})
		}
	}
	if s.S2S != nil {
		for i, addrs := range [][]string{s.cfg.S2S.Listen, s.cfg.S2S.DirectTLSListen} {
			for _, a := range addrs {
				if err := open(a, i == 1); err != nil {
					return err
				}
				s.listeners[len(s.listeners)-1].s2s = true
			}
		}
	}
	if a := s.cfg.HTTP.Listen; a != "" {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a, err)
		}
		s.httpLn = ln
		s.warnExposedHTTP(ln)
	}
	if a := s.cfg.HTTP.TLSListen; a != "" {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a, err)
		}
		s.httpsLn = ln
	}
	s.features.httpListening(s.httpLn, s.httpsLn)
	// Every listener is open: nothing can fail from here on.
	s.certs.start()
	if s.httpLn != nil {
		s.http = s.newHTTPServer()
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.http.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("http server failed", "err", err)
			}
		}()
		s.startAdminPage()
	}
	if s.httpsLn != nil {
		s.https = s.newHTTPSServer(s.httpHandler())
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.https.ServeTLS(s.httpsLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("https server failed", "err", err)
			}
		}()
	}
	for _, l := range s.listeners {
		s.serveWG.Add(1)
		if l.component {
			go func() {
				defer s.serveWG.Done()
				if err := s.Components.Serve(l.ln); err != nil && !errors.Is(err, component.ErrServerClosed) {
					s.log.Error("component listener failed", "addr", l.ln.Addr().String(), "err", err)
				}
			}()
			continue
		}
		go func() {
			defer s.serveWG.Done()
			if l.s2s {
				if err := s.S2S.Serve(l.ln, l.directTLS); err != nil && !errors.Is(err, s2s.ErrServerClosed) {
					s.log.Error("s2s listener failed", "addr", l.ln.Addr().String(), "err", err)
				}
				return
			}
			if err := s.C2S.Serve(l.ln, l.directTLS); err != nil && !errors.Is(err, c2s.ErrServerClosed) {
				s.log.Error("c2s listener failed", "addr", l.ln.Addr().String(), "err", err)
			}
		}()
	}
	s.log.Info("minimix listening", s.listenAttrs()...)
	if s.Cluster != nil {
		s.Cluster.SetInfo(s.clusterInfoLocked())
	}
	return nil
}

func (s *Server) listenAttrs() []any {
	var c2sAddrs, tlsAddrs, s2sAddrs, s2sTLSAddrs, compAddrs []string
	for _, l := range s.listeners {
		a := l.ln.Addr().String()
		switch {
		case l.component:
			compAddrs = append(compAddrs, a)
		case l.s2s && l.directTLS:
			s2sTLSAddrs = append(s2sTLSAddrs, a)
		case l.s2s:
			s2sAddrs = append(s2sAddrs, a)
		case l.directTLS:
			tlsAddrs = append(tlsAddrs, a)
		default:
			c2sAddrs = append(c2sAddrs, a)
		}
	}
	attrs := []any{"domain", s.cfg.Domain, "c2s_starttls", c2sAddrs, "c2s_direct_tls", tlsAddrs}
	if s.S2S != nil {
		attrs = append(attrs, "s2s_starttls", s2sAddrs, "s2s_direct_tls", s2sTLSAddrs)
	} else {
		attrs = append(attrs, "s2s", "disabled")
	}
	if len(compAddrs) > 0 {
		attrs = append(attrs, "components", compAddrs)
	}
	if s.httpLn != nil {
		attrs = append(attrs, "http", s.httpLn.Addr().String())
	}
	if s.httpsLn != nil {
		attrs = append(attrs, "https", s.httpsLn.Addr().String())
	}
	if d := s.cfg.MUC.Domain; d != "" {
		attrs = append(attrs, "muc", d)
	}
	if d := s.cfg.PubSub.Domain; d != "" {
		attrs = append(attrs, "pubsub", d)
	}
	if s.Cluster != nil {
		attrs = append(attrs, "cluster_node", s.Cluster.ID())
	}
	attrs = append(attrs, "account_join", s.cfg.AccountJoin.Enabled, "storage", s.cfg.Storage.Driver, "data_dir", s.cfg.DataDir)
	return attrs
}

func (s *Server) closeListenersLocked() {
	for _, l := range s.listeners {
		_ = l.ln.Close()
	}
	s.listeners = nil
	if s.httpLn != nil {
		_ = s.httpLn.Close()
		s.httpLn = nil
	}
	if s.httpsLn != nil {
		_ = s.httpsLn.Close()
		s.httpsLn = nil
	}
}

// C2SAddr returns the address of the first STARTTLS listener.
func (s *Server) C2SAddr() net.Addr { return s.addr(false, false) }

// DirectTLSAddr returns the address of the first direct TLS listener.
func (s *Server) DirectTLSAddr() net.Addr { return s.addr(false, true) }

// S2SAddr returns the address of the first server-to-server STARTTLS
// listener, or nil.
func (s *Server) S2SAddr() net.Addr { return s.addr(true, false) }

// S2SDirectTLSAddr returns the address of the first server-to-server
// direct TLS listener, or nil.
func (s *Server) S2SDirectTLSAddr() net.Addr { return s.addr(true, true) }

// HTTPAddr returns the HTTP listener's address, or nil.
func (s *Server) HTTPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// HTTPSAddr returns the HTTPS listener's address (http.tls_listen), or
// nil.
func (s *Server) HTTPSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpsLn == nil {
		return nil
	}
	return s.httpsLn.Addr()
}

// ComponentAddr returns the address of the first external components'
// listener, or nil.
func (s *Server) ComponentAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.component {
			return l.ln.Addr()
		}
	}
	return nil
}

func (s *Server) addr(s2s, direct bool) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.s2s == s2s && l.directTLS == direct && !l.component {
			return l.ln.Addr()
		}
	}
	return nil
}

// Run starts the server and serves until ctx is done, then shuts down
// gracefully within shutdown_grace.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		_ = s.store.Close()
		return err
	}
	if s.OnReady != nil {
		s.OnReady()
	}
	<-ctx.Done()
	if s.OnStopping != nil {
		s.OnStopping()
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace.Duration)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops the server in reverse order of start: no new
// connections, every stream gets <system-shutdown/>, sessions end (their
// undelivered messages go to offline storage), then storage is flushed
// and closed.
//
// A second call (a signal during a shutdown, a test's cleanup after its
// own) waits for the first to finish, or for ctx: when either returns
// nil, nothing of the server runs or writes in data_dir any more.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		done := s.stopDone
		s.mu.Unlock()
		if done == nil {
			return nil
		}
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for the shutdown in progress: %w", ctx.Err())
		}
	}
	s.stopped = true
	s.stopDone = make(chan struct{})
	defer close(s.stopDone)
	s.mu.Unlock()
	s.log.Info("shutting down")
	var errs []error
	// BOSH requests are held up to a minute: they are answered first.
	s.web.StartShutdown()
	for _, hs := range []*http.Server{s.http, s.https} {
		if hs == nil {
			continue
		}
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	// Features first (the MUC service tells occupants it is going away,
	// 332), while client streams can still carry that; then the streams.
	if err := s.features.shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.C2S.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	// After the streams, which WebSocket and BOSH carry: what is left of
	// them (closing handshakes, BOSH sessions' last answers) ends.
	s.web.Close()
	if s.Components != nil {
		if err := s.Components.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Last of the streams: what rooms and sessions said on their way out
	// (332, unavailable presence) still reaches other servers.
	if s.S2S != nil {
		if err := s.S2S.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.stopAdminPage != nil {
		s.stopAdminPage()
	}
	if s.Cluster != nil {
		// After the streams: the sessions they ended leave the cluster's
		// registry before the node does.
		if err := s.Cluster.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %w", err))
		}
	}
	s.serveWG.Wait()
	s.certs.stop()
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close storage: %w", err))
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
}

// kickGrace lets a deleted account's sessions receive the answer to their
// own removal request (XEP-0077 3.2) before the stream is closed.
const kickGrace = 300 * time.Millisecond

// kick ends every session of a deleted account.
func (s *Server) kick(user string) {
	time.AfterFunc(kickGrace, func() { s.C2S.Kick(user) })
}

// Store returns the storage backend (for tests and the command line).
func (s *Server) Store() storage.Store { return s.store }

// Push returns the push notification service, nil when it is off.
func (s *Server) Push() *push.Service { return s.features.push }

// AccountJoins returns the account-join service, nil when it is off.
func (s *Server) AccountJoins() *accountjoin.Service { return s.features.joins }

// NewAccountManager returns the account manager of cfg for a store opened
// with OpenStore (the command line uses it too, so that its accounts
// follow the same [accounts] rules).
func NewAccountManager(cfg *config.Config, store storage.Store) *accounts.Manager {
	return &accounts.Manager{
		Store:             store,
		MinPasswordLength: cfg.Accounts.MinPasswordLength,
		ScramIterations:   cfg.Accounts.ScramIterations,
	}
}
