// Package accounts manages accounts: creation, password changes and
// removal, with passwords kept only as SCRAM credentials. The command line,
// in-band registration and the password-change iq all go through it, so
// the rules (name preparation, minimum password length) are in one place.
package accounts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"minimix/internal/jid"
	"minimix/internal/sasl"
	"minimix/internal/storage"
)

// Defaults of the Manager's policy (accounts.* in the configuration).
const (
	// DefaultMinPasswordLength is the shortest password accepted, in
	// characters.
	DefaultMinPasswordLength = 6
	// DefaultScramIterations is the PBKDF2 iteration count for new
	// credentials (RFC 7677 asks for at least 4096).
	DefaultScramIterations = 4096
)

// ErrWeakPassword is wrapped by the error for a password shorter than the
// minimum length.
var ErrWeakPassword = errors.New("password too short")

// Manager changes accounts in a store.
type Manager struct {
	Store storage.Accounts
	// OnDelete is called after an account is deleted (to end its sessions).
	OnDelete func(ctx context.Context, user string)
	// MinPasswordLength is the shortest password accepted, in characters;
	// 0 means DefaultMinPasswordLength.
	MinPasswordLength int
	// ScramIterations is the PBKDF2 iteration count of new credentials; 0
	// means DefaultScramIterations.
	ScramIterations int
}

// Prepare returns the prepared localpart for name.
func Prepare(name string) (string, error) {
	local, err := jid.PrepLocal(name)
	if err != nil {
		return "", fmt.Errorf("invalid username: %w", err)
	}
	return local, nil
}

func (m *Manager) credentials(password string) (storage.Credentials, error) {
	minLen := cmp.Or(m.MinPasswordLength, DefaultMinPasswordLength)
	if utf8.RuneCountInString(password) < minLen {
		return storage.Credentials{}, fmt.Errorf("%w: it needs at least %d characters", ErrWeakPassword, minLen)
	}
	creds, err := sasl.NewCredentials(password, cmp.Or(m.ScramIterations, DefaultScramIterations))
	if err != nil {
		return storage.Credentials{}, fmt.Errorf("derive credentials: %w", err)
	}
	return creds, nil
}

// Add creates an account; storage.ErrExists if the name is taken.
func (m *Manager) Add(ctx context.Context, name, password string) error {
	local, creds, err := m.prepare(name, password)
	if err != nil {
		return err
	}
	if err := m.Store.CreateAccount(ctx, local, creds); err != nil {
		return fmt.Errorf("create account %q: %w", local, err)
	}
	return nil
}

// prepare checks a name and password and derives the credentials to store.
func (m *Manager) prepare(name, password string) (string, storage.Credentials, error) {
	local, err := Prepare(name)
	if err != nil {
		return "", storage.Credentials{}, err
	}
	creds, err := m.credentials(password)
	return local, creds, err
}

// Register implements c2s.Registrar.
func (m *Manager) Register(ctx context.Context, username, password string) error {
	return m.Add(ctx, username, password)
}

// SetPassword replaces an account's credentials.
func (m *Manager) SetPassword(ctx context.Context, name, password string) error {
	local, creds, err := m.prepare(name, password)
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
