package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// BOSH (XEP-0124, with XEP-0206 for XMPP): a session is a sequence of
// HTTP requests, each a <body/> numbered by its rid, carrying what the
// client sends; the server holds up to 'hold' of them and answers each
// with what it has to send, or empty after 'wait'. Requests are taken in
// rid order whatever order they arrive in, the last answers are kept for
// a client that sends a request again (its connection broke), and a
// session with no request held for 'inactivity' is gone. Above that the
// session is a c2s stream like any other (boshSession is its Framing):
// the creation request and each xmpp:restart open the stream, the
// bodies' children are its elements, and a terminate closes it.

const (
	nsBOSH  = "http://jabber.org/protocol/httpbind"
	nsXBOSH = "urn:xmpp:xbosh"
	// boshVersion is the XEP-0124 version we speak.
	boshVersion = "1.11"
	// boshPolling is the shortest polling interval we ask of clients
	// that hold no request (hold=0), in seconds; it is not enforced.
	boshPolling = 2
)

// BOSHConfig bounds BOSH sessions ([http] bosh_*).
type BOSHConfig struct {
	MaxWait    time.Duration // longest a request is held
	Inactivity time.Duration // longest with no request held
	MaxPause   time.Duration // longest pause a client may ask for
	MaxHold    int           // most requests held at once
}

func (c BOSHConfig) withDefaults() BOSHConfig {
	if c.MaxWait <= 0 {
		c.MaxWait = time.Minute
	}
	if c.Inactivity <= 0 {
		c.Inactivity = time.Minute
	}
	if c.MaxHold <= 0 {
		c.MaxHold = 1
	}
	return c
}

type boshManager struct {
	h   *Handler
	cfg BOSHConfig

	mu       sync.Mutex
	sessions map[string]*boshSession
	closed   bool // shutting down: no new sessions
}

func newBOSHManager(h *Handler) *boshManager {
	return &boshManager{h: h, cfg: h.cfg.BOSHConfig.withDefaults(), sessions: make(map[string]*boshSession)}
}

// drain answers every held request with a terminate (system-shutdown)
// and refuses new sessions and requests, for the HTTP server's shutdown,
// which waits for every request in progress, not to wait out their
// waits. The streams go on until the c2s server closes them in its turn
// (after the features, as TCP streams): what they write from now on has
// no request to go out in and is dropped (with stream management, c2s
// keeps what was not acknowledged).
func (m *boshManager) drain() {
	for _, s := range m.all(true) {
		s.mu.Lock()
		if !s.ended && !s.draining {
			s.draining = true
			if s.idle != nil {
				s.idle.Stop()
				s.idle = nil
			}
			for _, req := range s.early {
				req.answered = true
				req.resp <- terminateBody("system-shutdown", "")
			}
			s.early = nil
			s.flushLocked()
		}
		s.mu.Unlock()
	}
}

// closeAll ends the sessions that are left.
func (m *boshManager) closeAll() {
	for _, s := range m.all(true) {
		s.mu.Lock()
		s.endLocked("system-shutdown", net.ErrClosed)
		s.mu.Unlock()
	}
}

// all returns the sessions; closing, it refuses new ones from now on.
func (m *boshManager) all(closing bool) []*boshSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	if closing {
		m.closed = true
	}
	all := make([]*boshSession, 0, len(m.sessions))
	for _, s := range m.sessions {
		all = append(all, s)
	}
	return all
}

func (m *boshManager) get(sid string) *boshSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[sid]
}

// BOSHState is what a BOSH session has waiting: requests held for an
// answer, requests that arrived before their turn, the rid taken next,
// and the bytes the client sent that its stream has not read yet.
type BOSHState struct {
	Held, Early int
	Next        uint64
	Unread      int
}

// BOSHState returns the state of the session sid, if there is one.
func (h *Handler) BOSHState(sid string) (BOSHState, bool) {
	s := h.bosh.get(sid)
	if s == nil {
		return BOSHState{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return BOSHState{Held: len(s.held), Early: len(s.early), Next: s.next, Unread: s.inBytes}, true
}

func (m *boshManager) remove(s *boshSession) {
	m.mu.Lock()
	if m.sessions[s.sid] == s {
		delete(m.sessions, s.sid)
	}
	m.mu.Unlock()
}

// maxBody bounds one request's body: one stanza at the stream's limit,
// and the <body/> around it.
func (h *Handler) maxBody() int {
	max := h.cfg.Limits.MaxStanzaBytes
	if max <= 0 {
		max = 262144
	}
	return max + 1024
}

func (h *Handler) serveBOSH(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if !h.originAllowed(origin, r.Host) {
		h.log.Info("BOSH request refused: origin not allowed (http.allowed_origins)", "origin", origin, "remote", r.RemoteAddr)
		http.Error(w, "this page's origin may not connect (http.allowed_origins)", http.StatusForbidden)
		return
	}
	if origin != "" {
		// CORS: the page may post here and read the answers.
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Max-Age", "86400")
	}
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "This is an XMPP BOSH endpoint (XEP-0124, XEP-0206): POST <body/> elements here.\n")
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS, GET")
		http.Error(w, "BOSH takes POST", http.StatusMethodNotAllowed)
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.maxBody())))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeBOSH(w, terminateBody("policy-violation", "request larger than limits.max_stanza_bytes"))
			return
		}
		return // the client went away
	}
	body, err := xml.ParseWithLimits(b, xml.Limits{MaxStanzaBytes: h.maxBody(), MaxDepth: h.cfg.Limits.MaxDepth + 1})
	if err != nil || body.Space != nsBOSH || body.Local != "body" {
		writeBOSH(w, terminateBody("bad-request", "the request is not a <body xmlns='"+nsBOSH+"'/>"))
		return
	}
	for _, c := range body.Children {
		if c.Elem != nil {
			clientNamespace(c.Elem)
		}
	}
	rid, err := strconv.ParseUint(body.Attr("rid"), 10, 53)
	if err != nil {
		writeBOSH(w, terminateBody("bad-request", "rid must be a number"))
		return
	}
	// A held request may wait up to wait; the server's write timeout is
	// for ordinary requests.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.bosh.cfg.MaxWait + 30*time.Second))
	sid := body.Attr("sid")
	if sid == "" {
		h.bosh.create(w, r, body, rid, len(b))
		return
	}
	s := h.bosh.get(sid)
	if s == nil {
		writeBOSH(w, terminateBody("item-not-found", "no such session"))
		return
	}
	s.request(w, r, body, rid, len(b))
}

// clientNamespace puts a body's child that declares no namespace of its
// own (it inherited the body's) in jabber:client, as XEP-0206 says
// stanzas are.
func clientNamespace(el *xml.Element) {
	if el.Space != nsBOSH && el.Space != "" {
		return
	}
	el.Space = xml.NSClient
	for _, c := range el.Children {
		if c.Elem != nil {
			clientNamespace(c.Elem)
		}
	}
}

func writeBOSH(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// terminateBody is a terminal binding condition (XEP-0124 17.2).
func terminateBody(cond, text string) []byte {
	b := []byte("<body xmlns='" + nsBOSH + "' type='terminate' condition='" + cond + "'")
	if text == "" {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = append(b, xml.Escape(text)...)
	return append(b, "</body>"...)
}

// boshInput is one thing the client sent, for the stream's reader.
type boshInput struct {
	header *xml.StreamHeader // the creation request or a restart
	el     *xml.Element
	n      int  // bytes on the wire, for the read rate
	eof    bool // the client terminated the session
}

// boshReq is a request waiting for its answer.
type boshReq struct {
	rid      uint64
	body     *xml.Element
	size     int
	creation bool
	resp     chan []byte // the answer; buffered
	timer    *time.Timer // answers empty after wait
	answered bool
}

// boshSession is one BOSH session and the c2s.Framing of its stream.
type boshSession struct {
	m        *boshManager
	sid      string
	info     c2s.FramingInfo
	wait     time.Duration
	hold     int
	requests int // the window: rids the client may send ahead
	ack      bool
	maxOut   int // bytes queued for the client before writers wait
	maxIn    int // bytes queued for the stream before requests wait

	mu       sync.Mutex
	next     uint64              // the rid taken next
	early    map[uint64]*boshReq // arrived before their turn
	held     []*boshReq          // waiting for something to send, oldest first
	answers  map[uint64][]byte   // the last answers, for retransmission
	order    []uint64            // rids in answers, oldest first
	unsent   map[uint64]bool     // taken but not answered: the client went away
	in       []boshInput
	inBytes  int
	inWake   chan struct{} // closed when in grows or the session ends
	roomWake chan struct{} // closed when in shrinks
	out      [][]byte
	outBytes int
	outWake  chan struct{} // closed when out is taken
	streamID string
	from     string
	ended    bool
	draining bool   // the server shuts down: answers terminate, writes are dropped
	endCond  string // the terminate condition; "" for a clean end
	readErr  error  // what the reader gets once in is empty and ended
	pause    time.Duration
	idle     *time.Timer // inactivity, while nothing is held

	rdeadline time.Time // the reader's only
	wdeadline time.Time // under mu
}

// create starts a session (XEP-0124 7.1, XEP-0206 3) and holds its
// creation request until the stream's features are ready.
func (m *boshManager) create(w http.ResponseWriter, r *http.Request, body *xml.Element, rid uint64, size int) {
	h := m.h
	if to := body.Attr("to"); !strings.EqualFold(to, h.cfg.Domain) {
		writeBOSH(w, terminateBody("host-unknown", "this server serves "+h.cfg.Domain))
		return
	}
	wait := m.cfg.MaxWait
	if v, err := strconv.Atoi(body.Attr("wait")); err == nil && v >= 0 && time.Duration(v)*time.Second < wait {
		wait = time.Duration(v) * time.Second
	}
	hold := 1
	if v, err := strconv.Atoi(body.Attr("hold")); err == nil && v >= 0 {
		hold = min(v, m.cfg.MaxHold)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	s := &boshSession{
		m:        m,
		sid:      hex.EncodeToString(id[:]),
		info:     c2s.FramingInfo{Transport: "bosh", Remote: h.clientAddr(r), Secure: h.secure(r)},
		wait:     wait,
		hold:     hold,
		requests: hold + 1,
		ack:      body.HasAttr("ack"),
		maxOut:   4 * h.maxBody(),
		maxIn:    2 * h.maxBody(),
		next:     rid + 1,
		early:    make(map[uint64]*boshReq),
		answers:  make(map[uint64][]byte),
		unsent:   make(map[uint64]bool),
	}
	s.in = append(s.in, boshInput{header: &xml.StreamHeader{
		To:        body.Attr("to"),
		Version:   body.AttrNS(nsXBOSH, "version"),
		Lang:      body.AttrNS(xml.NSXML, "lang"),
		ContentNS: xml.NSClient,
	}, n: size})
	s.inBytes += size
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		writeBOSH(w, terminateBody("system-shutdown", "the server is shutting down"))
		return
	}
	m.sessions[s.sid] = s
	m.mu.Unlock()
	if !h.cfg.C2S.ServeFramed(s) {
		m.remove(s)
		writeBOSH(w, terminateBody("remote-connection-failed", "the server takes no more connections"))
		return
	}
	req := &boshReq{rid: rid, body: body, size: size, creation: true, resp: make(chan []byte, 1)}
	s.mu.Lock()
	s.holdLocked(req)
	s.mu.Unlock()
	s.respond(w, r, req)
}

// request handles a request of the session.
func (s *boshSession) request(w http.ResponseWriter, r *http.Request, body *xml.Element, rid uint64, size int) {
	req := &boshReq{rid: rid, body: body, size: size, resp: make(chan []byte, 1)}
	s.mu.Lock()
	// A client that sends faster than its stream is read waits before
	// its next request is taken: what is queued for the stream stays
	// bounded.
	for rid == s.next && !s.ended && s.inBytes > s.maxIn {
		ch := waitOn(&s.roomWake)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
	}
	switch {
	case s.draining && !s.ended:
		s.mu.Unlock()
		writeBOSH(w, terminateBody("system-shutdown", ""))
		return
	case s.ended:
		s.mu.Unlock()
		writeBOSH(w, terminateBody("item-not-found", "the session ended"))
		return
	case rid < s.next:
		// Sent again (XEP-0124 14.3): the answer we gave, or, if it was
		// never given, this request waits in its place.
		if b, ok := s.answers[rid]; ok {
			s.mu.Unlock()
			writeBOSH(w, b)
			return
		}
		if s.unsent[rid] {
			delete(s.unsent, rid)
			s.holdLocked(req)
			s.mu.Unlock()
			s.respond(w, r, req)
			return
		}
		for i, old := range s.held {
			if old.rid == rid {
				// The client gave up on the earlier copy: it gets
				// nothing, this one waits instead.
				s.held[i] = req
				req.timer, old.timer = old.timer, nil
				old.answered = true
				close(old.resp)
				s.mu.Unlock()
				s.respond(w, r, req)
				return
			}
		}
		s.mu.Unlock()
		writeBOSH(w, terminateBody("item-not-found", "rid "+strconv.FormatUint(rid, 10)+" is too old"))
		return
	case rid >= s.next+uint64(s.requests):
		// Outside the window (XEP-0124 14.2): the session ends.
		s.endLocked("item-not-found", io.ErrUnexpectedEOF)
		s.mu.Unlock()
		writeBOSH(w, terminateBody("item-not-found", "rid outside the window"))
		return
	case rid > s.next:
		// Early: it waits for those before it.
		s.early[rid] = req
		s.mu.Unlock()
		s.respond(w, r, req)
		return
	}
	s.takeLocked(req)
	s.mu.Unlock()
	s.respond(w, r, req)
}

// takeLocked takes req, whose turn it is, and the early requests that
// follow it: their contents go to the stream, and they wait for answers.
func (s *boshSession) takeLocked(req *boshReq) {
	for req != nil {
		s.next++
		s.acceptLocked(req)
		req = s.early[s.next]
		delete(s.early, s.next)
	}
}

// acceptLocked hands what req carries to the stream and holds req.
func (s *boshSession) acceptLocked(req *boshReq) {
	body := req.body
	n := req.size
	if v := body.AttrNS(nsXBOSH, "restart"); v == "true" || v == "1" {
		s.in = append(s.in, boshInput{header: &xml.StreamHeader{
			To:        body.Attr("to"),
			Version:   "1.0",
			Lang:      body.AttrNS(xml.NSXML, "lang"),
			ContentNS: xml.NSClient,
		}, n: n})
		s.inBytes += n
		n = 0
	}
	for _, c := range body.Children {
		if c.Elem == nil {
			continue
		}
		s.in = append(s.in, boshInput{el: c.Elem, n: n})
		s.inBytes += n
		n = 0
	}
	if body.Attr("type") == "terminate" {
		s.in = append(s.in, boshInput{eof: true})
	}
	wake(&s.inWake)
	if p, err := strconv.Atoi(body.Attr("pause")); err == nil && p > 0 {
		// Pause (XEP-0124 10): every request is answered now, and the
		// session may go without one for the pause.
		s.holdLocked(req)
		s.pause = min(time.Duration(p)*time.Second, s.m.cfg.MaxPause)
		for len(s.held) > 0 {
			s.answerLocked(s.held[0])
		}
		return
	}
	s.holdLocked(req)
}

// holdLocked makes req wait for something to send, answering the oldest
// held requests when more than hold wait, or at once if something is
// ready.
func (s *boshSession) holdLocked(req *boshReq) {
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.pause = 0
	s.held = append(s.held, req)
	req.timer = time.AfterFunc(s.wait, func() { s.waited(req) })
	// The creation request waits for the stream's features whatever
	// the hold (a polling client's, hold=0, too): its answer carries the
	// session's parameters and authid.
	for len(s.held) > s.hold && !(s.held[0].creation && s.streamID == "") {
		s.answerLocked(s.held[0])
	}
	s.flushLocked()
}

// flushLocked answers the oldest held request if there is something to
// send, or the session ended. A creation request waits for the stream's
// header.
func (s *boshSession) flushLocked() {
	for len(s.held) > 0 && (s.ended || s.draining || len(s.out) > 0 && s.streamID != "") {
		s.answerLocked(s.held[0])
		if !s.ended && !s.draining {
			return
		}
	}
}

// waited answers req, and those before it, when its wait is over.
func (s *boshSession) waited(req *boshReq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.held) > 0 && !req.answered {
		s.answerLocked(s.held[0])
	}
}

// answerLocked answers the held request req with what is queued.
func (s *boshSession) answerLocked(req *boshReq) {
	for i, h := range s.held {
		if h == req {
			s.held = append(s.held[:i], s.held[i+1:]...)
			break
		}
	}
	if req.timer != nil {
		req.timer.Stop()
	}
	req.answered = true
	b := s.bodyLocked(req)
	s.answers[req.rid] = b
	s.order = append(s.order, req.rid)
	for len(s.order) > s.requests+1 {
		delete(s.answers, s.order[0])
		s.order = s.order[1:]
	}
	req.resp <- b
	if len(s.held) == 0 && !s.ended && !s.draining {
		d := s.m.cfg.Inactivity
		if s.pause > 0 {
			d = s.pause
		}
		s.idle = time.AfterFunc(d, s.inactive)
	}
}

// bodyLocked builds the answer to req, taking what is queued.
func (s *boshSession) bodyLocked(req *boshReq) []byte {
	b := []byte("<body xmlns='" + nsBOSH + "'")
	attr := func(name, value string) {
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, "='"...)
		b = append(b, xml.EscapeAttr(value)...)
		b = append(b, '\'')
	}
	if req.creation {
		b = append(b, " xmlns:xmpp='"+nsXBOSH+"' xmlns:stream='"+xml.NSStream+"'"...)
		attr("sid", s.sid)
		attr("wait", strconv.Itoa(int(s.wait/time.Second)))
		attr("requests", strconv.Itoa(s.requests))
		attr("hold", strconv.Itoa(s.hold))
		attr("inactivity", strconv.Itoa(int(s.m.cfg.Inactivity/time.Second)))
		attr("polling", strconv.Itoa(boshPolling))
		attr("maxpause", strconv.Itoa(int(s.m.cfg.MaxPause/time.Second)))
		attr("ver", boshVersion)
		attr("from", s.m.h.cfg.Domain)
		if s.streamID != "" {
			attr("authid", s.streamID)
		}
		attr("xmpp:version", "1.0")
		attr("xmpp:restartlogic", "true")
		if s.ack {
			attr("ack", strconv.FormatUint(req.rid, 10))
		}
	} else if s.ack && s.next-1 != req.rid {
		// The highest rid taken in order, when it is not this one
		// (XEP-0124 9.1).
		attr("ack", strconv.FormatUint(s.next-1, 10))
	}
	switch {
	case s.ended:
		attr("type", "terminate")
		if s.endCond != "" {
			attr("condition", s.endCond)
		}
	case s.draining:
		attr("type", "terminate")
		attr("condition", "system-shutdown")
	}
	b = append(b, '>')
	for _, f := range s.out {
		b = append(b, f...)
	}
	s.out, s.outBytes = nil, 0
	wake(&s.outWake)
	return append(b, "</body>"...)
}

// respond waits for req's answer and writes it. A client that goes away
// first leaves the request taken but unanswered: if it sends the request
// again, that waits in its place.
func (s *boshSession) respond(w http.ResponseWriter, r *http.Request, req *boshReq) {
	select {
	case b, ok := <-req.resp:
		if ok {
			writeBOSH(w, b)
		}
	case <-r.Context().Done():
		s.mu.Lock()
		if !req.answered {
			if s.early[req.rid] == req {
				delete(s.early, req.rid)
			} else {
				for i, h := range s.held {
					if h == req {
						s.held = append(s.held[:i], s.held[i+1:]...)
						req.timer.Stop()
						req.answered = true
						s.unsent[req.rid] = true
						// Only the window's rids can be sent again.
						for rid := range s.unsent {
							if rid+uint64(s.requests)+1 < s.next {
								delete(s.unsent, rid)
							}
						}
						break
					}
				}
				if len(s.held) == 0 && !s.ended && !s.draining && s.idle == nil {
					s.idle = time.AfterFunc(s.m.cfg.Inactivity, s.inactive)
				}
			}
		}
		s.mu.Unlock()
	}
}

// inactive ends a session that had no request for its inactivity: its
// connection is lost (a resumable stream waits for its client).
func (s *boshSession) inactive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) > 0 || s.ended {
		return
	}
	s.m.h.log.Debug("BOSH session inactive", "sid", s.sid, "remote", s.info.Remote.String())
	s.endLocked("", io.ErrUnexpectedEOF)
}

// endLocked ends the session: held requests are answered with the
// terminate condition cond, the reader gets readErr, writers fail.
func (s *boshSession) endLocked(cond string, readErr error) {
	if s.ended {
		return
	}
	s.ended = true
	s.endCond = cond
	s.readErr = readErr
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	for _, req := range s.early {
		req.answered = true
		req.resp <- terminateBody("item-not-found", "the session ended")
	}
	s.early = nil
	s.flushLocked()
	wake(&s.inWake)
	wake(&s.outWake)
	wake(&s.roomWake)
	s.m.remove(s)
}

// wake closes *ch, if any, for those waiting on it.
func wake(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}

// waitOn returns the channel *ch, made if needed, to wait for a wake.
func waitOn(ch *chan struct{}) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

// nextInput returns the next thing the client sent, by the read deadline.
func (s *boshSession) nextInput() (boshInput, error) {
	var timeout <-chan time.Time
	if !s.rdeadline.IsZero() {
		t := time.NewTimer(time.Until(s.rdeadline))
		defer t.Stop()
		timeout = t.C
	}
	s.mu.Lock()
	for len(s.in) == 0 {
		if s.ended {
			err := s.readErr
			s.mu.Unlock()
			return boshInput{}, err
		}
		ch := waitOn(&s.inWake)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return boshInput{}, timeoutError{}
		}
		s.mu.Lock()
	}
	in := s.in[0]
	s.in[0] = boshInput{}
	s.in = s.in[1:]
	if len(s.in) == 0 {
		s.in = nil
	}
	s.inBytes -= in.n
	wake(&s.roomWake)
	s.mu.Unlock()
	return in, nil
}

// ReadHeader implements c2s.Framing: the creation request, or a restart.
func (s *boshSession) ReadHeader() (xml.StreamHeader, error) {
	in, err := s.nextInput()
	switch {
	case err != nil:
		return xml.StreamHeader{}, err
	case in.eof:
		return xml.StreamHeader{}, io.EOF
	case in.header == nil:
		return xml.StreamHeader{}, xmpperr.Stream(xmpperr.PolicyViolation, "restart the stream (xmpp:restart='true') first")
	}
	return *in.header, nil
}

// Next implements c2s.Framing.
func (s *boshSession) Next() (*xml.Element, int, error) {
	in, err := s.nextInput()
	switch {
	case err != nil:
		return nil, 0, err
	case in.eof:
		return nil, 0, io.EOF
	case in.header != nil:
		return nil, 0, xmpperr.Stream(xmpperr.PolicyViolation, "a restart only follows authentication")
	}
	return in.el, in.n, nil
}

// SetReadDeadline implements c2s.Framing.
func (s *boshSession) SetReadDeadline(t time.Time) { s.rdeadline = t }

// WriteHeader implements c2s.Framing: the stream's id and from go into
// the creation response.
func (s *boshSession) WriteHeader(h stream.Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamID, s.from = h.ID, h.From
	s.flushLocked()
	return nil
}

// Write implements c2s.Framing.
func (s *boshSession) Write(b []byte) error { return s.WriteBatch([][]byte{b}) }

// WriteBatch implements c2s.Batcher: the frames go out together, in the
// answer to the oldest held request. With none held and much queued,
// it waits for the client's next request until the write deadline.
func (s *boshSession) WriteBatch(frames [][]byte) error {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.ended && !s.draining && s.outBytes > 0 && s.outBytes+n > s.maxOut {
		ch := waitOn(&s.outWake)
		d := s.wdeadline
		s.mu.Unlock()
		var timeout <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			timeout = t.C
			defer t.Stop()
		}
		select {
		case <-ch:
			s.mu.Lock()
		case <-timeout:
			s.mu.Lock()
			return timeoutError{}
		}
	}
	if s.ended {
		return net.ErrClosed
	}
	if s.draining {
		return nil
	}
	for _, f := range frames {
		s.out = append(s.out, append([]byte(nil), f...))
	}
	s.outBytes += n
	s.flushLocked()
	return nil
}

// SetWriteDeadline implements c2s.Framing.
func (s *boshSession) SetWriteDeadline(t time.Time) {
	s.mu.Lock()
	s.wdeadline = t
	s.mu.Unlock()
}

// Close implements c2s.Framing: the stream error, if any, goes out with
// the terminate (remote-stream-error, XEP-0206 7).
func (s *boshSession) Close(se *xmpperr.StreamError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	cond := ""
	if se != nil {
		b := c2s.AppendFramed(nil, se.Element())
		s.out = append(s.out, b)
		cond = "remote-stream-error"
	}
	s.endLocked(cond, net.ErrClosed)
}

// Abort implements c2s.Framing.
func (s *boshSession) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked("remote-connection-failed", net.ErrClosed)
}

// Info implements c2s.Framing.
func (s *boshSession) Info() c2s.FramingInfo { return s.info }
