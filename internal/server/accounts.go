package server

import (
	"context"
	"errors"

	"minimix/internal/accounts"
	"minimix/internal/xmpperr"
)

// registrar is in-band registration (c2s.Registrar) by the account
// manager, with its refusals in XMPP's words.
type registrar struct{ m *accounts.Manager }

func (r registrar) Register(ctx context.Context, username, password string) error {
	return accountError(r.m.Register(ctx, username, password))
}

// accountError gives a refusal by the account rules (a password shorter
// than accounts.min_password_length) the stanza error a client is sent,
// with the reason; other errors stay as they are.
func accountError(err error) error {
	if errors.Is(err, accounts.ErrWeakPassword) {
		return errors.Join(err, xmpperr.New(xmpperr.NotAcceptable, err.Error()))
	}
	return err
}
