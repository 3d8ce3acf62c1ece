// Package router is the one place that decides where a stanza goes: to a
// local session, to a local account (and the features acting for it), to
// a component on its own domain (such as the MUC service), or off the
// server. It applies RFC 6121's delivery rules for messages, iqs and
// presences addressed to local accounts.
//
// Features plug in through small interfaces declared here: Handlers for
// what the server answers itself, Offline and Archiver hooks for message
// delivery, and Interceptors that see stanzas between sessions and the
// router before anything else does (account-based group chat is one).
package router

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Component receives every stanza addressed to its domain.
type Component interface {
	RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// ComponentFunc adapts a function to Component.
type ComponentFunc func(ctx context.Context, el *xml.Element, from, to jid.JID)

// RouteStanza calls f.
func (f ComponentFunc) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	f(ctx, el, from, to)
}

// Handlers answer what is addressed to the server or to an account rather
// than to a session. The server composes them from feature packages.
type Handlers interface {
	// ServerStanza handles a stanza addressed to the local domain itself
	// (or domain/resource): service discovery, ping, version and so on.
	ServerStanza(ctx context.Context, el *xml.Element, from, to jid.JID)
	// AccountIQ handles an iq addressed to a local account's bare JID,
	// including a session's iq to its own account (roster, vCard...).
	AccountIQ(ctx context.Context, el *xml.Element, from, to jid.JID)
	// Presence handles a presence addressed to a local account's bare or
	// full JID: subscriptions, probes, and availability from contacts.
	Presence(ctx context.Context, el *xml.Element, from, to jid.JID)
	// SessionPresence handles every presence a local session sends:
	// broadcast (to is zero), directed, and subscription management. It
	// routes what must go out itself.
	SessionPresence(ctx context.Context, s Session, el *xml.Element, to jid.JID)
	// AccountExists reports whether the local account exists.
	AccountExists(ctx context.Context, local string) bool
}

// Offline keeps messages for accounts with no available session
// (XEP-0160). Store returns an error when the message cannot be kept
// (quota); the router then answers service-unavailable. Flush delivers
// what is kept for the account of s to s and deletes it, serialised per
// account; the router calls it when a resource became available while it
// was storing (see Router.storeOffline).
type Offline interface {
	StoreOffline(ctx context.Context, user jid.JID, el *xml.Element) error
	Flush(ctx context.Context, s Session) (int, error)
}

// Archiver stores messages in personal archives (XEP-0313). Archive
// decides by the account's preferences whether el is kept, and returns
// the archive id to stamp as <stanza-id by=owner>, or "" if not kept.
type Archiver interface {
	Archive(ctx context.Context, owner, with jid.JID, el *xml.Element, incoming bool) string
}

// Watcher learns of each message a local account received: handed to one
// of its sessions, or kept offline. Push notifications (XEP-0357) watch.
// MessageDelivered runs on the sender's goroutine after delivery, so it
// must be quick (a map lookup when the account has nobody watching) and
// must not change el.
type Watcher interface {
	MessageDelivered(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// Interceptor sees stanzas before the router decides on them and may
// consume them. Interceptors must be quick: they run on the sender's
// goroutine.
type Interceptor interface {
	// FromSession is called for every stanza a local session sends, after
	// its from was stamped. Returning true consumes it.
	FromSession(ctx context.Context, s Session, el *xml.Element, to jid.JID) bool
	// ToLocal is called for every stanza addressed to a local account's
	// bare or full JID. Returning true consumes it.
	ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool
}

// Config is what a Router is built from.
type Config struct {
	Domain       string
	Registry     *Registry
	Handlers     Handlers
	Offline      Offline  // optional
	Archiver     Archiver // optional
	Interceptors []Interceptor
	Logger       *slog.Logger
}

// Router routes stanzas. It is safe for concurrent use.
type Router struct {
	domain       string
	reg          *Registry
	h            Handlers
	offline      Offline
	archiver     Archiver
	watcher      Watcher
	interceptors []Interceptor
	log          *slog.Logger

	mu         sync.RWMutex
	components map[string]Component
	remote     Component

	Stats Stats
}

// Stats are counters the metrics package exports.
type Stats struct {
	Routed         atomic.Uint64 // stanzas routed
	DeliveredLocal atomic.Uint64 // stanzas handed to local sessions
	Offline        atomic.Uint64 // messages stored offline
	Bounced        atomic.Uint64 // error replies generated by routing rules
	Carbons        atomic.Uint64 // carbon copies delivered
}

// New returns a Router.
func New(cfg Config) *Router {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Router{
		domain:       cfg.Domain,
		reg:          cfg.Registry,
		h:            cfg.Handlers,
		offline:      cfg.Offline,
		archiver:     cfg.Archiver,
		interceptors: cfg.Interceptors,
		log:          log,
		components:   make(map[string]Component),
	}
}

// Domain returns the local domain.
func (r *Router) Domain() string { return r.domain }

// Registry returns the session registry.
func (r *Router) Registry() *Registry { return r.reg }

// SetHandlers sets the handlers; it exists because handlers and router
// refer to each other and one must be built first.
func (r *Router) SetHandlers(h Handlers) { r.h = h }

// SetOffline sets the offline store.
func (r *Router) SetOffline(o Offline) { r.offline = o }

// SetArchiver sets the personal archive.
func (r *Router) SetArchiver(a Archiver) { r.archiver = a }

// SetWatcher sets who learns of delivered messages. It must be called
// before the router is used.
func (r *Router) SetWatcher(w Watcher) { r.watcher = w }

// AddInterceptor appends an interceptor. It must be called before the
// router is used.
func (r *Router) AddInterceptor(i Interceptor) { r.interceptors = append(r.interceptors, i) }

// ReplaceInterceptor puts i where old is in the interceptors' order (a
// cluster node wraps account joins so). It must be called before the
// router is used.
func (r *Router) ReplaceInterceptor(old, i Interceptor) {
	for k, ic := range r.interceptors {
		if ic == old {
			r.interceptors[k] = i
		}
	}
}

// AddComponent makes c receive every stanza addressed to domain.
func (r *Router) AddComponent(domain string, c Component) {
	r.mu.Lock()
	r.components[domain] = c
	r.mu.Unlock()
}

// RemoveComponent removes the component of domain.
func (r *Router) RemoveComponent(domain string) {
	r.mu.Lock()
	delete(r.components, domain)
	r.mu.Unlock()
}

// SetRemote sets where stanzas for other domains go (s2s). Without it
// they are answered with remote-server-not-found.
func (r *Router) SetRemote(c Component) {
	r.mu.Lock()
	r.remote = c
	r.mu.Unlock()
}

// IsLocal reports whether domain is served by this router (the local
// domain or one of its components).
func (r *Router) IsLocal(domain string) bool {
	if domain == r.domain {
		return true
	}
	r.mu.RLock()
	_, ok := r.components[domain]
	r.mu.RUnlock()
	return ok
}

// FromSession routes a stanza sent by a local session. The caller has
// stamped from with the session's full JID and parsed to (zero when the
// stanza had none). Stanzas without to, or to the account's own bare
// JID, are handled for the account (RFC 6120 10.3 / 10.5).
func (r *Router) FromSession(ctx context.Context, s Session, el *xml.Element, to jid.JID) {
	r.Stats.Routed.Add(1)
	for _, ic := range r.interceptors {
		if ic.FromSession(ctx, s, el, to) {
			return
		}
	}
	from := s.JID()
	switch el.Local {
	case stanza.Presence:
		r.h.SessionPresence(ctx, s, el, to)
		return
	case stanza.IQ:
		if to.IsZero() || to == from.Bare() {
			r.h.AccountIQ(ctx, el, from, from.Bare())
			return
		}
	case stanza.Message:
		if to.IsZero() {
			to = from.Bare()
		}
		if r.archiver != nil && to.Bare() != from.Bare() {
			r.archiver.Archive(ctx, from.Bare(), to, el, false)
		}
		r.sentCarbons(s, el, to)
	}
	r.route(ctx, el, from, to)
}

// Route routes a stanza from anywhere (a component, the server itself, a
// remote server) to to. from must already be trustworthy.
func (r *Router) Route(ctx context.Context, el *xml.Element, from, to jid.JID) {
	r.Stats.Routed.Add(1)
	r.route(ctx, el, from, to)
}

// RouteElement is Route with from and to read from el's attributes; it is
// for stanzas the server builds itself. Unparseable addresses are logged
// and the stanza dropped, since the server made them.
func (r *Router) RouteElement(ctx context.Context, el *xml.Element) {
	from, err := stanza.From(el)
	if err != nil {
		r.log.Error("route: bad from in server-built stanza", "err", err)
		return
	}
	to, err := stanza.To(el)
	if err != nil {
		r.log.Error("route: bad to in server-built stanza", "err", err)
		return
	}
	r.Route(ctx, el, from, to)
}

func (r *Router) route(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if to.Domain == r.domain {
		r.routeLocal(ctx, el, from, to)
		return
	}
	r.mu.RLock()
	c, ok := r.components[to.Domain]
	remote := r.remote
	r.mu.RUnlock()
	if ok {
		c.RouteStanza(ctx, el, from, to)
		return
	}
	if remote != nil {
		remote.RouteStanza(ctx, el, from, to)
		return
	}
	r.Bounce(ctx, el, xmpperr.New(xmpperr.RemoteServerNotFound, ""))
}

// Bounce answers el with the stanza error se, routed back to its sender.
// Errors and results are never answered (RFC 6120 8.3.1).
func (r *Router) Bounce(ctx context.Context, el *xml.Element, se *xmpperr.StanzaError) {
	t := el.Attr("type")
	if t == "error" || t == "result" {
		return
	}
	reply := stanza.ErrorReply(el, se)
	if reply == nil {
		return
	}
	if reply.Attr("from") == "" {
		// A stanza without to was addressed to the sender's account or
		// server; the error comes from there.
		reply.SetAttr("from", r.domain)
	}
	r.Stats.Bounced.Add(1)
	r.RouteElement(ctx, reply)
}

func (r *Router) routeLocal(ctx context.Context, el *xml.Element, from, to jid.JID) {
	for _, ic := range r.interceptors {
		if ic.ToLocal(ctx, el, from, to) {
			return
		}
	}
	if to.Local == "" {
		r.h.ServerStanza(ctx, el, from, to)
		return
	}
	switch el.Local {
	case stanza.Message:
		r.deliverMessage(ctx, el, from, to)
	case stanza.Presence:
		r.h.Presence(ctx, el, from, to)
	case stanza.IQ:
		if to.IsBare() {
			r.h.AccountIQ(ctx, el, from, to)
			return
		}
		if s := r.reg.Get(to); s != nil && s.Deliver(el) {
			r.Stats.DeliveredLocal.Add(1)
			return
		}
		// RFC 6121 8.5.3.2.3: no such resource.
		r.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
	}
}
