package c2s

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Session is a bound client session. It outlives its connection while it
// awaits resumption (XEP-0198), so it is separate from conn.
//
// Outgoing stanzas go into out, a bounded queue written by one writer
// goroutine per attached connection. With stream management enabled, out
// also holds the stanzas written but not yet acknowledged, so they can be
// resent on resumption or rerouted when the session ends; written is the
// index of the first stanza not yet written.
type Session struct {
	srv   *Server
	jid   jid.JID
	state router.State

	mu       sync.Mutex
	c        *conn // attached connection; nil while hibernating
	wake     chan struct{}
	drained  chan struct{} // signalled after each write, for WaitWritable
	out      []outItem
	written  int
	ctrl     [][]byte // nonzas (acks, ack requests) to write before stanzas
	outSeq   uint32   // sequence number of the last stanza queued
	sm       bool     // stream management enabled
	smID     string
	resume   time.Duration // resumption window; 0: not resumable
	inH      uint32        // stanzas received from the client (XEP-0198 h)
	lastReq  uint32        // outSeq when we last sent <r/>
	timer    *time.Timer   // hibernation timeout
	ended    bool
	endErr   *xmpperr.StreamError // why it ended, for a connection attaching late
	inactive bool                 // XEP-0352
	// overflowed is set when the queue overflowed and the connection is
	// being cut off; a resumption clears it.
	overflowed bool
	held       map[string]*xml.Element
	heldKeys   []string
}

type outItem struct {
	el   *xml.Element
	seq  uint32
	fork *router.Fork // non-nil for a copy of a forked message
}

// delivered tells the fork, if any, that this copy reached the client.
func (it *outItem) delivered() {
	if it.fork != nil {
		it.fork.Delivered()
	}
}

func newSession(srv *Server, full jid.JID) *Session {
	return &Session{srv: srv, jid: full, wake: make(chan struct{}, 1), drained: make(chan struct{}, 1)}
}

// JID implements router.Session.
func (s *Session) JID() jid.JID { return s.jid }

// State implements router.Session.
func (s *Session) State() *router.State { return &s.state }

// Deliver implements router.Session: it queues el without blocking. A
// client whose queue is full is not reading; it is cut off, and el is
// refused so the router can place it elsewhere.
func (s *Session) Deliver(el *xml.Element) bool { return s.DeliverForked(el, nil) }

// DeliverForked implements router.ForkSession: it is Deliver for one copy
// of a message the router gave several sessions, whose fork goes back to
// Router.Reroute if this copy is not delivered.
func (s *Session) DeliverForked(el *xml.Element, fork *router.Fork) bool {
	s.mu.Lock()
	if s.ended || s.overflowed {
		// Cut off already: refuse at once, so the router places el
		// elsewhere, rather than start another disconnect.
		s.mu.Unlock()
		return false
	}
	if s.inactive && s.holdLocked(el) {
		s.mu.Unlock()
		return true
	}
	if s.queuedLocked() >= s.srv.cfg.SendQueue || len(s.out) >= 2*s.srv.cfg.SendQueue {
		c := s.c
		s.overflowed = true
		s.mu.Unlock()
		s.srv.Stats.Overflows.Add(1)
		s.srv.log.Warn("send queue full; disconnecting client that does not read", "jid", s.jid.String())
		if c != nil {
			go func() {
				c.closeWithError(xmpperr.Stream(xmpperr.PolicyViolation, "too many unread stanzas"))
				s.connLost(context.Background(), c, false)
			}()
		} else {
			go s.terminate(context.Background(), nil)
		}
		return false
	}
	s.outSeq++
	s.out = append(s.out, outItem{el: el, seq: s.outSeq, fork: fork})
	s.signalLocked()
	s.mu.Unlock()
	return true
}

// queuedLocked is how much of the send queue is in use: stanzas not yet
// written and presences held for an inactive client.
func (s *Session) queuedLocked() int {
	return len(s.out) - s.written + len(s.heldKeys)
}

func (s *Session) signalLocked() {
	if s.c == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// attach makes c the session's connection and starts its writer.
func (s *Session) attach(c *conn) {
	s.mu.Lock()
	if s.ended {
		// Ended between registration and attach (replaced by a newer
		// bind, kicked, shut down): tell the client why.
		se := s.endErr
		s.mu.Unlock()
		if se != nil {
			c.closeWithError(se)
		} else {
			c.markClosed()
			_ = c.raw.Close()
		}
		return
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.c = c
	s.overflowed = false
	s.signalLocked()
	s.mu.Unlock()
	go s.writeLoop(c)
}

// writeLoop writes queued stanzas to c, coalescing everything queued into
// one write, until c is detached.
func (s *Session) writeLoop(c *conn) {
	var buf []byte
	var batch []outItem
	for range s.wake {
		s.mu.Lock()
		if s.c != c {
			// Pass the signal on: another writer may own the session now.
			if !s.ended {
				s.signalLocked()
			}
			s.mu.Unlock()
			return
		}
		batch = append(batch[:0], s.out[s.written:]...)
		ctrl := s.ctrl
		s.ctrl = nil
		if s.sm {
			s.written = len(s.out)
			// Ask for an ack when enough went unacknowledged.
			if len(batch) > 0 && s.outSeq-s.lastReq >= 5 {
				s.lastReq = s.outSeq
				ctrl = append(ctrl, []byte(`<r xmlns='urn:xmpp:sm:3'/>`))
			}
		} else {
			clear(s.out)
			s.out = s.out[:0]
			s.written = 0
		}
		s.mu.Unlock()
		if len(batch) == 0 && len(ctrl) == 0 {
			continue
		}
		buf = buf[:0]
		// Nonzas first: <enabled/> must precede the stanzas it counts.
		for _, b := range ctrl {
			buf = append(buf, b...)
		}
		for _, it := range batch {
			buf = it.el.AppendXML(buf, xml.NSClient)
		}
		if err := c.write(buf); err != nil {
			if !s.sm {
				// Without stream management what we took is ours to
				// place: another resource or offline storage.
				ctx := context.Background()
				for _, it := range batch {
					s.srv.cfg.Router.Reroute(ctx, it.el, s, it.fork)
				}
			}
			_ = c.raw.Close()
			s.connLost(context.Background(), c, false)
			return
		}
		if !s.sm {
			// Without acknowledgements, written is delivered.
			for i := range batch {
				batch[i].delivered()
			}
		}
		s.srv.Stats.StanzasOut.Add(uint64(len(batch)))
		select {
		case s.drained <- struct{}{}:
		default:
		}
		if cap(buf) > 64*1024 {
			buf = nil // do not keep a burst's buffer for an idle client
		}
		clear(batch)
	}
}

// readLoop reads stanzas from c for the session until the connection ends.
func (s *Session) readLoop(ctx context.Context, c *conn) {
	for {
		el, err := c.dec.Next()
		if err != nil {
			clean := errors.Is(err, io.EOF)
			c.handleReadError(err)
			var se *xmpperr.StreamError
			var xe *xml.Error
			// A stream error we sent ends the session for good; a
			// network failure lets a resumable session hibernate.
			final := clean || errors.As(err, &se) || errors.As(err, &xe)
			s.connLost(ctx, c, final)
			return
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return
			}
		}
		if err := s.handle(ctx, c, el); err != nil {
			c.handleReadError(err)
			s.connLost(ctx, c, true)
			return
		}
	}
}

// handle processes one element from the client.
func (s *Session) handle(ctx context.Context, c *conn, el *xml.Element) error {
	switch el.Space {
	case stream.NSSM:
		return s.handleSM(ctx, c, el)
	case stream.NSCSI:
		switch el.Local {
		case "active":
			s.setInactive(false)
		case "inactive":
			s.setInactive(true)
		}
		return nil
	case xml.NSClient:
	default:
		return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/> in "+el.Space)
	}
	if !stanza.IsStanza(el) {
		return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/>")
	}
	s.srv.Stats.StanzasIn.Add(1)
	s.mu.Lock()
	if s.sm {
		s.inH++
	}
	s.mu.Unlock()

	// RFC 6120 8.1.2.1: the server stamps from; a client may only claim
	// its own full or bare JID.
	if f := el.Attr("from"); f != "" {
		fj, err := jid.Parse(f)
		if err != nil || (fj != s.jid && fj != s.jid.Bare()) {
			return xmpperr.Stream(xmpperr.InvalidFrom, "from must be your own address")
		}
	}
	el.SetAttr("from", s.jid.String())
	if se := validate(el); se != nil {
		s.reply(stanza.ErrorReply(el, se))
		return nil
	}
	to, err := stanza.To(el)
	if err != nil {
		// The error comes from the server: an address that does not
		// parse cannot be the from of what the client receives.
		reply := stanza.ErrorReply(el, xmpperr.New(xmpperr.JIDMalformed, ""))
		if reply != nil {
			reply.SetAttr("from", s.srv.cfg.Domain)
		}
		s.reply(reply)
		return nil
	}
	if !to.IsZero() {
		// Normalise the address the router and peers will see.
		el.SetAttr("to", to.String())
	}
	if el.Local == stanza.IQ && to.IsZero() || el.Local == stanza.IQ && to == s.jid.Bare() {
		if p := el.FirstElement(); p != nil && p.Space == stream.NSBind {
			// RFC 6120 7.7.1: one resource per stream.
			s.reply(stanza.ErrorReply(el, xmpperr.New(xmpperr.NotAllowed, "already bound")))
			return nil
		}
		if p := el.FirstElement(); p != nil && p.Space == stream.NSSession && el.Attr("type") == "set" {
			s.reply(stanza.Result(el, nil))
			return nil
		}
	}
	s.srv.cfg.Router.FromSession(ctx, s, el, to)
	return nil
}

// validate checks what RFC 6120 8.1 and 8.2 require of a client stanza.
func validate(el *xml.Element) *xmpperr.StanzaError {
	switch el.Local {
	case stanza.IQ:
		if el.Attr("id") == "" {
			return xmpperr.New(xmpperr.BadRequest, "an iq needs an id")
		}
		switch el.Attr("type") {
		case "get", "set":
			if len(el.Elements()) != 1 {
				return xmpperr.New(xmpperr.BadRequest, "an iq get or set needs exactly one child")
			}
		case "result", "error":
		default:
			return xmpperr.New(xmpperr.BadRequest, "unknown iq type")
		}
	case stanza.Message:
		switch el.Attr("type") {
		case "", "normal", "chat", "groupchat", "headline", "error":
		default:
			return xmpperr.New(xmpperr.BadRequest, "unknown message type")
		}
	case stanza.Presence:
		switch el.Attr("type") {
		case "", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "error":
		default:
			return xmpperr.New(xmpperr.BadRequest, "unknown presence type")
		}
	}
	return nil
}

// reply queues a stanza the server generates for this session.
func (s *Session) reply(el *xml.Element) {
	if el != nil {
		s.Deliver(el)
	}
}

// connLost is called when c stopped working. A resumable session
// hibernates; any other ends.
func (s *Session) connLost(ctx context.Context, c *conn, final bool) {
	s.mu.Lock()
	if s.c != c || s.ended {
		s.mu.Unlock()
		return
	}
	s.c = nil
	select {
	case s.wake <- struct{}{}: // let the writer see it is detached
	default:
	}
	if !final && s.sm && s.resume > 0 {
		s.written = 0 // everything unacknowledged is resent on resumption
		s.hibernateLocked()
		s.mu.Unlock()
		s.srv.log.Debug("session hibernating", "jid", s.jid.String(), "timeout", s.resume)
		return
	}
	s.mu.Unlock()
	s.terminate(ctx, nil)
}

// hibernateLocked starts the resumption window of a detached session. The
// timer ends the session only if it is still the current one: a
// resumption that stopped it too late, after it fired, must win.
func (s *Session) hibernateLocked() {
	var t *time.Timer
	t = time.AfterFunc(s.resume, func() {
		s.mu.Lock()
		current := s.timer == t
		s.mu.Unlock()
		if current {
			s.terminate(context.Background(), nil)
		}
	})
	s.timer = t
	s.srv.Stats.Hibernated.Add(1)
}

// conflict ends the session because a new one bound the same resource.
func (s *Session) conflict(ctx context.Context) {
	s.terminate(ctx, xmpperr.Stream(xmpperr.Conflict, "replaced by a new session"))
}

// terminate ends the session for good: it leaves the registry, presence
// says unavailable for it, and every stanza it accepted but the client
// did not acknowledge is placed elsewhere (RFC 6121 rules via
// Router.Reroute). Idempotent.
func (s *Session) terminate(ctx context.Context, se *xmpperr.StreamError) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.endErr = se
	if s.timer != nil {
		// The timer is set exactly while the session hibernates.
		s.timer.Stop()
		s.timer = nil
		s.srv.Stats.Hibernated.Add(-1)
	}
	c := s.c
	s.c = nil
	pending := s.out
	s.out = nil
	s.written = 0
	s.held = nil
	s.heldKeys = nil
	close(s.wake)
	s.mu.Unlock()

	if c != nil {
		if se != nil {
			c.closeWithError(se)
		} else {
			c.markClosed()
			_ = c.raw.Close()
		}
	}
	s.srv.cfg.Router.Registry().Remove(s)
	s.srv.removeSession(s)
	if h := s.srv.cfg.Hooks; h != nil {
		h.SessionEnded(ctx, s)
	}
	for _, it := range pending {
		s.srv.cfg.Router.Reroute(ctx, it.el, s, it.fork)
	}
}

// drainWait bounds how long WaitWritable waits for a client to read.
const drainWait = 30 * time.Second

// WaitWritable blocks until at most half of the session's send queue is
// waiting to be written. The server's own bulk deliveries (offline
// messages at login, archive pages) call it between stanzas so that a
// client that reads, however slowly, gets all of them, instead of the
// burst looking like a client that does not read. It reports false when
// the session ended or did not drain within drainWait; the caller then
// stops and keeps the rest.
func (s *Session) WaitWritable(ctx context.Context) bool {
	deadline := time.NewTimer(drainWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		pending := len(s.out) - s.written
		ended := s.ended || s.overflowed
		s.mu.Unlock()
		if ended {
			return false
		}
		if pending <= s.srv.cfg.SendQueue/2 {
			return true
		}
		select {
		case <-s.drained:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// waitFlushed waits until everything queued for the session has been
// written, the session has no connection, or ctx ends.
func (s *Session) waitFlushed(ctx context.Context) {
	for {
		s.mu.Lock()
		pending := len(s.out) - s.written // written stays 0 without SM
		gone := s.ended || s.c == nil || s.overflowed
		s.mu.Unlock()
		if gone || pending == 0 {
			return
		}
		select {
		case <-s.drained:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
}
