package storage

import "context"

// RoomRecord is a persistent multi-user chat room (XEP-0045): what must
// survive a restart. Temporary rooms are never stored.
type RoomRecord struct {
	// JID is the room's bare JID ("room@conference.example.net").
	JID string
	// Config is the room configuration, serialised by the MUC service;
	// backends keep it as given.
	Config []byte
	// Subject is the room subject and SubjectNick the nick of who set it
	// ("" when the room itself did or there is no subject).
	Subject     string
	SubjectNick string
	// Affiliations are the room's non-"none" affiliations.
	Affiliations []RoomAffiliation
}

// RoomAffiliation is one bare JID's affiliation with a room.
type RoomAffiliation struct {
	JID         string // bare JID
	Affiliation string // "owner", "admin", "member" or "outcast"
	Nick        string // reserved nick, optional
	Reason      string // optional
}

// Rooms stores persistent rooms.
type Rooms interface {
	// PutRoom creates or replaces a room, its affiliations included.
	PutRoom(ctx context.Context, rec RoomRecord) error
	// GetRoom returns ErrNotFound for an unknown room.
	GetRoom(ctx context.Context, room string) (RoomRecord, error)
	// ListRooms returns every room whose bare JID is on domain, in JID
	// order, affiliations included.
	ListRooms(ctx context.Context, domain string) ([]RoomRecord, error)
	// SetRoomAffiliation changes one affiliation of a stored room;
	// affiliation "none" removes it. ErrNotFound for an unknown room.
	SetRoomAffiliation(ctx context.Context, room string, a RoomAffiliation) error
	// DeleteRoom removes a room and its affiliations (not its archive).
	// ErrNotFound for an unknown room.
	DeleteRoom(ctx context.Context, room string) error
}
