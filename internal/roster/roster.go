// Package roster serves the jabber:iq:roster protocol (RFC 6121 section 2)
// with roster versioning (XEP-0237, folded into RFC 6121 2.6), and is the
// one writer of roster items: presence changes subscription states through
// Update, so that every change is serialised per account and pushed to the
// account's interested resources the same way.
package roster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// NS is the roster namespace.
const NS = "jabber:iq:roster"

// DefaultMaxItems bounds the items of one roster, hidden ones (remembered
// inbound requests) included, so that neither a client nor strangers
// sending subscription requests can grow it without limit. SetMaxItems
// changes it (roster.max_items).
const DefaultMaxItems = 1000

// ErrFull is returned by Update when a new item would exceed the bound.
var ErrFull = errors.New("roster: roster is full")

// Change is what an Update function decided to do with the item.
type Change int

const (
	// Keep leaves the item as stored (or absent).
	Keep Change = iota
	// Put stores the item and pushes it to interested resources unless it
	// is Hidden.
	Put
	// PutQuiet stores the item without a push. It is for changes the
	// client cannot see in a roster item, such as a pending inbound
	// request, which RFC 6121 conveys by presence rather than by push.
	PutQuiet
	// Delete removes the item and pushes the removal if it was visible.
	Delete
)

// Service is the roster of every local account. It is safe for concurrent
// use.
type Service struct {
	store    storage.Roster
	r        *router.Router
	log      *slog.Logger
	maxItems int

	// locks serialise read-modify-write of one account's roster, between
	// the account's own roster sets and subscription changes arriving
	// from contacts. Striped: a lock per account would have to be
	// reference counted to be freed.
	seed  maphash.Seed
	locks [lockStripes]sync.Mutex

	idPrefix string
	idNext   atomic.Uint64
}

const lockStripes = 64

// New returns a Service over store; r finds the sessions that get pushes
// and carries the presence a roster removal sends.
func New(store storage.Roster, r *router.Router, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return &Service{
		store:    store,
		r:        r,
		log:      log,
		maxItems: DefaultMaxItems,
		seed:     maphash.MakeSeed(),
		idPrefix: "push-" + hex.EncodeToString(b[:]) + "-",
	}
}

// SetMaxItems sets the most items one roster may hold (n > 0). It must
// be called before the service is used.
func (s *Service) SetMaxItems(n int) {
	if n > 0 {
		s.maxItems = n
	}
}

// lock takes the roster lock of the account user (bare JID) and returns
// its unlock.
func (s *Service) lock(user jid.JID) func() {
	mu := &s.locks[maphash.String(s.seed, user.String())%lockStripes]
	mu.Lock()
	return mu.Unlock
}

// Update reads user's item for contact (both bare JIDs; resources are
// dropped), lets f change it, stores the outcome and pushes it, all under
// the account's roster lock so that concurrent changes cannot lose each
// other. f gets a zero item with Contact set and exists false when there
// is none. f runs with the lock held: it must only decide, never route or
// wait (routing to a local contact comes straight back into presence and
// could need the same lock). Creating an item past the bound fails with
// ErrFull.
func (s *Service) Update(ctx context.Context, user, contact jid.JID, f func(it *storage.RosterItem, exists bool) Change) error {
	user, contact = user.Bare(), contact.Bare()
	unlock := s.lock(user)
	defer unlock()

	it, err := s.store.RosterItem(ctx, user.Local, contact.String())
	exists := true
	switch {
	case errors.Is(err, storage.ErrNotFound):
		exists = false
		it = storage.RosterItem{Contact: contact.String(), Subscription: storage.SubNone}
	case err != nil:
		return fmt.Errorf("roster: update %s of %s: %w", contact, user, err)
	}
	before := it
	change := f(&it, exists)
	it.Contact = contact.String()
	switch change {
	case Put, PutQuiet:
		if !exists {
			if err := s.checkRoom(ctx, user); err != nil {
				return err
			}
		}
		ver, err := s.store.PutRosterItem(ctx, user.Local, it)
		if err != nil {
			return fmt.Errorf("roster: update %s of %s: %w", contact, user, err)
		}
		if change == Put && !it.Hidden {
			s.Push(ctx, user, it, ver)
		}
	case Delete:
		if !exists {
			return nil
		}
		ver, err := s.store.DeleteRosterItem(ctx, user.Local, contact.String())
		if err != nil {
			return fmt.Errorf("roster: remove %s of %s: %w", contact, user, err)
		}
		if !before.Hidden {
			s.Push(ctx, user, storage.RosterItem{Contact: contact.String(), Subscription: subRemove}, ver)
		}
	}
	return nil
}

// checkRoom fails with ErrFull when user's roster has no room for a new
// item.
func (s *Service) checkRoom(ctx context.Context, user jid.JID) error {
	items, _, err := s.store.RosterItems(ctx, user.Local)
	if err != nil {
		return fmt.Errorf("roster: count items of %s: %w", user, err)
	}
	if len(items) >= s.maxItems {
		return fmt.Errorf("roster: %s has %d items: %w", user, len(items), ErrFull)
	}
	return nil
}

// Push sends item, now at roster version ver, to every interested
// resource of user (those that fetched the roster, RFC 6121 2.1.6), each
// in its own iq set with a fresh id. The push has no from: it comes from
// the account itself. An item with Subscription "remove" announces a
// removal. Hidden items are not part of the roster and are never pushed.
func (s *Service) Push(ctx context.Context, user jid.JID, item storage.RosterItem, ver string) {
	if item.Hidden {
		return
	}
	for _, sess := range s.r.Registry().Sessions(user.Bare()) {
		if !sess.State().RosterRequested() {
			continue
		}
		q := xml.New(NS, "query")
		q.SetAttr("ver", ver)
		q.Append(itemElement(item))
		push := stanza.NewIQ("set", s.newID(), "", sess.JID().String(), q)
		if !sess.Deliver(push) {
			s.log.Debug("roster push not delivered", "to", sess.JID().String())
		}
	}
}

func (s *Service) newID() string {
	return s.idPrefix + strconv.FormatUint(s.idNext.Add(1), 10)
}
