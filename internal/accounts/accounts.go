// Package accounts manages accounts: creation, password changes and
// removal, with passwords kept only as SCRAM credentials. The command line,
// in-band registration and the password-change iq all go through it, so
// the rules (name preparation, minimum password length) are in one place.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"minimix/internal/jid"
	"minimix/internal/sasl"
	"minimix/internal/storage"
)

// MinPasswordLength is the shortest password accepted, in characters.
const MinPasswordLength = 6

// ScramIterations is the PBKDF2 iteration count for new credentials
// (RFC 7677 recommends at least 4096).
const ScramIterations = 4096

// ErrWeakPassword is returned for passwords shorter than MinPasswordLength.
var ErrWeakPassword = fmt.Errorf("password shorter than %d characters", MinPasswordLength)

// Manager changes accounts in a store.
type Manager struct {
	Store storage.Accounts
	// OnDelete is called after an account is deleted (to end its sessions).
	OnDelete func(ctx context.Context, user string)
}

// Prepare returns the prepared localpart for name.
func Prepare(name string) (string, error) {
	local, err := jid.PrepLocal(name)
	if err != nil {
		return "", fmt.Errorf("invalid username: %w", err)
	}
	return local, nil
}

func credentials(password string) (storage.Credentials, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return storage.Credentials{}, ErrWeakPassword
	}
	creds, err := sasl.NewCredentials(password, ScramIterations)
	if err != nil {
		return storage.Credentials{}, fmt.Errorf("derive credentials: %w", err)
	}
	return creds, nil
}

// Add creates an account; storage.ErrExists if the name is taken.
func (m *Manager) Add(ctx context.Context, name, password string) error {
	local, creds, err := prepare(name, password)
	if err != nil {
		return err
	}
	if err := m.Store.CreateAccount(ctx, local, creds); err != nil {
		return fmt.Errorf("create account %q: %w", local, err)
	}
	return nil
}

// prepare checks a name and password and derives the credentials to store.
func prepare(name, password string) (string, storage.Credentials, error) {
	local, err := Prepare(name)
	if err != nil {
		return "", storage.Credentials{}, err
	}
	creds, err := credentials(password)
	return local, creds, err
}

// Register implements c2s.Registrar.
func (m *Manager) Register(ctx context.Context, username, password string) error {
	return m.Add(ctx, username, password)
}

// SetPassword replaces an account's credentials.
func (m *Manager) SetPassword(ctx context.Context, name, password string) error {
	local, creds, err := prepare(name, password)
	if err != nil {
		return err
	}
	if err := m.Store.SetCredentials(ctx, local, creds); err != nil {
		return fmt.Errorf("set password of %q: %w", local, err)
	}
	return nil
}

// Delete removes an account and all its data.
func (m *Manager) Delete(ctx context.Context, name string) error {
	local, err := Prepare(name)
	if err != nil {
		return err
	}
	if err := m.Store.DeleteAccount(ctx, local); err != nil {
		return fmt.Errorf("delete account %q: %w", local, err)
	}
	if m.OnDelete != nil {
		m.OnDelete(ctx, local)
	}
	return nil
}

// List returns all account names.
func (m *Manager) List(ctx context.Context) ([]string, error) {
	names, err := m.Store.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return names, nil
}

// IsNotFound reports whether err means the account does not exist.
func IsNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
