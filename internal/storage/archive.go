package storage

import (
	"context"
	"time"
)

// The archive (XEP-0313) is one ordered log of records. Every record has
// a position, its sequence number: one counter for the whole store, so
// that records of different streams sort into one order.
//
// Two kinds of stream share that order:
//   - an owner's own records (ArchiveRecord): an account's one-to-one
//     messages, or a MUC room's public archive;
//   - a room's shared records (RoomMessage): each message of a room that
//     local accounts are in through account-based group chat, kept once
//     however many of them are in the room.
//
// An account's archive is its own records plus the shared records of
// each room inside the intervals in which the account was in the room
// (its memberships). A groupchat message therefore costs one write,
// whatever the number of local accounts in the room, and a departed or
// kicked account does not see what was said after it left.
//
// Writes are queued behind their callers and committed in batches, in
// sequence order (QueueArchive, QueueRoomMessage, OpenMembership and
// CloseMembership take the next sequence number when they queue).
// Readers see everything queued before they were called: they wait for
// those positions to be committed, not for the queue to be empty.

// ArchiveRecord is one archived message (XEP-0313).
type ArchiveRecord struct {
	Owner string    // bare JID of the archive: an account or a room
	ID    string    // archive id, used as <stanza-id by=Owner>; set by the caller
	Stamp time.Time // when it was archived
	With  string    // bare JID of the other party (the room for groupchat)
	// Groupchat marks messages of type groupchat, so that queries can
	// include or exclude them (XEP-0313 include-groupchat).
	Groupchat bool
	// OriginStanzaID is the stanza-id the origin (a room) gave the
	// message, used to de-duplicate after a rejoin; for one-to-one
	// messages, the message's own id attribute, which a retraction
	// (XEP-0424) names it by.
	OriginStanzaID string
	// FromNick is the occupant nick for room archives, for filtering by
	// with=room/nick.
	FromNick string
	Stanza   []byte // serialised <message/> in jabber:client
	// Shared marks a room's shared record seen through one of Owner's
	// memberships (a RoomMessage): its Stanza is the room's message
	// without a to attribute or Owner's stanza-id, which the reader adds.
	// Always false in what is appended.
	Shared bool
}

// RoomMessage is one message of a room, kept once for every local account
// in the room (account-based group chat).
type RoomMessage struct {
	Room  string // bare JID of the room
	ID    string // archive id, the same in every member's archive
	Stamp time.Time
	// FromNick is the sender's nick, for with=room/nick.
	FromNick string
	// OriginStanzaID is the room's own stanza-id for the message, which
	// recognises it when the room sends it again (history after a rejoin).
	OriginStanzaID string
	// Stanza is the serialised <message/> in jabber:client, without a to
	// attribute: it is no single account's.
	Stanza []byte
	Seq    int64 // its position; set by the store, ignored when queued
}

// Membership is an account's open interval in a room.
type Membership struct {
	Account string // bare JID of the account
	Room    string // bare JID of the room
}

// ArchiveQuery selects a page of an archive. Zero values mean no filter.
type ArchiveQuery struct {
	With      string // bare JID, or full JID to match With+"/"+FromNick
	Start     time.Time
	End       time.Time
	AfterID   string
	BeforeID  string
	Before    bool     // page from the end: <before/> (empty) or BeforeID
	IDs       []string // only these ids (XEP-0313 ids field)
	Max       int      // page size, at least 1
	Groupchat *bool    // nil: both; false: chat only; true: groupchat only
	// OwnOnly reads the owner's own records only, not the room messages
	// of its memberships: a room's archive, which has none. It also
	// spares the query waiting for other archives' queued writes.
	OwnOnly bool
}

// ArchiveEdit selects the records EditArchive rewrites: either Owner's
// own records (Room empty) or Room's shared records; by archive id (ID),
// or, when ID is empty, by OriginStanzaID (and With, for own records).
type ArchiveEdit struct {
	Owner string // bare JID of an account or a room
	Room  string // bare JID of a room whose shared records are meant
	ID    string
	// With and OriginStanzaID select own records with that other party
	// and origin id; shared records by OriginStanzaID alone.
	With           string
	OriginStanzaID string
}

// ArchivePage is one page of results in chronological order.
type ArchivePage struct {
	Records  []ArchiveRecord
	Complete bool // no more records in the paging direction
	Count    int  // total matching the filters, ignoring paging
	// FirstIndex is the position of Records[0] among all matches.
	FirstIndex int
}

// ArchivePrefs are the XEP-0313 archiving preferences of an account.
type ArchivePrefs struct {
	Default string // "always", "never" or "roster"
	Always  []string
	Never   []string
}

// Archive stores the message archives of accounts and rooms.
type Archive interface {
	// AppendArchive stores rec; ErrExists if Owner already has rec.ID.
	// It checks the id, which costs a read: callers that make their own
	// unique ids use QueueArchive.
	AppendArchive(ctx context.Context, rec ArchiveRecord) error
	// QueueArchive queues rec for writing and returns its sequence
	// number, without reading storage. rec.ID must be new for Owner
	// (made by a generator that cannot repeat itself); a record whose id
	// is taken after all is refused when written, and counted among the
	// write failures.
	QueueArchive(ctx context.Context, rec ArchiveRecord) (int64, error)
	// QueryArchive returns a page of owner's archive: its own records
	// and the shared records of its memberships. ErrNotFound when
	// AfterID or BeforeID is not in it (XEP-0313 item-not-found).
	QueryArchive(ctx context.Context, owner string, q ArchiveQuery) (ArchivePage, error)
	// HasOriginStanzaID reports whether owner's own records hold a
	// message from with carrying the origin's stanza-id id.
	HasOriginStanzaID(ctx context.Context, owner, with, id string) (bool, error)
	// LastArchived returns the newest record of owner's archive with
	// with, or ErrNotFound.
	LastArchived(ctx context.Context, owner, with string) (ArchiveRecord, error)
	// DeleteArchive removes every record of owner and its memberships;
	// shared records that no membership covers any more go too.
	DeleteArchive(ctx context.Context, owner string) error
	// ExpireArchive deletes every record stamped before before, in every
	// archive and room stream, and the memberships that no longer cover
	// any record: archive retention. It returns how many records went.
	ExpireArchive(ctx context.Context, before time.Time) (int, error)
	// EditArchive rewrites the stanzas of the records sel selects, once
	// the writes queued before the call that concern them are written:
	// edit gets each record and returns its new stanza, or nil to leave
	// it as it is. It returns how many records changed. Message
	// retraction (XEP-0424, XEP-0425) replaces a body with a tombstone
	// through it.
	EditArchive(ctx context.Context, sel ArchiveEdit, edit func(rec *ArchiveRecord) []byte) (int, error)
	GetArchivePrefs(ctx context.Context, owner string) (ArchivePrefs, error) // default prefs if none stored
	SetArchivePrefs(ctx context.Context, owner string, p ArchivePrefs) error

	RoomArchive
}

// RoomArchive keeps rooms' shared records and accounts' memberships.
type RoomArchive interface {
	// QueueRoomMessage queues rec in its room's shared stream and
	// returns its sequence number. rec.ID must be new, as for
	// QueueArchive.
	QueueRoomMessage(ctx context.Context, rec RoomMessage) (int64, error)
	// OpenMembership starts an interval of account in room: shared
	// records of room queued after it are in account's archive. Opening
	// an interval that is open already changes nothing.
	OpenMembership(ctx context.Context, account, room string) error
	// CloseMembership ends account's open interval in room, if any:
	// shared records queued after it are not in account's archive.
	CloseMembership(ctx context.Context, account, room string) error
	// OpenMemberships lists the intervals still open, ordered by account
	// then room.
	OpenMemberships(ctx context.Context) ([]Membership, error)
	// RecentRoomMessages returns the newest n shared records of each of
	// rooms, newest first, without their stanzas: what a new process
	// needs to recognise messages a room sends again.
	RecentRoomMessages(ctx context.Context, rooms []string, n int) (map[string][]RoomMessage, error)
	// SyncArchive waits until everything queued before the call is
	// written.
	SyncArchive(ctx context.Context) error
}
