// Package web is how browsers reach client streams: WebSocket (RFC 7395)
// at /xmpp-websocket, BOSH (XEP-0124/0206) at /http-bind, and their
// discovery (XEP-0156) at /.well-known/host-meta. Each transport is a
// c2s.Framing under the same stream layer as TCP: negotiation, sessions,
// limits and errors are c2s's, and a session over them is an ordinary
// session.
package web

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/xml"
)

// Paths of the endpoints.
const (
	WebSocketPath = "/xmpp-websocket"
	BOSHPath      = "/http-bind"
)

// Config configures a Handler.
type Config struct {
	Domain string
	C2S    *c2s.Server
	// Limits are the stream's (limits.max_stanza_bytes ...): a WebSocket
	// message or a BOSH body is at most one stanza's size.
	Limits xml.Limits
	// WebSocket and BOSH enable the endpoints.
	WebSocket, BOSH bool
	// AllowedOrigins are the web pages (origins, "https://host[:port]",
	// or a host pattern as path.Match takes it) whose scripts may use the
	// endpoints besides the server's own; "*" allows every page.
	AllowedOrigins []string
	// SecureNetworks are the networks whose plain-HTTP clients count as
	// encrypted: a reverse proxy that terminates TLS, a browser on this
	// host.
	SecureNetworks []netip.Prefix
	// PublicURL, if set, is the base of the URLs host-meta names
	// ("https://chat.example.com"); otherwise each request's scheme and
	// Host.
	PublicURL string
	// HTTPSAddr, if set, returns the address of the HTTPS listener
	// ([http] tls_listen), or nil: with one, host-meta names https://
	// and wss:// URLs on its port, also when asked over plain HTTP.
	HTTPSAddr func() net.Addr
	// PingInterval is how often a WebSocket is pinged; 0: never.
	PingInterval time.Duration
	// WriteTimeout bounds a write to a WebSocket the stream layer did not
	// bound itself (the closing handshake).
	WriteTimeout time.Duration
	BOSHConfig   BOSHConfig
	Logger       *slog.Logger
}

// Handler serves the endpoints.
type Handler struct {
	cfg  Config
	log  *slog.Logger
	bosh *boshManager

	// wg counts the goroutines that outlive a request: the WebSocket
	// readers and closers, BOSH timers' work. Wait waits for them.
	wg sync.WaitGroup
}

// New returns a Handler; Register puts it on a mux.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	h := &Handler{cfg: cfg, log: cfg.Logger.With("component", "web")}
	h.bosh = newBOSHManager(h)
	return h
}

// Register adds the endpoints to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	if h.cfg.WebSocket {
		mux.HandleFunc("GET "+WebSocketPath, h.serveWebSocket)
	}
	if h.cfg.BOSH {
		mux.HandleFunc(BOSHPath, h.serveBOSH)
	}
	mux.HandleFunc("GET /.well-known/host-meta", h.serveHostMeta)
	mux.HandleFunc("GET /.well-known/host-meta.json", h.serveHostMetaJSON)
}

// StartShutdown answers every held BOSH request with a terminate
// (system-shutdown) and refuses new sessions and requests, so that the
// HTTP server's shutdown, which waits for every request in progress,
// need not wait for held ones. The sessions' streams end with the c2s
// server's shutdown, after the features', as TCP streams do.
func (h *Handler) StartShutdown() { h.bosh.drain() }

// Close ends what is left of the BOSH sessions and waits for what the
// handler started to finish.
func (h *Handler) Close() {
	h.bosh.closeAll()
	h.wg.Wait()
}

// remoteAddr is the client's address of r.
func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// secure reports whether r came over TLS or from a network the operator
// trusts to have done TLS before it.
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || h.trusted(remoteAddr(r))
}

// trusted reports whether a is in SecureNetworks: a proxy in front of
// the listener, or this host.
func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.cfg.SecureNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of r's client, for the login limiter and
// the logs: the peer's, or, when the peer is in SecureNetworks (a
// reverse proxy), the address the proxy saw, the last one it added to
// X-Forwarded-For. A header from any other peer is not believed.
func (h *Handler) clientAddr(r *http.Request) netip.Addr {
	a := remoteAddr(r)
	if !h.trusted(a) {
		return a
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return a
	}
	hops := strings.Split(xff[len(xff)-1], ",")
	last := strings.TrimSpace(hops[len(hops)-1])
	if c, err := netip.ParseAddr(last); err == nil {
		return c.Unmap()
	}
	if ap, err := netip.ParseAddrPort(last); err == nil {
		return ap.Addr().Unmap()
	}
	return a
}

// originAllowed reports whether a page at origin may use the endpoints of
// a request for host: a request that names no origin (not from a
// browser's script), the server's own pages, and those that
// AllowedOrigins names. The rules are coder/websocket's, so that both
// transports agree: a pattern with "://" is matched against
// scheme://host, one without against the host.
func (h *Handler) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, p := range h.cfg.AllowedOrigins {
		if p == "*" {
			return true
		}
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// anyOrigin reports whether every page may use the endpoints.
func (h *Handler) anyOrigin() bool {
	for _, p := range h.cfg.AllowedOrigins {
		if p == "*" {
			return true
		}
	}
	return false
}

// timeoutError is a read past a framing's deadline; stream.IsTimeout
// reports it.
type timeoutError struct{}

func (timeoutError) Error() string   { return "read timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// fixNamespace puts the elements of a standalone document that declare
// no namespace in jabber:client, as the stream's content namespace would
// on TCP.
func fixNamespace(el *xml.Element) {
	if el.Space != "" {
		return
	}
	el.Space = xml.NSClient
	for _, c := range el.Children {
		if c.Elem != nil {
			fixNamespace(c.Elem)
		}
	}
}
