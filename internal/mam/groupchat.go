package mam

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Room messages that accounts receive through account-based group chat
// are archived by reference (storage.RoomArchive): each is stored once in
// its room's shared stream, and each account's membership interval in the
// room makes the messages inside it part of the account's archive. The
// delivery path never reads storage: this file keeps in memory which
// memberships are open and, per room, the room stanza-ids recently
// stored, so that a message the room sends again (history after a rejoin)
// is recognised and a message stored for one account is found by the
// next. Storage is read once per room per process, when the room is first
// used (warm), to recognise what an earlier run stored.

// recentPerRoom is how many of a room's newest stanza-ids are kept to
// recognise repeats, and warmPerRoom how many are read back when a
// process starts. A rejoin asks for the history since the newest stored
// message, so a repeat is nearly always among the last few.
const (
	recentPerRoom = 128
	warmPerRoom   = 32
)

// GroupchatRef says where a room message is in the archives of the
// accounts in the room.
type GroupchatRef struct {
	ID  string // archive id: the <stanza-id by=account> of every member
	Seq int64  // archive position when this process stored or read it
	// Order is this process's order of the room's messages: the copies
	// of one message share it, and a message first seen later has a
	// larger one. Seq cannot serve: on a cluster, positions come from
	// each node's own range, so a message another node stored may have
	// a larger position than the next one this node stores.
	Order uint64
	// Dup reports that the message was stored before this call: by
	// another account's copy, or earlier when the room sends it again.
	Dup bool
}

// roomLog is the in-memory side of the archive by reference.
type roomLog struct {
	mu    sync.Mutex
	rooms map[jid.JID]*roomStream // by the room's bare JID
	// members holds, per account, the rooms it is in and whether its
	// interval is open (false: in the room, but its preferences exclude
	// the room from its archive). Keys are bare JIDs.
	members map[jid.JID]map[jid.JID]bool
}

// roomStream is what is known of one room's shared stream.
type roomStream struct {
	mu      sync.Mutex
	warm    bool // what storage held at start has been read
	members int  // accounts in the room
	recent  map[string]GroupchatRef
	// loaded are the keys of recent read from storage (warm) rather
	// than stored by this process: on a cluster another node stored
	// them, at a position that may come before this node's accounts'
	// intervals in the room.
	loaded map[string]bool
	ring   []string // the keys of recent, oldest replaced first
	next   int
	last   time.Time // stamp of the newest record
	order  uint64    // the last GroupchatRef.Order given
}

// ordered returns ref with an Order, giving it the next one if the
// message had none (it was read from storage, not seen yet), and keeps
// that in recent.
func (rs *roomStream) ordered(origin string, ref GroupchatRef) GroupchatRef {
	if ref.Order == 0 {
		rs.order++
		ref.Order = rs.order
		if _, ok := rs.recent[origin]; ok {
			rs.recent[origin] = ref
		}
	}
	return ref
}

// remember adds a stored message to the recent ones.
func (rs *roomStream) remember(origin string, ref GroupchatRef, stamp time.Time) {
	if stamp.After(rs.last) {
		rs.last = stamp
	}
	if origin == "" {
		return
	}
	if rs.recent == nil {
		rs.recent = make(map[string]GroupchatRef)
	}
	delete(rs.loaded, origin)
	if len(rs.ring) < recentPerRoom {
		rs.ring = append(rs.ring, origin)
	} else {
		delete(rs.loaded, rs.ring[rs.next])
		delete(rs.recent, rs.ring[rs.next])
		rs.ring[rs.next] = origin
		rs.next = (rs.next + 1) % recentPerRoom
	}
	rs.recent[origin] = ref
}

// stream returns room's stream, made if need be; join counts a member
// in.
func (l *roomLog) stream(room jid.JID, join int) *roomStream {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.rooms[room]
	if rs == nil {
		if l.rooms == nil {
			l.rooms = make(map[jid.JID]*roomStream)
		}
		rs = &roomStream{}
		l.rooms[room] = rs
	}
	rs.members += join
	return rs
}

// warm reads the newest records of rs's room once. rs.mu is held.
func (a *Archive) warm(ctx context.Context, room jid.JID, rs *roomStream) error {
	if rs.warm {
		return nil
	}
	r := room.String()
	recs, err := a.store.RecentRoomMessages(ctx, []string{r}, warmPerRoom)
	if err != nil {
		return fmt.Errorf("mam: recent messages of %s: %w", room, err)
	}
	rs.load(recs[r])
	return nil
}

// load remembers recs, newest first, as what storage held at start.
func (rs *roomStream) load(recs []storage.RoomMessage) {
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		rs.remember(r.OriginStanzaID, GroupchatRef{ID: r.ID, Seq: r.Seq}, r.Stamp)
		if r.OriginStanzaID != "" {
			if rs.loaded == nil {
				rs.loaded = make(map[string]bool)
			}
			rs.loaded[r.OriginStanzaID] = true
		}
	}
	rs.warm = true
}

// LoadMemberships reads which memberships are open, at start, and the
// newest records of their rooms, in one pass rather than one read per
// room when each is first used.
func (a *Archive) LoadMemberships(ctx context.Context) error {
	ms, err := a.store.OpenMemberships(ctx)
	if err != nil {
		return fmt.Errorf("mam: load memberships: %w", err)
	}
	var rooms []string
	seen := make(map[string]bool)
	for _, m := range ms {
		if !seen[m.Room] {
			seen[m.Room] = true
			rooms = append(rooms, m.Room)
		}
	}
	recent, err := a.store.RecentRoomMessages(ctx, rooms, warmPerRoom)
	if err != nil {
		return fmt.Errorf("mam: load memberships: %w", err)
	}
	l := &a.rooms
	l.mu.Lock()
	defer l.mu.Unlock()
	l.members = make(map[jid.JID]map[jid.JID]bool)
	if l.rooms == nil {
		l.rooms = make(map[jid.JID]*roomStream)
	}
	for _, m := range ms {
		acct, err1 := jid.Parse(m.Account)
		room, err2 := jid.Parse(m.Room)
		if err1 != nil || err2 != nil {
			a.log.Error("mam: membership with a bad JID", "account", m.Account, "room", m.Room)
			continue
		}
		if l.members[acct] == nil {
			l.members[acct] = make(map[jid.JID]bool)
		}
		l.members[acct][room] = true
		rs := l.rooms[room]
		if rs == nil {
			rs = &roomStream{}
			rs.load(recent[m.Room])
			l.rooms[room] = rs
		}
		rs.members++
	}
	return nil
}

// Joined records that account is in room from now on: the room's
// messages belong to its archive unless its preferences exclude the room
// (decided here, and again when they change). Calling it for a
// membership that never ended (a rejoin after a restart or a lost link)
// keeps its interval, so that nothing said meanwhile is lost.
func (a *Archive) Joined(ctx context.Context, account, room jid.JID) error {
	account, room = account.Bare(), room.Bare()
	want, err := a.wanted(ctx, account, room, true)
	if err != nil {
		return err
	}
	l := &a.rooms
	l.mu.Lock()
	if l.members == nil {
		l.members = make(map[jid.JID]map[jid.JID]bool)
	}
	rooms := l.members[account]
	if rooms == nil {
		rooms = make(map[jid.JID]bool)
		l.members[account] = rooms
	}
	open, known := rooms[room]
	rooms[room] = want
	l.mu.Unlock()
	if !known {
		a.rooms.stream(room, 1)
	}
	return a.setInterval(ctx, account, room, open, want)
}

// Left records that account's membership in room ended: a leave, a kick,
// a ban, the room's destruction. What the room says afterwards is not in
// its archive.
func (a *Archive) Left(ctx context.Context, account, room jid.JID) error {
	acct, r := account.Bare(), room.Bare()
	l := &a.rooms
	l.mu.Lock()
	open, known := l.members[acct][r]
	if known {
		delete(l.members[acct], r)
		if len(l.members[acct]) == 0 {
			delete(l.members, acct)
		}
		if rs := l.rooms[r]; rs != nil {
			if rs.members--; rs.members <= 0 {
				delete(l.rooms, r)
			}
		}
	}
	l.mu.Unlock()
	return a.setInterval(ctx, acct, r, open, false)
}

// setInterval opens or closes account's interval in room when want
// differs from open.
func (a *Archive) setInterval(ctx context.Context, account, room jid.JID, open, want bool) error {
	var err error
	switch {
	case want && !open:
		err = a.store.OpenMembership(ctx, account.String(), room.String())
	case !want && open:
		err = a.store.CloseMembership(ctx, account.String(), room.String())
	}
	if err != nil {
		return fmt.Errorf("mam: membership of %s in %s: %w", account, room, err)
	}
	return nil
}

// reapplyPrefs opens or closes owner's intervals after its preferences
// changed.
func (a *Archive) reapplyPrefs(ctx context.Context, owner jid.JID) error {
	l := &a.rooms
	l.mu.Lock()
	rooms := make(map[jid.JID]bool, len(l.members[owner]))
	for r, open := range l.members[owner] {
		rooms[r] = open
	}
	l.mu.Unlock()
	for room, open := range rooms {
		want, err := a.wanted(ctx, owner, room, true)
		if err != nil {
			return err
		}
		l.mu.Lock()
		if _, still := l.members[owner][room]; still {
			l.members[owner][room] = want
		}
		l.mu.Unlock()
		if err := a.setInterval(ctx, owner, room, open, want); err != nil {
			return err
		}
	}
	return nil
}

// streamFor returns room's stream, made if need be, and whether
// account's interval in room is open, under one lock: it is taken for
// every copy of every room message.
func (l *roomLog) streamFor(room, account jid.JID) (*roomStream, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.rooms[room]
	if rs == nil {
		if l.rooms == nil {
			l.rooms = make(map[jid.JID]*roomStream)
		}
		rs = &roomStream{}
		l.rooms[room] = rs
	}
	return rs, l.members[account][room]
}

// Groupchat archives a groupchat message that account received from room
// (account-based group chat), once for every local account in the room:
// if the room's stanza-id shows it was stored already, it returns that
// record with Dup set. Otherwise it is stored if account archives the
// room; if it does not, the zero GroupchatRef says the message is in no
// archive through this account. Subjects and messages without content a
// conversation is made of (XEP-0313 5.1.2) are never stored. A
// retraction the room sends (a moderation from the room, an occupant's
// retraction of its own message carrying its occupant-id) turns the
// retracted message's shared record into a tombstone, whatever room it
// comes from (retract.go).
//
// Callers add <stanza-id by=account id=ref.ID> to what they deliver.
func (a *Archive) Groupchat(ctx context.Context, account, room jid.JID, el *xml.Element) (GroupchatRef, error) {
	if el.Local != stanza.Message || stanza.Type(el) != "groupchat" {
		return GroupchatRef{}, nil
	}
	account, room = account.Bare(), room.Bare()
	storable := groupchatStorable(el)
	rid, author, retracted, retraction := roomRetraction(el, room, a.now)
	if !storable && !retraction {
		return GroupchatRef{}, nil
	}
	origin := stanza.StanzaID(el, room)
	rs, archiving := a.rooms.streamFor(room, account)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := a.warm(ctx, room, rs); err != nil {
		return GroupchatRef{}, err
	}
	ref, seen := rs.recent[origin]
	if seen && origin != "" {
		ref = rs.ordered(origin, ref)
	}
	// A record read from storage is written again only if it has the id
	// this one gets (not one stored before ids were derived).
	restore := archiving && rs.loaded[origin] && ref.ID == roomMessageID(room, origin)
	if seen && origin != "" && !restore {
		ref.Dup = true
		return ref, nil
	}
	if retraction {
		// Once per message: the next member's copy is a Dup above (when
		// the room gave it a stanza-id, and stored it).
		a.retractShared(ctx, room, rid, author, retracted)
	}
	if !archiving || !storable {
		return GroupchatRef{}, nil
	}
	st := el.Clone()
	toClient(st)
	st.SetAttr("to", "")
	stanza.RemoveStanzaIDs(st, account)
	rec := storage.RoomMessage{Room: room.String(), OriginStanzaID: origin}
	if from, err := stanza.From(el); err == nil && from.Bare() == room {
		rec.FromNick = from.Resource
	}
	now := a.now().UTC()
	rec.ID, rec.Stamp = a.ids.next(now), now
	if origin != "" {
		rec.ID = roomMessageID(room, origin)
	}
	rec.Stanza = st.AppendXML(nil, "")
	seq, err := a.store.QueueRoomMessage(ctx, rec)
	if err != nil {
		return GroupchatRef{}, fmt.Errorf("mam: groupchat from %s: %w", room, err)
	}
	if seen {
		// Stored before by another process (this one before a
		// restart, or another node of a cluster): written again under
		// the same id, storage keeps one record, at its first position
		// unless only the later one is inside an interval this node
		// opened (docs/archive.md). It is a repeat all the same.
		delete(rs.loaded, origin)
		ref.Dup = true
		return ref, nil
	}
	rs.order++
	ref = GroupchatRef{ID: rec.ID, Seq: seq, Order: rs.order}
	rs.remember(origin, ref, rec.Stamp)
	return ref, nil
}

// roomMessageID is the archive id of the room message the room gave the
// stanza-id origin: derived from the two, so that every node of a cluster
// that stores the message (for its accounts in the room) gives it the
// same id and storage keeps it once, under one id that every member's
// sessions were told. 80 bits of SHA-256, written as the other ids are;
// unlike theirs it is not time-ordered (the archive orders by position).
func roomMessageID(room jid.JID, origin string) string {
	h := sha256.Sum256([]byte(room.String() + "\x00" + origin))
	return idEncoding.EncodeToString(h[:10])
}

// RoomLast returns the stamp of the newest message of room stored for
// the local accounts in it, zero if none: where a rejoin's history
// should start.
func (a *Archive) RoomLast(ctx context.Context, room jid.JID) (time.Time, error) {
	room = room.Bare()
	rs := a.rooms.stream(room, 0)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := a.warm(ctx, room, rs); err != nil {
		return time.Time{}, err
	}
	return rs.last, nil
}

// Stanza returns the archived message of rec as owner sees it. A room's
// shared record gets owner as its addressee and owner's stanza-id, which
// it is stored without because every member shares it.
func Stanza(owner jid.JID, rec *storage.ArchiveRecord) (*xml.Element, error) {
	m, err := xml.Parse(rec.Stanza)
	if err != nil {
		return nil, err
	}
	toClient(m)
	if rec.Shared {
		owner = owner.Bare()
		m.SetAttr("to", owner.String())
		stanza.RemoveStanzaIDs(m, owner)
		stanza.AddStanzaID(m, owner, rec.ID)
	}
	return m, nil
}
