package c2s

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"minimix/internal/logctx"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Framing carries a client stream over something other than a TCP socket:
// WebSocket messages (RFC 7395) or BOSH requests (XEP-0124/0206). It is
// the one seam between those transports and c2s. The stream above it is
// the same as over TCP: negotiation (SASL, bind, stream management with
// resumption, CSI), limits, stream errors and the session are c2s's; a
// framing only turns its transport's units into stream openings and
// top-level elements, and back.
//
// One goroutine, the connection's reader, calls ReadHeader and Next;
// writes and closes are serialised by c2s.
type Framing interface {
	// ReadHeader waits for the client to open the stream: first, and
	// again after SASL success. Its ContentNS is jabber:client.
	ReadHeader() (xml.StreamHeader, error)
	// Next returns the next top-level element and how many bytes it took
	// on the wire (for the read rate), io.EOF when the client closed the
	// stream, a *xml.Error for bad input, or a *xmpperr.StreamError.
	Next() (el *xml.Element, n int, err error)
	// SetReadDeadline bounds ReadHeader and Next; zero: no bound. A read
	// past it fails with an error that stream.IsTimeout reports, and the
	// framing can still write (the stream error).
	SetReadDeadline(t time.Time)
	// WriteHeader opens our side of the stream.
	WriteHeader(h stream.Header) error
	// Write writes one top-level element, serialised whole with every
	// namespace it uses declared (AppendFramed), by the write deadline.
	Write(b []byte) error
	// SetWriteDeadline bounds the writes from now on and the one in
	// progress, as net.Conn's does.
	SetWriteDeadline(t time.Time)
	// Close ends the stream the way the transport says: with the stream
	// error se, or cleanly when se is nil; then the transport closes.
	Close(se *xmpperr.StreamError)
	// Abort closes the transport without saying anything more.
	Abort()
	// Info says where the stream comes from.
	Info() FramingInfo
}

// FramingInfo describes a framed stream's transport.
type FramingInfo struct {
	// Transport names it for operators: "websocket", "bosh".
	Transport string
	Remote    netip.Addr
	// Secure says the stream is as good as TLS: it came over HTTPS, or
	// from a network the operator trusts (a TLS-terminating proxy).
	Secure bool
	// TLS is the state of the one TLS connection the whole stream runs
	// over, for channel binding; nil when there is none (BOSH requests
	// may come over several connections).
	TLS *tls.ConnectionState
}

// ServeFramed serves a client stream over fr, like a connection accepted
// by Serve, on a goroutine of its own. It reports false, having aborted
// fr, when the server is shutting down or at its connection limit.
func (s *Server) ServeFramed(fr Framing) bool {
	info := fr.Info()
	live := s.settings()
	if max := live.MaxConnections; max > 0 && s.Stats.Connections.Load() >= int64(max) {
		s.log.Warn("connection limit reached; refusing", "remote", info.Remote.String(), "transport", info.Transport)
		fr.Abort()
		return false
	}
	c := &conn{srv: s, fr: fr, frInfo: info, remote: info.Remote.Unmap(), sid: logctx.NewID()}
	c.ctx = logctx.WithSession(context.Background(), c.sid)
	c.throttle = newReadThrottle(live.ReadRate, live.ReadBurst, s.now(), func() {
		s.Stats.ReadThrottled.Add(1)
		s.logs.Info("client sends faster than limits.c2s_bytes_per_second; reading it more slowly", c.log()...)
	})
	if r := live.StanzasPerSecond; r > 0 {
		c.limiter = newStanzaLimiter(r)
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		fr.Abort()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.Stats.Connections.Add(1)
	go c.serve()
	return true
}

// Batcher is a Framing that takes several elements at once: a BOSH
// response carries all that is ready. The stream writes a batch of
// stanzas (and the nonzas before them) through WriteBatch when its
// framing has it; all of them are written, or none.
type Batcher interface {
	WriteBatch(frames [][]byte) error
}

// framingNS is RFC 7395's, whose <open/> and <close/> stand for the
// stream's opening and closing tags on WebSocket.
const framingNS = "urn:ietf:params:xml:ns:xmpp-framing"

// AppendFramed appends el serialised to stand alone, as framed transports
// carry elements: its namespace declared (xmlns='jabber:client' on a
// stanza), and the stream: prefix of features and errors declared on
// them.
func AppendFramed(dst []byte, el *xml.Element) []byte {
	if el.Space != xml.NSStream {
		return el.AppendXML(dst, "")
	}
	start := len(dst)
	dst = el.AppendPrefixedXML(dst, "stream")
	// After "<stream:local", before the attributes.
	at := start + len("<stream:") + len(el.Local)
	decl := " xmlns:stream='" + xml.NSStream + "'"
	dst = append(dst, decl...)
	copy(dst[at+len(decl):], dst[at:len(dst)-len(decl)])
	copy(dst[at:], decl)
	return dst
}

// Framed-stream helpers of conn: each is the TCP path unless the
// connection has a Framing.

func (c *conn) readHeader() (xml.StreamHeader, error) {
	if c.fr != nil {
		return c.fr.ReadHeader()
	}
	return c.dec.ReadHeader()
}

// next reads the next element, at the connection's read rate.
func (c *conn) next(ctx context.Context) (*xml.Element, error) {
	if c.fr == nil {
		return c.dec.Next()
	}
	el, n, err := c.fr.Next()
	if err != nil {
		return nil, err
	}
	if err := c.throttle.wait(ctx, n); err != nil {
		return nil, err
	}
	return el, nil
}

func (c *conn) setReadDeadline(t time.Time) {
	if c.fr != nil {
		c.fr.SetReadDeadline(t)
		return
	}
	_ = c.raw.SetReadDeadline(t)
}

// setWriteDeadline sets the deadline of the connection's writes. It is
// set on the socket (raw), which never changes, not on the writer (nc),
// which becomes the TLS connection after a handshake: interruptWriter
// calls it without the write lock, and a TLS connection's deadline is its
// socket's anyway.
func (c *conn) setWriteDeadline(t time.Time) {
	if c.fr != nil {
		c.fr.SetWriteDeadline(t)
		return
	}
	_ = c.raw.SetWriteDeadline(t)
}

// secure says the stream is encrypted, or as good as.
func (c *conn) secure() bool {
	return c.tls != nil || c.fr != nil && c.frInfo.Secure
}

// writeFramed writes nonzas and a batch of stanzas as one framed
// element each. It returns how many stanzas of batch were written.
func (c *conn) writeFramed(ctrl [][]byte, batch []outItem, bufp *[]byte) (sent int, err error) {
	if b, ok := c.fr.(Batcher); ok {
		buf := (*bufp)[:0]
		ends := make([]int, 0, len(ctrl)+len(batch))
		for _, x := range ctrl {
			buf = append(buf, x...)
			ends = append(ends, len(buf))
		}
		for _, it := range batch {
			buf = AppendFramed(buf, it.el)
			ends = append(ends, len(buf))
		}
		*bufp = buf
		frames := make([][]byte, len(ends))
		start := 0
		for i, e := range ends {
			frames[i] = buf[start:e]
			start = e
		}
		if err := c.writeBatch(b, frames); err != nil {
			return 0, err
		}
		return len(batch), nil
	}
	for _, b := range ctrl {
		if err := c.write(b); err != nil {
			return 0, err
		}
	}
	for i, it := range batch {
		*bufp = AppendFramed((*bufp)[:0], it.el)
		if err := c.write(*bufp); err != nil {
			return i, err
		}
	}
	return len(batch), nil
}

// writeBatch is write for a Batcher.
func (c *conn) writeBatch(b Batcher, frames [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.end != connOpen {
		return net.ErrClosed
	}
	c.setWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if c.closing.Load() {
		c.setWriteDeadline(time.Now().Add(closeGrace))
	}
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	err := b.WriteBatch(frames)
	c.srv.Stats.BytesOut.Add(uint64(n))
	return err
}
