// Package blocking is the blocking command (XEP-0191): an account keeps a
// list of JIDs it does not want to hear from or talk to, and the server
// enforces it for every session of the account and while none is online.
//
// The lists are kept in storage and held in memory, so that the delivery
// path never reads storage: the service loads them all at Start, and a
// change is written to storage before it takes effect. The service plugs
// into the router as an Interceptor, ahead of account-based group chat,
// so that what a blocked occupant of a room sends is stopped before the
// account's room state sees it; presence.Service asks Blocks before it
// sends the account's presence anywhere (docs/blocking.md).
package blocking

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// The namespaces of XEP-0191: the protocol's and the one of its
// application-specific error condition, <blocked/>.
const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

// Store keeps the blocklists; storage.Blocklists is one.
type Store interface {
	Block(ctx context.Context, user string, jids []string) error
	Unblock(ctx context.Context, user string, jids []string) error
	Blocklists(ctx context.Context) (map[string][]string, error)
}

// Sessions finds an account's sessions; *router.Registry is one.
type Sessions interface {
	Sessions(bare jid.JID) []router.Session
	Get(full jid.JID) router.Session
}

// Sender routes what the service sends: error replies, and the account's
// presence to contacts it blocks or unblocks. *router.Router is one.
type Sender interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// Subscribers lists the contacts allowed to receive an account's presence
// (a subscription "from" or "both", RFC 6121): those that are told the
// account went offline when they are blocked, and its presence again when
// they are unblocked (XEP-0191 sections 3.3 and 3.4).
type Subscribers func(ctx context.Context, user jid.JID) ([]jid.JID, error)

// Config is what a Service is built from.
type Config struct {
	Domain      string // the local domain
	Store       Store
	Sessions    Sessions
	Sender      Sender
	Subscribers Subscribers
	// MaxItems bounds one account's blocklist; a block that would pass it
	// is refused with resource-constraint. 0 is no bound.
	MaxItems int
	Logger   *slog.Logger
}

// Service keeps the blocklists and enforces them. It implements
// router.Interceptor. It is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger

	// lists maps a localpart to its account's blocklist. The map and the
	// lists are replaced, never changed, so that readers need no lock;
	// writers hold mu, in storage order.
	lists atomic.Pointer[map[string]*list]
	mu    sync.Mutex

	// interested are the sessions that asked for the blocklist, which get
	// the pushes of later changes (XEP-0191 sections 3.3 to 3.5).
	imu        sync.Mutex
	interested map[jid.JID]router.Session

	Stats Stats
}

// Stats are the service's counters, exported as metrics.
type Stats struct {
	Blocked      atomic.Uint64 // stanzas from blocked JIDs stopped
	Refused      atomic.Uint64 // stanzas to blocked JIDs refused
	BlockedItems atomic.Int64  // JIDs in all blocklists
}

var _ router.Interceptor = (*Service)(nil)

// New returns a Service with no blocklists; Start loads them.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, interested: make(map[jid.JID]router.Session)}
	empty := map[string]*list{}
	s.lists.Store(&empty)
	return s
}

// Start loads every stored blocklist. It must run before the server takes
// connections, or stanzas from blocked JIDs would get through meanwhile.
func (s *Service) Start(ctx context.Context) error {
	all, err := s.cfg.Store.Blocklists(ctx)
	if err != nil {
		return fmt.Errorf("load blocklists: %w", err)
	}
	m := make(map[string]*list, len(all))
	n := 0
	for user, jids := range all {
		parsed := make([]jid.JID, 0, len(jids))
		for _, js := range jids {
			j, err := jid.Parse(js)
			if err != nil {
				// Written by this package in canonical form; a row that no
				// longer parses is kept in storage and reported, and blocks
				// nothing.
				s.log.Warn("blocklist entry does not parse; ignored", "user", user, "jid", js, "err", err)
				continue
			}
			parsed = append(parsed, j)
		}
		if len(parsed) > 0 {
			m[user] = newList(parsed)
			n += m[user].len()
		}
	}
	s.mu.Lock()
	s.lists.Store(&m)
	s.mu.Unlock()
	s.Stats.BlockedItems.Store(int64(n))
	return nil
}

// list returns the blocklist of the local account user, nil when empty.
func (s *Service) list(user string) *list {
	m := *s.lists.Load()
	if len(m) == 0 {
		return nil
	}
	return m[user]
}

// setList replaces user's list; s.mu must be held.
func (s *Service) setList(user string, l *list) {
	old := *s.lists.Load()
	m := make(map[string]*list, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	s.Stats.BlockedItems.Add(int64(l.len() - m[user].len()))
	if l.len() == 0 {
		delete(m, user)
	} else {
		m[user] = l
	}
	s.lists.Store(&m)
}

// Blocks reports whether the local account user (a bare JID) blocks
// contact. Presence asks it before sending the account's presence to a
// contact, so that a blocked contact sees the account offline.
func (s *Service) Blocks(user, contact jid.JID) bool {
	if user.Domain != s.cfg.Domain || exempt(user, contact, s.cfg.Domain) {
		return false
	}
	return s.list(user.Local).matches(contact)
}

// exempt reports whether traffic between the account user and other is
// never blocked: the account's own addresses, and the server itself,
// whose stanzas (roster pushes, the answers of its own services) the
// account cannot do without. Blocking the server's domain still blocks
// the other accounts and services at it.
func exempt(user, other jid.JID, domain string) bool {
	return other.Bare() == user.Bare() || other.IsDomain() && other.Domain == domain
}

// Forget drops a deleted account's blocklist from memory (storage deletes
// it with the account).
func (s *Service) Forget(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.list(user) != nil {
		s.setList(user, nil)
	}
}

// SessionEnded forgets that the session asked for the blocklist.
func (s *Service) SessionEnded(sess router.Session) {
	s.imu.Lock()
	if s.interested[sess.JID()] == sess {
		delete(s.interested, sess.JID())
	}
	s.imu.Unlock()
}
