// Package c2s serves client-to-server XMPP streams (RFC 6120): it accepts
// connections (STARTTLS on the classic port, direct TLS per XEP-0368),
// negotiates TLS, SASL and resource binding, and then runs each bound
// session: validating and stamping what the client sends before handing it
// to the router, and queueing what the router delivers into a bounded
// outbox written by one goroutine per connection. Stream management
// (XEP-0198) and client state indication (XEP-0352) live here because
// they are properties of the session's connection.
package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sasl"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Hooks let features react to session lifecycle events.
type Hooks interface {
	// SessionEnded is called once when a bound session ends for good
	// (not when it hibernates awaiting resumption), after it left the
	// registry: presence sends unavailable on its behalf.
	SessionEnded(ctx context.Context, s router.Session)
}

// Registrar creates accounts for in-band registration (XEP-0077). An
// error that is (or wraps) a *xmpperr.StanzaError is the client's answer.
type Registrar interface {
	Register(ctx context.Context, username, password string) error
}

// Config configures a Server.
type Config struct {
	Domain     string
	TLS        *tls.Config // STARTTLS; must hold the server certificate
	DirectTLS  *tls.Config // direct TLS (XEP-0368, with ALPN); nil: TLS
	RequireTLS bool
	Limits     xml.Limits
	Router     *router.Router
	SASL       *sasl.Server // its Limiter, if any, also bounds registrations
	Registrar  Registrar    // nil: in-band registration off
	Hooks      Hooks

	// Caps returns the server's entity capabilities (XEP-0115 section
	// 6.3) for the stream features; nil leaves them out.
	Caps func() *xml.Element

	// SASL2 offers XEP-0388 authentication with Bind 2 (XEP-0386) and
	// stream management resumption inline (sasl2.go).
	SASL2 bool
	// FAST issues and checks XEP-0484 tokens; nil offers no FAST.
	FAST FAST
	// BindSecret keys the stable part of Bind 2 resources.
	BindSecret []byte
	// Bound returns what else goes into Bind 2's <bound/> for a new
	// session (the archive's metadata); nil adds nothing.
	Bound func(ctx context.Context, full jid.JID) []*xml.Element

	ResumeTimeout    time.Duration // default XEP-0198 resume window
	MaxResumeTimeout time.Duration // upper bound a client may ask for
	// ResumeLocation, when set, is the host:port sent as XEP-0198's
	// location in <enabled/>: where the client should resume (a
	// cluster node's own address).
	ResumeLocation string
	// ResumeIDPrefix starts every resumption id this server hands out
	// (a cluster node's id and a dot), so that another node can tell
	// where a session is resumable.
	ResumeIDPrefix string
	// ResumeElsewhere, when set, is asked for a resumption id this
	// server does not know: the host:port of the node that may know it,
	// or "". The client is then sent there with a see-other-host stream
	// error.
	ResumeElsewhere  func(previd string) string
	SendQueue        int     // stanzas queued per session before disconnecting
	StanzasPerSecond float64 // inbound rate per connection; 0 = unlimited
	ReadRate         float64 // bytes per second read per connection; 0 = unlimited
	ReadBurst        int     // bytes a connection may send at once above ReadRate
	// Unlimited names the accounts (localparts) whose connections are
	// not rate limited once authenticated: the server's admins.
	Unlimited        func(user string) bool
	MaxConnections   int           // 0 = unlimited
	NegotiateTimeout time.Duration // per negotiation step; default 60s
	WriteTimeout     time.Duration // per write; default 30s

	Logger *slog.Logger

	test *testHooks // set by tests only (export_test.go)
}

// testHooks let tests stop the server at points where goroutines race,
// to force one order. Every field may be nil.
type testHooks struct {
	// readEnded runs on a bound connection's reader after its
	// connection ended and was closed, before the session is told.
	readEnded func(s router.Session)
	// writeFailed runs on the writer after a failed write was handled.
	writeFailed func()
}

// Stats are counters the metrics package exports.
type Stats struct {
	Connections   atomic.Int64 // open connections
	Sessions      atomic.Int64 // bound sessions, hibernated ones included
	Hibernated    atomic.Int64
	AuthFailures  atomic.Uint64
	AuthSuccesses atomic.Uint64
	AuthThrottled atomic.Uint64 // logins refused by the login limiter
	ReadThrottled atomic.Uint64 // connections that sent faster than ReadRate
	TimedOut      atomic.Uint64 // connections cut for sending nothing in time
	Resumed       atomic.Uint64
	Overflows     atomic.Uint64 // sessions disconnected for not reading
	StanzasIn     atomic.Uint64
	StanzasOut    atomic.Uint64
	BytesOut      atomic.Uint64
}

// Server accepts client connections. Its zero value is not usable; build
// it with New.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners stream.Listeners
	conns     map[*conn]struct{}
	resumable map[string]*Session // XEP-0198 id -> session
	sessions  map[*Session]struct{}
	shutdown  bool
	wg        sync.WaitGroup
	idle      *idlePoller
	workers   *workers

	clock atomic.Pointer[Clock] // the read limiter's; nil: real time
	live  atomic.Pointer[Live]  // what a reload changes
	logs  *stream.RateLog       // lines a flood could repeat

	Stats Stats
}

// New returns a Server; call Serve for each listener.
func New(cfg Config) *Server {
	if cfg.ResumeTimeout <= 0 {
		cfg.ResumeTimeout = 5 * time.Minute
	}
	if cfg.MaxResumeTimeout < cfg.ResumeTimeout {
		cfg.MaxResumeTimeout = cfg.ResumeTimeout
	}
	if cfg.DirectTLS == nil {
		cfg.DirectTLS = cfg.TLS
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 1000
	}
	if cfg.NegotiateTimeout <= 0 {
		cfg.NegotiateTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Limits.MaxStanzaBytes <= 0 {
		cfg.Limits.MaxStanzaBytes = 262144
	}
	if cfg.ReadRate > 0 && cfg.ReadBurst <= 0 {
		cfg.ReadBurst = 65536
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "c2s")
	s := &Server{
		cfg:       cfg,
		log:       log,
		logs:      stream.NewRateLog(log),
		conns:     make(map[*conn]struct{}),
		resumable: make(map[string]*Session),
		sessions:  make(map[*Session]struct{}),
		idle:      newIdlePoller(),
		workers:   newWorkers(),
	}
	s.SetLive(Live{
		Limits: cfg.Limits, StanzasPerSecond: cfg.StanzasPerSecond, ReadRate: cfg.ReadRate, ReadBurst: cfg.ReadBurst,
		Registrar: cfg.Registrar, MaxConnections: cfg.MaxConnections,
	})
	return s
}

// shutdownFlush bounds how long Shutdown waits for queued stanzas to be
// written before it closes the streams.
const shutdownFlush = 5 * time.Second

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("c2s: server closed")

// Serve accepts connections on ln until Shutdown. With directTLS the TLS
// handshake happens first (XEP-0368); otherwise clients use STARTTLS.
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	return s.listeners.Serve(ln, ErrServerClosed, s.log, func(nc net.Conn) bool {
		if max := s.settings().MaxConnections; max > 0 && s.Stats.Connections.Load() >= int64(max) {
			s.log.Warn("connection limit reached; refusing", "remote", nc.RemoteAddr().String())
			_ = nc.Close()
			return true
		}
		c := newConn(s, nc, directTLS)
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			_ = nc.Close()
			return false
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.Stats.Connections.Add(1)
		go c.serve() // c.finish undoes the above
		return true
	})
}

// Shutdown stops accepting, sends <system-shutdown/> on every stream, ends
// every session (hibernated ones too, so their queued messages go to
// offline storage; see endSessions) and waits for connections to finish or
// ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	s.listeners.Close()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	sessions := make([]*Session, 0, len(s.sessions))
	for se := range s.sessions {
		sessions = append(sessions, se)
	}
	s.mu.Unlock()

	// What is already queued for clients goes out first (a room's 332,
	// the last messages), for a bounded time: a client that does not
	// read must not hold the shutdown.
	flushCtx, cancel := context.WithTimeout(ctx, shutdownFlush)
	var flushing sync.WaitGroup
	for _, se := range sessions {
		flushing.Go(func() { se.waitFlushed(flushCtx) })
	}
	flushing.Wait()
	cancel()

	// Every stream gets its error at once: a client that does not read
	// holds its close for a while, and must hold neither the others nor
	// Shutdown past ctx. Sessions end after the errors are out, since
	// ending one closes its socket.
	shutdownErr := xmpperr.Stream(xmpperr.SystemShutdown, "")
	var closing sync.WaitGroup
	for _, c := range conns {
		closing.Go(func() { c.closeWithError(shutdownErr, true) })
	}
	closed := make(chan struct{})
	go func() {
		closing.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	s.endSessions(ctx, sessions)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.idle.stop()
		s.workers.stop()
		return nil
	case <-ctx.Done():
		s.Close()
		return fmt.Errorf("c2s shutdown: %w", ctx.Err())
	}
}

// Ending sessions at shutdown: at most shutdownParallel at a time, and
// with shutdownEndTimeout for all of them, whatever is left of the grace.
const (
	shutdownParallel   = 64
	shutdownEndTimeout = time.Minute
)

// endSessions ends sessions side by side. Ending one reroutes what it
// held to offline storage: a message lost there is lost for good, so the
// context for it is not the shutdown grace, which thousands of sessions
// may well use up, but one of its own.
func (s *Server) endSessions(grace context.Context, sessions []*Session) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(grace), shutdownEndTimeout)
	defer cancel()
	slots := make(chan struct{}, shutdownParallel)
	var ending sync.WaitGroup
	for _, se := range sessions {
		slots <- struct{}{}
		ending.Go(func() {
			defer func() { <-slots }()
			se.terminate(ctx, nil)
		})
	}
	ending.Wait()
}

// Close closes every listener and connection at once.
func (s *Server) Close() {
	s.mu.Lock()
	s.shutdown = true
	s.listeners.Close()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeRaw()
	}
	s.idle.stop()
	s.workers.stop()
}

func (s *Server) addSession(se *Session) {
	s.mu.Lock()
	s.sessions[se] = struct{}{}
	s.mu.Unlock()
	s.Stats.Sessions.Add(1)
}

func (s *Server) removeSession(se *Session) {
	s.mu.Lock()
	delete(s.sessions, se)
	if se.smID != "" && s.resumable[se.smID] == se {
		delete(s.resumable, se.smID)
	}
	s.mu.Unlock()
	s.Stats.Sessions.Add(-1)
}

func (s *Server) setResumable(id string, se *Session) {
	s.mu.Lock()
	s.resumable[id] = se
	s.mu.Unlock()
}

func (s *Server) lookupResumable(id string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumable[id]
}

// Sessions returns the number of bound sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// localJID is the domain JID, the from of everything the server says.
func (s *Server) domainJID() jid.JID { return jid.Domain(s.cfg.Domain) }

// Kick ends every session of the local account user with a stream error
// (used when the account is deleted).
func (s *Server) Kick(user string) {
	s.mu.Lock()
	var victims []*Session
	for se := range s.sessions {
		if se.jid.Local == user {
			victims = append(victims, se)
		}
	}
	s.mu.Unlock()
	for _, se := range victims {
		se.terminate(context.Background(), xmpperr.Stream(xmpperr.NotAuthorized, "account removed"))
	}
}

// End ends, with the stream error se, every session of the bare JID j or
// the session of the full JID j (an administrator's end-user-session,
// XEP-0133), and returns how many it ended.
func (s *Server) End(j jid.JID, se *xmpperr.StreamError) int {
	s.mu.Lock()
	var victims []*Session
	for sess := range s.sessions {
		if sess.jid == j || (j.IsBare() && sess.jid.Bare() == j) {
			victims = append(victims, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range victims {
		sess.terminate(context.Background(), se)
	}
	return len(victims)
}
