package c2s

import (
	"context"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/logctx"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Session is a bound client session. It outlives its connection while it
// awaits resumption (XEP-0198), so it is separate from conn.
//
// A session's life is a small state machine (phase), changed only under
// mu, each transition by one owner:
//
//	active -> hibernated  connLost, by the reader of the attached
//	                      connection, when the connection was not closed
//	                      for good (connEnd) and resumption is enabled
//	active -> ended       connLost otherwise; terminate, by the server
//	                      (conflict, account removed, shutdown)
//	hibernated -> active  resume, by the reader of the new connection
//	active -> active      resume while the old connection is attached;
//	                      the old one is closed, its reader finds itself
//	                      detached and does nothing
//	hibernated -> ended   the resumption timer; terminate
//
// Nothing else detaches a connection: a writer that fails closes the
// socket, and the reader reports it.
//
// Outgoing stanzas go into out, a bounded queue. A writer goroutine runs
// only while something waits to be written: Deliver starts one when
// there is none, and it ends when the queue is written, so an idle
// session has no writer. With stream management, stanzas stay in out
// until the client acknowledges them, so that they can be resent on
// resumption or rerouted when the session ends; written is the index of
// the first stanza not yet handed to the writer. Without, the writer
// takes what it writes out of the queue and answers for it.
type Session struct {
	srv   *Server
	jid   jid.JID
	sid   string // the log's session id of the connection that bound it
	state router.State
	bound time.Time // when the resource was bound

	mu       sync.Mutex
	phase    phase
	c        *conn       // the attached connection while active
	timer    *time.Timer // the resumption window while hibernated
	endErr   *xmpperr.StreamError
	writer   *conn         // the connection a writer goroutine runs for
	drained  chan struct{} // closed after the next write; made by waiters
	out      []outItem
	written  int
	ctrl     [][]byte // nonzas (acks, ack requests) to write before stanzas
	outSeq   uint32   // sequence number of the last stanza queued
	sm       bool     // stream management enabled
	smID     string
	resume   time.Duration // resumption window; 0: not resumable
	inH      uint32        // stanzas received from the client (XEP-0198 h)
	lastReq  uint32        // outSeq when we last sent <r/>
	inactive bool          // XEP-0352
	// overflowed is set when the queue overflowed and the connection is
	// being cut off; a resumption clears it.
	overflowed bool
	held       map[string]*xml.Element
	heldKeys   []string
}

// phase is where a session is in its life; see Session.
type phase uint8

const (
	phaseActive phase = iota
	phaseHibernated
	phaseEnded
)

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

// newSession returns an active session; what is delivered to it waits
// until start attaches its connection, once it is registered.
func newSession(srv *Server, full jid.JID, sid string) *Session {
	return &Session{srv: srv, jid: full, sid: sid, bound: time.Now()}
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
	if s.phase == phaseEnded || s.overflowed {
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
		s.srv.log.Warn("send queue full; disconnecting client that does not read", logctx.Key, s.sid, "jid", s.jid.String())
		if c != nil {
			// Not final: a resumable session hibernates with its queue
			// and may resume once the client reads again. The reader
			// sees the connection go and tells the session.
			go c.closeWithError(xmpperr.Stream(xmpperr.PolicyViolation, "too many unread stanzas"), false)
		} else {
			go s.terminate(context.Background(), nil)
		}
		return false
	}
	s.outSeq++
	s.out = append(s.out, outItem{el: el, seq: s.outSeq, fork: fork})
	s.writeLocked()
	s.mu.Unlock()
	return true
}

// queuedLocked is how much of the send queue is in use: stanzas not yet
// written and presences held for an inactive client.
func (s *Session) queuedLocked() int {
	return len(s.out) - s.written + len(s.heldKeys)
}

// writeLocked makes sure a writer runs for the attached connection, if
// any, to write what is queued.
func (s *Session) writeLocked() {
	if s.c == nil || s.writer == s.c {
		return
	}
	s.writer = s.c
	c := s.c
	s.srv.workers.run(func() { s.writeLoop(c) })
}

// drainedChanLocked returns a channel closed after the next write.
func (s *Session) drainedChanLocked() chan struct{} {
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	return s.drained
}

// drainedLocked wakes those waiting for the queue to drain.
func (s *Session) drainedLocked() {
	if s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

// start attaches c, the connection the session was bound on, once the
// session is registered, and writes what was queued meanwhile (the bind
// result first). If the session ended meanwhile (replaced by a newer
// bind, kicked, shut down), c is told why and closed.
func (s *Session) start(c *conn) {
	s.mu.Lock()
	if s.phase == phaseEnded {
		se := s.endErr
		s.mu.Unlock()
		if se != nil {
			c.closeWithError(se, true)
		} else {
			c.drop(true)
		}
		return
	}
	s.c = c
	s.writeLocked()
	s.mu.Unlock()
}

// writeChunk is how much a writer serialises before it writes: a chunk
// this size is written in one system call (the kernel's socket buffer
// takes it), and the buffer holding it comes back to writeBufs.
const writeChunk = 32 << 10

// writeBufs recycles the buffers that what goes to clients is serialised
// into, so that an idle connection holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// putWriteBuf recycles a buffer from writeBufs, unless a burst grew it.
func putWriteBuf(bufp *[]byte) {
	if cap(*bufp) <= 64<<10 {
		*bufp = (*bufp)[:0]
		writeBufs.Put(bufp)
	}
}

// writeLoop writes what is queued to c, coalescing everything queued at
// once into one write, until nothing is left or c is no longer the
// session's connection.
func (s *Session) writeLoop(c *conn) {
	bufp := writeBufs.Get().(*[]byte)
	defer putWriteBuf(bufp)
	var batch []outItem
	for {
		s.mu.Lock()
		if s.c != c {
			if s.writer == c {
				s.writer = nil
			}
			s.mu.Unlock()
			return
		}
		ctrl := s.ctrl
		s.ctrl = nil
		sm := s.sm
		if sm {
			// Written stanzas stay queued until acknowledged; the batch
			// is a copy, since acknowledgements clear the queue's front.
			batch = append(batch[:0], s.out[s.written:]...)
			s.written = len(s.out)
			// Ask for an ack when enough went unacknowledged.
			if len(batch) > 0 && s.outSeq-s.lastReq >= 5 {
				s.lastReq = s.outSeq
				ctrl = append(ctrl, []byte(`<r xmlns='urn:xmpp:sm:3'/>`))
			}
		} else {
			// The batch is the writer's now: delivered once written,
			// placed elsewhere by the writer if the write fails.
			batch, s.out = s.out, nil
			s.written = 0
		}
		if len(batch) == 0 && len(ctrl) == 0 {
			s.writer = nil
			if len(s.out) == 0 {
				s.out = nil // an idle session keeps no queue array
			}
			s.drainedLocked()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		// sent counts the stanzas of batch already written.
		sent := 0
		var err error
		if c.fr != nil {
			// One element per frame; nonzas first, as below.
			sent, err = c.writeFramed(ctrl, batch, bufp)
		} else {
			buf := (*bufp)[:0]
			// Nonzas first: <enabled/> and <resumed/> must precede the
			// stanzas they count.
			for _, b := range ctrl {
				buf = append(buf, b...)
			}
			// A long batch goes out in chunks of about writeChunk bytes,
			// so that the pooled buffer is reused rather than grown (and,
			// past what the pool keeps, allocated again) for every burst.
			for i, it := range batch {
				buf = it.el.AppendXML(buf, xml.NSClient)
				if len(buf) >= writeChunk && i < len(batch)-1 {
					if err = c.write(buf); err != nil {
						break
					}
					buf, sent = buf[:0], i+1
				}
			}
			if err == nil {
				err = c.write(buf)
			}
			*bufp = buf
		}
		if err != nil {
			// With stream management what was taken stays queued, to be
			// resent on resumption or rerouted when the session ends;
			// without, what was not written is placed elsewhere now.
			// Either way the reader sees the closed socket and tells the
			// session. s.writer stays c: no other writer starts on a
			// dead connection.
			c.drop(false)
			if !sm {
				for i := range batch[:sent] {
					batch[i].delivered() // written before the failure
				}
				for _, it := range batch[sent:] {
					s.srv.cfg.Router.Reroute(context.Background(), it.el, s, it.fork)
				}
			}
			if h := s.srv.cfg.test; h != nil && h.writeFailed != nil {
				h.writeFailed()
			}
			return
		}
		s.srv.Stats.StanzasOut.Add(uint64(len(batch)))
		s.mu.Lock()
		if !sm {
			// Without acknowledgements, written is delivered. The batch's
			// array becomes the queue again if that is still empty.
			for i := range batch {
				batch[i].delivered()
			}
			clear(batch)
			if s.out == nil && cap(batch) <= 1024 {
				s.out = batch[:0]
			}
			batch = nil
		}
		s.drainedLocked()
		s.mu.Unlock()
	}
}

// readLoop reads stanzas from c for the session until the connection
// ends, and then tells the session: the reader is the one owner of
// "this connection is gone" (see Session). It reports whether it did;
// false means it moved to another goroutine.
//
// Whenever it is about to wait for the client, except on a fresh
// goroutine that was started to read, the reader hands the wait over and
// ends (conn.idle, idle.go), so that an idle connection keeps neither the
// stack that handling grew nor, on Linux, any goroutine.
func (s *Session) readLoop(ctx context.Context, c *conn, fresh bool) (ended bool) {
	for {
		// A framed stream's reader waits in its framing: its transport
		// keeps a goroutine per connection anyway.
		if !fresh && c.fr == nil && c.dec.Buffered() == 0 {
			switch {
			case c.tls != nil && c.tlsHasInput():
			case c.socketHasInput():
				// A client that keeps sending is read on at once rather
				// than parked and woken.
			default:
				c.idle(ctx) // see idle.go
				return false
			}
		}
		fresh = false
		el, err := c.next(ctx)
		if err == nil && c.limiter != nil {
			err = c.limiter.Wait(ctx)
		}
		if err == nil {
			err = s.handle(ctx, c, el)
		}
		if err != nil {
			c.handleReadError(err)
			if h := s.srv.cfg.test; h != nil && h.readEnded != nil {
				h.readEnded(s)
			}
			s.connLost(ctx, c)
			return true
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
	if se := stanza.Validate(el); se != nil {
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

// reply queues a stanza the server generates for this session.
func (s *Session) reply(el *xml.Element) {
	if el != nil {
		s.Deliver(el)
	}
}

// connLost is called by the reader of c once c ended. If c is still the
// session's connection, the session hibernates when c did not end for
// good and the client enabled resumption, and ends otherwise.
func (s *Session) connLost(ctx context.Context, c *conn) {
	final := c.final()
	s.mu.Lock()
	if s.phase != phaseActive || s.c != c {
		// Resumed on another connection, or ended already.
		s.mu.Unlock()
		return
	}
	if !final && s.sm && s.resume > 0 {
		s.hibernateLocked()
		s.mu.Unlock()
		s.srv.log.Debug("session hibernating", logctx.Key, s.sid, "jid", s.jid.String(), "timeout", s.resume)
		return
	}
	e := s.endLocked(nil)
	s.mu.Unlock()
	s.finishEnd(ctx, e)
}

// hibernateLocked moves an active session to hibernated: it detaches the
// connection and starts the resumption window. The timer ends the
// session only if it is still the current one: a resumption that stopped
// it too late, after it fired, must win.
func (s *Session) hibernateLocked() {
	s.phase = phaseHibernated
	s.c = nil
	s.written = 0 // everything unacknowledged is resent on resumption
	s.ctrl = nil  // nonzas belong to the stream that is gone
	var t *time.Timer
	t = time.AfterFunc(s.resume, func() {
		s.mu.Lock()
		if s.phase != phaseHibernated || s.timer != t {
			s.mu.Unlock()
			return
		}
		e := s.endLocked(nil)
		s.mu.Unlock()
		s.finishEnd(context.Background(), e)
	})
	s.timer = t
	s.srv.Stats.Hibernated.Add(1)
}

// leaveHibernationLocked stops the resumption window of a hibernated
// session, which is about to resume or end.
func (s *Session) leaveHibernationLocked() {
	if s.phase != phaseHibernated {
		return
	}
	s.timer.Stop()
	s.timer = nil
	s.srv.Stats.Hibernated.Add(-1)
}

// conflict ends the session because a new one bound the same resource.
func (s *Session) conflict(ctx context.Context) {
	s.terminate(ctx, xmpperr.Stream(xmpperr.Conflict, "replaced by a new session"))
}

// Replaced implements router.Replaceable: a session of the same full JID
// bound on another cluster node replaced this one.
func (s *Session) Replaced(ctx context.Context) { s.conflict(ctx) }

// terminate ends the session for good, whatever its phase; se, if not
// nil, is the stream error its connection gets. Idempotent.
func (s *Session) terminate(ctx context.Context, se *xmpperr.StreamError) {
	s.mu.Lock()
	if s.phase == phaseEnded {
		s.mu.Unlock()
		return
	}
	e := s.endLocked(se)
	s.mu.Unlock()
	s.finishEnd(ctx, e)
}

// ending is what is left to do once a session has ended, outside its
// lock.
type ending struct {
	c       *conn
	se      *xmpperr.StreamError
	pending []outItem
}

// endLocked moves the session to ended and takes what finishEnd must
// handle: the attached connection and every stanza not acknowledged.
func (s *Session) endLocked(se *xmpperr.StreamError) ending {
	s.leaveHibernationLocked()
	s.phase = phaseEnded
	s.endErr = se
	e := ending{c: s.c, se: se, pending: s.out}
	s.c = nil
	s.out = nil
	s.written = 0
	s.held = nil
	s.heldKeys = nil
	s.drainedLocked()
	return e
}

// finishEnd completes an ending: the connection closes, the session
// leaves the registry, presence says unavailable for it, and every stanza
// it accepted but the client did not acknowledge is placed elsewhere
// (RFC 6121 rules via Router.Reroute).
func (s *Session) finishEnd(ctx context.Context, e ending) {
	if e.c != nil {
		if e.se != nil {
			e.c.closeWithError(e.se, true)
		} else {
			e.c.drop(true)
		}
	}
	s.srv.cfg.Router.Registry().Remove(s)
	s.srv.removeSession(s)
	if h := s.srv.cfg.Hooks; h != nil {
		h.SessionEnded(ctx, s)
	}
	for _, it := range e.pending {
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
		ended := s.phase == phaseEnded || s.overflowed
		drained := s.drainedChanLocked()
		s.mu.Unlock()
		if ended {
			return false
		}
		if pending <= s.srv.cfg.SendQueue/2 {
			return true
		}
		select {
		case <-drained:
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
		pending := len(s.out) - s.written
		gone := s.phase != phaseActive || s.overflowed
		drained := s.drainedChanLocked()
		s.mu.Unlock()
		if gone || pending == 0 {
			return
		}
		select {
		case <-drained:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
}
