package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"minimix/internal/jid"
	"minimix/internal/sasl"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// nsPreApproval advertises subscription pre-approval (RFC 6121 3.4).
const nsPreApproval = "urn:xmpp:features:pre-approval"

// maxAuthAttempts is how many wrong passwords one stream may try before
// it is closed (RFC 6120 6.4.5 asks for at least two retries);
// maxNegotiationFailures bounds the other failures (mechanism or channel
// binding not agreed).
const (
	maxAuthAttempts        = 3
	maxNegotiationFailures = 6
)

// errRestart tells the negotiation loop that the stream restarts.
var errRestart = errors.New("stream restart")

// negotiate runs stream negotiation until a session is bound or resumed.
func (c *conn) negotiate(ctx context.Context) error {
	authFailures := 0
	for {
		if err := c.openStream(); err != nil {
			return err
		}
		for {
			c.setReadDeadline(time.Now().Add(c.srv.cfg.NegotiateTimeout))
			el, err := c.next(ctx)
			if err != nil {
				return err
			}
			err = c.negotiateElement(ctx, el, &authFailures)
			if errors.Is(err, errRestart) {
				break
			}
			if err != nil {
				return err
			}
			if c.sess != nil {
				c.setReadDeadline(time.Time{})
				return nil
			}
		}
	}
}

// openStream reads the client's stream header and answers with ours and
// the features for the current stage.
func (c *conn) openStream() error {
	c.setReadDeadline(time.Now().Add(c.srv.cfg.NegotiateTimeout))
	h, err := c.readHeader()
	if err != nil {
		var xe *xml.Error
		if errors.As(err, &xe) {
			// RFC 6120 4.9.1.3: an error before our header still needs
			// a header so the client can parse the error.
			c.writeHeader()
		}
		return err
	}
	c.streamID = stream.NewID()
	c.lang = h.Lang
	if c.lang == "" {
		c.lang = "en"
	}
	if err := c.writeHeader(); err != nil {
		return err
	}
	switch {
	case h.ContentNS != xml.NSClient:
		return xmpperr.Stream(xmpperr.InvalidNamespace, "the content namespace must be jabber:client")
	case h.To == "":
		return xmpperr.Stream(xmpperr.HostUnknown, "a 'to' address is required")
	case !strings.EqualFold(h.To, c.srv.cfg.Domain):
		return xmpperr.Stream(xmpperr.HostUnknown, "this server does not serve "+h.To)
	case !stream.SupportedVersion(h.Version):
		return xmpperr.Stream(xmpperr.UnsupportedVersion, "version 1.0 is required")
	}
	return c.send(c.features())
}

func (c *conn) writeHeader() error {
	id := c.streamID
	if id == "" {
		id = stream.NewID()
	}
	h := stream.Header{
		ContentNS: xml.NSClient, ID: id, From: c.srv.cfg.Domain,
		Version: "1.0", Lang: "en",
	}
	if c.fr != nil {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if c.end != connOpen {
			return net.ErrClosed
		}
		return c.fr.WriteHeader(h)
	}
	return c.write(stream.AppendHeader(nil, h))
}

func (c *conn) connState() sasl.ConnState {
	cs := sasl.ConnState{AllowPlain: c.secure() || !c.srv.cfg.RequireTLS, Remote: c.remote}
	if c.fr != nil {
		// Channel binding only where the whole stream runs over one TLS
		// connection of ours (WebSocket over HTTPS).
		cs.TLS = c.frInfo.TLS
		if certs := c.srv.cfg.TLS.Certificates; cs.TLS != nil && len(certs) > 0 {
			cs.ServerCert = certs[0].Leaf
		}
	} else if c.tls != nil {
		st := c.tls.ConnectionState()
		cs.TLS = &st
		if get := c.srv.cfg.TLS.GetCertificate; get != nil {
			// The certificate presented now: the one of this handshake
			// unless a reload replaced it in between, when SCRAM-PLUS's
			// tls-server-end-point fails and the client retries.
			if cert, err := get(&tls.ClientHelloInfo{ServerName: st.ServerName}); err == nil && cert != nil {
				cs.ServerCert = cert.Leaf
			}
		} else if certs := c.srv.cfg.TLS.Certificates; len(certs) > 0 {
			cs.ServerCert = certs[0].Leaf
		}
	}
	return cs
}

// newFeatures starts a <stream:features/> with what every stage has: the
// server's entity capabilities.
func (c *conn) newFeatures() *xml.Element {
	f := xml.New(xml.NSStream, "features")
	if c.srv.cfg.Caps != nil {
		f.Append(c.srv.cfg.Caps())
	}
	return f
}

// features returns <stream:features/> for the current stage.
func (c *conn) features() *xml.Element {
	f := c.newFeatures()
	// STARTTLS only on TCP: a framed stream's transport does its TLS.
	tlsOffered := c.tls == nil && c.fr == nil && c.srv.cfg.TLS != nil
	switch {
	case !c.authed:
		if tlsOffered {
			f.Append(stream.StartTLSFeature(c.srv.cfg.RequireTLS))
		}
		if !c.secure() && c.srv.cfg.RequireTLS {
			return f
		}
		cs := c.connState()
		f.Append(stream.MechanismsFeature(sasl.Mechanisms(cs)))
		if c.srv.cfg.SASL2 {
			f.Append(c.sasl2Feature(cs))
		}
		if types := sasl.ChannelBindingTypes(cs); len(types) > 0 {
			cb := xml.New(stream.NSSASLCB, "sasl-channel-binding")
			for _, t := range types {
				cb.Append(xml.New(stream.NSSASLCB, "channel-binding", "type", t))
			}
			f.Append(cb)
		}
		if c.srv.settings().Registrar != nil {
			f.Append(xml.New(stream.NSRegister, "register"))
		}
	default:
		f.Append(xml.New(stream.NSBind, "bind"))
		f.Append(xml.New(stream.NSSession, "session").Append(xml.New(stream.NSSession, "optional")))
		f.Append(xml.New(stream.NSSM, "sm"))
		f.Append(xml.New(stream.NSCSI, "csi"))
		f.Append(xml.New(stream.NSRosterV, "ver"))
		f.Append(xml.New(nsPreApproval, "sub"))
	}
	return f
}

// negotiateElement handles one element received before a session exists.
func (c *conn) negotiateElement(ctx context.Context, el *xml.Element, authFailures *int) error {
	switch {
	case el.Space == stream.NSTLS && el.Local == "starttls":
		return c.startTLS(ctx)
	case el.Space == stream.NSSASL && el.Local == "auth":
		return c.authenticate(ctx, el, authFailures)
	case el.Space == NSSASL2 && el.Local == "authenticate" && c.srv.cfg.SASL2:
		return c.authenticate2(ctx, el, authFailures)
	case el.Space == stream.NSSM && el.Local == "resume":
		if !c.authed {
			return xmpperr.Stream(xmpperr.NotAuthorized, "authenticate first")
		}
		return c.resume(ctx, el)
	case el.Space == stream.NSSM && el.Local == "enable":
		if !c.authed {
			return xmpperr.Stream(xmpperr.NotAuthorized, "authenticate first")
		}
		// XEP-0198 3: enable before bind is refused, not fatal.
		return c.send(smFailed(xmpperr.UnexpectedRequest, "bind a resource first"))
	case el.Local == stanza.IQ && el.Space == xml.NSClient:
		return c.preBindIQ(ctx, el)
	case stanza.IsStanza(el):
		return xmpperr.Stream(xmpperr.NotAuthorized, "no stanzas before authentication and binding")
	default:
		if !c.authed {
			return xmpperr.Stream(xmpperr.NotAuthorized, "unexpected element before authentication")
		}
		return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/>")
	}
}

func (c *conn) startTLS(ctx context.Context) error {
	if c.tls != nil || c.fr != nil || c.srv.cfg.TLS == nil || c.authed {
		_ = c.send(xml.New(stream.NSTLS, "failure"))
		return xmpperr.Stream(xmpperr.PolicyViolation, "STARTTLS is not available now")
	}
	if c.dec.Buffered() > 0 {
		// Data pipelined after <starttls/> would be read as if it came
		// through TLS: refuse it (the STARTTLS command injection attack).
		return xmpperr.Stream(xmpperr.PolicyViolation, "data after <starttls/>")
	}
	if err := c.send(xml.New(stream.NSTLS, "proceed")); err != nil {
		return err
	}
	c.rec = &recordConn{Conn: c.nc}
	tc := tls.Server(c.rec, c.srv.cfg.TLS)
	_ = c.raw.SetDeadline(time.Now().Add(c.srv.cfg.NegotiateTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("STARTTLS handshake: %w", err)
	}
	_ = c.raw.SetDeadline(time.Time{})
	c.useTLS(tc)
	c.dec.Reset(c.tlsIn)
	return errRestart
}

// saslFailure sends <failure/> with the condition and a text saying what
// happened (the condition's own sentence when text is empty): a client
// shows it, and an operator reading a user's screenshot learns why. ns
// is SASL's (RFC 6120) or SASL2's (XEP-0388); the condition is SASL's in
// both.
func (c *conn) saslFailure(ns, cond, text string) error {
	if text == "" {
		text = sasl.ConditionText(cond)
	}
	t := xml.New(ns, "text").AppendText(text)
	t.Attrs = append(t.Attrs, xml.Attr{Space: xml.NSXML, Local: "lang", Value: "en"})
	return c.send(xml.New(ns, "failure").Append(xml.New(stream.NSSASL, cond), t))
}

// authFail answers a failed authentication attempt with a <failure/> in
// ns, counts it and logs it. Only credential failures (a wrong password,
// an unknown user, a token that is not valid) are guesses: the SASL
// server counts them against the login limiter, and they count against
// the per-stream limit, as do refusals by the limiter. Failures to agree
// on a mechanism or channel binding have their own, looser bound, so a
// client that walks its mechanism list (stock slixmpp tries -PLUS with
// tls-unique, then SCRAM with the 'y' flag, then PLAIN) can still log in.
// It returns a stream error once the stream has failed too often.
func (c *conn) authFail(ns string, failures *int, cond, text string, err error) error {
	c.srv.Stats.AuthFailures.Add(1)
	if text == "" {
		text = sasl.FailureText(err)
	}
	switch {
	case sasl.IsThrottled(err):
		*failures++
		c.srv.Stats.AuthThrottled.Add(1)
		c.srv.logs.Info("login refused by the login limiter", append(c.log(), "user", failedUser(err), "reason", text)...)
	case sasl.IsCredentialFailure(err):
		*failures++
		c.srv.logs.Info("login failed", append(c.log(), "user", failedUser(err), "reason", err)...)
	default:
		c.negFailures++
		c.srv.logs.Info("login failed", append(c.log(), "reason", err)...)
	}
	if err := c.saslFailure(ns, cond, text); err != nil {
		return err
	}
	if *failures >= maxAuthAttempts || c.negFailures >= maxNegotiationFailures {
		return xmpperr.Stream(xmpperr.PolicyViolation, "too many failed authentication attempts")
	}
	return nil
}

// errAuthFailed says that an exchange failed and its <failure/> was
// sent; the stream goes on.
var errAuthFailed = errors.New("authentication failed")

// exchange runs a SASL negotiation from the client's initial response
// until it is done, sending challenges and reading responses in ns
// (SASL's or SASL2's), and returns the additional data of the success.
// A failure is answered (authFail) and returned as errAuthFailed, unless
// it ends the stream.
func (c *conn) exchange(ctx context.Context, ns string, neg sasl.Negotiation, in []byte, failures *int) ([]byte, error) {
	fail := func(cond, text string, err error) error {
		if serr := c.authFail(ns, failures, cond, text, err); serr != nil {
			return serr
		}
		return errAuthFailed
	}
	for {
		out, done, err := neg.Step(ctx, in)
		if err != nil {
			return nil, fail(failureCondition(err), "", err)
		}
		if done {
			if az := neg.AuthzID(); az != "" {
				if j, err := jid.Parse(az); err != nil || j.Domain != c.srv.cfg.Domain {
					return nil, fail("invalid-authzid", "", fmt.Errorf("authzid %q is not of this domain", az))
				}
			}
			return out, nil
		}
		ch := xml.New(ns, "challenge")
		if len(out) > 0 {
			ch.AppendText(base64.StdEncoding.EncodeToString(out))
		}
		if err := c.send(ch); err != nil {
			return nil, err
		}
		c.setReadDeadline(time.Now().Add(c.srv.cfg.NegotiateTimeout))
		resp, err := c.next(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.Space == ns && resp.Local == "response":
			if in, err = stream.DecodeSASL(resp.Text(), false); err != nil {
				return nil, fail("incorrect-encoding", "", errors.New("response is not base64"))
			}
		case resp.Space == ns && resp.Local == "abort":
			return nil, fail("aborted", "", errors.New("aborted by the client"))
		default:
			return nil, xmpperr.Stream(xmpperr.PolicyViolation, "expected a SASL response")
		}
	}
}

// loggedIn marks the stream authenticated as user.
func (c *conn) loggedIn(user string) {
	c.authed = true
	c.authUser = user
	c.srv.Stats.AuthSuccesses.Add(1)
	c.authenticated()
	c.srv.log.Debug("authenticated", append(c.log(), "user", c.authUser)...)
}

func (c *conn) authenticate(ctx context.Context, auth *xml.Element, failures *int) error {
	if c.authed {
		return xmpperr.Stream(xmpperr.PolicyViolation, "already authenticated")
	}
	if !c.secure() && c.srv.cfg.RequireTLS {
		return c.saslFailure(stream.NSSASL, "encryption-required", "use STARTTLS first")
	}
	neg, err := c.srv.cfg.SASL.Start(ctx, auth.Attr("mechanism"), c.connState())
	if err != nil {
		return c.authFail(stream.NSSASL, failures, failureCondition(err), "", err)
	}
	in, err := stream.DecodeSASL(auth.Text(), true)
	if err != nil {
		return c.authFail(stream.NSSASL, failures, "incorrect-encoding", "", errors.New("initial response is not base64"))
	}
	out, err := c.exchange(ctx, stream.NSSASL, neg, in, failures)
	if errors.Is(err, errAuthFailed) {
		return nil
	}
	if err != nil {
		return err
	}
	succ := xml.New(stream.NSSASL, "success")
	if len(out) > 0 {
		succ.AppendText(base64.StdEncoding.EncodeToString(out))
	}
	if err := c.send(succ); err != nil {
		return err
	}
	c.loggedIn(neg.Username())
	if c.fr == nil {
		c.dec.Restart()
	}
	return errRestart
}

func failureCondition(err error) string {
	var f *sasl.Failure
	if errors.As(err, &f) && f.Condition != "" {
		return f.Condition
	}
	return "temporary-auth-failure"
}

// preBindIQ handles iqs before a session exists: in-band registration
// before authentication, resource binding and legacy session after.
func (c *conn) preBindIQ(ctx context.Context, iq *xml.Element) error {
	p := iq.FirstElement()
	if !c.authed {
		if p != nil && p.Space == nsRegister && c.srv.settings().Registrar != nil {
			return c.send(c.register(ctx, iq, p))
		}
		return xmpperr.Stream(xmpperr.NotAuthorized, "authenticate first")
	}
	if p == nil || iq.Attr("type") != "set" {
		return xmpperr.Stream(xmpperr.NotAuthorized, "bind a resource first")
	}
	switch {
	case p.Space == stream.NSBind && p.Local == "bind":
		return c.bind(ctx, iq, p)
	case p.Space == stream.NSSession && p.Local == "session":
		return c.send(stanza.Result(iq, nil))
	}
	return xmpperr.Stream(xmpperr.NotAuthorized, "bind a resource first")
}

// bind binds a resource and creates the session (RFC 6120 7).
func (c *conn) bind(ctx context.Context, iq, b *xml.Element) error {
	res := strings.TrimSpace(b.ChildText(stream.NSBind, "resource"))
	if res == "" {
		res = generateResource()
	} else {
		p, err := jid.PrepResource(res)
		if err != nil {
			return c.send(stanza.ErrorReply(iq, xmpperr.New(xmpperr.BadRequest, "invalid resource")))
		}
		res = p
	}
	full, err := jid.New(c.authUser, c.srv.cfg.Domain, res)
	if err != nil {
		return c.send(stanza.ErrorReply(iq, xmpperr.New(xmpperr.BadRequest, "invalid resource")))
	}
	c.bindSession(ctx, full, func(s *Session) {
		// The result goes through the session's queue, so that it is
		// written only once the session is registered and its writer
		// started, and before anything routed to it.
		reply := stanza.Result(iq, xml.New(stream.NSBind, "bind").Append(xml.New(stream.NSBind, "jid").AppendText(full.String())))
		reply.SetAttr("to", "")
		reply.SetAttr("from", "")
		s.Deliver(reply)
	})
	return nil
}

// bindSession creates the session of full on c. prepare runs on the new
// session before it is registered: it queues what the client must get
// before anything routed to the session (the bind result, or SASL2's
// <success/>), and sets what Bind 2 enables. Once the client has that,
// a bind of the same resource on another stream is the newer one and
// must replace this session, not be replaced by it.
func (c *conn) bindSession(ctx context.Context, full jid.JID, prepare func(*Session)) {
	s := newSession(c.srv, full, c.sid)
	prepare(s)
	c.srv.addSession(s)
	if old := c.srv.cfg.Router.Registry().Add(s); old != nil {
		// RFC 6120 7.7.2.2: the new session wins; the old one is closed
		// with a conflict and ends for good (it cannot be resumed).
		if os, ok := old.(*Session); ok {
			os.conflict(ctx)
		}
	}
	c.sess = s
	s.start(c)
	c.srv.log.Debug("bound", append(c.log(), "jid", full.String())...)
}

func generateResource() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "minimix-" + hex.EncodeToString(b[:])
}
