// Package muc is minimix's multi-user chat service (XEP-0045 1.35) on a
// domain of its own (conference.<domain>), routed as a router.Component.
//
// A stanza reaches the service through RouteStanza and is dispatched by
// its kind and address: to the service itself (discovery, unique names),
// to a room's bare JID (groupchat, invitations, room iqs such as admin,
// owner and MAM queries) or to an occupant JID (joins, nick changes,
// presence updates, private messages, iqs relayed to an occupant).
//
// Every room is owned by one sync.Mutex (see room). A handler locks the
// room, changes its state and queues what must be sent in the room's
// outbox; release then routes the outbox in order, outside the lock. The
// service's map of rooms has a lock of its own, always taken after a
// room's and never held while a room's is taken.
//
// Real JIDs are whatever sent the join: usually a client's full JID, and,
// with account-based group chat (package accountjoin), an account's bare
// JID. The service treats them alike: each occupant (a nick) has a set of
// real JIDs of one bare JID, delivered to one by one.
package muc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Namespaces of XEP-0045 and of the extensions rooms advertise.
const (
	NS           = "http://jabber.org/protocol/muc"
	NSUser       = NS + "#user"
	NSAdmin      = NS + "#admin"
	NSOwner      = NS + "#owner"
	NSRoomConfig = NS + "#roomconfig"
	NSRoomInfo   = NS + "#roominfo"
	NSRequest    = NS + "#request"
	NSUnique     = NS + "#unique"
	NSStableID   = NS + "#stable_id"
	// NSSelfPing advertises that a ping to one's own occupant JID is
	// answered by the service itself (XEP-0410).
	NSSelfPing = NS + "#self-ping-optimization"
	// NSOccupantID is XEP-0421.
	NSOccupantID = "urn:xmpp:occupant-id:0"

	nsPing  = "urn:xmpp:ping"
	nsVCard = "vcard-temp"
)

// Router is where the service sends what it routes: the server's router.
// Route must not block; it may call back into the service (a bounce, an
// invitation to another room), which is why rooms route outside their
// lock.
type Router interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// Archive keeps room archives (XEP-0313); *mam.Archive implements it.
// The owner of a room's archive is the room's bare JID.
type Archive interface {
	Append(ctx context.Context, owner, with jid.JID, el *xml.Element, groupchat bool) (string, error)
	ServeQuery(ctx context.Context, owner jid.JID, req iq.Request, send func(*xml.Element), opts mam.QueryOptions) (*xml.Element, error)
	ServeMetadata(ctx context.Context, owner jid.JID) (*xml.Element, error)
	RetractGroupchat(ctx context.Context, room jid.JID, id, author string, retracted *xml.Element) (int, error)
}

// Store is what the service keeps: persistent rooms, and room archives
// to replay history from after a restart and to delete with their room.
type Store interface {
	storage.Rooms
	QueryArchive(ctx context.Context, owner string, q storage.ArchiveQuery) (storage.ArchivePage, error)
	DeleteArchive(ctx context.Context, owner string) error
}

// Who may create rooms (Config.Creation).
const (
	CreateAnyone = "anyone"
	CreateLocal  = "local"
	CreateAdmins = "admins"
)

// Config is what a Service is built from.
type Config struct {
	// Domain is the service's domain ("conference.example.net").
	Domain string
	// ServerDomain is the local accounts' domain, for CreateLocal.
	ServerDomain string
	// HistoryDefault is how many messages a join without <history/>
	// gets, at most the room's history length.
	HistoryDefault int
	// MaxOccupants caps every room's occupants.
	MaxOccupants int
	// Creation is CreateAnyone, CreateLocal or CreateAdmins.
	Creation string
	// Admins have owner rights in every room (bare JIDs) and are not rate
	// limited.
	Admins []jid.JID
	// Limits is the service's policy (zero: DefaultLimits).
	Limits Limits
	// Secret keys occupant-ids (XEP-0421) and relayed iq ids; it must
	// stay the same across restarts so that occupant-ids do. At least 16
	// bytes.
	Secret  []byte
	Router  Router
	Store   Store
	Archive Archive
	Logger  *slog.Logger
	// Now is the clock, time.Now when nil.
	Now func() time.Time
	// ExemptJoin, when set, reports whether a join routed with ctx is the
	// server's own (see joinAllowed in limits.go). Such a join is not
	// rate-limited, and it never creates a room: a room that does not
	// exist answers it with item-not-found, so that a server rejoining
	// its accounts' rooms after a restart does not bring back rooms their
	// members let go (account-join rule 24).
	ExemptJoin func(ctx context.Context) bool
}

// Service is the MUC service. It implements router.Component.
type Service struct {
	cfg    Config
	domain jid.JID
	log    *slog.Logger
	now    func() time.Time
	live   atomic.Pointer[live] // what a reload changes (SetDefaults)

	creations *limiter // room creations per real bare JID
	joins     *limiter // new occupancies per real bare JID
	voice     *limiter // voice requests per real bare JID

	mu     sync.Mutex
	rooms  map[string]*room // by localpart
	closed bool

	outMu sync.Mutex
	out   outbox // replies that concern no room

	actMu  sync.Mutex
	active int           // goroutines routing an outbox
	quiet  chan struct{} // closed when active drops to 0
}

// New returns a Service; Start loads its persistent rooms.
func New(cfg Config) (*Service, error) {
	d, err := jid.Parse(cfg.Domain)
	if err != nil || !d.IsDomain() {
		return nil, fmt.Errorf("muc: bad service domain %q", cfg.Domain)
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("muc: secret shorter than 16 bytes")
	}
	if cfg.Router == nil || cfg.Store == nil {
		return nil, errors.New("muc: Router and Store are required")
	}
	if cfg.MaxOccupants <= 0 {
		cfg.MaxOccupants = 1000
	}
	cfg.Limits = cfg.Limits.withDefaults()
	cfg.HistoryDefault = max(0, min(cfg.HistoryDefault, cfg.Limits.MaxHistoryLength))
	if cfg.Creation == "" {
		cfg.Creation = CreateLocal
	}
	s := &Service{
		cfg:       cfg,
		domain:    d,
		log:       cfg.Logger,
		now:       cfg.Now,
		creations: newLimiter(cfg.Limits.CreateBurst, cfg.Limits.CreateInterval),
		joins:     newLimiter(cfg.Limits.JoinBurst, cfg.Limits.JoinInterval),
		voice:     newLimiter(cfg.Limits.VoiceRequestBurst, cfg.Limits.VoiceRequestInterval),
		rooms:     make(map[string]*room),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.SetDefaults(Defaults{
		HistoryDefault: cfg.HistoryDefault, MaxOccupants: cfg.MaxOccupants, Creation: cfg.Creation,
		HistoryLength: cfg.Limits.HistoryLength, Admins: cfg.Admins,
	})
	return s, nil
}

// Domain returns the service's domain.
func (s *Service) Domain() string { return s.domain.Domain }

// Start loads the persistent rooms, with their recent history.
func (s *Service) Start(ctx context.Context) error {
	return s.loadRooms(ctx)
}

// Shutdown tells every occupant that the service is going away (an
// unavailable presence with status 332), saves the persistent rooms and
// refuses what comes after. It returns once the presences are handed to
// the router.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	var errs []error
	for _, r := range rooms {
		r.mu.Lock()
		for _, o := range r.list {
			o.role = roleNone
			c := &change{typ: "unavailable", codes: []string{"332"}}
			s.toSelf(r, o, c)
		}
		r.clearOccupants()
		if r.cfg.Persistent && !r.destroyed {
			if err := s.save(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
		s.release(ctx, r)
	}
	if err := s.idle(ctx); err != nil {
		errs = append(errs, fmt.Errorf("muc: shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// RouteStanza implements router.Component: everything addressed to the
// service's domain arrives here, from a trusted from.
func (s *Service) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if from.IsZero() || !stanza.IsStanza(el) {
		return
	}
	if el.Space == xml.NSServer {
		// From another server: what the room passes on goes to clients.
		el = el.Clone()
		stanza.SetSpace(el, xml.NSServer, xml.NSClient)
	}
	if to.Local == "" {
		s.serviceStanza(ctx, el, from, to)
		return
	}
	switch el.Local {
	case stanza.Presence:
		s.onPresence(ctx, el, from, to)
	case stanza.Message:
		s.onMessage(ctx, el, from, to)
	case stanza.IQ:
		s.onIQ(ctx, el, from, to)
	}
}

// lookup returns the room with localpart local, or nil.
func (s *Service) lookup(local string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.rooms[local]
}

// lookupOrCreate returns the room local, creating it (locked, owned by
// creator) when creator may create rooms.
func (s *Service) lookupOrCreate(local string, creator jid.JID, create bool) (*room, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, xmpperr.New(xmpperr.ServiceUnavailable, "the service is shutting down")
	}
	if r := s.rooms[local]; r != nil {
		return r, false, nil
	}
	if !create {
		return nil, false, xmpperr.New(xmpperr.ItemNotFound, "the room does not exist")
	}
	if !s.mayCreate(creator) {
		return nil, false, xmpperr.New(xmpperr.NotAllowed, "you may not create rooms here")
	}
	if !s.isAdmin(creator.Bare()) && !s.creations.allow(creator.Bare(), s.now()) {
		return nil, false, xmpperr.New(xmpperr.ResourceConstraintC, "too many rooms created; try again later")
	}
	r := newRoom(jid.JID{Local: local, Domain: s.domain.Domain}, s.defaultConfig())
	r.locked = true
	r.fresh = true
	r.historyLoaded = true
	r.affs[creator.Bare()] = affOwner
	s.rooms[local] = r
	return r, true, nil
}

// mayCreate applies restrict_room_creation.
func (s *Service) mayCreate(creator jid.JID) bool {
	switch s.defaults().creation {
	case CreateAnyone:
		return true
	case CreateAdmins:
		return s.isAdmin(creator.Bare())
	default:
		return creator.Domain == s.cfg.ServerDomain || s.isAdmin(creator.Bare())
	}
}

// dispose removes a room that no longer exists from the service, with
// its stored state and archive. r.mu is held.
func (s *Service) dispose(ctx context.Context, r *room) {
	r.destroyed = true
	if r.cfg.Persistent {
		if err := s.cfg.Store.DeleteRoom(ctx, r.jidS); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Error("muc: deleting room", "room", r.jidS, "err", err)
		}
	}
	if err := s.cfg.Store.DeleteArchive(ctx, r.jidS); err != nil {
		s.log.Error("muc: deleting room archive", "room", r.jidS, "err", err)
	}
	s.mu.Lock()
	if s.rooms[r.jid.Local] == r {
		delete(s.rooms, r.jid.Local)
	}
	s.mu.Unlock()
}

// release ends a handler's hold on r: a temporary room left empty is
// disposed of, what the handler queued is handed to the room's drainer,
// and r is unlocked.
func (s *Service) release(ctx context.Context, r *room) {
	if len(r.list) == 0 && !r.fresh && !r.cfg.Persistent && !r.destroyed {
		s.dispose(context.WithoutCancel(ctx), r)
	}
	s.flush(&r.mu, &r.out)
	r.mu.Unlock()
}

// serviceStanza handles what is addressed to the service's own domain.
func (s *Service) serviceStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	switch el.Local {
	case stanza.IQ:
		if !stanza.IsRequest(el) {
			return
		}
		payload, err := s.serviceIQ(ctx, el, from)
		s.answer(ctx, el, payload, err, from, to)
	case stanza.Message:
		if t := stanza.Type(el); t != "error" && t != "headline" && el.Child("", "body") != nil {
			s.routeError(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, "the service is not an occupant"), from, to)
		}
	}
}

// answer routes the reply to the request el: a result with payload, or
// the error err.
func (s *Service) answer(ctx context.Context, el, payload *xml.Element, err error, from, to jid.JID) {
	if err != nil {
		s.routeError(ctx, el, s.stanzaError(err, el), from, to)
		return
	}
	s.route(resultIQ(el, payload, to, from), to, from)
}

// stanzaError returns err as a stanza error, logging what is not one.
func (s *Service) stanzaError(err error, el *xml.Element) *xmpperr.StanzaError {
	var se *xmpperr.StanzaError
	if errors.As(err, &se) {
		return se
	}
	s.log.Error("muc: request failed", "stanza", el.Local, "err", err)
	return xmpperr.New(xmpperr.InternalServerErrorC, "")
}

// routeError routes the error reply to el, which from sent to to.
func (s *Service) routeError(ctx context.Context, el *xml.Element, se *xmpperr.StanzaError, from, to jid.JID) {
	if reply := errorReply(el, se, from, to); reply != nil {
		s.route(reply, to, from)
	}
}

// errorReply is the error reply to el (sent by from to to), from to,
// or nil when el is an error itself.
func errorReply(el *xml.Element, se *xmpperr.StanzaError, from, to jid.JID) *xml.Element {
	reply := stanza.ErrorReply(el, se)
	if reply == nil {
		return nil
	}
	reply.Space = xml.NSClient
	reply.SetAttr("from", to.String())
	reply.SetAttr("to", from.String())
	return reply
}

// resultIQ is the result of the request el with payload (may be nil).
func resultIQ(el, payload *xml.Element, from, to jid.JID) *xml.Element {
	r := xml.New(xml.NSClient, stanza.IQ, "type", "result", "id", el.Attr("id"))
	r.SetAttr("from", from.String())
	r.SetAttr("to", to.String())
	return r.Append(payload)
}

// randomID returns an unpredictable stanza id.
func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
