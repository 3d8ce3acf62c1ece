// Package offline keeps messages for accounts that have no available
// resource and hands them over when the account next comes online
// (XEP-0160). The router decides what is stored (RFC 6121 8.5.2.2); this
// package only stamps, stores and delivers.
package offline

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Feature is the disco#info feature of the server that keeps messages for
// offline accounts (XEP-0160 section 3).
const Feature = "msgoffline"

// Service stores and flushes offline messages. It implements
// router.Offline. It is safe for concurrent use.
type Service struct {
	store  storage.Offline
	r      *router.Router
	max    int
	domain string
	log    *slog.Logger
	now    func() time.Time

	// flushLocks serialise flushes of one account, so that two resources
	// coming online together do not both receive every message before
	// either deletes them. Striped so that a lock per account is not kept
	// forever.
	seed       maphash.Seed
	flushLocks [flushStripes]sync.Mutex
}

const flushStripes = 64

var _ router.Offline = (*Service)(nil)

// New returns a Service keeping at most max messages per account (0 or
// less: no limit). domain is the from of the <delay/> it stamps; when
// empty the router's domain is used.
func New(store storage.Offline, r *router.Router, max int, domain string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if domain == "" && r != nil {
		domain = r.Domain()
	}
	return &Service{
		store:  store,
		r:      r,
		max:    max,
		domain: domain,
		log:    log,
		now:    time.Now,
		seed:   maphash.MakeSeed(),
	}
}

// StoreOffline keeps el for user (a bare or full JID of a local account).
// The stored copy carries a XEP-0203 <delay/> so the recipient sees when
// the server received it; a delay this server already added (a message
// rerouted twice) is kept rather than doubled. It returns an error
// wrapping storage.ErrQuota when user already has the maximum waiting.
func (s *Service) StoreOffline(ctx context.Context, user jid.JID, el *xml.Element) error {
	now := s.now().UTC()
	c := el.ShallowClone()
	// Clip so that appending the delay never writes into the caller's
	// children array, which other receivers of el may share.
	c.Children = slices.Clip(el.Children)
	if !s.hasOwnDelay(el) {
		c.Append(stanza.Delay(s.domain, now.Format(time.RFC3339)))
	}
	b := stanza.Encode(c)
	if err := s.store.StoreOffline(ctx, user.Local, b, now, s.max); err != nil {
		return fmt.Errorf("offline: store for %s: %w", user.Bare(), err)
	}
	return nil
}

func (s *Service) hasOwnDelay(el *xml.Element) bool {
	for _, c := range el.Elements() {
		if c.Space == stanza.NSDelay && c.Local == "delay" && c.Attr("from") == s.domain {
			return true
		}
	}
	return false
}

// Flush delivers the messages waiting for the account of sess to sess,
// oldest first, and deletes those it delivered. It stops at the first
// message the session refuses (its queue is full or it closed), leaving
// that one and the rest for a later flush. A stored message that no
// longer parses is deleted and logged, since it can never be delivered.
// It returns how many messages were delivered.
func (s *Service) Flush(ctx context.Context, sess router.Session) (int, error) {
	user := sess.JID().Bare()
	mu := &s.flushLocks[maphash.String(s.seed, user.String())%flushStripes]
	mu.Lock()
	defer mu.Unlock()

	msgs, err := s.store.OfflineMessages(ctx, user.Local)
	if err != nil {
		return 0, fmt.Errorf("offline: flush to %s: %w", sess.JID(), err)
	}
	var done []int64
	delivered := 0
	for _, m := range msgs {
		el, err := stanza.Decode(m.Stanza, stanza.Message)
		if err != nil {
			s.log.Warn("offline: dropping unreadable stored message", "user", user.String(), "id", m.ID, "err", err)
			done = append(done, m.ID)
			continue
		}
		if p, ok := sess.(pacer); ok && !p.WaitWritable(ctx) {
			break // the client stopped reading: the rest stays stored
		}
		if !sess.Deliver(el) {
			break
		}
		delivered++
		done = append(done, m.ID)
	}
	if err := s.store.DeleteOffline(ctx, user.Local, done); err != nil {
		// The messages were delivered; they will be delivered again on
		// the next flush, which is better than losing them.
		return delivered, fmt.Errorf("offline: delete %d flushed messages of %s: %w", len(done), user, err)
	}
	return delivered, nil
}

// DropArchived deletes, without delivering them, the waiting messages of
// user that its archive holds (those the archive stamped with its
// <stanza-id by=user/>), and returns how many. A client binding with
// Bind 2 gets them from the archive (XEP-0386: the server clears the
// offline messages "as they will be provided by MAM"); the others (the
// archive kept no copy: its preferences said never) stay for the next
// flush.
func (s *Service) DropArchived(ctx context.Context, user jid.JID) (int, error) {
	user = user.Bare()
	mu := &s.flushLocks[maphash.String(s.seed, user.String())%flushStripes]
	mu.Lock()
	defer mu.Unlock()
	msgs, err := s.store.OfflineMessages(ctx, user.Local)
	if err != nil {
		return 0, fmt.Errorf("offline: reading the messages of %s: %w", user, err)
	}
	var done []int64
	for _, m := range msgs {
		el, err := stanza.Decode(m.Stanza, stanza.Message)
		if err != nil {
			continue // Flush logs and drops it
		}
		if stanza.StanzaID(el, user) != "" {
			done = append(done, m.ID)
		}
	}
	if len(done) == 0 {
		return 0, nil
	}
	if err := s.store.DeleteOffline(ctx, user.Local, done); err != nil {
		return 0, fmt.Errorf("offline: dropping %d archived messages of %s: %w", len(done), user, err)
	}
	return len(done), nil
}

// pacer is implemented by sessions whose queue is bounded (c2s): a flush
// waits for room before each message, so that a client that reads gets
// every stored message however many there are, and one that does not
// read keeps them stored.
type pacer interface {
	WaitWritable(ctx context.Context) bool
}
