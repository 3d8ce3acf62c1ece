// Package push publishes push notifications (XEP-0357): a phone's client
// enables them with its app server's JID, node and publish options; when
// a message reaches the account while the session that enabled them is
// gone, inactive (XEP-0352) or waiting to be resumed (XEP-0198), the
// server publishes a summary to the app server (the number of messages
// since the client last listened, the sender, the body only when the
// operator allows it), which wakes the phone through its platform's push
// service.
//
// Account-based group chat makes rooms part of this: the account stays in
// its rooms with no session online, so a room message can wake the phone.
// Which rooms do is the account's choice, per room in its bookmarks
// (XEP-0492 notification settings in a XEP-0402 bookmark's extensions:
// always, on mention, never), with a default from the configuration.
//
// The package watches deliveries through two hooks, router.Watcher and
// accountjoin's OnRoomMessage, which cost a map lookup when the account
// has nothing enabled; everything else (deciding, reading bookmarks,
// publishing) happens on one worker goroutine, off the delivery path
// (docs/push.md).
package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Namespaces of XEP-0357.
const (
	NS        = "urn:xmpp:push:0"
	NSSummary = "urn:xmpp:push:summary"
	nsPubSub  = "http://jabber.org/protocol/pubsub"
	nsOptions = "http://jabber.org/protocol/pubsub#publish-options"
)

// Store keeps registrations; storage.PushRegistrations is one.
type Store interface {
	PutPushRegistration(ctx context.Context, reg storage.PushRegistration) error
	DeletePushRegistrations(ctx context.Context, user, service, node string) error
	PushRegistrations(ctx context.Context) ([]storage.PushRegistration, error)
}

// Sessions finds a session by full JID; *router.Registry is one.
type Sessions interface {
	Get(full jid.JID) router.Session
}

// Sender routes the publish requests; *router.Router is one.
type Sender interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// RoomSettings returns an account's notification settings of the rooms it
// set one for (its bookmarks' XEP-0492 settings).
type RoomSettings func(ctx context.Context, account jid.JID) (map[jid.JID]Notify, error)

// awakeSession is what a session tells of its client's attention; c2s
// sessions implement it.
type awakeSession interface {
	Inactive() bool
	Hibernated() bool
}

// Config is what a Service is built from.
type Config struct {
	Domain   string // the local domain
	Store    Store
	Sessions Sessions
	Sender   Sender
	// Rooms reads the accounts' per-room settings; nil: the default for
	// every room.
	Rooms RoomSettings
	// RoomDefault is the setting of a room the account set none for.
	RoomDefault Notify
	// IncludeSender and IncludeBody put the last message's sender and
	// body into the summary.
	IncludeSender, IncludeBody bool
	// MaxRegistrations bounds one account's registrations.
	MaxRegistrations int
	// Queue bounds the messages waiting for the worker; past it they are
	// counted, logged and not pushed.
	Queue int
	// Timeout is how long a publish may go unanswered before it counts
	// as a failure.
	Timeout time.Duration
	// MaxFailures is how many temporary failures (errors of type wait,
	// no answer) in a row disable a registration; any other error
	// disables it at once (XEP-0357 section 7.1).
	MaxFailures int
	Logger      *slog.Logger
	Now         func() time.Time
}

// Stats are the service's counters, exported as metrics.
type Stats struct {
	Registrations atomic.Int64  // enabled registrations
	Queued        atomic.Uint64 // messages handed to the worker to consider
	Published     atomic.Uint64 // publish requests sent
	Failed        atomic.Uint64 // publishes answered with an error or not at all
	Disabled      atomic.Uint64 // registrations disabled after failures
	Dropped       atomic.Uint64 // messages not considered: the queue was full
}

// Service keeps the registrations and publishes notifications. It
// implements router.Watcher and router.Interceptor (it takes the app
// servers' answers to its publishes). It is safe for concurrent use.
type Service struct {
	cfg      Config
	log      *slog.Logger
	idPrefix string

	// regs maps an account's localpart to its registrations. The map and
	// the slices are replaced, never changed, so that the delivery hooks
	// read them without a lock; writers hold mu.
	regs atomic.Pointer[map[string][]*registration]
	mu   sync.Mutex

	settings atomic.Pointer[Settings] // what a reload changes

	// rmu guards the registrations' runtime state (counts, seen
	// messages, failures), pending publishes and the room cache.
	rmu     sync.Mutex
	pending map[string]*pending
	rooms   map[jid.JID]map[jid.JID]Notify
	seq     uint64

	jobs    chan job
	answers chan answer
	stop    chan struct{}
	done    chan struct{}
	started atomic.Bool
	dropLog atomic.Int64 // unix seconds of the last "queue full" log line

	Stats Stats
}

var (
	_ router.Watcher     = (*Service)(nil)
	_ router.Interceptor = (*Service)(nil)
)

// registration is one enabled (service, node) of an account. Its fields
// never change; its runtime state is guarded by Service.rmu.
type registration struct {
	account  jid.JID
	service  jid.JID
	node     string
	options  *xml.Element // publish-options form, type submit; nil if none
	resource string
	enabled  time.Time

	count    int      // messages pushed since the client last listened
	failures int      // temporary failures in a row
	seen     []string // keys of the messages pushed lately, a ring
	seenNext int
}

// seenMax is how many recent messages a registration remembers so that
// none is pushed twice.
const seenMax = 128

// markSeen records key and reports whether it was new. rmu must be held.
func (r *registration) markSeen(key string) bool {
	if key == "" {
		return true
	}
	for _, k := range r.seen {
		if k == key {
			return false
		}
	}
	if len(r.seen) < seenMax {
		r.seen = append(r.seen, key)
	} else {
		r.seen[r.seenNext] = key
		r.seenNext = (r.seenNext + 1) % seenMax
	}
	return true
}

type pending struct {
	reg      *registration
	deadline time.Time
}

// maxPending bounds the publishes awaiting an answer; past it a publish
// goes out untracked (a missing answer then counts for nothing).
const maxPending = 10000

// New returns a Service; Start loads the stored registrations.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 10000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 3
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &Service{
		cfg: cfg, log: cfg.Logger,
		idPrefix: "push-" + hex.EncodeToString(b[:]) + "-",
		pending:  make(map[string]*pending),
		rooms:    make(map[jid.JID]map[jid.JID]Notify),
		jobs:     make(chan job, cfg.Queue),
		answers:  make(chan answer, 256),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	empty := map[string][]*registration{}
	s.regs.Store(&empty)
	s.SetSettings(Settings{
		RoomDefault: cfg.RoomDefault, IncludeSender: cfg.IncludeSender, IncludeBody: cfg.IncludeBody,
		MaxRegistrations: cfg.MaxRegistrations, MaxFailures: cfg.MaxFailures,
	})
	return s
}

// Start loads the stored registrations and starts the worker.
func (s *Service) Start(ctx context.Context) error {
	stored, err := s.cfg.Store.PushRegistrations(ctx)
	if err != nil {
		return fmt.Errorf("load push registrations: %w", err)
	}
	m := make(map[string][]*registration)
	n := 0
	for _, sr := range stored {
		r, err := s.fromStored(sr)
		if err != nil {
			s.log.Warn("push registration unreadable; ignored", "user", sr.User, "service", sr.Service, "node", sr.Node, "err", err)
			continue
		}
		m[r.account.Local] = append(m[r.account.Local], r)
		n++
	}
	s.mu.Lock()
	s.regs.Store(&m)
	s.mu.Unlock()
	s.Stats.Registrations.Store(int64(n))
	s.started.Store(true)
	go s.work()
	return nil
}

func (s *Service) fromStored(sr storage.PushRegistration) (*registration, error) {
	account, err := jid.New(sr.User, s.cfg.Domain, "")
	if err != nil {
		return nil, err
	}
	service, err := jid.Parse(sr.Service)
	if err != nil {
		return nil, err
	}
	r := &registration{account: account, service: service, node: sr.Node, resource: sr.Resource, enabled: sr.Enabled}
	if len(sr.Options) > 0 {
		if r.options, err = xml.Parse(sr.Options); err != nil {
			return nil, fmt.Errorf("publish options: %w", err)
		}
	}
	return r, nil
}

// Shutdown stops the worker after it has handled what is queued.
func (s *Service) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return nil
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("push: %w", ctx.Err())
	}
}

// registrations returns the registrations of the local account; nil
// when it has none.
func (s *Service) registrations(account jid.JID) []*registration {
	m := *s.regs.Load()
	if len(m) == 0 || account.Domain != s.cfg.Domain {
		return nil
	}
	return m[account.Local]
}

// update replaces account's registrations with f's result; s.mu must be
// held.
func (s *Service) update(account jid.JID, f func([]*registration) []*registration) {
	old := *s.regs.Load()
	m := make(map[string][]*registration, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	before := len(m[account.Local])
	next := f(m[account.Local])
	if len(next) == 0 {
		delete(m, account.Local)
	} else {
		m[account.Local] = next
	}
	s.Stats.Registrations.Add(int64(len(next) - before))
	s.regs.Store(&m)
}

// Forget drops a deleted account's registrations from memory (storage
// deletes them with the account).
func (s *Service) Forget(user string) {
	account := jid.JID{Local: user, Domain: s.cfg.Domain}
	s.mu.Lock()
	s.update(account, func([]*registration) []*registration { return nil })
	s.mu.Unlock()
	s.InvalidateRooms(account)
}

// InvalidateRooms forgets the room settings read for account; the
// bookmarks changed.
func (s *Service) InvalidateRooms(account jid.JID) {
	s.rmu.Lock()
	delete(s.rooms, account)
	s.rmu.Unlock()
}

// awake reports whether the session that enabled r is connected, active
// and not waiting to be resumed: its client hears for itself.
func (s *Service) awake(r *registration) bool {
	sess := s.cfg.Sessions.Get(r.account.WithResource(r.resource))
	if sess == nil {
		return false
	}
	if a, ok := sess.(awakeSession); ok {
		return !a.Inactive() && !a.Hibernated()
	}
	return true
}
