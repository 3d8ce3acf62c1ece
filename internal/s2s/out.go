package s2s

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/tlsconf"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// ALPNXMPPServer is the XEP-0368 ALPN protocol of server-to-server
// streams over direct TLS.
const ALPNXMPPServer = "xmpp-server"

// Bidirectional streams (XEP-0288): a receiving server that offers the
// feature is asked to send its own stanzas for us on our stream.
const (
	NSBidi        = "urn:xmpp:bidi"
	NSBidiFeature = "urn:xmpp:features:bidi"
)

// outPhase is where an outgoing stream is in its life. It only moves
// forward; the stream's goroutine (run) owns every move but the one to
// outClosing, which a close for idleness or shutdown may make.
type outPhase int

const (
	outConnecting outPhase = iota // resolving, dialing, negotiating
	outReady                      // negotiated: the writer sends what may be sent
	outClosing                    // no more stanzas; the stream is ending
)

// domainState is how far one of our domains is authenticated on an
// outgoing stream.
type domainState int

const (
	dsWanted  domainState = iota // stanzas wait; nothing asked yet
	dsPending                    // <db:result/> sent, or SASL under way
	dsValid                      // stanzas from the domain may go
	dsRefused                    // the peer would not take it here: a stream of its own
)

type queued struct {
	el    *xml.Element
	local string // our domain it is from
}

type pendingVerify struct {
	local, id string
	done      func(verifyResult)
}

// outConn is one outgoing stream to a remote domain. Stanzas from any of
// our domains queue on it; the writer sends those of authenticated
// domains, in order.
type outConn struct {
	srv       *Server
	key       string
	remote    string
	local     string // the stream's from, authenticated first
	dedicated bool
	ctx       context.Context
	cancel    context.CancelFunc
	wake      chan struct{} // the writer's signal (capacity 1)
	done      chan struct{} // closed when the stream has ended
	created   time.Time

	mu          sync.Mutex
	phase       outPhase
	sc          *stream.Conn
	streamID    string
	domains     map[string]domainState
	queue       []queued
	ctrl        []*xml.Element // dialback requests and answers to write
	verifies    []pendingVerify
	established bool   // the stream's own domain is authenticated
	bidi        bool   // XEP-0288: the peer may send its stanzas here
	closeReason string // why we are closing it ourselves: "idle", "shutdown"
	auth        string
	tlsVer      string
	direct      bool
	certValid   bool
	addr        string
	lastActive  time.Time
	idle        *time.Timer
	writerDone  chan struct{}
	// timers bound the waits for the peer's answers (dialback requests,
	// verifications); failure, when set, is why one ended the stream.
	timers  []*time.Timer
	failure error
}

func newOut(s *Server, key, remote, local string, dedicated bool) *outConn {
	ctx, cancel := context.WithCancel(context.Background())
	now := s.now()
	return &outConn{
		srv: s, key: key, remote: remote, local: local, dedicated: dedicated,
		ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		created: now, lastActive: now,
		domains: map[string]domainState{local: dsWanted},
	}
}

type enqueueResult int

const (
	enqueued enqueueResult = iota
	queueFull
	refused // this domain needs a stream of its own
	gone    // the stream is ending; take another
)

// enqueue queues el from our domain local. A domain new to an
// authenticated stream is authenticated on it with dialback
// (piggybacking, XEP-0220 section 2.5).
func (o *outConn) enqueue(el *xml.Element, local string) enqueueResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.phase == outClosing {
		return gone
	}
	if len(o.queue) >= o.srv.cfg.QueueMax {
		return queueFull
	}
	st, ok := o.domains[local]
	if !ok {
		st = dsWanted
		if o.established {
			o.requestLocked(local)
			st = dsPending
		}
		o.domains[local] = st
	}
	if st == dsRefused {
		return refused
	}
	o.queue = append(o.queue, queued{el: el, local: local})
	o.signalLocked()
	return enqueued
}

// requestLocked queues the dialback request that authenticates local.
func (o *outConn) requestLocked(local string) {
	key := dialbackKey(o.srv.cfg.DialbackSecret, o.remote, local, o.streamID)
	o.ctrl = append(o.ctrl, dbElement("result", local, o.remote, "", "", key))
	o.expectAnswerLocked(func() { o.noAnswer(local) })
	o.signalLocked()
}

// answerTimeout bounds the wait for a peer's answer to a dialback request
// or verification: the peer may first have to connect to the
// authoritative server and negotiate.
func (o *outConn) answerTimeout() time.Duration {
	return o.srv.cfg.ConnectTimeout + o.srv.cfg.NegotiateTimeout
}

// expectAnswerLocked runs f if the answer it waits for has not come in
// answerTimeout; end stops it.
func (o *outConn) expectAnswerLocked(f func()) {
	o.timers = append(o.timers, time.AfterFunc(o.answerTimeout(), f))
}

// noAnswer ends the wait for the answer to our dialback request for
// local: the stream, for its own domain, fails (its queue is bounced with
// remote-server-timeout); another domain gets a stream of its own.
func (o *outConn) noAnswer(local string) {
	o.mu.Lock()
	if o.domains[local] != dsPending || o.phase == outClosing {
		o.mu.Unlock()
		return
	}
	o.srv.Stats.OutDialbackFail.Add(1)
	if local != o.local {
		o.domains[local] = dsRefused
		o.signalLocked()
		o.mu.Unlock()
		return
	}
	o.failure = &authError{why: "no answer to our dialback request", cond: xmpperr.RemoteServerTimeout}
	sc := o.sc
	o.mu.Unlock()
	sc.CloseWithError(xmpperr.Stream(xmpperr.ConnectionTimeout, "no answer to the dialback request"))
}

// addVerify queues a dialback verification (we are the receiving server
// asking the peer, its authoritative server, about a key).
func (o *outConn) addVerify(local, id, key string, done func(verifyResult)) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.phase == outClosing {
		return false
	}
	o.verifies = append(o.verifies, pendingVerify{local: local, id: id, done: done})
	o.ctrl = append(o.ctrl, dbElement("verify", local, o.remote, id, "", key))
	o.expectAnswerLocked(func() {
		if done := o.takeVerify(local, id); done != nil {
			done(verifyResult{cond: xmpperr.RemoteServerTimeout, why: "no answer from the authoritative server"})
		}
	})
	o.signalLocked()
	return true
}

// takeVerify removes and returns the verification asked for local and id.
func (o *outConn) takeVerify(local, id string) func(verifyResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, v := range o.verifies {
		if v.id == id && v.local == local {
			o.verifies = append(o.verifies[:i], o.verifies[i+1:]...)
			return v.done
		}
	}
	return nil
}

func (o *outConn) signalLocked() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outConn) touch() {
	o.mu.Lock()
	o.lastActive = o.srv.now()
	o.mu.Unlock()
}

// connectError is a failure to set the stream up, with the stanza error
// its queue is bounced with.
type connectError struct {
	cond xmpperr.Condition
	why  string
}

func (e *connectError) Error() string { return e.why }

// authError is a refusal to authenticate: another address of the same
// domain would refuse too. cond, when set, is what the queued stanzas are
// bounced with (default remote-server-not-found).
type authError struct {
	why  string
	cond xmpperr.Condition
}

func (e *authError) Error() string { return e.why }

// run is the stream's life: connect and negotiate, then read until it
// ends, then place what it could not send.
func (o *outConn) run() {
	err := o.connect()
	if err == nil {
		o.mu.Lock()
		o.phase = outReady
		o.writerDone = make(chan struct{})
		if o.domains[o.local] == dsValid {
			o.establishedLocked()
		}
		o.signalLocked()
		o.mu.Unlock()
		go o.writeLoop()
		err = o.readLoop()
	}
	o.end(err)
}

// connect resolves the remote domain and tries its addresses in order
// until one is negotiated.
func (o *outConn) connect() error {
	targets, err := o.srv.resolve(o.ctx, o.remote)
	if err != nil {
		return &connectError{cond: xmpperr.RemoteServerNotFound, why: "resolving " + o.remote + ": " + err.Error()}
	}
	cond := xmpperr.RemoteServerNotFound
	var whys []string
	for _, t := range targets {
		err := o.try(t)
		if err == nil {
			return nil
		}
		whys = append(whys, t.String()+": "+err.Error())
		if stream.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			cond = xmpperr.RemoteServerTimeout
		}
		var ae *authError
		if errors.As(err, &ae) || o.ctx.Err() != nil {
			break
		}
	}
	return &connectError{cond: cond, why: strings.Join(whys, "; ")}
}

// try connects to one address and negotiates the stream: TLS, then SASL
// EXTERNAL if the peer offers it, else dialback. Dialback's answer
// arrives later, in readLoop.
func (o *outConn) try(t target) error {
	ctx, cancel := context.WithTimeout(o.ctx, o.srv.cfg.ConnectTimeout)
	nc, err := o.srv.dialer.DialContext(ctx, "tcp", t.addr())
	cancel()
	if err != nil {
		return err
	}
	sc := stream.NewConn(o.srv.counted(nc), xml.NSClient, o.srv.preAuthLimits(), o.srv.cfg.WriteTimeout, nil)
	o.mu.Lock()
	o.sc, o.addr, o.direct = sc, t.String(), t.directTLS
	closing := o.phase == outClosing
	o.mu.Unlock()
	if closing {
		sc.Abort()
		return errors.New("closed")
	}
	if t.directTLS {
		if err := sc.StartTLS(o.ctx, o.clientTLS(true), false, o.srv.cfg.NegotiateTimeout); err != nil {
			sc.Abort()
			return err
		}
	}
	if err := o.negotiate(sc); err != nil {
		var se *xmpperr.StreamError
		if errors.As(err, &se) && !isPeerError(err) {
			sc.CloseWithError(se)
		} else {
			sc.Abort()
		}
		return err
	}
	return nil
}

// clientTLS is our side of TLS to the peer. The peer's certificate is
// checked afterwards (verifyPeer), not by the handshake: one that does
// not verify still allows dialback unless require_valid_certs is set.
// Our certificate goes to every peer that asks for one, whatever CAs it
// names, so that it can offer SASL EXTERNAL.
func (o *outConn) clientTLS(direct bool) *tls.Config {
	cfg := &tls.Config{
		ServerName:         o.remote,
		InsecureSkipVerify: true, //nolint:gosec // verified by verifyPeer, or dialback authenticates
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       tlsconf.CipherSuites,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := o.srv.cfg.TLS; c != nil && c.GetCertificate != nil {
				return c.GetCertificate(&tls.ClientHelloInfo{ServerName: o.srv.cfg.Domain})
			} else if c != nil && len(c.Certificates) > 0 {
				return &c.Certificates[0], nil
			}
			return &tls.Certificate{}, nil
		},
	}
	if direct {
		cfg.NextProtos = []string{ALPNXMPPServer}
	}
	return cfg
}

// peerError is a stream error the peer sent.
type peerError struct{ se *xmpperr.StreamError }

func (e *peerError) Error() string { return "the peer sent " + e.se.Error() }

func isPeerError(err error) bool {
	var pe *peerError
	return errors.As(err, &pe)
}

// next reads the next element within the negotiation timeout; a stream
// error from the peer is returned as a *peerError.
func (o *outConn) next(sc *stream.Conn) (*xml.Element, error) {
	sc.SetReadDeadline(o.srv.now().Add(o.srv.cfg.NegotiateTimeout))
	el, err := sc.Dec.Next()
	if err != nil {
		return nil, err
	}
	if el.Space == xml.NSStream && el.Local == "error" {
		return nil, &peerError{xmpperr.StreamFromElement(el)}
	}
	return el, nil
}

func (o *outConn) negotiate(sc *stream.Conn) error {
	cfg := &o.srv.cfg
	saslTried, saslDone := false, false
	for range 4 { // header, after STARTTLS, after SASL: three at most
		err := sc.WriteHeader(stream.Header{ContentNS: xml.NSServer, From: o.local, To: o.remote, Version: "1.0", Dialback: true})
		if err != nil {
			return err
		}
		h, err := sc.ReadHeader(cfg.NegotiateTimeout)
		if err != nil {
			return err
		}
		if h.ContentNS != xml.NSServer {
			return xmpperr.Stream(xmpperr.InvalidNamespace, "the content namespace must be jabber:server")
		}
		dialbackNS := false
		for _, d := range h.NSDecls {
			dialbackNS = dialbackNS || d.Value == stream.NSDialback
		}
		o.mu.Lock()
		o.streamID = h.ID
		o.mu.Unlock()
		var feats *xml.Element
		if stream.SupportedVersion(h.Version) {
			if feats, err = o.next(sc); err != nil {
				return err
			}
			if feats.Space != xml.NSStream || feats.Local != "features" {
				return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "expected <stream:features/>")
			}
		} else {
			feats = xml.New(xml.NSStream, "features") // a pre-1.0 peer: dialback only
		}
		st, tlsOn := sc.TLS()
		if !tlsOn && feats.Child(stream.NSTLS, "starttls") != nil {
			if err := sc.Send(xml.New(stream.NSTLS, "starttls")); err != nil {
				return err
			}
			el, err := o.next(sc)
			if err != nil {
				return err
			}
			if el.Space != stream.NSTLS || el.Local != "proceed" {
				return errors.New("the peer refused STARTTLS")
			}
			if err := sc.StartTLS(o.ctx, o.clientTLS(false), false, cfg.NegotiateTimeout); err != nil {
				return err
			}
			continue
		}
		if !tlsOn && cfg.RequireTLS {
			return errors.New("the peer offers no TLS, and s2s.require_tls is set")
		}
		if tlsOn {
			certErr := o.srv.verifyPeer(st, o.remote)
			o.mu.Lock()
			o.tlsVer, o.certValid = tlsVersion(st.Version), certErr == nil
			o.mu.Unlock()
			if certErr != nil && cfg.RequireValidCerts {
				return &authError{why: fmt.Sprintf("%v, and s2s.require_valid_certs is set", certErr)}
			}
		}
		if feats.Child(NSBidiFeature, "bidi") != nil && !saslDone && (tlsOn || !cfg.RequireTLS) {
			// XEP-0288: the peer offers to send its stanzas for us on
			// this stream rather than open one of its own.
			if err := sc.Send(xml.New(NSBidi, "bidi")); err != nil {
				return err
			}
			o.mu.Lock()
			o.bidi = true
			o.mu.Unlock()
		}
		if saslDone {
			o.mu.Lock()
			o.auth = "sasl-external"
			o.domains[o.local] = dsValid
			o.mu.Unlock()
			return nil
		}
		if tlsOn && !saslTried && hasMechanism(feats, "EXTERNAL") {
			saslTried = true
			auth := xml.New(stream.NSSASL, "auth", "mechanism", "EXTERNAL").AppendText(stream.EncodeSASL(nil))
			if err := sc.Send(auth); err != nil {
				return err
			}
			el, err := o.next(sc)
			if err != nil {
				return err
			}
			switch {
			case el.Space == stream.NSSASL && el.Local == "success":
				saslDone = true
				sc.Dec.Restart()
				continue
			case el.Space == stream.NSSASL && el.Local == "failure":
				o.srv.log.Debug("s2s: SASL EXTERNAL refused; trying dialback", "remote", o.remote, "failure", el.String())
			default:
				return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "expected a SASL answer")
			}
		}
		if feats.Child(NSDialbackFeature, "dialback") == nil && !dialbackNS {
			return &authError{why: "the peer offers no authentication we can use (SASL EXTERNAL refused or not offered, no dialback)"}
		}
		if h.ID == "" {
			return errors.New("the peer's stream has no id, which dialback needs")
		}
		o.mu.Lock()
		o.auth = "dialback"
		o.domains[o.local] = dsPending
		key := dialbackKey(cfg.DialbackSecret, o.remote, o.local, h.ID)
		o.expectAnswerLocked(func() { o.noAnswer(o.local) })
		o.mu.Unlock()
		return sc.Send(dbElement("result", o.local, o.remote, "", "", key))
	}
	return xmpperr.Stream(xmpperr.PolicyViolation, "too many stream restarts")
}

func hasMechanism(feats *xml.Element, mech string) bool {
	for _, m := range stream.Mechanisms(feats) {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// establishedLocked marks the stream's own domain authenticated: the
// remote domain is reachable again, and our other domains with stanzas
// waiting are authenticated on the same stream.
func (o *outConn) establishedLocked() {
	if o.established {
		return
	}
	o.established = true
	o.lastActive = o.srv.now()
	for d, st := range o.domains {
		if d != o.local && st == dsWanted {
			o.domains[d] = dsPending
			o.requestLocked(d)
		}
	}
	o.idle = time.AfterFunc(o.srv.cfg.IdleTimeout, o.checkIdle)
	o.srv.succeeded(o.remote)
	o.srv.Stats.OutEstablished.Add(1)
	o.srv.log.Info("s2s connection established", "direction", "out", "remote", o.remote, "local", o.local,
		"addr", o.addr, "direct_tls", o.direct, "tls", o.tlsVer, "cert_valid", o.certValid, "auth", o.auth)
}

// writeLoop writes the dialback elements and the stanzas of
// authenticated domains, each batch in one write, until the stream ends.
func (o *outConn) writeLoop() {
	defer close(o.writerDone)
	for {
		select {
		case <-o.wake:
		case <-o.done:
			return
		}
		o.mu.Lock()
		if o.phase != outReady {
			o.mu.Unlock()
			return
		}
		batch := o.ctrl
		o.ctrl = nil
		var keep, moved []queued
		stanzas := 0
		for _, q := range o.queue {
			switch o.domains[q.local] {
			case dsValid:
				batch = append(batch, q.el)
				stanzas++
			case dsRefused:
				moved = append(moved, q)
			default:
				keep = append(keep, q)
			}
		}
		sent := o.queue[:0:0]
		if stanzas > 0 {
			sent = make([]queued, 0, stanzas)
			for _, q := range o.queue {
				if o.domains[q.local] == dsValid {
					sent = append(sent, q)
				}
			}
		}
		o.queue = keep
		sc := o.sc
		o.mu.Unlock()
		for _, q := range moved {
			o.srv.routeDedicated(q.el, q.local)
		}
		if len(batch) == 0 {
			continue
		}
		if err := sc.Send(batch...); err != nil {
			// Not written, as far as we know: the next stream takes
			// them (see end).
			o.mu.Lock()
			o.queue = append(sent, o.queue...)
			o.mu.Unlock()
			sc.Abort()
			return
		}
		o.srv.Stats.OutStanzas.Add(uint64(stanzas))
		o.touch()
	}
}

// readLoop reads what the peer sends on our stream: dialback answers and
// requests, and its stream error or closing tag.
func (o *outConn) readLoop() error {
	sc := o.sc
	sc.SetReadDeadline(time.Time{})
	for {
		el, err := sc.Dec.Next()
		if err != nil {
			return err
		}
		o.touch()
		switch {
		case el.Space == stream.NSDialback && el.Local == "result":
			if err := o.onResult(el); err != nil {
				return err
			}
		case el.Space == stream.NSDialback && el.Local == "verify":
			o.onVerify(el)
		case el.Space == xml.NSStream && el.Local == "error":
			return &peerError{xmpperr.StreamFromElement(el)}
		case el.Space == xml.NSServer && stanza.IsStanza(el) && o.acceptsStanzas():
			// XEP-0288: the peer's stanzas for us, from the domain we
			// connected to (its identity is what the stream's TLS and
			// address established), once we are authenticated.
			if err := o.srv.accept(el, func(d string) bool { return d == o.remote }); err != nil {
				return err
			}
		default:
			return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/> on this stream")
		}
	}
}

// acceptsStanzas reports whether the peer may send stanzas on our stream:
// it agreed to a bidirectional stream, and we are authenticated.
func (o *outConn) acceptsStanzas() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bidi && o.established
}

// onResult takes the peer's answer to one of our dialback requests.
func (o *outConn) onResult(el *xml.Element) error {
	d, typ := el.Attr("to"), el.Attr("type")
	o.mu.Lock()
	defer o.mu.Unlock()
	if st, ok := o.domains[d]; !ok || st != dsPending || el.Attr("from") != o.remote {
		o.srv.log.Debug("s2s: dialback answer to no request of ours", "remote", o.remote, "el", el.String())
		return nil
	}
	if typ == "valid" {
		o.domains[d] = dsValid
		if d == o.local {
			o.establishedLocked()
		}
		o.signalLocked()
		return nil
	}
	o.srv.Stats.OutDialbackFail.Add(1)
	why := "the peer refused our dialback key for " + d
	if se := xmpperr.FromElement(el); se != nil && typ == "error" {
		why += " (" + string(se.Condition) + ")"
	}
	if d == o.local {
		// XEP-0220 2.4: after a dialback error the queued stanzas are
		// returned with remote-server-timeout; a refused key means the
		// peer does not take us for who we are.
		cond := xmpperr.RemoteServerNotFound
		if typ == "error" {
			cond = xmpperr.RemoteServerTimeout
		}
		return &authError{why: why, cond: cond}
	}
	// Another of our domains: its own stream (XEP-0220 2.4,
	// resource-constraint), and the writer moves its stanzas there.
	o.srv.log.Info("s2s: the peer refused a domain on a shared stream; using a stream of its own", "remote", o.remote, "local", d, "type", typ)
	o.domains[d] = dsRefused
	o.signalLocked()
	return nil
}

// onVerify takes the answer to a verification we asked for, or answers
// the peer's request to verify a key we made.
func (o *outConn) onVerify(el *xml.Element) {
	typ, id, to := el.Attr("type"), el.Attr("id"), el.Attr("to")
	if typ == "" {
		o.mu.Lock()
		o.ctrl = append(o.ctrl, verifyAnswer(o.srv, el))
		o.signalLocked()
		o.mu.Unlock()
		return
	}
	done := o.takeVerify(to, id)
	if done == nil {
		o.srv.log.Debug("s2s: dialback verification answer to nothing we asked", "remote", o.remote, "id", id)
		return
	}
	switch typ {
	case "valid":
		done(verifyResult{valid: true})
	case "invalid":
		done(verifyResult{})
	default:
		cond := xmpperr.RemoteServerNotFound
		if se := xmpperr.FromElement(el); se != nil {
			cond = se.Condition
		}
		done(verifyResult{cond: cond, why: "the authoritative server answered with an error"})
	}
}

// verifyAnswer answers a <db:verify/> request: valid when the key is one
// this server made for the domain pair and stream.
func verifyAnswer(s *Server, el *xml.Element) *xml.Element {
	from, to, id := el.Attr("from"), el.Attr("to"), el.Attr("id")
	typ := "invalid"
	if s.cfg.Hosted(to) && checkKey(s.cfg.DialbackSecret, from, to, id, strings.TrimSpace(el.Text())) {
		typ = "valid"
	}
	return dbElement("verify", to, from, id, typ, "")
}

// checkIdle closes the stream after IdleTimeout without traffic.
func (o *outConn) checkIdle() {
	o.mu.Lock()
	if o.phase != outReady {
		o.mu.Unlock()
		return
	}
	idle := o.srv.now().Sub(o.lastActive)
	if left := o.srv.cfg.IdleTimeout - idle; left > 0 || len(o.queue) > 0 || len(o.verifies) > 0 || len(o.ctrl) > 0 {
		o.idle.Reset(max(left, time.Second))
		o.mu.Unlock()
		return
	}
	o.phase = outClosing
	o.closeReason = "idle"
	sc := o.sc
	o.mu.Unlock()
	o.srv.forgetOut(o)
	sc.CloseStream()
}

// shutdown ends the stream for a server shutdown.
func (o *outConn) shutdown() {
	o.mu.Lock()
	if o.phase == outClosing {
		o.mu.Unlock()
		return
	}
	o.phase = outClosing
	o.closeReason = "shutdown"
	sc := o.sc
	o.mu.Unlock()
	o.cancel()
	if sc != nil {
		sc.CloseWithError(xmpperr.Stream(xmpperr.SystemShutdown, ""))
	}
}

// abort cuts the connection.
func (o *outConn) abort() {
	o.cancel()
	o.mu.Lock()
	sc := o.sc
	o.mu.Unlock()
	if sc != nil {
		sc.Abort()
	}
}

// waitFlushed waits until the queue is written, the stream ended, or ctx
// is done.
func (o *outConn) waitFlushed(ctx context.Context) {
	for {
		o.mu.Lock()
		pending := len(o.queue) > 0 && o.phase == outReady
		o.mu.Unlock()
		if !pending {
			return
		}
		select {
		case <-o.done:
			return
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// end runs when the stream is over: it is taken out of use, the writer
// stops, open verifications fail, and what was queued is sent again on a
// new stream (when this one had worked) or bounced (when it never did).
func (o *outConn) end(err error) {
	o.mu.Lock()
	reason := o.closeReason
	o.phase = outClosing
	established := o.established
	sc := o.sc
	queue := o.queue
	o.queue = nil
	verifies := o.verifies
	o.verifies = nil
	if o.idle != nil {
		o.idle.Stop()
	}
	for _, t := range o.timers {
		t.Stop()
	}
	if o.failure != nil {
		err = o.failure
	}
	writerDone := o.writerDone
	o.mu.Unlock()
	close(o.done)
	cond, why := xmpperr.RemoteServerTimeout, describe(err)
	var ce *connectError
	if errors.As(err, &ce) {
		cond = ce.cond
	}
	var ae *authError
	if errors.As(err, &ae) {
		cond = cmp.Or(ae.cond, xmpperr.RemoteServerNotFound)
	}
	if !established && reason != "shutdown" {
		// Before the stream is out of use, so that a stanza that finds
		// it gone finds the backoff.
		o.srv.failed(o.remote, cond, why)
	}
	o.srv.forgetOut(o)
	o.cancel()
	if sc != nil {
		var se *xmpperr.StreamError
		if errors.As(err, &se) && !isPeerError(err) && reason == "" {
			sc.CloseWithError(se)
		} else if !isPeerError(err) && reason == "" {
			sc.End(err)
		} else {
			sc.Abort()
		}
	}
	if writerDone != nil {
		<-writerDone
		// The writer may have put back what it failed to write.
		o.mu.Lock()
		queue = append(queue, o.queue...)
		o.queue = nil
		o.mu.Unlock()
	}

	for _, v := range verifies {
		v.done(verifyResult{cond: cond, why: "the stream to " + o.remote + " ended: " + why})
	}
	ctx := context.Background()
	switch {
	case !established:
		o.srv.Stats.OutFailed.Add(1)
		o.srv.log.Info("s2s connection failed", "direction", "out", "remote", o.remote, "local", o.local,
			"addr", o.addr, "reason", why, "bounced", len(queue))
		for _, q := range queue {
			o.srv.bounce(ctx, q.el, cond, "")
		}
	case reason == "shutdown":
		o.srv.log.Info("s2s connection closed", "direction", "out", "remote", o.remote, "reason", "shutdown", "bounced", len(queue))
		for _, q := range queue {
			o.srv.bounce(ctx, q.el, xmpperr.RemoteServerTimeout, "")
		}
	default:
		end, _ := stream.Classify(err)
		abnormal := reason == "" && end != stream.EndClosed
		o.srv.log.Info("s2s connection closed", "direction", "out", "remote", o.remote, "local", o.local,
			"reason", closeWhy(reason, why), "requeued", len(queue))
		if abnormal {
			o.srv.linkLost(o.remote)
		}
		// Stanzas that never went out take a new stream.
		for _, q := range queue {
			o.srv.requeue(ctx, q.el)
		}
	}
}

// info describes the stream for operators.
func (o *outConn) info() Info {
	o.mu.Lock()
	defer o.mu.Unlock()
	in := Info{Direction: "out", Remote: []string{o.remote}, Auth: o.auth, TLS: o.tlsVer, DirectTLS: o.direct, Bidi: o.bidi,
		CertValid: o.certValid, Addr: o.addr, Since: o.created, Idle: o.srv.idleSince(o.lastActive), Queued: len(o.queue)}
	for d, st := range o.domains {
		if st == dsValid {
			in.Local = append(in.Local, d)
		}
	}
	slices.Sort(in.Local)
	switch {
	case o.phase == outClosing:
		in.State = "closing"
	case o.established:
		in.State = "established"
	default:
		in.State = "connecting"
	}
	return in
}
