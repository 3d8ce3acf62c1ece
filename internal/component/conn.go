package component

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// conn is one component connection: negotiation on its reader goroutine,
// then stanzas both ways. What goes to the component waits in a bounded
// queue drained by one writer goroutine, so that routing never blocks on
// a component.
type conn struct {
	s      *Server
	nc     net.Conn
	dec    *xml.Decoder
	id     string // stream id, the handshake's salt
	domain string // after the handshake

	wmu    sync.Mutex // serialises writes; guards closed, headerSent
	closed bool
	header bool // our stream header is written

	qmu      sync.Mutex
	queue    []*xml.Element
	wake     chan struct{}
	stopped  bool // no more deliveries: cut off or closed
	writerWG sync.WaitGroup
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, dec: xml.NewDecoder(nc, s.cfg.Limits), id: stream.NewID(), wake: make(chan struct{}, 1)}
}

func (c *conn) logAttrs() []any {
	return []any{"remote", c.nc.RemoteAddr().String(), "domain", c.domain, "stream", c.id}
}

// serve runs the connection from accept to close.
func (c *conn) serve() {
	err := c.negotiate()
	if err == nil {
		c.writerWG.Add(1)
		go c.writeLoop()
		c.s.log.Info("component connected", c.logAttrs()...)
		err = c.readLoop()
		c.s.gone(c)
		c.stop()
		c.writerWG.Wait()
		c.s.log.Info("component disconnected", c.logAttrs()...)
	}
	c.end(err)
}

// negotiate reads the component's header, answers with ours and checks
// the handshake (XEP-0114 section 3).
func (c *conn) negotiate() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.NegotiateTimeout))
	h, err := c.dec.ReadHeader()
	if err != nil {
		return err
	}
	// The header answers with the name asked for, as the XEP's example
	// does; errors about the header follow it (RFC 6120 4.9.1.3).
	if err := c.writeHeader(h.To); err != nil {
		return err
	}
	if h.ContentNS != NS {
		return xmpperr.Stream(xmpperr.InvalidNamespace, "the content namespace must be "+NS)
	}
	domain, err := jid.Parse(h.To)
	secret, known := c.s.cfg.Secrets[domain.Domain]
	if err != nil || !domain.IsDomain() || !known {
		return xmpperr.Stream(xmpperr.HostUnknown, "no component "+h.To+" is configured here")
	}
	c.domain = domain.Domain
	el, err := c.dec.Next()
	if err != nil {
		return err
	}
	if el.Space != NS || el.Local != "handshake" {
		c.s.Stats.HandshakeFail.Add(1)
		return xmpperr.Stream(xmpperr.NotAuthorized, "a <handshake/> must come first")
	}
	sum := sha1.Sum([]byte(c.id + secret))
	want := hex.EncodeToString(sum[:])
	got := strings.ToLower(strings.TrimSpace(el.Text()))
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.s.Stats.HandshakeFail.Add(1)
		c.s.log.Warn("component handshake failed", c.logAttrs()...)
		return xmpperr.Stream(xmpperr.NotAuthorized, "wrong handshake")
	}
	if !c.s.authenticated(c) {
		c.s.Stats.HandshakeFail.Add(1)
		c.s.log.Warn("component refused: another is connected for the domain", c.logAttrs()...)
		return xmpperr.Stream(xmpperr.Conflict, "a component is connected for "+c.domain+" already")
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	return c.write(xml.New(NS, "handshake"))
}

// readLoop routes what the component sends until the stream ends.
func (c *conn) readLoop() error {
	ctx := context.Background()
	for {
		el, err := c.dec.Next()
		if err != nil {
			return err
		}
		if el.Space != NS {
			return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/> in "+el.Space)
		}
		// Inside the server stanzas are jabber:client, whichever stream
		// they came on.
		stanza.SetSpace(el, NS, xml.NSClient)
		if !stanza.IsStanza(el) {
			return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unexpected <"+el.Local+"/>")
		}
		c.s.Stats.StanzasIn.Add(1)
		// XEP-0114 section 3: from and to are required, and from must be
		// at the component's domain (any user or resource there).
		from, ferr := stanza.From(el)
		to, terr := stanza.To(el)
		switch {
		case el.Attr("from") == "" || el.Attr("to") == "":
			return xmpperr.Stream(xmpperr.ImproperAddressing, "a component's stanza needs from and to")
		case ferr != nil || from.Domain != c.domain:
			return xmpperr.Stream(xmpperr.InvalidFrom, "from must be at "+c.domain)
		case terr != nil:
			reply := stanza.ErrorReply(el, xmpperr.New(xmpperr.JIDMalformed, ""))
			if reply != nil {
				reply.SetAttr("from", from.Domain)
				c.deliver(reply)
			}
			continue
		}
		el.SetAttr("from", from.String())
		el.SetAttr("to", to.String())
		c.s.cfg.Router.Route(ctx, el, from, to)
	}
}

// deliver queues el for the component without blocking. A component that
// lets send_queue stanzas pile up is not reading; it is cut off, and el
// refused.
func (c *conn) deliver(el *xml.Element) bool {
	c.qmu.Lock()
	if c.stopped {
		c.qmu.Unlock()
		return false
	}
	if len(c.queue) >= c.s.cfg.SendQueue {
		c.stopped = true
		c.qmu.Unlock()
		c.s.Stats.Overflows.Add(1)
		c.s.log.Warn("component does not read; cutting it off", c.logAttrs()...)
		go c.closeWithError(xmpperr.Stream(xmpperr.PolicyViolation, "too many unread stanzas"))
		return false
	}
	c.queue = append(c.queue, el)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// stop ends deliveries and wakes the writer to finish.
func (c *conn) stop() {
	c.qmu.Lock()
	c.stopped = true
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes queued stanzas, all that are waiting in one write,
// until the connection stops. What was queued but not written when it
// stops is bounced, so that senders of requests hear of it.
func (c *conn) writeLoop() {
	defer c.writerWG.Done()
	var buf []byte
	for range c.wake {
		c.qmu.Lock()
		batch := c.queue
		c.queue = nil
		stopped := c.stopped
		c.qmu.Unlock()
		if len(batch) > 0 && !stopped {
			buf = buf[:0]
			for _, el := range batch {
				buf = stream.AppendElement(buf, el, xml.NSClient)
			}
			if err := c.writeBytes(buf); err != nil {
				c.s.log.Debug("write to component failed", append(c.logAttrs(), "err", err)...)
				c.stop()
				_ = c.nc.Close()
				stopped = true
			} else {
				c.s.Stats.StanzasOut.Add(uint64(len(batch)))
				batch = nil
			}
			if cap(buf) > 64<<10 {
				buf = nil
			}
		}
		if stopped {
			c.bounce(batch)
			return
		}
	}
}

// bounce answers what will never reach the component.
func (c *conn) bounce(els []*xml.Element) {
	c.qmu.Lock()
	els = append(els, c.queue...)
	c.queue = nil
	c.qmu.Unlock()
	for _, el := range els {
		c.s.cfg.Router.Bounce(context.Background(), el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
}

func (c *conn) writeHeader(from string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.header = true
	b := stream.AppendHeader(nil, stream.Header{ContentNS: NS, ID: c.id, From: from})
	return c.writeLocked(b)
}

func (c *conn) write(el *xml.Element) error {
	return c.writeBytes(stream.AppendElement(nil, el, NS))
}

func (c *conn) writeBytes(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// end closes the connection after err ended it: a stream error we send,
// the component's own close answered with ours, or nothing on a broken
// connection.
func (c *conn) end(err error) {
	var se *xmpperr.StreamError
	var xe *xml.Error
	var ne net.Error
	switch {
	case errors.As(err, &se):
	case errors.As(err, &xe):
		se = stream.ErrorFromXML(xe)
	case errors.As(err, &ne) && ne.Timeout():
		se = xmpperr.Stream(xmpperr.ConnectionTimeout, "")
	case errors.Is(err, io.EOF):
		c.wmu.Lock()
		if !c.closed {
			c.closed = true
			_ = c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.nc.Write([]byte(stream.Close))
		}
		c.wmu.Unlock()
		_ = c.nc.Close()
		return
	default:
		c.wmu.Lock()
		c.closed = true
		c.wmu.Unlock()
		_ = c.nc.Close()
		return
	}
	c.closeWithError(se)
}

// closeWithError writes a stream error (after our header, if it was not
// written yet) and the closing tag, and closes the socket.
func (c *conn) closeWithError(se *xmpperr.StreamError) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	c.wmu.Lock()
	if !c.closed {
		c.closed = true
		var b []byte
		if !c.header {
			c.header = true
			b = stream.AppendHeader(b, stream.Header{ContentNS: NS, ID: c.id})
		}
		b = stream.AppendError(b, se)
		_ = c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.nc.Write(b)
	}
	c.wmu.Unlock()
	_ = c.nc.Close()
}
