package storage

import (
	"context"
	"time"
)

// PEPNode is one node of an account's personal eventing service
// (XEP-0163). Its configuration is opaque here: package pep owns its
// format, so that a new option needs no schema change.
type PEPNode struct {
	Name   string
	Config []byte
}

// PEPItem is one published item of a node.
type PEPItem struct {
	ID        string
	Publisher string    // JID of the publisher
	Stamp     time.Time // when it was published
	Payload   []byte    // the serialised payload element
}

// PEPOpKind says what a PEPOp does.
type PEPOpKind int

// The changes ApplyPEP makes.
const (
	// PEPPutNode creates Node or replaces its configuration; its items
	// stay.
	PEPPutNode PEPOpKind = iota + 1
	// PEPDeleteNode removes Node.Name and all its items.
	PEPDeleteNode
	// PEPPutItem stores Item in Node.Name, replacing an item with the same
	// id and making it the newest; then, when MaxItems is positive, only
	// the MaxItems newest items of the node are kept.
	PEPPutItem
	// PEPDeleteItem removes the item Item.ID of Node.Name, if it exists.
	PEPDeleteItem
	// PEPPurgeItems removes every item of Node.Name.
	PEPPurgeItems
	// PEPTrimItems keeps only the MaxItems newest items of Node.Name.
	PEPTrimItems
)

// PEPOp is one change in an ApplyPEP batch.
type PEPOp struct {
	Kind     PEPOpKind
	Node     PEPNode // Config is read by PEPPutNode only
	Item     PEPItem // PEPPutItem and PEPDeleteItem
	MaxItems int     // PEPPutItem and PEPTrimItems
}

// PEP stores the nodes and items of each account's PEP service, keyed by
// the account's localpart, and of the generic pubsub service, keyed by
// "@" and its domain (pubsubsvc.StoreKey), which no localpart can be.
// Limits (nodes per account, items per node, payload size) are the
// caller's: ApplyPEP stores what it is given.
type PEP interface {
	// PEPNodes returns the nodes of user ordered by name.
	PEPNodes(ctx context.Context, user string) ([]PEPNode, error)
	// PEPNode returns ErrNotFound when user has no such node.
	PEPNode(ctx context.Context, user, node string) (PEPNode, error)
	// PEPItems returns the max newest items of a node (all when max is
	// not positive), oldest first. A node without items, or no node at
	// all, gives none.
	PEPItems(ctx context.Context, user, node string, max int) ([]PEPItem, error)
	// PEPItemsByID returns the items of a node with the given ids that
	// exist, oldest first.
	PEPItemsByID(ctx context.Context, user, node string, ids []string) ([]PEPItem, error)
	// ApplyPEP applies ops in order as one transaction: either all of them
	// are stored or, with an error, none. A PEPPutItem to a node that does
	// not exist (after the ops before it) fails with ErrNotFound.
	ApplyPEP(ctx context.Context, user string, ops []PEPOp) error
}
