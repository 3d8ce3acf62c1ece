// Package adhoc is Ad-Hoc Commands (XEP-0050) answered by the server's
// own JID: command discovery (disco#items on the node
// http://jabber.org/protocol/commands, disco#info on each command's
// node), and execution in sessions that carry data forms (XEP-0004) from
// stage to stage.
//
// A Command names its node and who may see and run it; each session of
// it gets a Handler of its own, which is asked for one Response per
// request. The Service keeps the sessions: it checks that a request's
// action is one the last stage allowed, ends sessions that complete, are
// cancelled, fail or sit unused for the configured timeout, and bounds
// how many one requester may have open. The server's commands are the
// ping every user may run and the service administration of XEP-0133
// (admin.go) for the accounts in admins.
package adhoc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the ad-hoc commands namespace, and the disco node under which
// the commands are listed.
const NS = "http://jabber.org/protocol/commands"

// Defaults for Config.
const (
	// DefaultSessionTimeout is how long a session may wait for the
	// requester's next step.
	DefaultSessionTimeout = 10 * time.Minute
	// DefaultMaxSessions bounds the open sessions of one requester (bare
	// JID); starting one more ends the least recently used.
	DefaultMaxSessions = 8
	// MaxSessionsTotal bounds the open sessions of all requesters; past
	// it a new session is refused with resource-constraint.
	MaxSessionsTotal = 10000
)

// Action is what a requester asks of a session.
type Action string

// The actions of XEP-0050 section 4.
const (
	Execute  Action = "execute"
	Next     Action = "next"
	Prev     Action = "prev"
	Complete Action = "complete"
	Cancel   Action = "cancel"
)

// NoteType is the severity of a note.
type NoteType string

// Note types of XEP-0050 section 4.
const (
	Info  NoteType = "info"
	Warn  NoteType = "warn"
	Error NoteType = "error"
)

// Note is a human-readable note in a response.
type Note struct {
	Type NoteType
	Text string
}

// Request is one step of a session as its Handler sees it.
type Request struct {
	// From is the requester's full JID.
	From jid.JID
	// Action is Execute for the session's first request, else Next,
	// Prev or Complete: an "execute" is given as the stage's default.
	Action Action
	// Form is the submitted data form, nil when the request carries none.
	Form *dataform.Form
}

// Response is a Handler's answer to one step.
type Response struct {
	// Done completes the session; otherwise it goes on executing.
	Done bool
	// Form is a form to fill in (executing) or a result (completed).
	Form *dataform.Form
	// Notes are shown to the user. A command that completes but fails
	// must carry a note of type Error (XEP-0050 section 3.4).
	Notes []Note
	// Actions are the actions the next step may take (Next, Prev,
	// Complete; Cancel is always allowed), and Default the one "execute"
	// means. Executing responses only.
	Actions []Action
	Default Action
}

// Handler runs one session of a command. Step is called for each of the
// session's requests, one at a time. An error ends the session and is
// the requester's answer: a *xmpperr.StanzaError as it is (see
// BadPayload), anything else as internal-server-error.
type Handler interface {
	Step(ctx context.Context, req Request) (Response, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request) (Response, error)

// Step calls f.
func (f HandlerFunc) Step(ctx context.Context, req Request) (Response, error) { return f(ctx, req) }

// Command is one command of the server.
type Command struct {
	// Node identifies the command; Name labels it in menus.
	Node string
	Name string
	// Allowed reports whether the requester (a full JID) may see and run
	// the command; nil allows everyone.
	Allowed func(from jid.JID) bool
	// New returns the Handler of a new session.
	New func() Handler
}

func (c *Command) allowed(from jid.JID) bool { return c.Allowed == nil || c.Allowed(from) }

// Config is what a Service is built from.
type Config struct {
	// Domain is the server's JID, which answers the commands.
	Domain string
	// SessionTimeout ends a session left unused this long; 0 means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// MaxSessions bounds one requester's open sessions; 0 means
	// DefaultMaxSessions.
	MaxSessions int
	Logger      *slog.Logger
	// Now is the clock, time.Now when nil.
	Now func() time.Time
}

// Service answers ad-hoc commands. It is safe for concurrent use.
type Service struct {
	domain  string
	timeout time.Duration
	max     int
	log     *slog.Logger
	now     func() time.Time
	secret  []byte

	commands []*Command // in the order added; set before serving

	mu        sync.Mutex
	sessions  map[string]*session
	byOwner   map[jid.JID][]*session // by the requester's bare JID, least recently used first
	lastSweep time.Time
}

// session is one execution of a command.
type session struct {
	id    string
	cmd   *Command
	owner jid.JID // the requester's full JID
	h     Handler

	// step serialises the session's requests; the fields below it are
	// the Service's, under its mu.
	step    sync.Mutex
	last    Response
	used    time.Time
	started bool
	ended   bool
}

// New returns a Service without commands.
func New(cfg Config) *Service {
	s := &Service{
		domain:   cfg.Domain,
		timeout:  cfg.SessionTimeout,
		max:      cfg.MaxSessions,
		log:      cfg.Logger,
		now:      cfg.Now,
		secret:   make([]byte, 32),
		sessions: make(map[string]*session),
		byOwner:  make(map[jid.JID][]*session),
	}
	if s.timeout <= 0 {
		s.timeout = DefaultSessionTimeout
	}
	if s.max <= 0 {
		s.max = DefaultMaxSessions
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if _, err := rand.Read(s.secret); err != nil {
		panic("adhoc: no randomness: " + err.Error())
	}
	return s
}

// Add makes c one of the server's commands. It must be called before the
// service is used; a node is added once.
func (s *Service) Add(c Command) {
	if c.Node == "" || c.New == nil || s.command(c.Node) != nil {
		panic("adhoc: bad or repeated command " + c.Node)
	}
	s.commands = append(s.commands, &c)
}

func (s *Service) command(node string) *Command {
	for _, c := range s.commands {
		if c.Node == node {
			return c
		}
	}
	return nil
}

// Register installs the command handler for requests to the server and
// advertises ad-hoc commands in the server's disco#info. The command
// list and the commands' disco#info are answered through disco
// (NodeInfo, NodeItems).
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "command", iq.Server, s.handle)
	m.Feature(iq.Server, NS)
}

// NodeInfo answers disco#info about the command list and each command
// (XEP-0050 section 2.2); a command the requester may not run is
// forbidden, as the XEP says.
func (s *Service) NodeInfo(ctx context.Context, req iq.Request, node string) (*xml.Element, error) {
	q := xml.New(stanza.NSDiscoInfo, "query", "node", node)
	if node == NS {
		return q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "automation", "type", "command-list", "name", "Ad-Hoc Commands")), nil
	}
	c := s.command(node)
	if c == nil {
		return nil, nil
	}
	if !c.allowed(req.From) {
		return nil, xmpperr.New(xmpperr.Forbidden, "this command is not available to you")
	}
	q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "automation", "type", "command-node", "name", c.Name))
	q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", NS))
	q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", dataform.NS))
	return q, nil
}

// NodeItems lists the commands the requester may run (XEP-0050 section
// 2.2); nobody sees a command they may not run.
func (s *Service) NodeItems(ctx context.Context, req iq.Request, node string) (*xml.Element, error) {
	if node != NS {
		return nil, nil
	}
	q := xml.New(stanza.NSDiscoItem, "query", "node", NS)
	for _, c := range s.commands {
		if c.allowed(req.From) {
			q.Append(xml.New(stanza.NSDiscoItem, "item", "jid", s.domain, "node", c.Node, "name", c.Name))
		}
	}
	return q, nil
}

// The command errors of XEP-0050 section 4.6.

func cmdError(c xmpperr.Condition, app, text string) *xmpperr.StanzaError {
	return xmpperr.New(c, text).WithApp(xml.New(NS, app))
}

// BadPayload is the error for a submitted form the command cannot take
// (a required field missing, values that do not fit).
func BadPayload(text string) *xmpperr.StanzaError {
	return cmdError(xmpperr.BadRequest, "bad-payload", text)
}

func malformedAction(a string) *xmpperr.StanzaError {
	return cmdError(xmpperr.BadRequest, "malformed-action", "unknown action "+a)
}

func badAction(a Action) *xmpperr.StanzaError {
	return cmdError(xmpperr.BadRequest, "bad-action", "action "+string(a)+" is not allowed at this stage")
}

func badSessionID(text string) *xmpperr.StanzaError {
	return cmdError(xmpperr.BadRequest, "bad-sessionid", text)
}

func sessionExpired() *xmpperr.StanzaError {
	return cmdError(xmpperr.NotAllowed, "session-expired", "the session has ended or timed out")
}

// handle answers one <command/> request.
func (s *Service) handle(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "set" {
		return nil, xmpperr.New(xmpperr.BadRequest, "commands are executed with an iq of type set")
	}
	p := req.Payload
	node := p.Attr("node")
	if node == "" {
		return nil, xmpperr.New(xmpperr.BadRequest, "a command needs a node")
	}
	c := s.command(node)
	if c == nil {
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no such command")
	}
	if !c.allowed(req.From) {
		return nil, xmpperr.New(xmpperr.Forbidden, "you may not run this command")
	}
	action := Action(p.Attr("action"))
	switch action {
	case "":
		action = Execute
	case Execute, Next, Prev, Complete, Cancel:
	default:
		return nil, malformedAction(string(action))
	}
	form, err := submitted(p)
	if err != nil {
		return nil, err
	}
	id := p.Attr("sessionid")
	var se *session
	if id == "" {
		// A new session: execute, or complete for a requester that
		// fills the form in without asking for it first.
		if action != Execute && action != Complete {
			return nil, badSessionID("action " + string(action) + " needs a session")
		}
		if se, err = s.start(c, req.From); err != nil {
			return nil, err
		}
		action = Execute
	} else if se, err = s.lookup(c, req.From, id); err != nil {
		return nil, err
	}
	se.step.Lock()
	defer se.step.Unlock()
	return s.step(ctx, se, action, form)
}

// submitted returns the data form of a command request, nil when it has
// none. XEP-0050 section 3.4.1: a cancelled form counts as submitted. A
// form sent back with its type left at "form" counts too (aioxmpp sends
// the form it got, filled in place); only a result is no submission.
func submitted(p *xml.Element) (*dataform.Form, error) {
	x := dataform.Find(p)
	if x == nil {
		return nil, nil
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return nil, BadPayload(err.Error())
	}
	if f.Type == dataform.TypeResult {
		return nil, BadPayload("a requester submits forms (type submit), not results")
	}
	return f, nil
}

// step runs one request of se, whose step lock the caller holds.
func (s *Service) step(ctx context.Context, se *session, action Action, form *dataform.Form) (*xml.Element, error) {
	s.mu.Lock()
	if se.ended {
		s.mu.Unlock()
		return nil, sessionExpired()
	}
	first := !se.started
	last := se.last
	s.mu.Unlock()
	if action == Cancel {
		s.end(se)
		return s.reply(se, "canceled", Response{}), nil
	}
	if !first {
		if action == Execute {
			action = last.Default
			if action == "" {
				// XEP-0050 section 3.4: without a default, execute
				// is complete.
				action = Complete
			}
		}
		if !slices.Contains(last.Actions, action) {
			return nil, badAction(action)
		}
	}
	res, err := se.h.Step(ctx, Request{From: se.owner, Action: action, Form: form})
	if err != nil {
		s.end(se)
		return nil, err
	}
	if res.Done {
		s.end(se)
		return s.reply(se, "completed", res), nil
	}
	s.mu.Lock()
	se.started = true
	se.last = res
	se.used = s.now()
	s.touch(se)
	s.mu.Unlock()
	return s.reply(se, "executing", res), nil
}

// reply renders the <command/> of a response.
func (s *Service) reply(se *session, status string, res Response) *xml.Element {
	c := xml.New(NS, "command", "node", se.cmd.Node, "sessionid", se.id, "status", status)
	c.Attrs = append(c.Attrs, xml.Attr{Space: xml.NSXML, Local: "lang", Value: "en"})
	if status == "executing" {
		actions := xml.New(NS, "actions")
		actions.SetAttr("execute", string(res.Default))
		for _, a := range res.Actions {
			actions.Append(xml.New(NS, string(a)))
		}
		c.Append(actions)
	}
	for _, n := range res.Notes {
		t := n.Type
		if t == "" {
			t = Info
		}
		c.Append(xml.New(NS, "note", "type", string(t)).AppendText(n.Text))
	}
	if res.Form != nil {
		c.Append(res.Form.Element())
	}
	return c
}

// sessionID returns an id for a session of node by owner: random, with a
// tag only this service can make, so that an id it made and that has
// ended (session-expired) is told from one it never gave this requester
// for this command (bad-sessionid).
func (s *Service) sessionID(node string, owner jid.JID) string {
	r := rand.Text()[:16]
	return r + "." + s.tag(r, node, owner)
}

func (s *Service) tag(r, node string, owner jid.JID) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(r))
	m.Write([]byte{0})
	m.Write([]byte(node))
	m.Write([]byte{0})
	m.Write([]byte(owner.String()))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// start opens a session of c for owner, ending owner's least recently
// used session when it has as many as allowed.
func (s *Service) start(c *Command, owner jid.JID) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	bare := owner.Bare()
	if open := s.byOwner[bare]; len(open) >= s.max {
		s.log.Debug("adhoc: too many sessions; ending the least recently used", "requester", owner.String(), "command", open[0].cmd.Node)
		s.endLocked(open[0])
	}
	if len(s.sessions) >= MaxSessionsTotal {
		return nil, xmpperr.New(xmpperr.ResourceConstraintC, "too many command sessions are open; try again later")
	}
	se := &session{id: s.sessionID(c.Node, owner), cmd: c, owner: owner, h: c.New(), used: now}
	s.sessions[se.id] = se
	s.byOwner[bare] = append(s.byOwner[bare], se)
	return se, nil
}

// lookup finds the session id of c that owner continues.
func (s *Service) lookup(c *Command, owner jid.JID, id string) (*session, error) {
	r, tag, ok := strings.Cut(id, ".")
	if !ok || !hmac.Equal([]byte(tag), []byte(s.tag(r, c.Node, owner))) {
		return nil, badSessionID("no such session of this command for you")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	se := s.sessions[id]
	if se == nil {
		return nil, sessionExpired()
	}
	if now.Sub(se.used) >= s.timeout {
		s.endLocked(se)
		return nil, sessionExpired()
	}
	return se, nil
}

// sweep ends the sessions unused for the timeout, at most twice per
// timeout.
func (s *Service) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < s.timeout/2 {
		return
	}
	s.lastSweep = now
	for _, se := range s.sessions {
		if now.Sub(se.used) >= s.timeout {
			s.endLocked(se)
		}
	}
}

// touch moves se to the end of its owner's list (most recently used).
func (s *Service) touch(se *session) {
	bare := se.owner.Bare()
	l := slices.DeleteFunc(s.byOwner[bare], func(o *session) bool { return o == se })
	s.byOwner[bare] = append(l, se)
}

func (s *Service) end(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(se)
}

func (s *Service) endLocked(se *session) {
	if se.ended {
		return
	}
	se.ended = true
	delete(s.sessions, se.id)
	bare := se.owner.Bare()
	l := slices.DeleteFunc(s.byOwner[bare], func(o *session) bool { return o == se })
	if len(l) == 0 {
		delete(s.byOwner, bare)
	} else {
		s.byOwner[bare] = l
	}
}

// Sessions returns the number of open sessions.
func (s *Service) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
