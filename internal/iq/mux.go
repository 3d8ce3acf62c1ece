// Package iq dispatches iq requests to feature handlers by the namespace
// and name of their payload, separately for requests addressed to the
// server and to an account, and collects the disco#info features that
// each registration advertises.
package iq

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Request is one iq get or set.
type Request struct {
	IQ      *xml.Element
	Payload *xml.Element // the single child element
	Type    string       // "get" or "set"
	From    jid.JID      // authenticated sender
	To      jid.JID      // the addressed entity (the account's bare JID for self requests)
}

// Self reports whether an account sends the request to itself.
func (r Request) Self() bool { return !r.From.IsZero() && r.From.Bare() == r.To && r.To.Local != "" }

// Handler answers a request with the result payload (nil for an empty
// result) or an error; a *xmpperr.StanzaError is sent as is, any other
// error becomes internal-server-error and is logged.
type Handler func(ctx context.Context, req Request) (*xml.Element, error)

// Target says which addresses a handler serves.
type Target int

const (
	// Server: requests to the domain itself.
	Server Target = 1 << iota
	// Self: requests from an account to its own bare JID (or with no to).
	Self
	// Account: requests from anyone to a local account's bare JID,
	// answered by the server on the account's behalf.
	Account
)

type key struct{ space, local string }

type entry struct {
	targets Target
	h       Handler
}

// Mux routes requests to handlers. Register everything before serving.
type Mux struct {
	log *slog.Logger

	mu       sync.RWMutex
	handlers map[key][]entry
	features map[Target]map[string]struct{}
}

// NewMux returns an empty Mux.
func NewMux(log *slog.Logger) *Mux {
	if log == nil {
		log = slog.Default()
	}
	return &Mux{log: log, handlers: make(map[key][]entry), features: make(map[Target]map[string]struct{})}
}

// Handle registers h for payloads <local xmlns=space/> sent to targets.
func (m *Mux) Handle(space, local string, targets Target, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{space, local}
	m.handlers[k] = append(m.handlers[k], entry{targets, h})
}

// Feature advertises a disco#info feature var on the given targets.
func (m *Mux) Feature(targets Target, vars ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range []Target{Server, Self, Account} {
		if targets&t == 0 {
			continue
		}
		if m.features[t] == nil {
			m.features[t] = make(map[string]struct{})
		}
		for _, v := range vars {
			m.features[t][v] = struct{}{}
		}
	}
}

// Features returns the sorted feature vars advertised for target.
func (m *Mux) Features(t Target) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.features[t]))
	for v := range m.features[t] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Serve answers the iq el addressed to target and returns the reply to
// route back, or nil when el needs no reply (a result or error).
func (m *Mux) Serve(ctx context.Context, el *xml.Element, from, to jid.JID, target Target) *xml.Element {
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	payloads := el.Elements()
	if len(payloads) != 1 {
		// RFC 6120 8.2.3: exactly one payload in get and set.
		return stanza.ErrorReply(el, xmpperr.New(xmpperr.BadRequest, "an iq get or set must have exactly one child"))
	}
	p := payloads[0]
	m.mu.RLock()
	var h Handler
	for _, e := range m.handlers[key{p.Space, p.Local}] {
		if e.targets&target != 0 {
			h = e.h
			break
		}
	}
	m.mu.RUnlock()
	if h == nil {
		return stanza.ErrorReply(el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
	res, err := h(ctx, Request{IQ: el, Payload: p, Type: typ, From: from, To: to})
	if err != nil {
		var se *xmpperr.StanzaError
		if !errors.As(err, &se) {
			m.log.ErrorContext(ctx, "iq handler failed", "ns", p.Space, "from", from.String(), "err", err)
			se = xmpperr.New(xmpperr.InternalServerErrorC, "")
		}
		return stanza.ErrorReply(el, se)
	}
	reply := stanza.Result(el, res)
	if reply.Attr("from") == "" && target != Server {
		reply.SetAttr("from", to.String())
	}
	return reply
}
