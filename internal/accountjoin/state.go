package accountjoin

import (
	"slices"
	"sort"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// account holds the memberships of one account. Its mutex guards
// everything below it; deliveries made under it are non-blocking
// enqueues, so holding it while forking keeps every session's view in the
// room's order.
type account struct {
	mu    sync.Mutex
	jid   jid.JID
	jidS  string // jid written out, for the stanza-ids of every room message
	rooms map[jid.JID]*room
	// iqs maps the ids of iqs sent to rooms as the account back to the
	// asking session and its own id. The ids are random (newID), so that
	// nobody can answer in a room's name by guessing one.
	iqs map[string]pendingIQ
	// inIQs maps the ids of requests occupants sent the account, passed
	// on to one of its sessions, back to the occupant and the room's id.
	inIQs map[string]inboundIQ
	// outbox holds what the account sends to rooms while its lock is
	// held; release sends it after unlocking. Sending under the lock
	// would deadlock: a local room answers on the same goroutine, and
	// its answer comes back here for the same account.
	outbox []outgoing
	// joinedGen counts changes to which sessions are joined to which
	// rooms; publishedGen is the last one told to Config.OnJoined.
	joinedGen, publishedGen uint64
}

// joinedSnapshot returns the sessions joined to each room, by room. a.mu
// is held.
func (a *account) joinedSnapshot() map[string][]string {
	out := make(map[string][]string, len(a.rooms))
	for rj, rm := range a.rooms {
		fulls := make([]string, 0, len(rm.sessions))
		for full := range rm.sessions {
			fulls = append(fulls, full.String())
		}
		out[rj.String()] = fulls
	}
	return out
}

type outgoing struct {
	el     *xml.Element
	to     jid.JID
	server bool // the server's own join (IsServerJoin)
}

// queue sends el to to as the account once the lock is released.
func (a *account) queue(el *xml.Element, to jid.JID) {
	a.outbox = append(a.outbox, outgoing{el: el, to: to})
}

type pendingIQ struct {
	session jid.JID
	to      jid.JID // where the request went: only it may answer
	id      string
	queryID string // a MAM query's original queryid, when rewritten
	expires time.Time
}

// inboundIQ is a request from an occupant to the account (relayed by the
// room to the account's bare JID) that one joined session answers.
type inboundIQ struct {
	session jid.JID // the session asked
	from    jid.JID // the occupant JID that asked: the answer goes there
	id      string  // the request's own id
	expires time.Time
}

// maxPendingIQs bounds the iqs an account may have in flight to rooms,
// and those from rooms waiting for a session's answer.
const maxPendingIQs = 1000

type roomState int

const (
	joining roomState = iota // join sent, waiting for the room's self-presence
	joined                   // the account is an occupant
	leaving                  // leave sent for the last session
)

func (s roomState) String() string {
	switch s {
	case joining:
		return "joining"
	case joined:
		return "joined"
	case leaving:
		return "leaving"
	}
	return "unknown"
}

// room is the account's membership of one room.
type room struct {
	// synth are sessions whose join is answered from local state while
	// their history is read from the archive outside the account's lock
	// (synthesis.go); room messages for them wait there meanwhile.
	synth map[jid.JID]*pendingSynth

	jid      jid.JID
	nick     string
	password string
	bookmark bool
	state    roomState
	// byServer marks a join the server made on its own (a rejoin, an
	// autojoin bookmark) rather than for a session's join.
	byServer bool
	// probe is the id of the disco#info query that asks whether the room
	// still exists before the server's own join, which goes out once it
	// is answered: joinEl and joinX are that join's presence and <x/>.
	probe  string
	joinEl *xml.Element
	joinX  *xml.Element

	// sessions that joined, by full JID, with the presence each last
	// sent (for the account's aggregated presence in the room).
	sessions map[jid.JID]*joinedSession
	// waiting are sessions whose join waits for the account's join.
	waiting []waiter
	// live is the session that receives the room's join sequence as the
	// room sends it; later waiters get it synthesised.
	live jid.JID
	// leaver is the session whose leave made the account leave.
	leaver   jid.JID
	leaverID string

	// occupants caches other occupants' current presence, by nick, in
	// the order they arrived; self is the room's last self-presence.
	occupants map[string]*xml.Element
	order     []string
	self      *xml.Element
	subject   *xml.Element
	// joinCodes are the status codes the room put on the account's first
	// self-presence that describe the room to a joiner (100
	// non-anonymous, 170 logged): later self-presences (status changes)
	// do not repeat them, but every synthesised join must.
	joinCodes []string

	sentShow   string // the account presence last sent to the room
	sentStatus string
	sentAny    bool

	// delivered is the GroupchatRef.Order of the newest room message
	// forked to the joined sessions: a repeat at or below it (the room's
	// history after it dropped and took back the account) is not forked
	// to them again.
	delivered uint64
	// adoptedLast, set while a room adopted from another cluster node
	// is rejoined (Adopt), is the stamp of the newest room message
	// archived before: the history the room replays up to it reached
	// the joined sessions through the other node.
	adoptedLast time.Time
	// sent remembers, newest last, which session sent the stanzas that
	// went to the room under their own id (messages, nick changes), so
	// that the room's error for one reaches that session only.
	sent []sentID

	// ping is the id of the self-ping in flight (XEP-0410) after the link
	// to the room's server broke, pingAttempt its count since then.
	ping        string
	pingAttempt int
	pingTimer   *time.Timer
	// rejoining marks the account's join sent again while its sessions
	// stay joined (remote.go); stale holds the occupants and subject they
	// know, until the room's answer says which are still true.
	rejoining    bool
	stale        map[string]*xml.Element
	staleSubject *xml.Element
	// held are what the joined sessions (or, on a cluster, the node of
	// a room's previous owner) said to the room during such a rejoin:
	// sent once the room has the account back, refused if it does not.
	held []heldStanza

	lastActive time.Time
	// since is when this server started the account's join (a session's
	// join, an autojoin, a rejoin after a restart), for operators.
	since    time.Time
	attempts int // rejoin attempts since the last success
	// saved is the record storage holds for the membership, if known.
	saved Record
	timer *time.Timer
}

// heldStanza is a stanza for the room held during a rejoin: out goes to
// the room, orig (from session) gets the error if the rejoin fails.
type heldStanza struct {
	out, orig *xml.Element
	to        jid.JID
	session   jid.JID // zero: nobody to tell
}

// maxRejoinHeld bounds what a room holds during a rejoin.
const maxRejoinHeld = 64

type sentID struct {
	id      string
	session jid.JID
}

// maxSentIDs bounds what a room remembers of a session's stanzas: a room
// answers with an error at once, long before as many more have gone out.
const maxSentIDs = 128

// noteSent remembers that session full sent the stanza with id to the room.
func (r *room) noteSent(id string, full jid.JID) {
	if id == "" {
		return
	}
	if len(r.sent) >= maxSentIDs {
		n := copy(r.sent, r.sent[1:])
		r.sent = r.sent[:n]
	}
	r.sent = append(r.sent, sentID{id, full})
}

// takeSent returns (and forgets) the sessions that sent a stanza with id
// to the room: usually one; several only when sessions chose the same id.
func (r *room) takeSent(id string) []jid.JID {
	if id == "" {
		return nil
	}
	var out []jid.JID
	keep := r.sent[:0]
	for _, e := range r.sent {
		if e.id != id {
			keep = append(keep, e)
			continue
		}
		if !slices.Contains(out, e.session) {
			out = append(out, e.session)
		}
	}
	clear(r.sent[len(keep):])
	r.sent = keep
	return out
}

// newJoinedSession records full as joined with its join presence.
func newJoinedSession(full jid.JID, presence *xml.Element, now time.Time) *joinedSession {
	return &joinedSession{full: full, to: full.String(), presence: presence, active: now}
}

type joinedSession struct {
	full     jid.JID
	to       string       // full, written out once for every stanza forked to it
	presence *xml.Element // last presence the session sent (join or update)
	active   time.Time    // when the session last sent anything to the room
}

// answerer returns the joined session that answers requests occupants
// send the account: the most available, then the most recently active;
// zero when no session is joined.
func (r *room) answerer() jid.JID {
	var best *joinedSession
	for _, js := range r.sessions {
		if best == nil {
			best = js
			continue
		}
		rb, rj := showRank(best.presence), showRank(js.presence)
		if rj > rb || rj == rb && js.active.After(best.active) {
			best = js
		}
	}
	if best == nil {
		return jid.JID{}
	}
	return best.full
}

type waiter struct {
	full     jid.JID
	id       string
	x        *xml.Element // the session's <x xmlns=muc/> (history, password)
	nick     string       // the nick it asked for
	presence *xml.Element
}

func newRoom(j jid.JID, nick string) *room {
	return &room{jid: j, nick: nick, sessions: make(map[jid.JID]*joinedSession), occupants: make(map[string]*xml.Element)}
}

func (r *room) stopTimers() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if r.pingTimer != nil {
		r.pingTimer.Stop()
		r.pingTimer = nil
		r.ping = ""
	}
}

// setOccupant records (or, when p is nil, forgets) the presence of nick.
func (r *room) setOccupant(nick string, p *xml.Element) {
	if p == nil {
		if _, ok := r.occupants[nick]; ok {
			delete(r.occupants, nick)
			for i, n := range r.order {
				if n == nick {
					r.order = append(r.order[:i], r.order[i+1:]...)
					break
				}
			}
		}
		return
	}
	if _, ok := r.occupants[nick]; !ok {
		r.order = append(r.order, nick)
	}
	r.occupants[nick] = p
}

// isOwnOccupant reports whether from is the account's occupant JID in the
// room. A presence from it is the account's own, with status 110 or
// without (XEP-0045 does not show 110 on every such presence, and a
// destroy from some rooms lacks it). While the join is in flight the nick
// is only the one asked for, which the room may give someone else.
func (r *room) isOwnOccupant(from jid.JID) bool {
	return r.state != joining && r.self != nil && from.Resource == r.nick
}

func (r *room) isJoined(full jid.JID) bool {
	_, ok := r.sessions[full]
	return ok
}

func (r *room) isWaiting(full jid.JID) int {
	for i, w := range r.waiting {
		if w.full == full {
			return i
		}
	}
	return -1
}

func sortInfos(in []Info) {
	sort.Slice(in, func(i, j int) bool {
		if in[i].Account != in[j].Account {
			return in[i].Account < in[j].Account
		}
		return in[i].Room < in[j].Room
	})
	for _, x := range in {
		sort.Strings(x.Sessions)
	}
}
