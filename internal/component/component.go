// Package component accepts external components (XEP-0114, the
// jabber:component:accept protocol): bridges, bots and push app servers
// that run as programs of their own, each serving one domain. A component
// connects, proves it knows the secret configured for its domain with a
// handshake, and from then on the router treats its domain like one of
// the server's own: stanzas to it go over its stream, stanzas from it are
// routed as if the server had made them, with from addresses at the
// component's domain only (docs/components.md).
//
// The protocol has no TLS and no SASL: the secret travels hashed with the
// stream id, but everything after it in clear. Listen on loopback (the
// default) or on a network only the server and its components share.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the content namespace of a component's stream.
const NS = "jabber:component:accept"

// Router is what the package needs of the router: to route what
// components send, and to make a connected component's domain routable.
type Router interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
	Bounce(ctx context.Context, el *xml.Element, se *xmpperr.StanzaError)
	AddComponent(domain string, c router.Component)
}

// Config is what a Server is built from.
type Config struct {
	// Secrets maps each component domain to its shared secret.
	Secrets map[string]string
	Router  Router
	// Limits bound what a component may send, as for clients.
	Limits xml.Limits
	// NegotiateTimeout bounds the time from connecting to a successful
	// handshake.
	NegotiateTimeout time.Duration
	// WriteTimeout bounds one write to a component.
	WriteTimeout time.Duration
	// SendQueue is how many stanzas may wait for a component that does
	// not read before it is cut off.
	SendQueue int
	Logger    *slog.Logger
}

// Server accepts component connections on its listeners. It is safe for
// concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	active    map[string]*conn // authenticated component of each domain
	closed    bool
	wg        sync.WaitGroup

	Stats Stats
}

// Stats are the server's counters, exported as metrics.
type Stats struct {
	Connected     atomic.Int64  // authenticated components
	StanzasIn     atomic.Uint64 // stanzas received from components
	StanzasOut    atomic.Uint64 // stanzas written to components
	HandshakeFail atomic.Uint64 // connections refused at the handshake
	Overflows     atomic.Uint64 // components cut off for not reading
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("component: server closed")

// New returns a Server, and makes every configured domain routable at
// once: until its component connects, stanzas to it are answered with
// service-unavailable rather than remote-server-not-found.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NegotiateTimeout <= 0 {
		cfg.NegotiateTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 10000
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		active:    make(map[string]*conn),
	}
	for domain := range cfg.Secrets {
		cfg.Router.AddComponent(domain, domainRoute{s, domain})
	}
	return s
}

// domainRoute is the router's entry for a component's domain: it hands
// stanzas to the connected component, if any.
type domainRoute struct {
	s      *Server
	domain string
}

// RouteStanza implements router.Component.
func (d domainRoute) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	d.s.mu.Lock()
	c := d.s.active[d.domain]
	d.s.mu.Unlock()
	if c != nil && c.deliver(el) {
		return
	}
	// Not connected (or cut off just now): the service is unavailable,
	// which is what XMPP says of an entity that cannot take a stanza.
	d.s.cfg.Router.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, "the component "+d.domain+" is not connected"))
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of descriptors and the like: back off and go on.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("component accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("component accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// authenticated makes c the component of its domain, unless another is
// connected already.
func (s *Server) authenticated(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.active[c.domain] != nil {
		return false
	}
	s.active[c.domain] = c
	s.Stats.Connected.Add(1)
	return true
}

// gone forgets c as its domain's component.
func (s *Server) gone(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[c.domain] == c {
		delete(s.active, c.domain)
		s.Stats.Connected.Add(-1)
	}
}

// Shutdown closes the listeners and ends every component stream with
// <system-shutdown/>, then waits for their goroutines, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWithError(xmpperr.Stream(xmpperr.SystemShutdown, ""))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("component shutdown: %w", ctx.Err())
	}
}
