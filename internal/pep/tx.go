package pep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/storage"
	"minimix/internal/xmpperr"
)

// Item is one item of a node.
type Item = pubsub.Item

// Tx collects the changes of one Update to one account's nodes. It reads
// through to storage and sees its own changes; nothing is stored before
// Update commits. A Tx is used by one goroutine.
type Tx struct {
	ctx   context.Context
	s     *Service
	owner jid.JID

	nodes   map[string]*txNode
	ops     []storage.PEPOp
	events  []event
	changed []string // nodes changed by the request itself, in order
	derived bool     // set while watchers run
	after   []func(context.Context)
	once    map[string]bool
}

// txNode is what the Tx knows of one node.
type txNode struct {
	exists bool
	cfg    NodeConfig
	// The items: stored (read lazily, all of them, only when asked for)
	// unless purged, overridden by pending (nil for removed), with the
	// ids published in this Tx in order.
	loaded  bool
	stored  []Item
	purged  bool
	pending map[string]*Item
	order   []string
}

func newTx(ctx context.Context, s *Service, owner jid.JID) *Tx {
	return &Tx{ctx: ctx, s: s, owner: owner, nodes: make(map[string]*txNode)}
}

// Owner returns the account whose nodes tx changes.
func (tx *Tx) Owner() jid.JID { return tx.owner }

// Now returns the time stamped on items published in tx.
func (tx *Tx) Now() time.Time { return tx.s.now() }

// AfterCommit registers f to run after the changes were stored and
// notified, under the account's lock.
func (tx *Tx) AfterCommit(f func(ctx context.Context)) { tx.after = append(tx.after, f) }

// Once reports true the first time it is called with key in tx, so that
// several watchers can share one piece of work.
func (tx *Tx) Once(key string) bool {
	if tx.once == nil {
		tx.once = make(map[string]bool)
	}
	if tx.once[key] {
		return false
	}
	tx.once[key] = true
	return true
}

func (tx *Tx) node(name string) (*txNode, error) {
	if n, ok := tx.nodes[name]; ok {
		return n, nil
	}
	n := &txNode{pending: make(map[string]*Item)}
	sn, err := tx.s.store.PEPNode(tx.ctx, tx.owner.Local, name)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("pep: node %s of %s: %w", name, tx.owner, err)
	default:
		if n.cfg, err = unmarshalConfig(sn.Config); err != nil {
			return nil, fmt.Errorf("pep: node %s of %s: %w", name, tx.owner, err)
		}
		n.exists = true
	}
	tx.nodes[name] = n
	return n, nil
}

// Node returns the configuration of node and whether it exists.
func (tx *Tx) Node(name string) (NodeConfig, bool, error) {
	n, err := tx.node(name)
	if err != nil {
		return NodeConfig{}, false, err
	}
	return n.cfg, n.exists, nil
}

// existingNode returns the configuration of node, item-not-found if it
// does not exist.
func (tx *Tx) existingNode(name string) (NodeConfig, error) {
	cfg, exists, err := tx.Node(name)
	if err != nil {
		return NodeConfig{}, err
	}
	if !exists {
		return NodeConfig{}, nodeNotFound()
	}
	return cfg, nil
}

// Items returns the items of node as they will be after tx, oldest
// first. It reads every stored item of the node, so it is meant for
// nodes kept small, such as bookmarks.
func (tx *Tx) Items(name string) ([]Item, error) {
	n, err := tx.node(name)
	if err != nil || !n.exists {
		return nil, err
	}
	if err := tx.load(name, n); err != nil {
		return nil, err
	}
	var out []Item
	if !n.purged {
		for _, it := range n.stored {
			if _, over := n.pending[it.ID]; !over {
				out = append(out, it)
			}
		}
	}
	for _, id := range n.order {
		if it := n.pending[id]; it != nil {
			out = append(out, *it)
		}
	}
	if !n.cfg.PersistItems {
		return nil, nil
	}
	if max := n.cfg.EffectiveMax(tx.s.maxItems); len(out) > max {
		out = out[len(out)-max:]
	}
	return out, nil
}

// Stored returns the items of node as stored before tx, oldest first.
func (tx *Tx) Stored(name string) ([]Item, error) {
	n, err := tx.node(name)
	if err != nil {
		return nil, err
	}
	if err := tx.load(name, n); err != nil {
		return nil, err
	}
	return n.stored, nil
}

func (tx *Tx) load(name string, n *txNode) error {
	if n.loaded {
		return nil
	}
	stored, err := tx.s.store.PEPItems(tx.ctx, tx.owner.Local, name, 0)
	if err != nil {
		return fmt.Errorf("pep: items of %s node %s: %w", tx.owner, name, err)
	}
	n.stored = tx.s.decodeItems(tx.owner, name, stored)
	n.loaded = true
	return nil
}

// has reports whether node has item id after the changes so far.
func (tx *Tx) has(name string, n *txNode, id string) (bool, error) {
	if it, ok := n.pending[id]; ok {
		return it != nil, nil
	}
	if n.purged || !n.cfg.PersistItems {
		return false, nil
	}
	if n.loaded {
		return slices.ContainsFunc(n.stored, func(it Item) bool { return it.ID == id }), nil
	}
	got, err := tx.s.store.PEPItemsByID(tx.ctx, tx.owner.Local, name, []string{id})
	if err != nil {
		return false, fmt.Errorf("pep: item %s of %s node %s: %w", id, tx.owner, name, err)
	}
	return len(got) > 0, nil
}

func (tx *Tx) markChanged(name string) {
	if !tx.derived && !slices.Contains(tx.changed, name) {
		tx.changed = append(tx.changed, name)
	}
}

// Create creates node with cfg: conflict if it exists, policy-violation
// when the account has as many nodes as allowed.
func (tx *Tx) Create(name string, cfg NodeConfig) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if n.exists {
		return xmpperr.New(xmpperr.ConflictC, "the node exists")
	}
	count, err := tx.countNodes()
	if err != nil {
		return err
	}
	if count >= tx.s.maxNodes {
		return Error(xmpperr.PolicyViolationC, "max-nodes-exceeded",
			fmt.Sprintf("an account has at most %d nodes", tx.s.maxNodes))
	}
	*n = txNode{exists: true, cfg: cfg, loaded: true, pending: make(map[string]*Item)}
	tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: name, Config: cfg.Marshal()}})
	tx.markChanged(name)
	return nil
}

// countNodes returns how many nodes the account has with the changes so
// far: the stored ones tx has not looked at, and those tx knows to exist.
func (tx *Tx) countNodes() (int, error) {
	nodes, err := tx.s.store.PEPNodes(tx.ctx, tx.owner.Local)
	if err != nil {
		return 0, fmt.Errorf("pep: nodes of %s: %w", tx.owner, err)
	}
	count := 0
	for _, sn := range nodes {
		if _, known := tx.nodes[sn.Name]; !known {
			count++
		}
	}
	for _, n := range tx.nodes {
		if n.exists {
			count++
		}
	}
	return count, nil
}

// Configure replaces the configuration of node. Items beyond the new
// max_items go, oldest first, and all of them when items are no longer
// persisted.
func (tx *Tx) Configure(name string, cfg NodeConfig) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if !n.exists {
		return nodeNotFound()
	}
	n.cfg = cfg
	tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: name, Config: cfg.Marshal()}})
	if !cfg.PersistItems {
		tx.purge(name, n)
	} else {
		tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPTrimItems, Node: storage.PEPNode{Name: name}, MaxItems: cfg.EffectiveMax(tx.s.maxItems)})
	}
	tx.markChanged(name)
	return nil
}

// Delete removes node and its items, notifying the subscribers when the
// node says so.
func (tx *Tx) Delete(name string) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if !n.exists {
		return nodeNotFound()
	}
	if n.cfg.NotifyDelete {
		tx.events = append(tx.events, event{kind: eventDelete, node: name, cfg: n.cfg})
	}
	tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPDeleteNode, Node: storage.PEPNode{Name: name}})
	*n = txNode{loaded: true, purged: true, pending: make(map[string]*Item)}
	tx.markChanged(name)
	return nil
}

// Purge removes every item of node (XEP-0060 section 8.5).
func (tx *Tx) Purge(name string) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if !n.exists {
		return nodeNotFound()
	}
	tx.purge(name, n)
	tx.events = append(tx.events, event{kind: eventPurge, node: name, cfg: n.cfg})
	tx.markChanged(name)
	return nil
}

func (tx *Tx) purge(name string, n *txNode) {
	n.purged = true
	n.pending = make(map[string]*Item)
	n.order = nil
	tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPPurgeItems, Node: storage.PEPNode{Name: name}})
}

// Publish stores it in node and notifies it; it.Payload must not be nil,
// and its size is the caller's to check. A missing node is created with
// *create, or is item-not-found when create is nil.
func (tx *Tx) Publish(name string, it Item, create *NodeConfig) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if !n.exists {
		if create == nil {
			return nodeNotFound()
		}
		if err := tx.Create(name, *create); err != nil {
			return err
		}
	}
	if it.ID == "" {
		it.ID = newID()
	}
	if it.Stamp.IsZero() {
		it.Stamp = tx.s.now()
	}
	if n.cfg.PersistItems {
		n.pending[it.ID] = &it
		n.order = slices.DeleteFunc(n.order, func(id string) bool { return id == it.ID })
		n.order = append(n.order, it.ID)
		tx.ops = append(tx.ops, storage.PEPOp{
			Kind:     storage.PEPPutItem,
			Node:     storage.PEPNode{Name: name},
			Item:     pubsub.StoredItem(it),
			MaxItems: n.cfg.EffectiveMax(tx.s.maxItems),
		})
	}
	// An item published twice in one Tx (a watcher rewriting what the
	// request published) is notified once, as it ends up.
	tx.events = slices.DeleteFunc(tx.events, func(e event) bool {
		return e.kind == eventPublish && e.node == name && e.item.ID == it.ID
	})
	tx.events = append(tx.events, event{kind: eventPublish, node: name, cfg: n.cfg, item: it})
	tx.markChanged(name)
	return nil
}

// Published returns the items published to node in tx so far, in order,
// whether or not the node persists them.
func (tx *Tx) Published(name string) []Item {
	var out []Item
	for _, e := range tx.events {
		if e.kind == eventPublish && e.node == name {
			out = append(out, e.item)
		}
	}
	return out
}

// Retract removes item id from node: item-not-found when there is no
// such node or item. notify says whether subscribers hear of it.
func (tx *Tx) Retract(name, id string, notify bool) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if !n.exists {
		return nodeNotFound()
	}
	ok, err := tx.has(name, n, id)
	if err != nil {
		return err
	}
	if !ok {
		return xmpperr.New(xmpperr.ItemNotFound, "no such item")
	}
	n.pending[id] = nil
	n.order = slices.DeleteFunc(n.order, func(o string) bool { return o == id })
	tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPDeleteItem, Node: storage.PEPNode{Name: name}, Item: storage.PEPItem{ID: id}})
	if notify {
		tx.events = append(tx.events, event{kind: eventRetract, node: name, cfg: n.cfg, id: id})
	}
	tx.markChanged(name)
	return nil
}

// setAffiliations replaces the members and outcasts of node.
func (tx *Tx) setAffiliations(name string, members, outcasts []string) error {
	n, err := tx.node(name)
	if err != nil {
		return err
	}
	if !n.exists {
		return nodeNotFound()
	}
	n.cfg.Members, n.cfg.Outcasts = members, outcasts
	tx.ops = append(tx.ops, storage.PEPOp{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: name, Config: n.cfg.Marshal()}})
	tx.markChanged(name)
	return nil
}

// decodeItems parses stored items. One whose XML no longer parses is kept
// without payload, and logged: it can still be listed and retracted.
func (s *Service) decodeItems(owner jid.JID, node string, stored []storage.PEPItem) []Item {
	return pubsub.DecodeItems(stored, func(id string, err error) {
		s.log.Error("pep: stored item unreadable", "owner", owner.String(), "node", node, "item", id, "err", err)
	})
}
