// Package accountjoin makes the account, not each client session, the
// member of a group chat (XEP-0045 room). This is minimix's reason to
// exist; docs/account-join.md states every rule for operators and client
// developers.
//
// When a session joins a room, the server joins once as the account's bare
// JID, remembers which of the account's sessions "joined", forks the
// room's traffic to exactly those sessions, and answers later sessions'
// joins from what it keeps: the occupant list, the subject, and the
// account's own archive, in which every room message is stored once.
// Unmodified clients see ordinary MUC behaviour.
//
// The package sees the server through small interfaces declared here
// (Sessions, Sender, Store, Archive) and plugs into the router as an
// Interceptor: FromSession sees what a session sends to a room or an
// occupant, ToLocal what a room sends to the account. It imports no
// transport or storage package, and tests drive it with fakes.
package accountjoin

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// NS is the disco#info feature an account advertises when its server
// joins rooms on its behalf (the project's own namespace).
const NS = "urn:minimix:account-join:0"

// Sessions finds an account's sessions.
type Sessions interface {
	Sessions(bare jid.JID) []router.Session
	Get(full jid.JID) router.Session
}

// Sender routes stanzas the feature sends as the account or as the room.
type Sender interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// Record is one stored account membership.
type Record struct {
	Account    jid.JID
	Room       jid.JID
	Nick       string
	Password   string
	Bookmark   bool
	LastActive time.Time
}

// Store persists memberships so that the server rejoins after a restart.
type Store interface {
	PutJoin(ctx context.Context, r Record) error
	DeleteJoin(ctx context.Context, account, room jid.JID) error
	ListJoins(ctx context.Context) ([]Record, error)
}

// HistoryItem is one archived room message.
type HistoryItem struct {
	Stamp  time.Time
	Stanza *xml.Element
}

// Archive is the accounts' personal archives. A room message is stored
// once for all the local accounts in the room; each account's archive
// holds the messages of the intervals in which it was in the room.
type Archive interface {
	// Joined says the account is in the room from now on. Called when
	// the account's join is sent; calling it again for a membership
	// that never ended (a rejoin) keeps its interval.
	Joined(ctx context.Context, account, room jid.JID) error
	// Left says the membership ended: what the room says afterwards is
	// not the account's.
	Left(ctx context.Context, account, room jid.JID) error
	// Groupchat stores a room message once for the local accounts in the
	// room and returns where it is; Dup says it was stored before (by
	// another account's copy, or when the room repeats it). A zero
	// GroupchatRef means the message is in no archive through this
	// account (not worth keeping, or preferences exclude the room).
	Groupchat(ctx context.Context, account, room jid.JID, el *xml.Element) (GroupchatRef, error)
	// History returns up to max of the newest room messages archived for
	// owner after since (zero: no bound), oldest first.
	History(ctx context.Context, owner, room jid.JID, max int, since time.Time) ([]HistoryItem, error)
	// Last returns the stamp of the newest message of the room stored
	// for the local accounts in it, zero if none: where a rejoin's
	// history starts.
	Last(ctx context.Context, owner, room jid.JID) (time.Time, error)
}

// GroupchatRef is where a room message is in the accounts' archives.
type GroupchatRef struct {
	ID string // archive id, the <stanza-id by=account> on forked copies
	// Order is this process's order of the room's messages: every copy
	// of a message has the same, a message first seen later a larger
	// one (archive positions are not: on a cluster each node stores at
	// positions from its own range).
	Order uint64
	Dup   bool // stored before this copy arrived
}

// Config configures the Service.
type Config struct {
	Domain         string // the local domain; rooms never live on it
	IdleLeaveAfter time.Duration
	OfflineShow    string // account presence in rooms with no joined session
	// HistoryMax bounds the history replayed from the archive to a
	// session that joins an already joined room.
	HistoryMax int
	Sessions   Sessions
	Sender     Sender
	Store      Store
	Archive    Archive
	Logger     *slog.Logger
	Now        func() time.Time
	// NoCreate, when set, reports whether room's service answers the
	// server's own join to a room that does not exist with item-not-found
	// rather than creating it, as the local MUC service does: such rooms
	// need no disco#info probe before the join (rule 24).
	NoCreate func(room jid.JID) bool
	// OnRoomMessage, when set, learns of each room message that reaches
	// the account: a groupchat message once (not when the room repeats
	// it), a private message from an occupant; nick is the account's nick
	// in the room. Push notifications (XEP-0357) watch, so that a room
	// message wakes a phone with no session online. It runs under the
	// account's lock: it must be quick, must not route and must not
	// change el.
	OnRoomMessage func(ctx context.Context, account, room jid.JID, nick string, el *xml.Element)
	// RejoinBackoff is the first delay before rejoining a room that
	// dropped the account for a shutdown (332) or an error (333); it
	// doubles with each attempt. Default 2s.
	RejoinBackoff time.Duration
	// Claim, when set, is asked at Start for each account with stored
	// memberships instead of rejoining them there: on a cluster node,
	// the node that claims the account's lease rejoins them through
	// Adopt (docs/cluster.md).
	Claim func(ctx context.Context, account jid.JID)
	// OnJoined, when set, learns which sessions are joined to which of
	// the account's rooms (room → full JIDs) after each change; gen
	// grows with each change, so a late call can be told from a newer
	// one. A cluster node keeps it where the node taking over the
	// account after this one dies finds it (Adopt). It is called
	// outside the account's lock and must not block long.
	OnJoined func(account jid.JID, gen uint64, joined map[string][]string)
	// SelfPingAfter is how long after the link to a room's server broke
	// the rooms there are self-pinged (RemoteLinkLost). Default 30s.
	SelfPingAfter time.Duration
}

// Stats are the feature's counters, exported as metrics.
type Stats struct {
	AccountJoins     atomic.Int64  // rooms joined as an account
	Joined           atomic.Int64  // of those, the ones whose join the room answered
	JoinedSessions   atomic.Int64  // sessions joined to those rooms
	Forked           atomic.Uint64 // room stanzas forked to sessions
	Saved            atomic.Uint64 // stanzas the room did not have to send
	Synthesised      atomic.Uint64 // joins answered from local state
	SynthNanos       atomic.Uint64 // total time spent synthesising joins
	Rejoins          atomic.Uint64 // rejoins after restart or removal
	ArchiveFailures  atomic.Uint64
	RefusedGroupchat atomic.Uint64 // groupchat from sessions that had not joined
}

// Service is the account-join feature. It implements router.Interceptor.
type Service struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	accounts map[jid.JID]*account
	closed   bool
	stop     chan struct{}
	wg       sync.WaitGroup
	// syntheses counts joins being answered from local state, whose
	// history is read outside the account's lock.
	syntheses sync.WaitGroup
	// store queues membership writes (storequeue.go).
	store storeQueue
	// rejoins are the timers of scheduled work (rejoins, self-pings after
	// a broken link), stopped by Shutdown.
	rejoins map[*time.Timer]struct{}
	// linkChecks are the remote domains whose rooms are to be self-pinged
	// (RemoteLinkLost).
	linkChecks map[string]bool

	Stats Stats
}

// New returns a Service; call Start to rejoin stored rooms.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OfflineShow == "" {
		cfg.OfflineShow = "xa"
	}
	if cfg.RejoinBackoff <= 0 {
		cfg.RejoinBackoff = 2 * time.Second
	}
	if cfg.HistoryMax <= 0 {
		cfg.HistoryMax = 50
	}
	if cfg.SelfPingAfter <= 0 {
		cfg.SelfPingAfter = 30 * time.Second
	}
	return &Service{cfg: cfg, log: cfg.Logger, accounts: make(map[jid.JID]*account), stop: make(chan struct{}),
		rejoins: make(map[*time.Timer]struct{}), linkChecks: make(map[string]bool)}
}

// account returns the state of bare, creating it when create is set.
func (s *Service) account(bare jid.JID, create bool) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[bare]
	if a == nil && create {
		a = &account{jid: bare, jidS: bare.String(), rooms: make(map[jid.JID]*room), iqs: make(map[string]pendingIQ), inIQs: make(map[string]inboundIQ)}
		s.accounts[bare] = a
	}
	return a
}

// Start rejoins every stored membership (it returns when every join has
// gone out; the rooms answer later) and starts the idle sweeper.
func (s *Service) Start(ctx context.Context) error {
	recs, err := s.cfg.Store.ListJoins(ctx)
	if err != nil {
		return err
	}
	if s.cfg.Claim == nil {
		s.rejoinAll(ctx, recs)
	} else {
		claimed := make(map[jid.JID]bool)
		for _, r := range recs {
			if !claimed[r.Account] {
				claimed[r.Account] = true
				s.cfg.Claim(ctx, r.Account)
			}
		}
	}
	if s.cfg.IdleLeaveAfter > 0 {
		s.wg.Add(1)
		go s.sweep()
	}
	return nil
}

// Shutdown stops background work: the idle sweep, scheduled rejoins and
// the rooms' timers. Memberships stay stored as they are: the rooms see
// the server go (their occupants' server disconnects, or the local MUC
// service stops with 332) and the server rejoins at its next start.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	for t := range s.rejoins {
		t.Stop()
	}
	clear(s.rejoins)
	clear(s.linkChecks)
	s.mu.Unlock()
	for _, a := range s.snapshot() {
		a.mu.Lock()
		for _, rm := range a.rooms {
			rm.stopTimers()
		}
		a.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.syntheses.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.flushStore(ctx)
}

// Info describes one membership, for operators.
type Info struct {
	Account  string   `json:"account"`
	Room     string   `json:"room"`
	Nick     string   `json:"nick"`
	State    string   `json:"state"`
	Source   string   `json:"source"` // "bookmark" or "session"
	Sessions []string `json:"sessions"`
	// Since is when this server started the account's join.
	Since time.Time `json:"since"`
}

// List returns the memberships of account (zero: all accounts).
func (s *Service) List(owner jid.JID) []Info {
	var out []Info
	for _, a := range s.snapshot() {
		if !owner.IsZero() && a.jid != owner {
			continue
		}
		a.mu.Lock()
		for _, rm := range a.rooms {
			in := Info{Account: a.jid.String(), Room: rm.jid.String(), Nick: rm.nick, State: rm.state.String(), Source: "session", Since: rm.since}
			if rm.bookmark {
				in.Source = "bookmark"
			}
			for _, js := range rm.sessions {
				in.Sessions = append(in.Sessions, js.full.String())
			}
			out = append(out, in)
		}
		a.mu.Unlock()
	}
	sortInfos(out)
	return out
}

// lock returns the state of the account bare with its lock held, or nil
// when the account has none; release it with release.
func (s *Service) lock(bare jid.JID) *account {
	a := s.account(bare, false)
	if a != nil {
		a.mu.Lock()
	}
	return a
}

// snapshot returns every account with state, for work that visits them
// one at a time without holding the service's lock.
func (s *Service) snapshot() []*account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, a)
	}
	return out
}

// release unlocks a and then sends what was queued while it was held, in
// order.
func (s *Service) release(a *account) {
	out := a.outbox
	a.outbox = nil
	var joined map[string][]string
	gen := a.joinedGen
	if s.cfg.OnJoined != nil && gen != a.publishedGen {
		a.publishedGen = gen
		joined = a.joinedSnapshot()
	}
	a.mu.Unlock()
	if joined != nil {
		s.cfg.OnJoined(a.jid, gen, joined)
	}
	for _, o := range out {
		ctx := context.Background()
		if o.server {
			ctx = context.WithValue(ctx, serverJoinKey{}, true)
		}
		s.cfg.Sender.Route(ctx, o.el, a.jid, o.to)
	}
}

type serverJoinKey struct{}

// IsServerJoin reports whether a join was routed with ctx by the service
// on its own: a rejoin after a restart or a room's 332/333, or an autojoin
// bookmark's join. A local MUC service exempts those from the limits it
// puts on strangers (the server's own work is not a flood); nothing a
// client sends can carry the mark.
func IsServerJoin(ctx context.Context) bool {
	return ctx.Value(serverJoinKey{}) != nil
}
