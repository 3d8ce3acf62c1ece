// Package register answers In-Band Registration (XEP-0077) for accounts
// that are already logged in: reading the registration, changing the
// password and removing the account. Registering a new account happens
// before authentication and is c2s's business.
package register

import (
	"context"
	"fmt"
	"log/slog"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0077 namespace.
const NS = "jabber:iq:register"

// Config is what a Service acts through. A nil SetPassword or Remove
// turns that operation off (answered not-allowed, as XEP-0077 does for a
// server that does not allow it).
type Config struct {
	// SetPassword replaces the password of the existing account user. It
	// may return a *xmpperr.StanzaError (for example not-acceptable for a
	// password the policy refuses), which is sent as is.
	SetPassword func(ctx context.Context, user, password string) error
	// Remove deletes the account user and all its data.
	Remove func(ctx context.Context, user string) error
	// Kick disconnects every session of user; it is called after Remove
	// succeeded and before the result is routed (see remove).
	Kick func(user string)
	// Logger defaults to slog.Default.
	Logger *slog.Logger
}

// Service answers jabber:iq:register from logged-in accounts.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns a Service acting through cfg.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, log: log}
}

// Register answers requests an account sends to itself and requests a
// local account sends to the server, which is where XEP-0077's examples
// address password changes, and advertises jabber:iq:register on both
// (clients look at the server's features before offering a password
// change). Requests to another account are not handled.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "query", iq.Self, func(ctx context.Context, req iq.Request) (*xml.Element, error) {
		return s.query(ctx, req, req.To.Local)
	})
	m.Handle(NS, "query", iq.Server, func(ctx context.Context, req iq.Request) (*xml.Element, error) {
		if req.From.Local == "" || req.From.Domain != req.To.Domain {
			// Not one of our accounts: the server offers no registration
			// to others, as if nothing were registered here.
			return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
		}
		return s.query(ctx, req, req.From.Local)
	})
	m.Feature(iq.Self|iq.Server, NS)
}

func (s *Service) query(ctx context.Context, req iq.Request, user string) (*xml.Element, error) {
	q := req.Payload
	if req.Type == "get" {
		// The password is never echoed, although XEP-0077's example does:
		// the server keeps only SCRAM credentials.
		return xml.New(NS, "query").Append(
			xml.New(NS, "registered"),
			xml.New(NS, "username").AppendText(user),
		), nil
	}
	if q.Child(NS, "remove") != nil {
		return nil, s.remove(ctx, user)
	}
	if q.Child(NS, "username") == nil || q.Child(NS, "password") == nil {
		return nil, xmpperr.New(xmpperr.BadRequest, "a password change needs username and password")
	}
	return nil, s.changePassword(ctx, user, q.ChildText(NS, "username"), q.ChildText(NS, "password"))
}

func (s *Service) changePassword(ctx context.Context, user, username, password string) error {
	if s.cfg.SetPassword == nil {
		return xmpperr.New(xmpperr.NotAllowed, "password changes are disabled")
	}
	if p, err := jid.PrepLocal(username); err != nil || p != user {
		return xmpperr.New(xmpperr.Forbidden, "only the account's own password can be changed")
	}
	if password == "" {
		return xmpperr.New(xmpperr.NotAcceptable, "empty password")
	}
	if err := s.cfg.SetPassword(ctx, user, password); err != nil {
		return fmt.Errorf("register: set password of %q: %w", user, err)
	}
	s.log.Info("password changed in-band", "user", user)
	return nil
}

// remove deletes the account, then has its sessions closed. The result
// is routed only after Kick returns, so Kick should let each session
// write what it has queued before closing it (or close it a moment
// later); a client that misses the result still sees its stream end,
// which tells it the account is gone.
func (s *Service) remove(ctx context.Context, user string) error {
	if s.cfg.Remove == nil {
		return xmpperr.New(xmpperr.NotAllowed, "account removal is disabled")
	}
	if err := s.cfg.Remove(ctx, user); err != nil {
		return fmt.Errorf("register: remove %q: %w", user, err)
	}
	s.log.Info("account removed in-band", "user", user)
	if s.cfg.Kick != nil {
		s.cfg.Kick(user)
	}
	return nil
}
