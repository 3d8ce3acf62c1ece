package storage

import (
	"context"
	"time"
)

// PushRegistration is one app server an account's client asked the server
// to publish push notifications to (XEP-0357): one (Service, Node) pair.
type PushRegistration struct {
	User    string // localpart of the account
	Service string // the app server's JID
	Node    string
	// Options is the serialised publish-options data form the client gave
	// (credentials of the app server), nil when it gave none.
	Options []byte
	// Resource is the resource of the session that enabled it: while that
	// session is connected and active, its client hears for itself.
	Resource string
	Enabled  time.Time
}

// PushRegistrations keeps push registrations, so that a phone asleep
// across a server restart is still woken.
type PushRegistrations interface {
	// PutPushRegistration creates or replaces the registration of (User,
	// Service, Node).
	PutPushRegistration(ctx context.Context, reg PushRegistration) error
	// DeletePushRegistrations removes user's registration of (service,
	// node), or every one of service when node is "". Removing what is not
	// there is not an error.
	DeletePushRegistrations(ctx context.Context, user, service, node string) error
	// PushRegistrations returns every registration, ordered by user,
	// service and node: what the server holds in memory.
	PushRegistrations(ctx context.Context) ([]PushRegistration, error)
}
