package sqlarchive

import (
	"errors"
	"fmt"

	"minimix/internal/storage"
)

// MaxQueue bounds the operations waiting to be written; a caller that
// finds the queue full waits, which is the back-pressure a database
// slower than the traffic needs.
const MaxQueue = 4096

// Kind says what an Op writes.
type Kind uint8

const (
	KindArchive Kind = iota // an owner's own record
	KindRoom                // a room's shared record
	KindOpen                // an account's interval in a room begins
	KindClose               // and ends
)

// Op is one queued write. Seq is its position: the record's, or the
// boundary of the interval.
type Op struct {
	Seq  int64
	Kind Kind
	// Checked is the pending key of an AppendArchive record (PendingKey),
	// "" otherwise.
	Checked string
	Rec     storage.ArchiveRecord // KindArchive
	Room    storage.RoomMessage   // KindRoom
	// Account and RoomJID name the membership of KindOpen and KindClose.
	Account, RoomJID string
}

// Describe names op in logs without its content.
func (op *Op) Describe() string {
	switch op.Kind {
	case KindArchive:
		return fmt.Sprintf("record %s of %s", op.Rec.ID, op.Rec.Owner)
	case KindRoom:
		return fmt.Sprintf("record %s of room %s", op.Room.ID, op.Room.Room)
	case KindOpen:
		return fmt.Sprintf("membership of %s in %s from %d", op.Account, op.RoomJID, op.Seq)
	default:
		return fmt.Sprintf("end of membership of %s in %s at %d", op.Account, op.RoomJID, op.Seq)
	}
}

// ErrClosed is what writes queued after Close fail with.
var ErrClosed = errors.New("archive is closed")
