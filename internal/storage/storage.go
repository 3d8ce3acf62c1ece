// Package storage declares what the server needs to keep, as small
// interfaces named for each need. Implementations live in sub-packages
// (sqlite is the embedded default; a PostgreSQL one comes later) and must
// pass the conformance suite in storagetest, so that no caller changes when
// the backend does.
//
// Accounts are identified by their localpart ("alice"); archives by an
// owner bare JID string ("alice@example.net" or "room@conference.example.net")
// so that the same archive serves accounts and rooms.
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns for the same conditions.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrExists   = errors.New("storage: already exists")
	ErrQuota    = errors.New("storage: quota exceeded")
)

// Store is everything a backend provides. The server passes each
// subsystem only the interface it needs.
type Store interface {
	Accounts
	Roster
	Offline
	Archive
	Private
	VCards
	Joins
	Rooms
	PEP
	Blocklists
	PushRegistrations
	// Close flushes and releases the backend.
	Close() error
}

// ScramCredential is one SCRAM stored credential (RFC 5802 section 3).
type ScramCredential struct {
	Salt      []byte
	Iters     int
	StoredKey []byte
	ServerKey []byte
}

// Credentials are what is kept of a password: salted SCRAM credentials for
// each supported hash, never the password itself.
type Credentials struct {
	SHA1   ScramCredential
	SHA256 ScramCredential
}

// Accounts stores accounts and their credentials.
type Accounts interface {
	// CreateAccount returns ErrExists if username is taken.
	CreateAccount(ctx context.Context, username string, creds Credentials) error
	// SetCredentials returns ErrNotFound for an unknown account.
	SetCredentials(ctx context.Context, username string, creds Credentials) error
	// GetCredentials returns ErrNotFound for an unknown account.
	GetCredentials(ctx context.Context, username string) (Credentials, error)
	// DeleteAccount removes the account and all its data (roster, offline
	// messages, archive, private data, vCard, blocklist, push
	// registrations). ErrNotFound if unknown.
	DeleteAccount(ctx context.Context, username string) error
	AccountExists(ctx context.Context, username string) (bool, error)
	// ListAccounts returns all usernames in lexical order.
	ListAccounts(ctx context.Context) ([]string, error)
}

// Subscription is the subscription attribute of a roster item.
type Subscription string

// Subscription states of RFC 6121 section 2.1.2.5.
const (
	SubNone Subscription = "none"
	SubTo   Subscription = "to"
	SubFrom Subscription = "from"
	SubBoth Subscription = "both"
)

// RosterItem is one contact of an account, with the full subscription
// state of RFC 6121 (including pending states and pre-approval).
type RosterItem struct {
	Contact      string // bare JID
	Name         string
	Subscription Subscription
	PendingOut   bool // we asked the contact (ask='subscribe')
	PendingIn    bool // the contact asked us and we have not answered
	Approved     bool // pre-approved (RFC 6121 3.4)
	Groups       []string
	// Hidden marks an item that exists only to remember an inbound
	// subscription request; it is not part of the user's roster until the
	// user adds or approves it.
	Hidden bool
	// PendingInStanza keeps the subscribe request (serialised presence) so
	// it can be redelivered on login, as RFC 6121 3.1.3 requires.
	PendingInStanza []byte
}

// Roster stores roster items and a per-account roster version (XEP-0237).
type Roster interface {
	// RosterItems returns all items of user (hidden ones too) and the
	// current roster version.
	RosterItems(ctx context.Context, user string) ([]RosterItem, string, error)
	// RosterItem returns ErrNotFound if user has no item for contact.
	RosterItem(ctx context.Context, user, contact string) (RosterItem, error)
	// PutRosterItem creates or replaces an item and returns the new roster
	// version.
	PutRosterItem(ctx context.Context, user string, item RosterItem) (string, error)
	// DeleteRosterItem returns the new roster version; ErrNotFound if absent.
	DeleteRosterItem(ctx context.Context, user, contact string) (string, error)
}

// OfflineMessage is a message stored for later delivery (XEP-0160).
type OfflineMessage struct {
	ID     int64
	Stamp  time.Time
	Stanza []byte // serialised <message/> in jabber:client
}

// Offline stores messages for accounts with no available session.
type Offline interface {
	// StoreOffline returns ErrQuota once user has max messages waiting.
	StoreOffline(ctx context.Context, user string, stanza []byte, stamp time.Time, max int) error
	// OfflineMessages returns waiting messages oldest first; they stay
	// stored until DeleteOffline, so a crash between read and delivery
	// loses nothing.
	OfflineMessages(ctx context.Context, user string) ([]OfflineMessage, error)
	DeleteOffline(ctx context.Context, user string, ids []int64) error
	CountOffline(ctx context.Context, user string) (int, error)
}

// Private stores XEP-0049 private XML, one fragment per (name, namespace).
type Private interface {
	// GetPrivate returns ErrNotFound when nothing is stored.
	GetPrivate(ctx context.Context, user, key string) ([]byte, error)
	SetPrivate(ctx context.Context, user, key string, data []byte) error
}

// VCards stores XEP-0054 vCards as serialised <vCard/> elements.
type VCards interface {
	// GetVCard returns ErrNotFound when none is stored.
	GetVCard(ctx context.Context, user string) ([]byte, error)
	SetVCard(ctx context.Context, user string, data []byte) error
}
