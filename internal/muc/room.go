package muc

import (
	"slices"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// room is one room's state.
//
// It is owned by one sync.Mutex rather than a goroutine: a room does
// little work per stanza and every delivery is a non-blocking enqueue
// into a session's bounded queue, so a handler can decide a fan-out to
// hundreds of occupants under the lock in microseconds, idle rooms cost
// no goroutine, and a handler sees the state it changes without a round
// trip. What a handler sends is queued in out while the lock is held, in
// the order of the state changes that caused it, and routed by the
// outbox's one drainer after the lock is released (see outbox), so every
// occupant sees the room's events in one order and the router is never
// called with the room locked: a delivery can come straight back into
// the room (a bounce from a session that just went away removes that
// ghost occupant from this very room).
type room struct {
	jid  jid.JID // bare
	jidS string

	mu sync.Mutex
	// Everything below is guarded by mu.
	cfg       roomConfig
	locked    bool // created and not configured yet (XEP-0045 10.1)
	fresh     bool // created, its creator's join not handled yet
	destroyed bool

	subject     string
	subjectNick string

	affs map[jid.JID]affiliation // bare JIDs; "none" is absent
	// nicks are the reserved nicks of affiliated bare JIDs (section
	// 7.10), and reserved the same by nick compare key.
	nicks     map[jid.JID]string
	reserved  map[string]jid.JID
	occupants map[string]*occupant  // by nick compare key
	byReal    map[jid.JID]*occupant // by real JID
	list      []*occupant           // in joining order

	history       []histEntry // oldest first, at most cfg.HistoryLength
	historyLoaded bool

	out outbox // what the room sends, in order
}

// occupant is one nick in a room and the real JIDs behind it: several
// sessions of one bare JID may share a nick (XEP-0045 7.2.6), and a real
// JID may itself be bare (account-based group chat).
type occupant struct {
	nick string
	key  string  // nick compare key (PRECIS nickname profile)
	jid  jid.JID // room@service/nick
	jidS string
	bare jid.JID // real bare JID
	// reals are the real JIDs, in joining order; never empty while the
	// occupant is in the room.
	reals []realJID
	role  role
	pres  []xml.Node // the presence payload (show, status, caps...)
	id    string     // occupant-id (XEP-0421)

	// Cached public presences (with and without the real JID), built on
	// demand and dropped whenever what they show changes.
	pubJID, pubAnon *xml.Element
}

// realJID is a real JID with its string form, which every delivery uses.
type realJID struct {
	j jid.JID
	s string
}

func newRoom(j jid.JID, cfg roomConfig) *room {
	return &room{
		jid:       j,
		jidS:      j.String(),
		cfg:       cfg,
		affs:      make(map[jid.JID]affiliation),
		nicks:     make(map[jid.JID]string),
		reserved:  make(map[string]jid.JID),
		occupants: make(map[string]*occupant),
		byReal:    make(map[jid.JID]*occupant),
	}
}

// send queues el for routing from from to to.
func (r *room) send(el *xml.Element, from, to jid.JID) { r.out.push(el, from, to) }

// occupantJID returns room@service/nick.
func (r *room) occupantJID(nick string) jid.JID {
	return jid.JID{Local: r.jid.Local, Domain: r.jid.Domain, Resource: nick}
}

// add makes o an occupant.
func (r *room) add(o *occupant) {
	r.occupants[o.key] = o
	for _, rl := range o.reals {
		r.byReal[rl.j] = o
	}
	r.list = append(r.list, o)
}

// remove takes o out of the room.
func (r *room) remove(o *occupant) {
	if r.occupants[o.key] == o {
		delete(r.occupants, o.key)
	}
	for _, rl := range o.reals {
		if r.byReal[rl.j] == o {
			delete(r.byReal, rl.j)
		}
	}
	if i := slices.Index(r.list, o); i >= 0 {
		r.list = slices.Delete(r.list, i, i+1)
	}
}

// removeReal takes one real JID away from o, which stays in the room.
func (r *room) removeReal(o *occupant, real jid.JID) {
	o.reals = slices.DeleteFunc(o.reals, func(rl realJID) bool { return rl.j == real })
	if r.byReal[real] == o {
		delete(r.byReal, real)
	}
}

// rename gives o a new nick.
func (r *room) rename(o *occupant, nick, key string) {
	if r.occupants[o.key] == o {
		delete(r.occupants, o.key)
	}
	o.nick, o.key = nick, key
	o.jid = r.occupantJID(nick)
	o.jidS = o.jid.String()
	r.occupants[key] = o
	o.invalidate()
}

// clearOccupants empties the room.
func (r *room) clearOccupants() {
	clear(r.occupants)
	clear(r.byReal)
	clear(r.list)
	r.list = r.list[:0]
}

// byBare returns the occupants whose real bare JID is bare.
func (r *room) byBare(bare jid.JID) []*occupant {
	var out []*occupant
	for _, o := range r.list {
		if o.bare == bare {
			out = append(out, o)
		}
	}
	return out
}

// invalidate drops o's cached presences.
func (o *occupant) invalidate() { o.pubJID, o.pubAnon = nil, nil }

// invalidateAll drops every occupant's cached presences, after a change
// of configuration.
func (r *room) invalidateAll() {
	for _, o := range r.list {
		o.invalidate()
	}
}

// maxUsers is the room's occupant limit within the service's.
func (r *room) maxUsers(service int) int {
	if r.cfg.MaxUsers > 0 && r.cfg.MaxUsers < service {
		return r.cfg.MaxUsers
	}
	return service
}
