// Package pubsubsvc is minimix's generic Publish-Subscribe service
// (XEP-0060) on a domain of its own (pubsub.<domain>), routed as a
// router.Component like the MUC service: nodes that accounts create,
// configure and delete, explicit subscriptions (with the pubsub#deliver
// option), items with ids kept in storage, notifications with or without
// payloads, owner, publisher, member and outcast affiliations, and the
// open, authorize (owners approve subscriptions) and whitelist access
// models.
//
// It shares the protocol's vocabulary with PEP (package pubsub: errors,
// node configuration forms, request parsing, notification payloads) and
// keeps its nodes and items through the same storage interface
// (storage.PEP), under an owner key no account can have (StoreKey).
//
// The nodes' records (configuration, affiliations, subscriptions) are
// loaded at Start and kept in memory; items are read from storage when
// asked for. Each node has a lock that orders its changes: a change is
// decided, stored and notified under it, so that subscribers see the
// changes in the order they were stored. Notifications are routed without
// blocking (a local session's queue, or a component), and the service's
// own stanzas that come back (errors of notifications) take no lock.
package pubsubsvc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Who may create nodes (Config.Creation).
const (
	CreateAnyone = "anyone"
	CreateLocal  = "local"
	CreateAdmins = "admins"
)

// Defaults for Config's bounds.
const (
	DefaultMaxNodes         = 10000
	DefaultMaxNodesPerOwner = 100
	DefaultMaxItems         = 1000
	DefaultMaxPayloadBytes  = 250000
	DefaultMaxSubscriptions = 1000
	// DefaultNodeMaxItems is how many items a node created without
	// pubsub#max_items keeps (at most MaxItems).
	DefaultNodeMaxItems = 256
)

// nsPing is XEP-0199, which the service answers.
const nsPing = "urn:xmpp:ping"

// Router is where the service sends what it routes: the server's router.
// Route must not block.
type Router interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// Config is what a Service is built from. Zero bounds take the defaults.
type Config struct {
	// Domain is the service's domain ("pubsub.example.net").
	Domain string
	// ServerDomain is the local accounts' domain, for CreateLocal.
	ServerDomain string
	// Creation is CreateAnyone, CreateLocal or CreateAdmins.
	Creation string
	// Admins own every node (bare JIDs).
	Admins []jid.JID
	// MaxNodes bounds the nodes of the service, MaxNodesPerOwner those
	// one entity may create.
	MaxNodes         int
	MaxNodesPerOwner int
	// MaxItems is the most items a node keeps, what max_items "max"
	// means.
	MaxItems int
	// MaxPayloadBytes bounds one item's serialised payload.
	MaxPayloadBytes int
	// MaxSubscriptions bounds the subscriptions of one node.
	MaxSubscriptions int
	Router           Router
	Store            storage.PEP
	Logger           *slog.Logger
	// Now is the clock, time.Now when nil.
	Now func() time.Time
}

// Service is the pubsub service. It implements router.Component.
type Service struct {
	cfg    Config
	domain jid.JID
	key    string // StoreKey(domain)
	log    *slog.Logger
	now    func() time.Time
	admins atomic.Pointer[map[jid.JID]bool] // replaced by SetAdmins
	opts   *pubsub.Options

	// mu guards the map of nodes and the count of nodes each entity
	// owns. A node's lock may be held when taking it, never the other
	// way round.
	mu     sync.RWMutex
	nodes  map[string]*node
	owned  map[string]int // bare JID -> nodes it owns
	closed bool
}

// StoreKey is the owner under which storage.PEP keeps the nodes of the
// service at domain: the domain after an '@', which no account's
// localpart can contain (RFC 7622 section 3.3.1), so that no account's
// PEP nodes and no other service's share it.
func StoreKey(domain string) string { return "@" + domain }

// New returns a Service; Start loads its nodes.
func New(cfg Config) (*Service, error) {
	d, err := jid.Parse(cfg.Domain)
	if err != nil || !d.IsDomain() {
		return nil, fmt.Errorf("pubsubsvc: bad service domain %q", cfg.Domain)
	}
	if cfg.Router == nil || cfg.Store == nil {
		return nil, errors.New("pubsubsvc: Router and Store are required")
	}
	cfg.MaxNodes = cmp.Or(cfg.MaxNodes, DefaultMaxNodes)
	cfg.MaxNodesPerOwner = cmp.Or(cfg.MaxNodesPerOwner, DefaultMaxNodesPerOwner)
	cfg.MaxItems = cmp.Or(cfg.MaxItems, DefaultMaxItems)
	cfg.MaxPayloadBytes = cmp.Or(cfg.MaxPayloadBytes, DefaultMaxPayloadBytes)
	cfg.MaxSubscriptions = cmp.Or(cfg.MaxSubscriptions, DefaultMaxSubscriptions)
	cfg.Creation = cmp.Or(cfg.Creation, CreateLocal)
	s := &Service{
		cfg:    cfg,
		domain: d,
		key:    StoreKey(d.Domain),
		log:    cfg.Logger,
		now:    cfg.Now,
		nodes:  make(map[string]*node),
		owned:  make(map[string]int),
		opts: &pubsub.Options{
			AccessModels:  []string{pubsub.AccessOpen, pubsub.AccessAuthorize, pubsub.AccessWhitelist},
			PublishModels: []string{pubsub.PublishPublishers, pubsub.PublishSubscribers, pubsub.PublishOpen},
			SendLast:      []string{pubsub.SendLastNever, pubsub.SendLastOnSub},
			MaxItems:      cfg.MaxItems,
		},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.SetAdmins(cfg.Admins)
	return s, nil
}

// Domain returns the service's domain.
func (s *Service) Domain() string { return s.domain.Domain }

// defaultConfig is the configuration of a node created without one.
func (s *Service) defaultConfig() pubsub.NodeConfig {
	return pubsub.NodeConfig{
		AccessModel:           pubsub.AccessOpen,
		PublishModel:          pubsub.PublishPublishers,
		PersistItems:          true,
		MaxItems:              min(DefaultNodeMaxItems, s.cfg.MaxItems),
		SendLastPublishedItem: pubsub.SendLastNever,
		NotifyRetract:         true,
		NotifyDelete:          true,
		DeliverPayloads:       true,
		DeliverNotifications:  true,
		NotificationType:      "headline",
	}
}

// Start loads the nodes from storage.
func (s *Service) Start(ctx context.Context) error {
	stored, err := s.cfg.Store.PEPNodes(ctx, s.key)
	if err != nil {
		return fmt.Errorf("pubsubsvc: load nodes: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sn := range stored {
		rec, err := unmarshalRecord(sn.Config, s.defaultConfig())
		if err != nil {
			// A node that no longer reads is left in storage for an
			// operator to look at, and logged; the others load.
			s.log.Error("pubsub: node unreadable; not loaded", "node", sn.Name, "err", err)
			continue
		}
		s.nodes[sn.Name] = &node{name: sn.Name, rec: rec}
		for _, o := range rec.owners() {
			s.owned[o]++
		}
	}
	s.log.Info("pubsub: nodes loaded", "domain", s.domain.Domain, "nodes", len(s.nodes))
	return nil
}

// Shutdown refuses what comes after it. Nothing is pending: every change
// was stored before it was answered.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Nodes returns the number of nodes.
func (s *Service) Nodes() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.nodes)
}

// isAdmin reports whether who is one of the service's admins.
func (s *Service) isAdmin(who jid.JID) bool { return (*s.admins.Load())[who.Bare()] }

// SetAdmins replaces the service's admins (a configuration reload).
func (s *Service) SetAdmins(admins []jid.JID) {
	m := make(map[jid.JID]bool, len(admins))
	for _, a := range admins {
		m[a.Bare()] = true
	}
	s.admins.Store(&m)
}

// mayCreate applies Config.Creation.
func (s *Service) mayCreate(who jid.JID) bool {
	switch s.cfg.Creation {
	case CreateAnyone:
		return true
	case CreateAdmins:
		return s.isAdmin(who)
	default:
		return s.isAdmin(who) || (who.Domain == s.cfg.ServerDomain && who.Local != "")
	}
}

// lookup returns node name, item-not-found when there is none.
func (s *Service) lookup(name string) (*node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, xmpperr.New(xmpperr.ServiceUnavailable, "the service is shutting down")
	}
	n := s.nodes[name]
	if n == nil {
		return nil, pubsub.NodeNotFound()
	}
	return n, nil
}

// locked returns node name locked; the caller unlocks n.mu.
func (s *Service) locked(name string) (*node, error) {
	n, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.deleted {
		n.mu.Unlock()
		return nil, pubsub.NodeNotFound()
	}
	return n, nil
}

// all returns the nodes, sorted by name.
func (s *Service) all() []*node {
	s.mu.RLock()
	out := make([]*node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *node) int { return cmp.Compare(a.name, b.name) })
	return out
}

// create makes node name owned by owner with cfg and stores it. With
// created, the caller gets the node locked (to publish to it at once) and
// unlocks n.mu.
func (s *Service) create(ctx context.Context, name string, owner jid.JID, cfg pubsub.NodeConfig) (*node, error) {
	if !s.mayCreate(owner) {
		return nil, xmpperr.New(xmpperr.Forbidden, "you may not create nodes here")
	}
	rec := record{NodeConfig: cfg, Affiliations: map[string]string{owner.Bare().String(): affOwner}}
	rec.Members, rec.Outcasts = nil, nil
	n := &node{name: name, rec: rec}
	n.mu.Lock()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, xmpperr.New(xmpperr.ServiceUnavailable, "the service is shutting down")
	case s.nodes[name] != nil:
		s.mu.Unlock()
		return nil, xmpperr.New(xmpperr.ConflictC, "the node exists")
	case len(s.nodes) >= s.cfg.MaxNodes:
		s.mu.Unlock()
		return nil, pubsub.Error(xmpperr.PolicyViolationC, "max-nodes-exceeded", fmt.Sprintf("the service has its %d nodes", s.cfg.MaxNodes))
	case !s.isAdmin(owner) && s.owned[owner.Bare().String()] >= s.cfg.MaxNodesPerOwner:
		s.mu.Unlock()
		return nil, pubsub.Error(xmpperr.PolicyViolationC, "max-nodes-exceeded", fmt.Sprintf("you own %d nodes, as many as allowed", s.cfg.MaxNodesPerOwner))
	}
	s.nodes[name] = n
	s.owned[owner.Bare().String()]++
	s.mu.Unlock()
	err := s.cfg.Store.ApplyPEP(ctx, s.key, []storage.PEPOp{{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: name, Config: rec.marshal()}}})
	if err != nil {
		n.deleted = true
		n.mu.Unlock()
		s.mu.Lock()
		delete(s.nodes, name)
		s.countOwners(rec.owners(), nil)
		s.mu.Unlock()
		return nil, fmt.Errorf("pubsubsvc: store new node %s: %w", name, err)
	}
	return n, nil
}

// countOwners moves the owned counts from the owners before to the
// owners after; s.mu is held.
func (s *Service) countOwners(before, after []string) {
	for _, o := range before {
		if s.owned[o]--; s.owned[o] <= 0 {
			delete(s.owned, o)
		}
	}
	for _, o := range after {
		s.owned[o]++
	}
}

// save stores n's record rec and makes it n's; n.mu is held.
func (s *Service) save(ctx context.Context, n *node, rec record, more ...storage.PEPOp) error {
	ops := append([]storage.PEPOp{{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: n.name, Config: rec.marshal()}}}, more...)
	if err := s.cfg.Store.ApplyPEP(ctx, s.key, ops); err != nil {
		return fmt.Errorf("pubsubsvc: store node %s: %w", n.name, err)
	}
	before, after := n.rec.owners(), rec.owners()
	n.rec = rec
	if !slices.Equal(before, after) {
		s.mu.Lock()
		s.countOwners(before, after)
		s.mu.Unlock()
	}
	return nil
}

// remove deletes n from storage and from the service; n.mu is held.
func (s *Service) remove(ctx context.Context, n *node) error {
	if err := s.cfg.Store.ApplyPEP(ctx, s.key, []storage.PEPOp{{Kind: storage.PEPDeleteNode, Node: storage.PEPNode{Name: n.name}}}); err != nil {
		return fmt.Errorf("pubsubsvc: delete node %s: %w", n.name, err)
	}
	n.deleted = true
	s.mu.Lock()
	if s.nodes[n.name] == n {
		delete(s.nodes, n.name)
		s.countOwners(n.rec.owners(), nil)
	}
	s.mu.Unlock()
	return nil
}

// RouteStanza implements router.Component: everything addressed to the
// service's domain arrives here, from a trusted from.
func (s *Service) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if from.IsZero() || !stanza.IsStanza(el) {
		return
	}
	if el.Space == xml.NSServer {
		el = el.Clone()
		stanza.SetSpace(el, xml.NSServer, xml.NSClient)
	}
	switch el.Local {
	case stanza.IQ:
		if to.Local != "" || to.Resource != "" {
			s.bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, "the pubsub service has no entities"))
			return
		}
		s.onIQ(ctx, el, from)
	case stanza.Message:
		// Errors are the bounces of notifications to entities that are
		// gone; the subscription stays (XEP-0060 section 12.9 leaves it
		// to the service). An owner's answer to a subscription request
		// is a form; other messages are no requests.
		switch stanza.Type(el) {
		case "error", "headline":
		default:
			if to.Local != "" || to.Resource != "" {
				s.bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
				return
			}
			if err := s.onMessage(ctx, el, from); err != nil {
				se, ok := errors.AsType[*xmpperr.StanzaError](err)
				if !ok {
					s.log.Error("pubsub: message failed", "from", from.String(), "err", err)
					se = xmpperr.New(xmpperr.InternalServerErrorC, "")
				}
				s.bounce(ctx, el, se)
			}
		}
	case stanza.Presence:
		// The service sends nothing on presence: no presence-based
		// delivery.
	}
}

// bounce answers el with se.
func (s *Service) bounce(ctx context.Context, el *xml.Element, se *xmpperr.StanzaError) {
	if t := el.Attr("type"); t == "error" || t == "result" {
		return
	}
	if reply := stanza.ErrorReply(el, se); reply != nil {
		s.route(ctx, reply)
	}
}

// route sends el (with from and to set) through the router.
func (s *Service) route(ctx context.Context, el *xml.Element) {
	from, err := stanza.From(el)
	if err != nil {
		s.log.Error("pubsub: bad from in a stanza of ours", "err", err)
		return
	}
	to, err := stanza.To(el)
	if err != nil {
		s.log.Error("pubsub: bad to in a stanza of ours", "err", err)
		return
	}
	s.cfg.Router.Route(ctx, el, from, to)
}

// request is one iq get or set to the service.
type request struct {
	iq      *xml.Element
	payload *xml.Element
	typ     string
	from    jid.JID
	admin   bool
	// after are stanzas to send once the reply is routed (the last item
	// after a subscription's result).
	after []*xml.Element
}

// onIQ answers an iq to the service.
func (s *Service) onIQ(ctx context.Context, el *xml.Element, from jid.JID) {
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return
	}
	payloads := el.Elements()
	if len(payloads) != 1 {
		s.bounce(ctx, el, xmpperr.New(xmpperr.BadRequest, "an iq get or set must have exactly one child"))
		return
	}
	req := &request{iq: el, payload: payloads[0], typ: typ, from: from, admin: s.isAdmin(from)}
	res, err := s.serve(ctx, req)
	if err != nil {
		se, ok := errors.AsType[*xmpperr.StanzaError](err)
		if !ok {
			s.log.Error("pubsub: request failed", "from", from.String(), "ns", req.payload.Space, "err", err)
			se = xmpperr.New(xmpperr.InternalServerErrorC, "")
		}
		s.bounce(ctx, el, se)
		return
	}
	reply := stanza.Result(el, res)
	reply.SetAttr("from", s.domain.Domain)
	s.route(ctx, reply)
	for _, a := range req.after {
		s.route(ctx, a)
	}
}

// serve dispatches a request by its payload.
func (s *Service) serve(ctx context.Context, req *request) (*xml.Element, error) {
	p := req.payload
	switch {
	case p.Space == stanza.NSDiscoInfo && p.Local == "query":
		return s.discoInfo(req)
	case p.Space == stanza.NSDiscoItem && p.Local == "query":
		return s.discoItems(ctx, req)
	case p.Space == pubsub.NS && p.Local == "pubsub":
		return s.pubsub(ctx, req)
	case p.Space == pubsub.NSOwner && p.Local == "pubsub":
		return s.owner(ctx, req)
	case p.Space == nsPing && p.Local == "ping" && req.typ == "get":
		return nil, nil
	}
	return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
}
