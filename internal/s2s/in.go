package s2s

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Per incoming stream, at most this many dialback requests may wait for
// their authoritative server, and this many may fail before the stream
// is closed: a peer guessing keys gets a few tries, not a loop.
const (
	maxPendingDialback  = 16
	maxDialbackFailures = 3
)

// inConn is one incoming stream: a peer that connected to us. Only its
// reader goroutine (run) reads and negotiates; dialback answers from the
// authoritative server arrive on other goroutines and only write and
// record the authenticated domain.
type inConn struct {
	srv       *Server
	sc        *stream.Conn
	directTLS bool
	since     time.Time

	// The reader's own.
	streamID string
	header   xml.StreamHeader
	saslDone bool

	mu          sync.Mutex
	authed      map[string]string // the peer's domains -> how they authenticated
	locals      map[string]bool   // our domains the peer authenticated for
	pending     map[string]bool   // the peer's domains being verified
	failures    int
	tlsVer      string
	certValid   bool // for the header's from
	lastActive  time.Time
	closeReason string
}

func newIn(s *Server, nc net.Conn, directTLS bool) *inConn {
	now := s.now()
	c := &inConn{srv: s, directTLS: directTLS, since: now, lastActive: now,
		authed: make(map[string]string), locals: make(map[string]bool), pending: make(map[string]bool)}
	c.sc = stream.NewConn(s.counted(nc), xml.NSClient, s.preAuthLimits(), s.cfg.WriteTimeout, nil)
	return c
}

func (c *inConn) remoteAddr() string { return c.sc.RemoteAddr().String() }

// serverTLS is our side of TLS with a peer: it asks for the peer's
// certificate, which SASL EXTERNAL checks after the handshake.
func (s *Server) serverTLS(direct bool) *tls.Config {
	cfg := s.cfg.TLS.Clone()
	cfg.ClientAuth = tls.RequestClientCert
	if direct {
		cfg.NextProtos = []string{ALPNXMPPServer}
	} else {
		cfg.NextProtos = nil
	}
	return cfg
}

func (c *inConn) run() {
	defer c.srv.dropIn(c)
	err := c.serve()
	c.end(err)
}

// errIdle ends a stream that was closed for idleness.
var errIdle = errors.New("idle")

func (c *inConn) serve() error {
	cfg := &c.srv.cfg
	if c.directTLS {
		if cfg.TLS == nil {
			return errors.New("direct TLS without a certificate")
		}
		if err := c.sc.StartTLS(context.Background(), c.srv.serverTLS(true), true, cfg.NegotiateTimeout); err != nil {
			return err
		}
	}
	for {
		h, err := c.sc.ReadHeader(cfg.NegotiateTimeout)
		if err != nil {
			var xe *xml.Error
			if errors.As(err, &xe) {
				c.writeHeader("", "") // the error needs a stream to go in (RFC 6120 4.9.1.3)
			}
			return err
		}
		if err := c.open(h); err != nil {
			return err
		}
		for restart := false; !restart; {
			c.mu.Lock()
			authed := len(c.authed) > 0
			verifying := len(c.pending) > 0
			closing := c.closeReason != ""
			c.mu.Unlock()
			switch {
			case closing:
				// Deadline set by CloseStream.
			case authed:
				c.sc.SetReadDeadline(c.srv.now().Add(cfg.IdleTimeout))
			case verifying:
				// The peer waits for our answer, which waits for its
				// authoritative server (a connection, a negotiation).
				c.sc.SetReadDeadline(c.srv.now().Add(cfg.ConnectTimeout + 2*cfg.NegotiateTimeout))
			default:
				c.sc.SetReadDeadline(c.srv.now().Add(cfg.NegotiateTimeout))
			}
			el, err := c.sc.Dec.Next()
			if err != nil {
				if authed && !closing && stream.IsTimeout(err) {
					// Idle: our closing tag, and what the peer still
					// sends is read until it closes too.
					c.mu.Lock()
					c.closeReason = "idle"
					c.mu.Unlock()
					c.sc.CloseStream()
					continue
				}
				if closing && stream.IsTimeout(err) {
					return errIdle
				}
				return err
			}
			c.touch()
			if restart, err = c.handle(el); err != nil {
				return err
			}
		}
	}
}

func (c *inConn) touch() {
	c.mu.Lock()
	c.lastActive = c.srv.now()
	c.mu.Unlock()
}

func (c *inConn) writeHeader(from, to string) error {
	if c.streamID == "" {
		c.streamID = stream.NewID()
	}
	if from == "" {
		from = c.srv.cfg.Domain
	}
	return c.sc.WriteHeader(stream.Header{ContentNS: xml.NSServer, ID: c.streamID, From: from, To: to, Version: "1.0", Dialback: true})
}

// open answers the peer's stream header with ours and the features.
func (c *inConn) open(h xml.StreamHeader) error {
	cfg := &c.srv.cfg
	c.streamID = stream.NewID()
	c.header = h
	local := h.To
	hosted := local == "" || cfg.Hosted(local)
	from := local
	if !hosted {
		from = ""
	}
	if err := c.writeHeader(from, h.From); err != nil {
		return err
	}
	st, tlsOn := c.sc.TLS()
	if tlsOn {
		c.mu.Lock()
		c.tlsVer = tlsVersion(st.Version)
		c.mu.Unlock()
	}
	switch {
	case h.ContentNS != xml.NSServer:
		return xmpperr.Stream(xmpperr.InvalidNamespace, "the content namespace must be jabber:server")
	case !hosted:
		return xmpperr.Stream(xmpperr.HostUnknown, "this server does not serve "+local)
	case h.Version == "" && !cfg.RequireTLS:
		return nil // a pre-1.0 peer: dialback without features
	case !stream.SupportedVersion(h.Version):
		return xmpperr.Stream(xmpperr.UnsupportedVersion, "version 1.0 is required")
	}
	f := xml.New(xml.NSStream, "features")
	switch {
	case c.saslDone:
		// Authenticated: nothing more to negotiate.
	case !tlsOn && cfg.TLS != nil:
		f.Append(stream.StartTLSFeature(cfg.RequireTLS))
		if !cfg.RequireTLS && !cfg.RequireValidCerts {
			f.Append(dialbackFeature())
		}
	default:
		if tlsOn && h.From != "" && c.checkCert(h.From) == nil {
			// XEP-0178: offered only when the certificate verifies for
			// the domain the peer says it is.
			f.Append(stream.MechanismsFeature([]string{"EXTERNAL"}))
		}
		if !cfg.RequireValidCerts && (tlsOn || !cfg.RequireTLS) {
			f.Append(dialbackFeature())
		}
	}
	return c.sc.Send(f)
}

// checkCert verifies the peer's certificate for domain, and records the
// result for the header's domain.
func (c *inConn) checkCert(domain string) error {
	st, ok := c.sc.TLS()
	if !ok {
		return errors.New("no TLS")
	}
	err := c.srv.verifyPeer(st, domain)
	if domain == c.header.From {
		c.mu.Lock()
		c.certValid = err == nil
		c.mu.Unlock()
	}
	return err
}

// handle processes one element; restart says the stream restarts.
func (c *inConn) handle(el *xml.Element) (restart bool, err error) {
	switch {
	case el.Space == stream.NSTLS && el.Local == "starttls":
		return true, c.startTLS()
	case el.Space == stream.NSSASL && el.Local == "auth":
		return c.authenticate(el)
	case el.Space == stream.NSDialback && el.Local == "result":
		return false, c.onResult(el)
	case el.Space == stream.NSDialback && el.Local == "verify":
		if el.Attr("type") == "" {
			return false, c.sc.Send(verifyAnswer(c.srv, el))
		}
		return false, nil // an answer belongs on our outgoing stream
	case el.Space == xml.NSStream && el.Local == "error":
		return false, &peerError{xmpperr.StreamFromElement(el)}
	case el.Space == xml.NSServer && stanza.IsStanza(el):
		return false, c.onStanza(el)
	}
	return false, xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/> in "+el.Space)
}

func (c *inConn) startTLS() error {
	cfg := &c.srv.cfg
	if _, on := c.sc.TLS(); on || cfg.TLS == nil || c.saslDone {
		_ = c.sc.Send(xml.New(stream.NSTLS, "failure"))
		return xmpperr.Stream(xmpperr.PolicyViolation, "STARTTLS is not available now")
	}
	if c.sc.Dec.Buffered() > 0 {
		return xmpperr.Stream(xmpperr.PolicyViolation, "data after <starttls/>")
	}
	if err := c.sc.Send(xml.New(stream.NSTLS, "proceed")); err != nil {
		return err
	}
	return c.sc.StartTLS(context.Background(), c.srv.serverTLS(false), true, cfg.NegotiateTimeout)
}

// authenticate runs SASL EXTERNAL (XEP-0178): the peer is the domain its
// certificate verifies for. An authorization identity, if given, must be
// the domain of the stream header.
func (c *inConn) authenticate(auth *xml.Element) (bool, error) {
	fail := func(cond, text string) (bool, error) {
		t := xml.New(stream.NSSASL, "text").AppendText(text)
		return false, c.sc.Send(xml.New(stream.NSSASL, "failure").Append(xml.New(stream.NSSASL, cond), t))
	}
	if c.saslDone {
		return false, xmpperr.Stream(xmpperr.PolicyViolation, "already authenticated")
	}
	if !strings.EqualFold(auth.Attr("mechanism"), "EXTERNAL") {
		return fail("invalid-mechanism", "only EXTERNAL is offered to servers")
	}
	if _, on := c.sc.TLS(); !on {
		return fail("encryption-required", "SASL EXTERNAL needs TLS")
	}
	authz, err := stream.DecodeSASL(auth.Text(), true)
	if err != nil {
		return fail("incorrect-encoding", "the authorization identity is not base64")
	}
	domain := c.header.From
	if len(authz) > 0 {
		if domain != "" && string(authz) != domain {
			return fail("invalid-authzid", "the authorization identity must be the stream's from")
		}
		domain = string(authz)
	}
	if domain == "" {
		return fail("not-authorized", "say who you are: the stream header has no from")
	}
	if c.srv.cfg.Hosted(domain) {
		return fail("not-authorized", domain+" is a domain of this server")
	}
	if err := c.checkCert(domain); err != nil {
		c.srv.logs.Info("s2s: SASL EXTERNAL refused", "remote", domain, "addr", c.remoteAddr(), "reason", err)
		return fail("not-authorized", "the certificate does not verify for "+domain)
	}
	if err := c.sc.Send(xml.New(stream.NSSASL, "success")); err != nil {
		return false, err
	}
	c.saslDone = true
	local := c.header.To
	if local == "" {
		local = c.srv.cfg.Domain
	}
	c.authenticated(domain, local, "sasl-external")
	c.sc.Dec.Restart()
	return true, nil
}

// authenticated records that the peer is domain for our domain local.
func (c *inConn) authenticated(domain, local, method string) {
	c.mu.Lock()
	first := len(c.authed) == 0
	if _, ok := c.authed[domain]; !ok {
		c.authed[domain] = method
	}
	c.locals[local] = true
	delete(c.pending, domain)
	certValid, tlsVer := c.certValid, c.tlsVer
	c.mu.Unlock()
	if first {
		c.sc.Dec.SetLimits(c.srv.cfg.Limits)
		c.srv.Stats.InEstablished.Add(1)
	}
	c.srv.log.Info("s2s connection established", "direction", "in", "remote", domain, "local", local,
		"addr", c.remoteAddr(), "direct_tls", c.directTLS, "tls", tlsVer, "cert_valid", certValid, "auth", method)
}

// onResult handles a dialback request (XEP-0220 step 2): the peer says it
// is from, for our domain to. Problems are answered with dialback errors,
// which leave the stream and its other domains alone (section 2.4).
func (c *inConn) onResult(el *xml.Element) error {
	if el.Attr("type") != "" {
		return nil // answers belong on our outgoing streams
	}
	cfg := &c.srv.cfg
	from, to := el.Attr("from"), el.Attr("to")
	if from == "" || to == "" {
		return xmpperr.Stream(xmpperr.ImproperAddressing, "a dialback request needs from and to")
	}
	if p, err := jid.Parse(from); err != nil || !p.IsDomain() {
		return xmpperr.Stream(xmpperr.InvalidFrom, "from must be a domain")
	}
	key := strings.TrimSpace(el.Text())
	refuse := func(cond xmpperr.Condition, text string) error {
		c.srv.Stats.InDialbackFailed.Add(1)
		c.srv.logs.Info("s2s: dialback refused", "remote", from, "local", to, "addr", c.remoteAddr(), "reason", text)
		return c.sc.Send(dbError("result", to, from, "", cond, text))
	}
	_, tlsOn := c.sc.TLS()
	switch {
	case !cfg.Hosted(to):
		return refuse(xmpperr.ItemNotFound, to+" is not served here")
	case cfg.Hosted(from):
		return refuse(xmpperr.NotAuthorizedC, from+" is a domain of this server")
	case cfg.RequireTLS && !tlsOn:
		return refuse(xmpperr.PolicyViolationC, "TLS first")
	}
	c.mu.Lock()
	_, done := c.authed[from]
	busy := c.pending[from]
	tooMany := len(c.pending) >= maxPendingDialback
	c.mu.Unlock()
	switch {
	case done:
		c.authenticated(from, to, c.method(from))
		return c.sc.Send(dbElement("result", to, from, "", "valid", ""))
	case busy:
		return nil // the answer to the first request answers this one
	case tooMany:
		return refuse(xmpperr.ResourceConstraintC, "too many dialback requests at once")
	}
	if tlsOn {
		// A certificate that verifies for the domain proves more than
		// dialback would (XEP-0344): no need to ask.
		if err := c.checkCert(from); err == nil {
			c.authenticated(from, to, "dialback+pkix")
			return c.sc.Send(dbElement("result", to, from, "", "valid", ""))
		} else if cfg.RequireValidCerts {
			return refuse(xmpperr.NotAuthorizedC, err.Error())
		}
	} else if cfg.RequireValidCerts {
		return refuse(xmpperr.NotAuthorizedC, "a valid certificate is required")
	}
	c.mu.Lock()
	c.pending[from] = true
	c.mu.Unlock()
	c.srv.verify(from, to, c.streamID, key, func(r verifyResult) { c.verified(from, to, r) })
	return nil
}

func (c *inConn) method(domain string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed[domain]
}

// verified sends the peer the outcome of its dialback request. It runs
// on whatever goroutine the authoritative server's answer came in on.
func (c *inConn) verified(from, to string, r verifyResult) {
	if r.valid {
		c.authenticated(from, to, "dialback")
		_ = c.sc.Send(dbElement("result", to, from, "", "valid", ""))
		return
	}
	c.srv.Stats.InDialbackFailed.Add(1)
	c.mu.Lock()
	delete(c.pending, from)
	if r.cond == "" {
		c.failures++
	}
	failures := c.failures
	c.mu.Unlock()
	if r.cond != "" {
		c.srv.logs.Info("s2s: dialback could not be verified", "remote", from, "local", to, "addr", c.remoteAddr(), "reason", r.why, "condition", r.cond)
		_ = c.sc.Send(dbError("result", to, from, "", r.cond, r.why))
		return
	}
	c.srv.logs.Info("s2s: dialback key refused by its authoritative server", "remote", from, "local", to, "addr", c.remoteAddr())
	_ = c.sc.Send(dbElement("result", to, from, "", "invalid", ""))
	if failures >= maxDialbackFailures {
		c.sc.CloseWithError(xmpperr.Stream(xmpperr.NotAuthorized, "too many refused dialback keys"))
	}
}

// onStanza checks a stanza from the peer and routes it: its from must be
// a domain the stream authenticated, its to a domain we serve.
func (c *inConn) onStanza(el *xml.Element) error {
	c.mu.Lock()
	authed := len(c.authed) > 0
	c.mu.Unlock()
	if !authed {
		return xmpperr.Stream(xmpperr.NotAuthorized, "authenticate first")
	}
	return c.srv.accept(el, func(domain string) bool { return c.method(domain) != "" })
}

// accept checks a stanza a peer sent and routes it as from a remote
// entity. authed says which of the peer's domains the stream
// authenticated; a from outside them ends the stream (invalid-from), as
// does a to outside ours (host-unknown). A to that is not an address, or
// a stanza RFC 6120 8.1-8.2 refuses, gets a stanza error.
func (s *Server) accept(el *xml.Element, authed func(domain string) bool) error {
	fs, ts := el.Attr("from"), el.Attr("to")
	if fs == "" || ts == "" {
		return xmpperr.Stream(xmpperr.ImproperAddressing, "a stanza between servers needs from and to")
	}
	from, err := jid.Parse(fs)
	if err != nil {
		return xmpperr.Stream(xmpperr.InvalidFrom, "from is not a valid address")
	}
	if !authed(from.Domain) {
		return xmpperr.Stream(xmpperr.InvalidFrom, from.Domain+" is not authenticated on this stream")
	}
	to, err := jid.Parse(ts)
	if err != nil {
		s.reply(el, xmpperr.New(xmpperr.JIDMalformed, "to is not a valid address"))
		return nil
	}
	if !s.cfg.Hosted(to.Domain) {
		return xmpperr.Stream(xmpperr.HostUnknown, to.Domain+" is not served here")
	}
	stanza.SetSpace(el, xml.NSServer, xml.NSClient)
	if se := stanza.Validate(el); se != nil {
		s.reply(el, se)
		return nil
	}
	el.SetAttr("from", from.String())
	el.SetAttr("to", to.String())
	s.Stats.InStanzas.Add(1)
	s.cfg.Router.Route(context.Background(), el, from, to)
	return nil
}

// reply answers a bad stanza from a peer with a stanza error, through the
// router (and so our outgoing stream).
func (s *Server) reply(el *xml.Element, se *xmpperr.StanzaError) {
	if t := el.Attr("type"); t == "error" || t == "result" {
		return
	}
	r := stanza.ErrorReply(el, se)
	if r == nil {
		return
	}
	stanza.SetSpace(r, xml.NSServer, xml.NSClient)
	from, err1 := jid.Parse(r.Attr("from"))
	to, err2 := jid.Parse(r.Attr("to"))
	if err1 != nil || err2 != nil || !s.cfg.Hosted(from.Domain) {
		from = jid.Domain(s.cfg.Domain)
		r.SetAttr("from", from.String())
	}
	if err2 != nil {
		return
	}
	s.cfg.Router.Route(context.Background(), r, from, to)
}

// shutdown ends the stream for a server shutdown.
func (c *inConn) shutdown() {
	c.mu.Lock()
	c.closeReason = "shutdown"
	c.mu.Unlock()
	c.sc.CloseWithError(xmpperr.Stream(xmpperr.SystemShutdown, ""))
}

func (c *inConn) abort() { c.sc.Abort() }

// end closes the stream after the reader stopped, and says so in the log.
func (c *inConn) end(err error) {
	c.mu.Lock()
	reason := c.closeReason
	domains := slices.Sorted(maps.Keys(c.authed))
	c.mu.Unlock()
	var se *xmpperr.StreamError
	switch {
	case reason != "" || errors.Is(err, errIdle) || isPeerError(err):
		c.sc.Abort()
	case errors.As(err, &se):
		c.sc.CloseWithError(se)
	default:
		c.sc.End(err)
	}
	why := closeWhy(reason, describe(err))
	if len(domains) == 0 {
		c.srv.Stats.InFailed.Add(1)
		c.srv.logs.Info("s2s connection failed", "direction", "in", "remote", c.header.From, "local", c.header.To,
			"addr", c.remoteAddr(), "reason", why)
		return
	}
	c.srv.log.Info("s2s connection closed", "direction", "in", "remote", strings.Join(domains, ","), "addr", c.remoteAddr(), "reason", why)
	if end, _ := stream.Classify(err); reason == "" && end != stream.EndClosed && !errors.Is(err, errIdle) {
		for _, d := range domains {
			c.srv.linkLost(d)
		}
	}
}

// info describes the stream for operators.
func (c *inConn) info() Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := Info{Direction: "in", Remote: slices.Sorted(maps.Keys(c.authed)), Local: slices.Sorted(maps.Keys(c.locals)),
		TLS: c.tlsVer, DirectTLS: c.directTLS, CertValid: c.certValid, Addr: c.remoteAddr(), Since: c.since,
		Idle: c.srv.idleSince(c.lastActive), State: "negotiating"}
	if len(in.Remote) == 0 && c.header.From != "" {
		in.Remote = []string{c.header.From}
	}
	methods := map[string]bool{}
	for _, m := range c.authed {
		methods[m] = true
	}
	in.Auth = strings.Join(slices.Sorted(maps.Keys(methods)), ",")
	switch {
	case c.closeReason != "":
		in.State = "closing"
	case len(c.authed) > 0:
		in.State = "established"
	}
	return in
}
