// Package pep is the Personal Eventing Protocol service (XEP-0163) that
// every local account has at its bare JID: the subset of Publish-Subscribe
// (XEP-0060) that clients use for avatars (XEP-0084), nicknames
// (XEP-0172), bookmarks (XEP-0402) and similar per-account data.
//
// A request to an account's pubsub service arrives through the iq mux
// (Register). Every change goes through Service.Update, which holds the
// account's lock, lets the request build a Tx of changes, gives watchers
// of the touched nodes (package bookmarks) a chance to add derived changes
// or refuse the whole request, stores everything in one storage
// transaction and only then sends the notifications. So a refused request
// stores nothing, and a stored change is always notified.
//
// Who is notified follows XEP-0163: there are no explicit subscriptions;
// a session gets the notifications of a node when its entity capabilities
// (XEP-0115) include the node's "+notify" feature and the node's access
// model lets it see the node. The service learns capabilities from the
// presence the account's own sessions send (presence.Config.OnAvailable)
// and the presence contacts send to the account (OnInbound), and asks a
// client with disco#info when it sees a capabilities version it does not
// know (caps.go).
package pep

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/router"
	"minimix/internal/storage"
)

// Namespaces of XEP-0060 (from package pubsub) and XEP-0115.
const (
	NS       = pubsub.NS
	NSOwner  = pubsub.NSOwner
	NSEvent  = pubsub.NSEvent
	NSErrors = pubsub.NSErrors
	NSCaps   = "http://jabber.org/protocol/caps"

	// FormNodeConfig and FormPublishOptions are the FORM_TYPEs of node
	// configuration and publish options forms.
	FormNodeConfig     = pubsub.FormNodeConfig
	FormPublishOptions = pubsub.FormPublishOptions
)

// Defaults for Config's bounds.
const (
	// DefaultMaxNodes bounds the nodes of one account. OMEMO clients keep
	// one node per device, so a few hundred leaves room for many devices.
	DefaultMaxNodes = 256
	// DefaultMaxItems is the most items a node keeps, and what max_items
	// "max" means.
	DefaultMaxItems = 1000
	// DefaultMaxPayloadBytes bounds one item's serialised payload; it is
	// just under the default stanza limit (256 KiB), so that the request
	// carrying a payload one byte too big still arrives and is answered
	// with payload-too-big.
	DefaultMaxPayloadBytes = 250000
	// DefaultCapsCacheSize bounds the capabilities versions remembered.
	DefaultCapsCacheSize = 10000
)

// Store is what the service keeps and reads.
type Store interface {
	storage.PEP
	// RosterItems and RosterItem give the subscription states the
	// presence access model depends on.
	RosterItems(ctx context.Context, user string) ([]storage.RosterItem, string, error)
	RosterItem(ctx context.Context, user, contact string) (storage.RosterItem, error)
}

// Config is what a Service is built from. Zero bounds take the defaults.
type Config struct {
	Domain          string
	Store           Store
	Router          *router.Router
	MaxNodes        int
	MaxItems        int
	MaxPayloadBytes int
	CapsCacheSize   int
	Logger          *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Service is the PEP service of every local account. It is safe for
// concurrent use.
type Service struct {
	domain     string
	store      Store
	r          *router.Router
	maxNodes   int
	maxItems   int
	maxPayload int
	log        *slog.Logger
	now        func() time.Time

	seed  maphash.Seed
	locks [lockStripes]sync.Mutex

	watchers map[string]Watcher    // by node; set before serving
	defaults map[string]NodeConfig // by node; set before serving

	caps     *capsCache
	interest *interest
}

const lockStripes = 256

// Watcher is called by Update, under the account's lock and before
// anything is stored, when a request changed node (the one it was
// registered for); it is not called for changes other watchers make. It
// may change more nodes through tx and refuse the whole request by
// returning an error: a *xmpperr.StanzaError is what the client gets.
type Watcher func(ctx context.Context, tx *Tx, node string) error

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{
		domain:     cfg.Domain,
		store:      cfg.Store,
		r:          cfg.Router,
		maxNodes:   cfg.MaxNodes,
		maxItems:   cfg.MaxItems,
		maxPayload: cfg.MaxPayloadBytes,
		log:        cfg.Logger,
		now:        cfg.Now,
		seed:       maphash.MakeSeed(),
		watchers:   make(map[string]Watcher),
		defaults:   make(map[string]NodeConfig),
	}
	if s.domain == "" && s.r != nil {
		s.domain = s.r.Domain()
	}
	if s.maxNodes <= 0 {
		s.maxNodes = DefaultMaxNodes
	}
	if s.maxItems <= 0 {
		s.maxItems = DefaultMaxItems
	}
	if s.maxPayload <= 0 {
		s.maxPayload = DefaultMaxPayloadBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	size := cfg.CapsCacheSize
	if size <= 0 {
		size = DefaultCapsCacheSize
	}
	s.caps = newCapsCache(size)
	s.interest = newInterest()
	return s
}

// MaxItems returns the most items a node may keep: what max_items "max"
// means.
func (s *Service) MaxItems() int { return s.maxItems }

// MaxPayloadBytes returns the bound on one item's serialised payload.
func (s *Service) MaxPayloadBytes() int { return s.maxPayload }

// Watch registers w for node. It must be called before the service is
// used; a node has at most one watcher.
func (s *Service) Watch(node string, w Watcher) {
	if _, dup := s.watchers[node]; dup {
		panic("pep: second watcher for node " + node)
	}
	s.watchers[node] = w
}

// SetDefaultConfig makes cfg the configuration node gets when it is
// created without one, instead of DefaultNodeConfig: bookmarks must keep
// every item even when a client publishes without publish options. It
// must be called before the service is used.
func (s *Service) SetDefaultConfig(node string, cfg NodeConfig) { s.defaults[node] = cfg }

// defaultConfig returns the configuration a new node starts from.
func (s *Service) defaultConfig(node string) NodeConfig {
	if cfg, ok := s.defaults[node]; ok {
		return cfg
	}
	return DefaultNodeConfig()
}

// Features are the disco#info features of an account's PEP service.
var Features = []string{
	NS,
	NS + "#access-open",
	NS + "#access-presence",
	NS + "#access-whitelist",
	NS + "#auto-create",
	NS + "#auto-subscribe",
	NS + "#config-node",
	NS + "#config-node-max", // "max" for pubsub#max_items (Converse asks for it, else sends 9999)
	NS + "#create-and-configure",
	NS + "#create-nodes",
	NS + "#delete-items",
	NS + "#delete-nodes",
	NS + "#filtered-notifications",
	NS + "#item-ids",
	NS + "#last-published",
	NS + "#modify-affiliations",
	NS + "#persistent-items",
	NS + "#presence-notifications",
	NS + "#publish",
	NS + "#publish-options",
	NS + "#purge-nodes",
	NS + "#retract-items",
	NS + "#retrieve-default",
	NS + "#retrieve-items",
}

// Register installs the pubsub handlers on m for an account's own
// requests and for other entities' requests to an account, and
// advertises the PEP features on both and on the server: clients look
// for PEP in the server's disco#info too (poezio decides there whether
// it can keep bookmarks in PEP), as ejabberd lists them there and
// Prosody lists pubsub#publish.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "pubsub", iq.Self, s.pubsubSelf)
	m.Handle(NS, "pubsub", iq.Account, s.pubsubOther)
	m.Handle(NSOwner, "pubsub", iq.Self, s.ownerSelf)
	m.Handle(NSOwner, "pubsub", iq.Account, s.ownerOther)
	m.Feature(iq.Server|iq.Self|iq.Account, Features...)
}

// lock returns the mutex that serialises changes to owner's nodes.
func (s *Service) lock(owner jid.JID) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(owner.Local)
	return &s.locks[h.Sum64()%lockStripes]
}

// Update runs fn with owner's nodes locked, then the watchers of the
// nodes fn changed, and stores every change they made in one
// transaction. After storing it sends the notifications and runs the
// functions registered with Tx.AfterCommit, still under the lock, so that
// notifications and hooks of one account come in the order of its
// changes. With an error from fn, a watcher or the store, nothing is
// stored or sent.
func (s *Service) Update(ctx context.Context, owner jid.JID, fn func(tx *Tx) error) error {
	owner = owner.Bare()
	mu := s.lock(owner)
	mu.Lock()
	defer mu.Unlock()
	tx := newTx(ctx, s, owner)
	if err := fn(tx); err != nil {
		return err
	}
	primary := append([]string(nil), tx.changed...)
	tx.derived = true
	for _, node := range primary {
		if w := s.watchers[node]; w != nil {
			if err := w(ctx, tx, node); err != nil {
				return err
			}
		}
	}
	if err := s.store.ApplyPEP(ctx, owner.Local, tx.ops); err != nil {
		return fmt.Errorf("pep: store changes of %s: %w", owner, err)
	}
	s.notify(ctx, owner, tx.events)
	for _, f := range tx.after {
		f(ctx)
	}
	return nil
}

// Items returns the items of owner's node, oldest first, without any
// access check: it is for other server features (bookmarks). A missing
// node has none.
func (s *Service) Items(ctx context.Context, owner jid.JID, node string) ([]Item, error) {
	stored, err := s.store.PEPItems(ctx, owner.Local, node, 0)
	if err != nil {
		return nil, fmt.Errorf("pep: items of %s node %s: %w", owner, node, err)
	}
	return s.decodeItems(owner, node, stored), nil
}

// newID returns a random id for items, notifications and queries.
func newID() string { return pubsub.NewID() }

// stamp formats t as a XEP-0082 DateTime in UTC.
func stamp(t time.Time) string { return pubsub.Stamp(t) }

// ownerOf returns the account whose service a request addresses.
func ownerOf(to jid.JID) jid.JID { return to.Bare() }
