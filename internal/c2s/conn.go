package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"minimix/internal/logctx"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// conn is one client connection: its socket, reader and negotiation
// state. After resource binding it carries a Session; after a resumption
// it may carry a session first bound on another connection.
type conn struct {
	srv *Server
	nc  net.Conn
	// raw is the TCP connection, which never changes: deadlines and
	// closing go through it, so they need no lock against STARTTLS
	// replacing nc (TLS deadlines are the underlying connection's).
	raw       net.Conn
	directTLS bool
	tls       *tls.Conn   // non-nil once TLS is up
	tlsIn     *tlsReader  // what dec reads tls through
	rec       *recordConn // what tls reads the socket through
	dec       *xml.Decoder
	remote    netip.Addr
	streamID  string
	// sid names the connection in the log from accept to close (the
	// stream id changes at each restart); ctx carries it to what the
	// connection's stanzas reach (logctx).
	sid     string
	ctx     context.Context
	lang    string
	limiter *rate.Limiter

	authUser    string // prepared localpart after SASL
	negFailures int    // SASL failures that were not wrong credentials
	authed      bool
	sess        *Session // after bind or resume

	wmu sync.Mutex // serialises writes to nc
	end connEnd    // under wmu

	// parkID names the connection in the server's idle poller while it
	// is parked there; polled says its socket was added to the poller's
	// set. Both under the poller's lock.
	parkID uint64
	polled bool
	rc     syscall.RawConn // the socket's, once needed (idle_linux.go)

	// closing is set before a close takes wmu: a writer blocked on a
	// client that does not read holds wmu until its write deadline, so
	// the closer first cuts that deadline short, and later writes see
	// closing and keep to the short deadline too.
	closing atomic.Bool

	// fr is the framing of a stream that did not come over a TCP socket
	// of ours (WebSocket, BOSH; framing.go); nil for TCP, whose fields
	// above (nc, raw, tls, dec...) it then stands for.
	fr       Framing
	frInfo   FramingInfo
	throttle *readThrottle // the read rate of a framed stream
}

// connEnd says whether a connection ended and how, which decides what
// becomes of its session: whoever closes the connection sets it, and the
// connection's reader, the one goroutine that tells the session its
// connection ended (Session.connLost), reads it. It only ever moves from
// connOpen, or from connLost to connFinal (the reader finding the client's
// </stream:stream> behind a failed write).
type connEnd uint8

const (
	connOpen connEnd = iota
	// connLost: a read or write failed, or the server cut the connection
	// off without ending the session (a queue overflow). A resumable
	// session hibernates.
	connLost
	// connFinal: the client closed its stream, or the server ended the
	// stream with an error that ends the session. The session ends.
	connFinal
)

// setEndLocked records how the connection ended; finality wins.
func (c *conn) setEndLocked(final bool) {
	switch {
	case final:
		c.end = connFinal
	case c.end == connOpen:
		c.end = connLost
	}
}

// final reports whether the connection ended for good.
func (c *conn) final() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.end == connFinal
}

// closeGrace bounds how long closing a stream may wait on the client: the
// stanza being written and the stream error each get this long.
const closeGrace = 2 * time.Second

func newConn(srv *Server, nc net.Conn, directTLS bool) *conn {
	c := &conn{srv: srv, directTLS: directTLS, sid: logctx.NewID()}
	c.ctx = logctx.WithSession(context.Background(), c.sid)
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.remote = ap.Addr().Unmap()
	}
	live := srv.settings()
	tc := newThrottledConn(nc, live.ReadRate, live.ReadBurst, srv.now(), func() {
		srv.Stats.ReadThrottled.Add(1)
		srv.logs.Info("client sends faster than limits.c2s_bytes_per_second; reading it more slowly", c.log()...)
	})
	c.nc, c.raw = tc, tc
	if r := live.StanzasPerSecond; r > 0 {
		c.limiter = newStanzaLimiter(r)
	}
	return c
}

// newStanzaLimiter is the limit of stanzas a second one connection may
// send (c2s.stanzas_per_second).
func newStanzaLimiter(r float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(r), int(max(r, 10)))
}

// write sends raw bytes with a deadline. It is safe for concurrent use.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.end != connOpen {
		return net.ErrClosed
	}
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	c.setWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if c.closing.Load() {
		// A close has begun, and the deadline above may have replaced
		// its short one: write within the close's grace only.
		c.setWriteDeadline(time.Now().Add(closeGrace))
	}
	var err error
	if c.fr != nil {
		err = c.fr.Write(b)
	} else {
		_, err = c.nc.Write(b)
	}
	c.srv.Stats.BytesOut.Add(uint64(len(b)))
	return err
}

// send writes one top-level element.
func (c *conn) send(el *xml.Element) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.end != connOpen {
		return net.ErrClosed
	}
	bufp := writeBufs.Get().(*[]byte)
	defer putWriteBuf(bufp)
	if c.fr != nil {
		*bufp = AppendFramed((*bufp)[:0], el)
	} else {
		*bufp = stream.AppendElement((*bufp)[:0], el, xml.NSClient)
	}
	return c.writeLocked(*bufp)
}

// closeWithError writes a stream error and the closing tag, then closes
// the socket. Later writes fail. final says whether the session ends with
// the stream (see connEnd); it is false only when the server cuts off a
// connection whose session may resume elsewhere.
func (c *conn) closeWithError(se *xmpperr.StreamError, final bool) {
	c.interruptWriter()
	c.wmu.Lock()
	if c.fr != nil {
		if c.end == connOpen {
			c.fr.Close(se)
		}
		c.setEndLocked(final)
		c.wmu.Unlock()
		c.closeRaw()
		return
	}
	if c.end == connOpen {
		bufp := writeBufs.Get().(*[]byte)
		*bufp = stream.AppendError((*bufp)[:0], se)
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
		_, _ = c.nc.Write(*bufp)
		putWriteBuf(bufp)
	}
	c.setEndLocked(final)
	c.wmu.Unlock()
	c.shutdownSocket()
}

// useTLS makes tc, whose handshake is done, the connection's reader and
// writer. The writer changes under the write lock, which every write and
// close takes to use it.
func (c *conn) useTLS(tc *tls.Conn) {
	c.wmu.Lock()
	c.nc = tc
	c.wmu.Unlock()
	c.tls = tc
	c.tlsIn = &tlsReader{Conn: tc}
}

// interruptWriter makes a write blocked on a client that does not read
// give up within closeGrace, so that a close does not wait for the full
// write timeout to take wmu.
func (c *conn) interruptWriter() {
	c.closing.Store(true)
	c.setWriteDeadline(time.Now().Add(closeGrace))
}

// closeStream answers the client's </stream:stream> and closes. The
// client ended the stream, so its session ends, even if a failed write
// noticed the closed connection first.
func (c *conn) closeStream() {
	c.interruptWriter()
	c.wmu.Lock()
	if c.fr != nil {
		if c.end == connOpen {
			c.fr.Close(nil)
		}
		c.setEndLocked(true)
		c.wmu.Unlock()
		c.closeRaw()
		return
	}
	if c.end == connOpen {
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
		_, _ = c.nc.Write([]byte(stream.Close))
	}
	c.setEndLocked(true)
	c.wmu.Unlock()
	c.shutdownSocket()
}

// shutdownSocket closes the socket; for TLS it first tries close_notify
// with a short deadline so that a non-reading peer cannot hold us.
func (c *conn) shutdownSocket() {
	_ = c.raw.SetDeadline(time.Now().Add(2 * time.Second))
	c.closeRaw()
}

// closeRaw closes the socket. A parked connection gets a reader back to
// see it closed: a closed socket leaves the poller's set without an event.
func (c *conn) closeRaw() {
	if c.fr != nil {
		c.fr.Abort()
		c.throttle.close()
		return
	}
	_ = c.raw.Close()
	c.srv.idle.wake(c)
}

// drop closes the socket without writing anything more: a read or write
// failed (final false), or the session ended and the stream has nothing
// left to say (final true).
func (c *conn) drop(final bool) {
	c.wmu.Lock()
	c.setEndLocked(final)
	c.wmu.Unlock()
	c.closeRaw()
}

func (c *conn) log() []any {
	if c.fr != nil {
		return []any{"remote", c.remote.String(), "stream", c.streamID, "transport", c.frInfo.Transport, logctx.Key, c.sid}
	}
	return []any{"remote", c.remote.String(), "stream", c.streamID, logctx.Key, c.sid}
}

// serve runs the connection from accept to close: negotiation on this
// goroutine, then the session's reader, which moves to a fresh goroutine
// each time it waits for the client (see Session.readLoop). finish runs
// when the last of them is done.
func (c *conn) serve() {
	ctx := c.ctx
	defer c.recoverPanic(ctx)
	if c.fr != nil {
		// A framed stream has no TLS of its own to negotiate and no
		// decoder: its framing reads.
	} else if c.directTLS {
		c.rec = &recordConn{Conn: c.nc}
		tc := tls.Server(c.rec, c.srv.cfg.DirectTLS)
		_ = c.raw.SetDeadline(time.Now().Add(c.srv.cfg.NegotiateTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			if stream.IsTimeout(err) {
				c.timedOut("TLS handshake")
			} else {
				c.srv.log.Debug("direct TLS handshake failed", append(c.log(), "err", err)...)
			}
			c.closeRaw()
			c.finish()
			return
		}
		c.useTLS(tc)
		c.dec = xml.NewDecoder(c.tlsIn, c.srv.settings().Limits)
	} else {
		c.dec = xml.NewDecoder(c.nc, c.srv.settings().Limits)
	}
	if err := c.negotiate(ctx); err != nil {
		c.handleReadError(err)
		c.finish()
		return
	}
	c.read(ctx, false)
}

// read runs the session's reader on this goroutine until the connection
// ends or the reader moves to another goroutine. fresh says the goroutine
// was started to read what arrived.
func (c *conn) read(ctx context.Context, fresh bool) {
	if c.sess.readLoop(ctx, c, fresh) {
		c.finish()
	}
}

// finish undoes what Serve did for the connection.
func (c *conn) finish() {
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
	c.srv.Stats.Connections.Add(-1)
	c.srv.wg.Done()
}

// recoverPanic closes the connection of a goroutine serving it that
// panicked, and panics on.
func (c *conn) recoverPanic(ctx context.Context) {
	if r := recover(); r != nil {
		c.srv.log.Error("panic serving connection", append(c.log(), "panic", r)...)
		c.closeWithError(xmpperr.Stream(xmpperr.InternalServerError, ""), true)
		if c.sess != nil {
			c.sess.connLost(ctx, c)
		}
		panic(r)
	}
}

// handleReadError turns a read or negotiation failure into the stream
// error to send, if any, and closes.
func (c *conn) handleReadError(err error) {
	var xe *xml.Error
	var se *xmpperr.StreamError
	switch {
	case errors.As(err, &se):
		c.closeWithError(se, true)
	case errors.As(err, &xe):
		c.closeWithError(stream.ErrorFromXML(xe), true)
	case errors.Is(err, io.EOF):
		c.closeStream()
	case stream.IsTimeout(err):
		stage := "session"
		if c.sess == nil {
			stage = "negotiation"
		}
		c.timedOut(stage)
		c.closeWithError(xmpperr.Stream(xmpperr.ConnectionTimeout, ""), true)
	default:
		c.srv.log.Debug("connection ended", append(c.log(), "err", err)...)
		c.drop(false)
	}
}
