package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"minimix/internal/c2s"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// XMPP over WebSocket (RFC 7395): the client opens a WebSocket with the
// "xmpp" subprotocol; every message is one standalone XML element:
// <open/> and <close/> of the framing namespace stand for the stream's
// opening and closing tags, everything else is a top-level element of
// the stream. There is no STARTTLS: the WebSocket is encrypted (wss) or
// comes from a network the operator trusts.

const (
	framingNS    = "urn:ietf:params:xml:ns:xmpp-framing"
	subprotocol  = "xmpp"
	closeMessage = "<close xmlns='" + framingNS + "'/>"
)

func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !offersSubprotocol(r) {
		// RFC 7395 3.2: without the subprotocol there is no XMPP
		// WebSocket.
		http.Error(w, "an XMPP WebSocket needs the \"xmpp\" subprotocol (Sec-WebSocket-Protocol)", http.StatusBadRequest)
		return
	}
	if !h.originAllowed(r.Header.Get("Origin"), r.Host) {
		h.log.Info("WebSocket refused: origin not allowed (http.allowed_origins)", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "this page's origin may not connect (http.allowed_origins)", http.StatusForbidden)
		return
	}
	// The HTTP server's deadlines stay on a hijacked connection: the
	// stream sets its own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{subprotocol},
		// Checked above, by the same rules as BOSH.
		InsecureSkipVerify: true,
	})
	if err != nil {
		h.log.Debug("WebSocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	max := h.cfg.Limits.MaxStanzaBytes
	if max <= 0 {
		max = 262144
	}
	// The reader reads at most one byte past the limit; the library's own
	// limit is only a backstop.
	ws.SetReadLimit(int64(max) + 2)
	f := &wsFraming{
		h:    h,
		ws:   ws,
		max:  max,
		lim:  h.cfg.Limits,
		in:   make(chan []byte),
		done: make(chan struct{}),
		info: c2s.FramingInfo{Transport: "websocket", Remote: h.clientAddr(r), Secure: h.secure(r), TLS: r.TLS},
	}
	if d := h.cfg.PingInterval; d > 0 {
		f.pinger = time.AfterFunc(d, f.ping)
	}
	if !h.cfg.C2S.ServeFramed(f) {
		return
	}
	f.pump()
}

// offersSubprotocol reports whether the client offered "xmpp".
func offersSubprotocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == subprotocol {
				return true
			}
		}
	}
	return false
}

// wsFraming is a client stream over one WebSocket: a c2s.Framing. The
// request's goroutine reads messages (pump) and hands them to the
// stream's reader one at a time, so that a deadline on the stream's reads
// does not close the WebSocket (the library closes it when a read's
// context ends) and the stream can still say why it ends.
type wsFraming struct {
	h    *Handler
	ws   *websocket.Conn
	info c2s.FramingInfo
	max  int
	lim  xml.Limits

	in       chan []byte   // messages, from pump to the reader
	done     chan struct{} // closed when the stream ends: pump stops
	doneOnce sync.Once
	errMu    sync.Mutex
	err      error // why pump stopped

	rdeadline time.Time // the reader's only

	wmu       sync.Mutex
	wdeadline time.Time
	wtimer    *time.Timer // ends the write in progress at wdeadline

	closing atomic.Bool // Close began: Abort leaves the handshake to it
	pinger  *time.Timer
}

// pump reads messages until the WebSocket fails or the stream ends.
func (f *wsFraming) pump() {
	defer close(f.in)
	for {
		typ, r, err := f.ws.Reader(context.Background())
		if err != nil {
			f.fail(err)
			return
		}
		if typ != websocket.MessageText {
			f.fail(xmpperr.Stream(xmpperr.BadFormat, "XMPP over WebSocket uses text messages"))
			return
		}
		b, err := io.ReadAll(io.LimitReader(r, int64(f.max)+1))
		if err != nil {
			f.fail(err)
			return
		}
		if len(b) > f.max {
			f.fail(&xml.Error{Condition: "policy-violation", Text: "message larger than limits.max_stanza_bytes", TooBig: true})
			return
		}
		select {
		case f.in <- b:
		case <-f.done:
			return
		}
	}
}

func (f *wsFraming) fail(err error) {
	f.errMu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.errMu.Unlock()
}

// recv waits for the next message, until the read deadline.
func (f *wsFraming) recv() ([]byte, error) {
	var timeout <-chan time.Time
	if !f.rdeadline.IsZero() {
		t := time.NewTimer(time.Until(f.rdeadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case b, ok := <-f.in:
		if ok {
			return b, nil
		}
		f.errMu.Lock()
		err := f.err
		f.errMu.Unlock()
		if err == nil || errors.Is(err, io.EOF) {
			// The WebSocket ended without <close/>: the connection is
			// lost, not the stream closed (a resumable session waits).
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	case <-timeout:
		return nil, timeoutError{}
	}
}

// parse reads one message as a standalone element.
func (f *wsFraming) parse(b []byte) (*xml.Element, error) {
	el, err := xml.ParseWithLimits(b, f.lim)
	if err != nil {
		return nil, err
	}
	fixNamespace(el)
	return el, nil
}

// ReadHeader implements c2s.Framing: the stream opens with <open/>.
func (f *wsFraming) ReadHeader() (xml.StreamHeader, error) {
	b, err := f.recv()
	if err != nil {
		return xml.StreamHeader{}, err
	}
	el, err := f.parse(b)
	if err != nil {
		return xml.StreamHeader{}, err
	}
	switch {
	case el.Space == framingNS && el.Local == "open":
	case el.Space == framingNS && el.Local == "close":
		return xml.StreamHeader{}, io.EOF
	default:
		return xml.StreamHeader{}, &xml.Error{Condition: "invalid-namespace", Text: "the stream opens with <open xmlns='" + framingNS + "'/>"}
	}
	return xml.StreamHeader{
		To:        el.Attr("to"),
		From:      el.Attr("from"),
		Version:   el.Attr("version"),
		Lang:      el.AttrNS(xml.NSXML, "lang"),
		ContentNS: xml.NSClient,
		Attrs:     el.Attrs,
	}, nil
}

// Next implements c2s.Framing.
func (f *wsFraming) Next() (*xml.Element, int, error) {
	b, err := f.recv()
	if err != nil {
		return nil, 0, err
	}
	el, err := f.parse(b)
	if err != nil {
		return nil, 0, err
	}
	if el.Space == framingNS {
		switch el.Local {
		case "close":
			return nil, len(b), io.EOF
		case "open":
			return nil, 0, xmpperr.Stream(xmpperr.PolicyViolation, "<open/> only starts a stream or follows a restart")
		}
	}
	return el, len(b), nil
}

// SetReadDeadline implements c2s.Framing.
func (f *wsFraming) SetReadDeadline(t time.Time) { f.rdeadline = t }

// WriteHeader implements c2s.Framing: our <open/>.
func (f *wsFraming) WriteHeader(h stream.Header) error {
	el := xml.New(framingNS, "open", "from", h.From, "id", h.ID, "version", h.Version)
	el.Attrs = append(el.Attrs, xml.Attr{Space: xml.NSXML, Local: "lang", Value: h.Lang})
	return f.Write(el.AppendXML(nil, ""))
}

// Write implements c2s.Framing: one message, by the write deadline.
func (f *wsFraming) Write(b []byte) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.wmu.Lock()
	if !f.wdeadline.IsZero() {
		f.wtimer = time.AfterFunc(time.Until(f.wdeadline), cancel)
	}
	f.wmu.Unlock()
	err := f.ws.Write(ctx, websocket.MessageText, b)
	f.wmu.Lock()
	if f.wtimer != nil {
		f.wtimer.Stop()
		f.wtimer = nil
	}
	f.wmu.Unlock()
	return err
}

// SetWriteDeadline implements c2s.Framing.
func (f *wsFraming) SetWriteDeadline(t time.Time) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.wdeadline = t
	if f.wtimer != nil {
		if t.IsZero() {
			// No bound: the write in progress goes on.
			f.wtimer.Stop()
		} else {
			f.wtimer.Reset(time.Until(t))
		}
	}
}

// Close implements c2s.Framing: the stream error if any, <close/>, and
// the WebSocket's closing handshake (RFC 7395 3.6).
func (f *wsFraming) Close(se *xmpperr.StreamError) {
	if f.closing.Swap(true) {
		return
	}
	if se != nil {
		_ = f.Write(c2s.AppendFramed(nil, se.Element()))
	}
	_ = f.Write([]byte(closeMessage))
	f.end()
	// The handshake waits for the client's answer, a few seconds at most:
	// not on the caller's time.
	f.h.wg.Go(func() { _ = f.ws.Close(websocket.StatusNormalClosure, "") })
}

// Abort implements c2s.Framing.
func (f *wsFraming) Abort() {
	if f.closing.Swap(true) {
		return
	}
	f.end()
	_ = f.ws.CloseNow()
}

func (f *wsFraming) end() {
	f.doneOnce.Do(func() {
		close(f.done)
		if f.pinger != nil {
			f.pinger.Stop()
		}
	})
}

// Info implements c2s.Framing.
func (f *wsFraming) Info() c2s.FramingInfo { return f.info }

// ping checks that the client is there, and again after PingInterval;
// one that does not answer within the interval is gone (its session may
// resume elsewhere).
func (f *wsFraming) ping() {
	select {
	case <-f.done:
		return
	default:
	}
	d := f.h.cfg.PingInterval
	ctx, cancel := context.WithTimeout(context.Background(), d)
	err := f.ws.Ping(ctx)
	cancel()
	if err != nil {
		select {
		case <-f.done:
		default:
			f.h.log.Debug("WebSocket client did not answer a ping", "remote", f.info.Remote.String(), "err", err)
			f.fail(errors.New("no answer to a WebSocket ping"))
			f.Abort()
		}
		return
	}
	select {
	case <-f.done:
	default:
		f.pinger.Reset(d)
	}
}
