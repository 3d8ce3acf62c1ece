package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// CloseGrace bounds how long closing a stream waits on the peer: for the
// error or closing tag to be written, and for the peer's own closing tag.
const CloseGrace = 2 * time.Second

// Conn is one XML stream over a network connection: the socket, TLS over
// it once negotiated (STARTTLS or direct), the decoder of what the peer
// sends and a writer for what we send. The s2s streams are built on it;
// c2s keeps a connection type of its own for what only client streams
// need so far (a read rate, idle connections parked without a goroutine
// or buffers, TLS records read whole), which could move here for s2s to
// share.
//
// One goroutine reads (Dec, ReadHeader, Next, StartTLS); writes may come
// from any goroutine and are serialised, each element written whole.
type Conn struct {
	raw          net.Conn // TCP: deadlines and Close, never replaced
	writeNS      string   // the namespace written unqualified
	writeTimeout time.Duration
	written      func(n int) // counts bytes written; may be nil

	Dec *xml.Decoder

	mu     sync.Mutex // serialises writes; guards nc, tls, closed, buf
	nc     net.Conn   // raw, or TLS over it
	tls    *tls.Conn
	closed bool // a closing tag or error was written, or the socket closed
	buf    []byte

	// closing is set before a close takes mu, so that a writer blocked on
	// a peer that does not read gives up within CloseGrace.
	closing atomic.Bool
}

// NewConn returns a stream over nc, read with the limits lim. Elements
// in writeNS are written unqualified, so that they take the stream's
// content namespace: stanzas live in jabber:client inside the server,
// and a server-to-server stream writes them unqualified into its
// jabber:server stream (RFC 6120 4.8.3). Each write may take
// writeTimeout; written, if not nil, is told how many bytes each write
// put on the wire.
func NewConn(nc net.Conn, writeNS string, lim xml.Limits, writeTimeout time.Duration, written func(int)) *Conn {
	return &Conn{raw: nc, nc: nc, writeNS: writeNS, writeTimeout: writeTimeout, written: written, Dec: xml.NewDecoder(nc, lim)}
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// TLS returns the state of the TLS connection, if there is one.
func (c *Conn) TLS() (tls.ConnectionState, bool) {
	c.mu.Lock()
	t := c.tls
	c.mu.Unlock()
	if t == nil {
		return tls.ConnectionState{}, false
	}
	return t.ConnectionState(), true
}

// SetReadDeadline sets the deadline of the next reads; zero: none.
func (c *Conn) SetReadDeadline(t time.Time) { _ = c.raw.SetReadDeadline(t) }

// ReadHeader reads the peer's stream header within timeout.
func (c *Conn) ReadHeader(timeout time.Duration) (xml.StreamHeader, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	return c.Dec.ReadHeader()
}

// WriteHeader writes our stream header.
func (c *Conn) WriteHeader(h Header) error {
	return c.write(func(b []byte) []byte { return AppendHeader(b, h) })
}

// Send writes elements in one write, each a top-level element of the
// stream.
func (c *Conn) Send(els ...*xml.Element) error {
	return c.write(func(b []byte) []byte {
		for _, el := range els {
			b = AppendElement(b, el, c.writeNS)
		}
		return b
	})
}

func (c *Conn) write(appendTo func([]byte) []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.buf = appendTo(c.buf[:0])
	d := c.writeTimeout
	if c.closing.Load() {
		d = CloseGrace
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	n, err := c.nc.Write(c.buf)
	if c.written != nil {
		c.written(n)
	}
	if cap(c.buf) > 64<<10 {
		c.buf = nil // keep no burst's buffer on an idle stream
	}
	if err != nil {
		return fmt.Errorf("write to %s: %w", c.raw.RemoteAddr(), err)
	}
	return nil
}

// StartTLS makes TLS the stream's transport, as server (STARTTLS after
// <proceed/>, or direct TLS before the stream opens) or as client, with a
// handshake of at most timeout. The decoder then reads a fresh stream.
// As server, input that arrived after <starttls/> is refused: it would be
// read as if it had come through TLS (the STARTTLS command injection).
func (c *Conn) StartTLS(ctx context.Context, cfg *tls.Config, server bool, timeout time.Duration) error {
	if server && c.Dec.Buffered() > 0 {
		return xmpperr.Stream(xmpperr.PolicyViolation, "data after <starttls/>")
	}
	var tc *tls.Conn
	if server {
		tc = tls.Server(c.raw, cfg)
	} else {
		tc = tls.Client(c.raw, cfg)
	}
	_ = c.raw.SetDeadline(time.Now().Add(timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	_ = c.raw.SetDeadline(time.Time{})
	c.mu.Lock()
	c.nc, c.tls = tc, tc
	c.mu.Unlock()
	c.Dec.Reset(tc)
	return nil
}

// ErrTLSHandshake wraps a failed TLS handshake: nothing more can be
// written on the stream, not even an error.
var ErrTLSHandshake = errors.New("TLS handshake")

// CloseWithError writes the stream error and our closing tag, then closes
// the connection.
func (c *Conn) CloseWithError(se *xmpperr.StreamError) {
	c.closeWriting(func(b []byte) []byte { return AppendError(b, se) })
	c.Abort()
}

// CloseStream writes our closing tag and stops writing, and gives the
// peer CloseGrace to close its side: the reader goes on reading what the
// peer still sends (RFC 6120 4.4) until its closing tag, and then calls
// Abort. It reports whether the tag was written now (false when the
// stream was closed already).
func (c *Conn) CloseStream() bool {
	ok := c.closeWriting(func(b []byte) []byte { return append(b, Close...) })
	c.SetReadDeadline(time.Now().Add(CloseGrace))
	return ok
}

func (c *Conn) closeWriting(appendTo func([]byte) []byte) bool {
	c.closing.Store(true)
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	_ = nc.SetWriteDeadline(time.Now().Add(CloseGrace)) // cut a blocked write short
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.buf = appendTo(c.buf[:0])
	_ = c.nc.SetWriteDeadline(time.Now().Add(CloseGrace))
	_, _ = c.nc.Write(c.buf)
	c.buf = nil
	return true
}

// Abort closes the connection without writing anything more.
func (c *Conn) Abort() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.raw.SetDeadline(time.Now().Add(CloseGrace))
	_ = c.raw.Close()
}

// End ends the stream after err ended reading or negotiating, as
// Classify says, and returns how it ended: a stream error is sent, the
// peer's closing tag answered with ours, a broken connection closed. A
// caller that had not sent its stream header yet sends it first (RFC
// 6120 4.9.1.3).
func (c *Conn) End(err error) (Ending, *xmpperr.StreamError) {
	end, se := Classify(err)
	if errors.Is(err, ErrTLSHandshake) {
		end = EndBroken
	}
	switch end {
	case EndError, EndTimeout:
		c.CloseWithError(se)
	case EndClosed:
		c.CloseStream()
		c.Abort()
	default:
		c.Abort()
	}
	return end, se
}
