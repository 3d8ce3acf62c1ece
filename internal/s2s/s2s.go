// Package s2s connects minimix to other XMPP servers: server-to-server
// streams (RFC 6120) in both directions. It is a transport of the stream
// layer (internal/stream) like c2s, and a router component: the router
// hands it every stanza for a domain it does not serve, and it hands the
// router every stanza a peer sends, as from a remote entity.
//
// Outgoing, one stream per remote domain carries every domain this
// server hosts (the main domain and the MUC service's, piggybacked with
// XEP-0220 dialback on one connection); stanzas wait in a bounded queue
// while it is set up and are bounced with remote-server-not-found or
// remote-server-timeout when that fails. Peers are found by SRV records
// (_xmpps-server for XEP-0368 direct TLS, _xmpp-server for STARTTLS), by
// the domain's own address on 5269, or by the static [s2s] hosts table.
//
// Incoming, peers authenticate with SASL EXTERNAL and a certificate that
// verifies for their domain (XEP-0178), or with Server Dialback
// (XEP-0220) when it does not and require_valid_certs is off. Every
// stanza's from must be a domain the stream authenticated and its to a
// domain we host.
package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Router is where stanzas from peers go, and what answers a stanza that
// cannot be delivered.
type Router interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
	Bounce(ctx context.Context, el *xml.Element, se *xmpperr.StanzaError)
}

// Config configures a Server.
type Config struct {
	// Domain is the main domain; Hosted reports every domain this server
	// serves (the main domain and its components').
	Domain string
	Hosted func(domain string) bool
	// TLS holds our certificate (GetCertificate, else Certificates[0]), presented to peers in
	// both directions.
	TLS *tls.Config
	// RootCAs verify peers' certificates; nil: the system's.
	RootCAs *x509.CertPool
	// RequireTLS refuses streams without TLS, both ways.
	RequireTLS bool
	// RequireValidCerts refuses peers whose certificate does not verify
	// for their domain; otherwise dialback authenticates them.
	RequireValidCerts bool
	// DialbackSecret keys the dialback keys this server makes.
	DialbackSecret []byte
	// Limits bound what an authenticated peer sends; PreAuthStanzaBytes
	// bounds each element before it authenticated.
	Limits             xml.Limits
	PreAuthStanzaBytes int
	Router             Router
	// Resolver looks up SRV records and addresses; nil: the system's.
	Resolver *net.Resolver
	// Hosts maps remote domains to "host:port" to connect to, before DNS.
	Hosts map[string]string

	ConnectTimeout   time.Duration // each TCP connection attempt; default 10s
	NegotiateTimeout time.Duration // each negotiation step; default 30s
	WriteTimeout     time.Duration // each write; default 30s
	IdleTimeout      time.Duration // a stream with no traffic is closed; default 10m
	QueueMax         int           // stanzas queued per remote domain; default 1000
	RetryInitial     time.Duration // after a failed connection, the first wait; default 1s
	RetryMax         time.Duration // the longest wait between attempts; default 60s
	MaxConnections   int           // incoming streams at once; 0: unlimited

	// LinkLost, when set, is told that an established stream to or from
	// remote ended abnormally (a network error, a stream error, the peer
	// shutting down), not by an idle close: rooms there may have lost
	// track of us.
	LinkLost func(remote string)

	Logger *slog.Logger
	Now    func() time.Time
}

// Stats are counters the metrics package exports, per direction where it
// matters.
type Stats struct {
	InConns, OutConns                 atomic.Int64  // streams open now
	InEstablished, OutEstablished     atomic.Uint64 // streams that authenticated
	InFailed, OutFailed               atomic.Uint64 // streams that ended before they authenticated
	InStanzas, OutStanzas             atomic.Uint64
	Bounced                           atomic.Uint64 // stanzas answered with an error for want of a stream
	InDialbackFailed, OutDialbackFail atomic.Uint64 // dialback requests refused (incoming) or refused to us
	InBytes, OutBytes                 atomic.Uint64
}

// Server runs server-to-server streams. Build it with New.
type Server struct {
	cfg    Config
	log    *slog.Logger
	logs   *stream.RateLog // lines that a flood of bad peers could repeat
	dialer net.Dialer

	mu        sync.Mutex
	hosts     map[string]string   // the static table: domain -> host:port
	out       map[string]*outConn // by outKey
	backoff   map[string]*backoff // by remote domain
	in        map[*inConn]struct{}
	listeners stream.Listeners
	closed    bool
	wg        sync.WaitGroup

	Stats Stats
}

// backoff is the wait after a failed connection to a domain: until then
// stanzas for it are answered at once with cond.
type backoff struct {
	until time.Time
	delay time.Duration
	cond  xmpperr.Condition
	why   string
}

// New returns a Server; call Serve for each listener.
func New(cfg Config) *Server {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.NegotiateTimeout <= 0 {
		cfg.NegotiateTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.QueueMax <= 0 {
		cfg.QueueMax = 1000
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = time.Second
	}
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = max(cfg.RetryInitial, 60*time.Second)
	}
	if cfg.PreAuthStanzaBytes <= 0 {
		cfg.PreAuthStanzaBytes = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Hosted == nil {
		d := cfg.Domain
		cfg.Hosted = func(domain string) bool { return domain == d }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg:     cfg,
		hosts:   maps.Clone(cfg.Hosts),
		log:     log.With("component", "s2s"),
		out:     make(map[string]*outConn),
		backoff: make(map[string]*backoff),
		in:      make(map[*inConn]struct{}),
	}
	s.logs = stream.NewRateLog(s.log)
	s.dialer = net.Dialer{Timeout: cfg.ConnectTimeout, Resolver: cfg.Resolver}
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// preAuthLimits are the limits of a stream before its peer authenticated.
func (s *Server) preAuthLimits() xml.Limits {
	l := s.cfg.Limits
	if l.MaxStanzaBytes <= 0 || l.MaxStanzaBytes > s.cfg.PreAuthStanzaBytes {
		l.MaxStanzaBytes = s.cfg.PreAuthStanzaBytes
	}
	return l
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("s2s: server closed")

// SetHost sets where remote is reached, as an entry of the static table
// (Config.Hosts) does; an empty addr removes the entry. Streams already
// open stay.
func (s *Server) SetHost(remote, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hosts == nil {
		s.hosts = make(map[string]string)
	}
	if addr == "" {
		delete(s.hosts, remote)
	} else {
		s.hosts[remote] = addr
	}
	delete(s.backoff, remote)
}

// host returns the static table's address for remote: its own entry, or
// else that of the nearest parent domain listed, so that an entry for a
// server's domain also reaches its services (conference.<domain>) unless
// they have entries of their own.
func (s *Server) host(remote string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := remote; ; {
		if hp, ok := s.hosts[d]; ok {
			return hp, true
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(parent, ".") {
			return "", false
		}
		d = parent
	}
}

// RouteStanza implements router.Component for every domain the server
// does not serve: el goes to its domain's stream, set up if need be.
// from is trusted (the router stamped it) and must be a domain we host.
func (s *Server) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if !s.cfg.Hosted(from.Domain) {
		// Nothing here can authenticate as another server's domain.
		s.log.Warn("s2s: refusing to send a stanza from a domain we do not host", "from", from.String(), "to", to.String())
		s.bounce(ctx, el, xmpperr.ServiceUnavailable, "")
		return
	}
	if s.cfg.Hosted(to.Domain) {
		s.log.Error("s2s: a stanza for a domain we host reached s2s", "to", to.String())
		s.bounce(ctx, el, xmpperr.InternalServerErrorC, "")
		return
	}
	if el.Attr("from") != from.String() || el.Attr("to") != to.String() {
		// What goes on the wire carries its addresses; el may be
		// shared with other receivers.
		el = el.ShallowClone()
		el.SetAttr("from", from.String())
		el.SetAttr("to", to.String())
	}
	local := from.Domain
	for attempt := 0; attempt < 3; attempt++ {
		o, cond, why := s.outFor(to.Domain, local, false)
		if o == nil {
			s.bounce(ctx, el, cond, why)
			return
		}
		switch o.enqueue(el, local) {
		case enqueued:
			return
		case queueFull:
			s.bounce(ctx, el, xmpperr.ResourceConstraintC, "too many stanzas waiting for "+to.Domain)
			return
		case refused:
			// The peer would not take this domain on the shared
			// stream (XEP-0220 resource-constraint): a stream of its
			// own.
			o, cond, why = s.outFor(to.Domain, local, true)
			if o == nil {
				s.bounce(ctx, el, cond, why)
				return
			}
			if o.enqueue(el, local) == enqueued {
				return
			}
		case gone:
			// Closed between lookup and enqueue: take the next one.
		}
	}
	s.bounce(ctx, el, xmpperr.RemoteServerTimeout, "")
}

// outKey names an outgoing stream: one per remote domain, and one per
// remote and local domain for a local domain the shared stream refused.
func outKey(remote, local string, dedicated bool) string {
	if dedicated {
		return remote + " " + local
	}
	return remote
}

// outFor returns the outgoing stream for remote, starting one from local
// if there is none. During a backoff it returns nil and the condition to
// bounce with.
func (s *Server) outFor(remote, local string, dedicated bool) (*outConn, xmpperr.Condition, string) {
	key := outKey(remote, local, dedicated)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, xmpperr.ServiceUnavailable, "the server is shutting down"
	}
	if o := s.out[key]; o != nil {
		return o, "", ""
	}
	if b := s.backoff[remote]; b != nil && s.now().Before(b.until) {
		return nil, b.cond, b.why
	}
	o := newOut(s, key, remote, local, dedicated)
	s.out[key] = o
	s.wg.Add(1)
	s.Stats.OutConns.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.Stats.OutConns.Add(-1)
		o.run()
	}()
	return o, "", ""
}

// forgetOut removes o from the streams in use, if it still is one.
func (s *Server) forgetOut(o *outConn) {
	s.mu.Lock()
	if s.out[o.key] == o {
		delete(s.out, o.key)
	}
	s.mu.Unlock()
}

// failed records a failed connection to remote: later stanzas are
// bounced with cond until the backoff ends, which doubles with each
// failure in a row up to RetryMax.
func (s *Server) failed(remote string, cond xmpperr.Condition, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.backoff[remote]
	if b == nil {
		b = &backoff{delay: s.cfg.RetryInitial}
		s.backoff[remote] = b
	} else {
		b.delay = min(2*b.delay, s.cfg.RetryMax)
	}
	b.until = s.now().Add(b.delay)
	b.cond, b.why = cond, why
}

// succeeded ends remote's backoff.
func (s *Server) succeeded(remote string) {
	s.mu.Lock()
	delete(s.backoff, remote)
	s.mu.Unlock()
}

// bounce answers el for want of a stream.
func (s *Server) bounce(ctx context.Context, el *xml.Element, cond xmpperr.Condition, text string) {
	if !stanza.IsStanza(el) {
		return
	}
	if t := el.Attr("type"); t == "error" || t == "result" {
		return // never answered (RFC 6120 8.3.1)
	}
	s.Stats.Bounced.Add(1)
	s.cfg.Router.Bounce(ctx, el, xmpperr.New(cond, text))
}

// linkLost tells LinkLost that an established stream with remote broke.
func (s *Server) linkLost(remote string) {
	if f := s.cfg.LinkLost; f != nil && remote != "" {
		f(remote)
	}
}

// verifyResult is the authoritative server's answer to a dialback key.
type verifyResult struct {
	valid bool
	cond  xmpperr.Condition // when the answer could not be had
	why   string
}

// verify asks the authoritative server of remote whether key, presented
// on our stream streamID for our domain local, is one it made (XEP-0220
// step 3), on our outgoing stream to remote; done gets the answer.
func (s *Server) verify(remote, local, streamID, key string, done func(verifyResult)) {
	o, cond, why := s.outFor(remote, local, false)
	if o == nil {
		done(verifyResult{cond: cond, why: why})
		return
	}
	if !o.addVerify(local, streamID, key, done) {
		done(verifyResult{cond: xmpperr.RemoteServerTimeout, why: "the stream to " + remote + " closed"})
	}
}

// Serve accepts peer connections on ln until Shutdown. With directTLS the
// TLS handshake comes first (XEP-0368); otherwise peers use STARTTLS.
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	return s.listeners.Serve(ln, ErrServerClosed, s.log, func(nc net.Conn) bool {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return false
		}
		if m := s.cfg.MaxConnections; m > 0 && len(s.in) >= m {
			s.mu.Unlock()
			s.log.Warn("s2s connection limit reached; refusing", "remote", nc.RemoteAddr().String())
			_ = nc.Close()
			return true
		}
		c := newIn(s, nc, directTLS)
		s.in[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.Stats.InConns.Add(1)
		go c.run() // c.run's end undoes this
		return true
	})
}

// dropIn forgets an incoming stream that ended.
func (s *Server) dropIn(c *inConn) {
	s.mu.Lock()
	delete(s.in, c)
	s.mu.Unlock()
	s.Stats.InConns.Add(-1)
	s.wg.Done()
}

// streams returns the streams open now.
func (s *Server) streams() ([]*outConn, []*inConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	outs := make([]*outConn, 0, len(s.out))
	for _, o := range s.out {
		outs = append(outs, o)
	}
	ins := make([]*inConn, 0, len(s.in))
	for c := range s.in {
		ins = append(ins, c)
	}
	return outs, ins
}

// Shutdown stops accepting, closes every stream with <system-shutdown/>
// after what is queued was written (for at most ctx), bounces what is
// still queued, and waits for the streams to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	outs, ins := s.streams()
	for _, o := range outs {
		o.waitFlushed(ctx)
	}
	for _, o := range outs {
		o.shutdown()
	}
	for _, c := range ins {
		c.shutdown()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return fmt.Errorf("s2s shutdown: %w", ctx.Err())
	}
}

// Close closes every listener and connection at once.
func (s *Server) Close() {
	s.closeListeners()
	outs, ins := s.streams()
	for _, o := range outs {
		o.abort()
	}
	for _, c := range ins {
		c.abort()
	}
}

// closeListeners stops accepting and marks the server closed.
func (s *Server) closeListeners() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.listeners.Close()
}

// Info describes one stream, for operators.
type Info struct {
	Direction string    `json:"direction"` // "in" or "out"
	Remote    []string  `json:"remote"`    // the peer's authenticated domains (out: the domain connected to)
	Local     []string  `json:"local"`     // our domains on the stream
	Auth      string    `json:"auth"`      // "sasl-external", "dialback", or "" while negotiating
	TLS       string    `json:"tls"`       // TLS version, "" without TLS
	DirectTLS bool      `json:"direct_tls"`
	Bidi      bool      `json:"bidi,omitempty"` // XEP-0288: the peer sends its stanzas on our stream
	CertValid bool      `json:"cert_valid"`     // the peer's certificate verifies for its domain
	Addr      string    `json:"addr"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	Idle      string    `json:"idle"` // since the last stanza either way
	Queued    int       `json:"queued,omitempty"`
}

// List returns every stream, outgoing first, by remote domain.
func (s *Server) List() []Info {
	outs, ins := s.streams()
	var out []Info
	for _, o := range outs {
		out = append(out, o.info())
	}
	for _, c := range ins {
		out = append(out, c.info())
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Direction != b.Direction {
			return -strings.Compare(a.Direction, b.Direction) // out before in
		}
		return strings.Compare(strings.Join(a.Remote, ","), strings.Join(b.Remote, ","))
	})
	return out
}

// idleSince formats the time since t for Info.
func (s *Server) idleSince(t time.Time) string {
	return s.now().Sub(t).Round(time.Second).String()
}

// requeue routes again a stanza a stream took but did not send.
func (s *Server) requeue(ctx context.Context, el *xml.Element) {
	from, err1 := stanza.From(el)
	to, err2 := stanza.To(el)
	if err1 != nil || err2 != nil {
		return // we built its addresses; cannot happen
	}
	s.RouteStanza(ctx, el, from, to)
}

// routeDedicated sends el from our domain local on a stream of its own.
func (s *Server) routeDedicated(el *xml.Element, local string) {
	ctx := context.Background()
	to, err := stanza.To(el)
	if err != nil {
		return
	}
	o, cond, why := s.outFor(to.Domain, local, true)
	if o == nil {
		s.bounce(ctx, el, cond, why)
		return
	}
	if o.enqueue(el, local) != enqueued {
		s.bounce(ctx, el, xmpperr.RemoteServerTimeout, "")
	}
}

// describe says why a stream ended, for logs and bounces.
func describe(err error) string {
	if err == nil {
		return "closed"
	}
	switch end, se := stream.Classify(err); end {
	case stream.EndClosed:
		return "the peer closed the stream"
	case stream.EndTimeout:
		return "timed out: " + err.Error()
	case stream.EndError:
		if isPeerError(err) {
			return err.Error()
		}
		return "we sent " + se.Error()
	}
	return err.Error()
}

// closeWhy is describe for a stream we may have closed ourselves.
func closeWhy(reason, why string) string {
	switch reason {
	case "idle":
		return "idle"
	case "shutdown":
		return "shutdown"
	}
	return why
}

// countedConn counts the bytes a connection carries on the wire (TLS
// included), for the metrics.
type countedConn struct {
	net.Conn
	in, out *atomic.Uint64
}

func (c countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(uint64(n))
	return n, err
}

func (c countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(uint64(n))
	return n, err
}

// counted wraps nc to count its bytes.
func (s *Server) counted(nc net.Conn) net.Conn {
	return countedConn{Conn: nc, in: &s.Stats.InBytes, out: &s.Stats.OutBytes}
}
