package storage

import (
	"context"
	"time"
)

// JoinRecord is one account-level room membership (account-based group
// chat): what the server needs to rejoin the room after a restart.
type JoinRecord struct {
	Account  string // bare JID of the account
	Room     string // bare JID of the room
	Nick     string
	Password string
	// Bookmark marks a join made by an autojoin bookmark; such joins stay
	// when the last session leaves.
	Bookmark bool
	// LastStanzaID and LastStamp identify the newest room message archived
	// for the account, for <history since=...> and de-duplication.
	LastStanzaID string
	LastStamp    time.Time
	// LastActive is when a session of the account was last joined, for
	// leaving rooms nobody uses (idle_leave_after).
	LastActive time.Time
}

// Joins stores account-level room memberships.
type Joins interface {
	// PutJoin creates or replaces the record for (Account, Room).
	PutJoin(ctx context.Context, rec JoinRecord) error
	// DeleteJoin removes it; deleting a missing record is not an error.
	DeleteJoin(ctx context.Context, account, room string) error
	// ListJoins returns every record, ordered by account then room.
	ListJoins(ctx context.Context) ([]JoinRecord, error)
}
