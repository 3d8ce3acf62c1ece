package c2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"minimix/internal/jid"
	"minimix/internal/sasl"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Fast, modern login: SASL2 (XEP-0388) authenticates, and in the same
// round trip resumes a stream management session (XEP-0198 inline) or
// binds a resource with Bind 2 (XEP-0386), enabling carbons, CSI and
// stream management, and hands out or checks FAST tokens (XEP-0484). A
// phone that holds a token reconnects with one <authenticate/> and one
// <success/>. SASL (RFC 6120) works as before beside it.

// Namespaces of SASL2, Bind 2 and FAST.
const (
	NSSASL2 = "urn:xmpp:sasl:2"
	NSBind2 = "urn:xmpp:bind:0"
	NSFAST  = "urn:xmpp:fast:0"
)

// maxUserAgentID bounds a SASL2 user-agent id (a UUID is 36 bytes), and
// maxBindTag the part of a Bind 2 tag kept in the resource.
const (
	maxUserAgentID = 128
	maxBindTag     = 64
)

// FAST issues and checks FAST tokens; *fast.Tokens is one.
type FAST interface {
	sasl.Tokens
	Issue(ctx context.Context, user, uaid, mech string) (string, time.Time, error)
	Invalidate(ctx context.Context, user, uaid string) error
	// Due reports whether the token the client last used is due for
	// rotation.
	Due(ctx context.Context, user, uaid string) (bool, error)
}

// sasl2Feature is the <authentication/> stream feature: the mechanisms,
// and what may come inline with <authenticate/>.
func (c *conn) sasl2Feature(cs sasl.ConnState) *xml.Element {
	a := xml.New(NSSASL2, "authentication")
	for _, m := range sasl.Mechanisms(cs) {
		a.Append(xml.New(NSSASL2, "mechanism").AppendText(m))
	}
	inline := xml.New(NSSASL2, "inline")
	bind := xml.New(NSBind2, "bind").Append(xml.New(NSBind2, "inline").Append(
		xml.New(NSBind2, "feature", "var", stanza.NSCarbons),
		xml.New(NSBind2, "feature", "var", stream.NSCSI),
		xml.New(NSBind2, "feature", "var", stream.NSSM),
	))
	inline.Append(bind, xml.New(stream.NSSM, "sm"))
	if c.srv.cfg.FAST != nil {
		if ms := sasl.HTMechanisms(cs); len(ms) > 0 {
			f := xml.New(NSFAST, "fast")
			for _, m := range ms {
				f.Append(xml.New(NSFAST, "mechanism").AppendText(m))
			}
			inline.Append(f)
		}
	}
	return a.Append(inline)
}

// userAgentID is the <user-agent/>'s id, "" when there is none or it is
// unusable (too long, control characters).
func userAgentID(auth *xml.Element) string {
	ua := auth.Child(NSSASL2, "user-agent")
	if ua == nil {
		return ""
	}
	id := ua.Attr("id")
	if len(id) > maxUserAgentID || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return ""
	}
	return id
}

// fastCount is the 'count' of the <fast/> in auth (XEP-0484's replay
// counter), 0 when there is none; one that is not a positive integer is
// a malformed request.
func fastCount(auth *xml.Element) (uint64, error) {
	fe := auth.Child(NSFAST, "fast")
	if fe == nil || fe.Attr("count") == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(fe.Attr("count"), 10, 64)
	if err != nil || n == 0 {
		return 0, &sasl.Failure{Condition: sasl.MalformedRequest, Text: "the FAST count must be a positive integer", Err: fmt.Errorf("FAST count %q", fe.Attr("count"))}
	}
	return n, nil
}

// authenticate2 handles a SASL2 <authenticate/>.
func (c *conn) authenticate2(ctx context.Context, auth *xml.Element, failures *int) error {
	if c.authed {
		return xmpperr.Stream(xmpperr.PolicyViolation, "already authenticated")
	}
	if !c.secure() && c.srv.cfg.RequireTLS {
		return c.saslFailure(NSSASL2, "encryption-required", "use STARTTLS first")
	}
	mech := auth.Attr("mechanism")
	uaid := userAgentID(auth)
	cs := c.connState()
	var neg sasl.Negotiation
	var err error
	ht := sasl.IsHT(mech)
	if ht {
		if c.srv.cfg.FAST == nil {
			err = &sasl.Failure{Condition: sasl.InvalidMechanism, Err: errors.New("FAST is off")}
		} else {
			var count uint64
			if count, err = fastCount(auth); err == nil {
				neg, err = c.srv.cfg.SASL.StartHT(ctx, mech, cs, c.srv.cfg.FAST, uaid, count)
			}
		}
	} else {
		neg, err = c.srv.cfg.SASL.Start(ctx, mech, cs)
	}
	if err != nil {
		return c.authFail(NSSASL2, failures, failureCondition(err), "", err)
	}
	var in []byte
	if ir := auth.Child(NSSASL2, "initial-response"); ir != nil {
		if in, err = stream.DecodeSASL(ir.Text(), false); err != nil {
			return c.authFail(NSSASL2, failures, "incorrect-encoding", "", errors.New("initial response is not base64"))
		}
	}
	out, err := c.exchange(ctx, NSSASL2, neg, in, failures)
	if errors.Is(err, errAuthFailed) {
		return nil
	}
	if err != nil {
		return err
	}
	c.loggedIn(neg.Username())

	succ := xml.New(NSSASL2, "success")
	if len(out) > 0 {
		succ.Append(xml.New(NSSASL2, "additional-data").AppendText(base64.StdEncoding.EncodeToString(out)))
	}
	token := c.fastToken(ctx, auth, mech, ht, uaid, cs)
	// finish is what the client gets, in order: <success/> naming who
	// it is, with the outcomes of what it asked for inline, then the
	// features of the authenticated stream (no restart follows).
	finish := func(who string, bound bool, outcomes ...*xml.Element) [][]byte {
		succ.Append(xml.New(NSSASL2, "authorization-identifier").AppendText(who))
		for _, o := range outcomes {
			if o != nil {
				succ.Append(o)
			}
		}
		if token != nil {
			succ.Append(token)
		}
		f := c.features()
		if bound {
			f = c.boundFeatures()
		}
		return [][]byte{c.encode(succ), c.encode(f)}
	}

	var smFailedEl *xml.Element
	if r := auth.Child(stream.NSSM, "resume"); r != nil {
		failed, err := c.resumeWith(ctx, r, func(s *Session, resumed *xml.Element) [][]byte {
			return finish(s.jid.String(), true, resumed)
		})
		if err != nil {
			return err
		}
		if failed == nil {
			return nil // resumed; the Bind 2 request is ignored (XEP-0386)
		}
		smFailedEl = failed
	}
	if b := auth.Child(NSBind2, "bind"); b != nil {
		return c.bind2(ctx, b, uaid, func(full jid.JID, bound *xml.Element) [][]byte {
			return finish(full.String(), true, smFailedEl, bound)
		})
	}
	bare, _ := jid.New(c.authUser, c.srv.cfg.Domain, "")
	for _, b := range finish(bare.String(), false, smFailedEl) {
		if err := c.write(b); err != nil {
			return err
		}
	}
	return nil
}

// encode serialises el as a top-level element of c's stream: in the
// stream's context on TCP, standing alone (namespaces and the stream:
// prefix declared) on a framed transport (WebSocket, BOSH).
func (c *conn) encode(el *xml.Element) []byte {
	if c.fr != nil {
		return AppendFramed(nil, el)
	}
	return stream.AppendElement(nil, el, xml.NSClient)
}

// fastToken handles what FAST asks of a successful authentication: an
// invalidation, a token requested with <request-token/>, or a new token
// when the one just used is past half its life (rotation). It returns
// the <token/> for <success/>, or nil.
func (c *conn) fastToken(ctx context.Context, auth *xml.Element, mech string, ht bool, uaid string, cs sasl.ConnState) *xml.Element {
	f := c.srv.cfg.FAST
	if f == nil || uaid == "" {
		return nil
	}
	user := c.authUser
	want := ""
	if rt := auth.Child(NSFAST, "request-token"); rt != nil {
		for _, m := range sasl.HTMechanisms(cs) {
			if m == rt.Attr("mechanism") {
				want = m
			}
		}
		if want == "" {
			c.srv.log.Debug("FAST token requested for a mechanism not offered", append(c.log(), "mechanism", rt.Attr("mechanism"))...)
		}
	}
	if ht {
		if fe := auth.Child(NSFAST, "fast"); fe != nil && (fe.Attr("invalidate") == "true" || fe.Attr("invalidate") == "1") {
			if err := f.Invalidate(ctx, user, uaid); err != nil {
				c.srv.log.Error("invalidating a FAST token", append(c.log(), "user", user, "err", err)...)
			}
		} else if want == "" {
			due, err := f.Due(ctx, user, uaid)
			if err != nil {
				c.srv.log.Error("reading a FAST token's expiry", append(c.log(), "user", user, "err", err)...)
			}
			if due {
				want = mech
			}
		}
	}
	if want == "" {
		return nil
	}
	tok, exp, err := f.Issue(ctx, user, uaid, want)
	if err != nil {
		c.srv.log.Error("issuing a FAST token", append(c.log(), "user", user, "err", err)...)
		return nil
	}
	return xml.New(NSFAST, "token", "expiry", exp.UTC().Format(time.RFC3339), "token", tok)
}

// bind2 binds a resource as Bind 2 asks, enables what b asks for, and
// queues first(full JID, <bound/>) ahead of anything the session gets.
func (c *conn) bind2(ctx context.Context, b *xml.Element, uaid string, first func(jid.JID, *xml.Element) [][]byte) error {
	full, err := jid.New(c.authUser, c.srv.cfg.Domain, c.bind2Resource(b.ChildText(NSBind2, "tag"), uaid))
	if err != nil {
		return xmpperr.Stream(xmpperr.InternalServerError, "no resource could be made")
	}
	bound := xml.New(NSBind2, "bound")
	if f := c.srv.cfg.Bound; f != nil {
		bound.Append(f(ctx, full)...)
	}
	c.bindSession(ctx, full, func(s *Session) {
		for _, e := range b.Elements() {
			switch {
			case e.Space == stanza.NSCarbons && e.Local == "enable":
				// XEP-0280 names no answer inside <bound/>; Prosody's
				// <enabled/> is what Conversations looks for to skip
				// its own enabling iq.
				s.state.SetCarbons(true)
				bound.Append(xml.New(stanza.NSCarbons, "enabled"))
			case e.Space == stream.NSCSI && e.Local == "inactive":
				s.inactive = true
			case e.Space == stream.NSSM && e.Local == "enable":
				s.mu.Lock()
				bound.Append(s.enableSMLocked(e))
				s.mu.Unlock()
			}
		}
		s.ctrl = first(full, bound)
	})
	return nil
}

// bind2Resource makes a Bind 2 resource in XEP-0386's recommended form,
// "tag/id": the client's tag (as a resource allows it, cut to 64
// characters) and an id that is the same for the same account, client
// (user-agent id) and tag, and random without a user-agent id. The
// user-agent id itself never shows.
func (c *conn) bind2Resource(tag, uaid string) string {
	tag = strings.TrimSpace(tag)
	if p, err := jid.PrepResource(tag); err == nil {
		tag = p
	} else {
		tag = ""
	}
	if r := []rune(tag); len(r) > maxBindTag {
		tag = string(r[:maxBindTag])
	}
	var id string
	if uaid != "" {
		m := hmac.New(sha256.New, c.srv.cfg.BindSecret)
		m.Write([]byte(c.authUser + "\x00" + uaid + "\x00" + tag))
		id = hex.EncodeToString(m.Sum(nil)[:6])
	} else {
		id = strings.TrimPrefix(generateResource(), "minimix-")
	}
	if tag == "" {
		return "minimix/" + id
	}
	return tag + "/" + id
}

// boundFeatures are the features of a stream whose session Bind 2 bound
// or SASL2 resumed: no binding any more.
func (c *conn) boundFeatures() *xml.Element {
	f := c.newFeatures()
	f.Append(xml.New(stream.NSSM, "sm"))
	f.Append(xml.New(stream.NSCSI, "csi"))
	f.Append(xml.New(stream.NSRosterV, "ver"))
	f.Append(xml.New(nsPreApproval, "sub"))
	return f
}
