package postgres

import (
	"context"
	"fmt"

	"minimix/internal/storage"
)

// GetPrivate implements storage.Private.
func (db *DB) GetPrivate(ctx context.Context, user, key string) ([]byte, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM private_storage WHERE username = $1 AND key = $2`, user, key).Scan(&data)
	if noRows(err) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: private %q of %q: %w", key, user, err)
	}
	return data, nil
}

// SetPrivate implements storage.Private.
func (db *DB) SetPrivate(ctx context.Context, user, key string, data []byte) error {
	if _, err := db.exec(ctx, `
		INSERT INTO private_storage (username, key, data) VALUES ($1, $2, $3)
		ON CONFLICT (username, key) DO UPDATE SET data = excluded.data`,
		user, key, nonNil(data)); err != nil {
		return fmt.Errorf("postgres: set private %q of %q: %w", key, user, err)
	}
	return nil
}

// GetVCard implements storage.VCards.
func (db *DB) GetVCard(ctx context.Context, user string) ([]byte, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM vcards WHERE username = $1`, user).Scan(&data)
	if noRows(err) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: vcard of %q: %w", user, err)
	}
	return data, nil
}

// SetVCard implements storage.VCards.
func (db *DB) SetVCard(ctx context.Context, user string, data []byte) error {
	if _, err := db.exec(ctx, `
		INSERT INTO vcards (username, data) VALUES ($1, $2)
		ON CONFLICT (username) DO UPDATE SET data = excluded.data`,
		user, nonNil(data)); err != nil {
		return fmt.Errorf("postgres: set vcard of %q: %w", user, err)
	}
	return nil
}

// PrivateKeys returns the keys of user's private XML fragments in
// lexical order (for export).
func (db *DB) PrivateKeys(ctx context.Context, user string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT key FROM private_storage WHERE username = $1 ORDER BY key`, user)
	if err != nil {
		return nil, fmt.Errorf("postgres: private keys of %q: %w", user, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("postgres: private keys of %q: %w", user, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: private keys of %q: %w", user, err)
	}
	return keys, nil
}
