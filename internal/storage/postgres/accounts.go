package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// Names of the hashes in scram_credentials.hash.
const (
	hashSHA1   = "SHA-1"
	hashSHA256 = "SHA-256"
)

// CreateAccount implements storage.Accounts.
func (db *DB) CreateAccount(ctx context.Context, username string, creds storage.Credentials) error {
	return db.tx(ctx, "create account", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`INSERT INTO accounts (username, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			username, time.Now().UnixMicro())
		if err != nil {
			return fmt.Errorf("postgres: create account %q: %w", username, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: create account %q: %w", username, storage.ErrExists)
		}
		if err := putCredentials(ctx, tx, username, creds); err != nil {
			return fmt.Errorf("postgres: create account %q: %w", username, err)
		}
		return nil
	})
}

// SetCredentials implements storage.Accounts.
func (db *DB) SetCredentials(ctx context.Context, username string, creds storage.Credentials) error {
	return db.tx(ctx, "set credentials", func(tx pgx.Tx) error {
		// FOR SHARE keeps a concurrent DeleteAccount from removing the
		// account between the check and the write.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE username = $1 FOR SHARE`, username).Scan(&one)
		if noRows(err) {
			return fmt.Errorf("postgres: set credentials of %q: %w", username, storage.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: set credentials of %q: %w", username, err)
		}
		if err := putCredentials(ctx, tx, username, creds); err != nil {
			return fmt.Errorf("postgres: set credentials of %q: %w", username, err)
		}
		return nil
	})
}

// putCredentials stores both SCRAM credentials of username, replacing any.
func putCredentials(ctx context.Context, tx pgx.Tx, username string, creds storage.Credentials) error {
	for _, c := range []struct {
		hash string
		cred storage.ScramCredential
	}{{hashSHA1, creds.SHA1}, {hashSHA256, creds.SHA256}} {
		_, err := tx.Exec(ctx, `
			INSERT INTO scram_credentials (username, hash, salt, iterations, stored_key, server_key)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (username, hash) DO UPDATE SET
				salt = excluded.salt, iterations = excluded.iterations,
				stored_key = excluded.stored_key, server_key = excluded.server_key`,
			username, c.hash, c.cred.Salt, c.cred.Iters, c.cred.StoredKey, c.cred.ServerKey)
		if err != nil {
			return fmt.Errorf("store %s credential: %w", c.hash, err)
		}
	}
	return nil
}

// GetCredentials implements storage.Accounts: one query, the account row
// joined with its credentials.
func (db *DB) GetCredentials(ctx context.Context, username string) (storage.Credentials, error) {
	var creds storage.Credentials
	found := false
	err := queryRows(ctx, db.pool, `
		SELECT c.hash, c.salt, c.iterations, c.stored_key, c.server_key
		FROM accounts a LEFT JOIN scram_credentials c ON c.username = a.username
		WHERE a.username = $1`, []any{username}, func(s scanner) error {
		found = true
		var hash *string
		var c storage.ScramCredential
		var iters *int
		if err := s.Scan(&hash, &c.Salt, &iters, &c.StoredKey, &c.ServerKey); err != nil {
			return err
		}
		if hash == nil {
			return nil // an account without credentials
		}
		c.Iters = *iters
		switch *hash {
		case hashSHA1:
			creds.SHA1 = c
		case hashSHA256:
			creds.SHA256 = c
		}
		return nil
	})
	if err == nil && !found {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Credentials{}, fmt.Errorf("postgres: get credentials of %q: %w", username, err)
	}
	return creds, nil
}

// DeleteAccount implements storage.Accounts, as the SQLite backend does:
// the account's archives are those whose owner is username@<any domain>,
// a bare JID with exactly one '@' and no '/', found by a bytewise range
// over the owner indexes (every text column is COLLATE "C").
func (db *DB) DeleteAccount(ctx context.Context, username string) error {
	if err := db.SyncArchive(ctx); err != nil { // its archive records still queued go too
		return fmt.Errorf("postgres: delete account %q: %w", username, err)
	}
	return db.tx(ctx, "delete account", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE username = $1`, username)
		if err != nil {
			return fmt.Errorf("postgres: delete account %q: %w", username, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: delete account %q: %w", username, storage.ErrNotFound)
		}
		lo, hi := ownerRange(username)
		ownerOfAccount := bareOfAccount("owner")
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM roster_items WHERE username = $1`, []any{username}},
			{`DELETE FROM roster_versions WHERE username = $1`, []any{username}},
			{`DELETE FROM offline_messages WHERE username = $1`, []any{username}},
			{`DELETE FROM private_storage WHERE username = $1`, []any{username}},
			{`DELETE FROM vcards WHERE username = $1`, []any{username}},
			{`DELETE FROM pep_nodes WHERE username = $1`, []any{username}},
			{`DELETE FROM blocklists WHERE username = $1`, []any{username}},
			{`DELETE FROM push_registrations WHERE username = $1`, []any{username}},
			{`DELETE FROM archive_counts WHERE ` + ownerOfAccount, []any{lo, hi}},
			{`DELETE FROM archive_messages WHERE ` + ownerOfAccount, []any{lo, hi}},
			{`DELETE FROM archive_prefs WHERE ` + ownerOfAccount, []any{lo, hi}},
			{`DELETE FROM account_joins WHERE ` + bareOfAccount("account"), []any{lo, hi}},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				table := strings.Fields(q.sql)[2]
				return fmt.Errorf("postgres: delete account %q: %s: %w", username, table, err)
			}
		}
		if err := sqlarchive.DeleteMemberships(ctx, dialect, pgTx{tx}, bareOfAccount("account"), lo, hi); err != nil {
			return fmt.Errorf("postgres: delete account %q: %w", username, err)
		}
		return nil
	})
}

// bareOfAccount is the condition that column holds a bare JID in the
// range of ownerRange ($1, $2): exactly one '@' and no '/'.
func bareOfAccount(column string) string {
	return column + ` >= $1 AND ` + column + ` < $2
		AND length(replace(` + column + `, '@', '')) = length(` + column + `) - 1
		AND strpos(` + column + `, '/') = 0`
}

// ownerRange returns the bounds [lo, hi) of the bare JIDs whose localpart
// is username: every string that starts with username+"@" sorts in it,
// because 'A' is the byte after '@'.
func ownerRange(username string) (lo, hi string) {
	return username + "@", username + "A"
}

// AccountExists implements storage.Accounts.
func (db *DB) AccountExists(ctx context.Context, username string) (bool, error) {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM accounts WHERE username = $1`, username).Scan(&one)
	if noRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: account %q exists: %w", username, err)
	}
	return true, nil
}

// ListAccounts implements storage.Accounts, in bytewise (code point)
// order.
func (db *DB) ListAccounts(ctx context.Context) ([]string, error) {
	var names []string
	err := queryRows(ctx, db.pool, `SELECT username FROM accounts ORDER BY username`, nil, func(s scanner) error {
		var name string
		err := s.Scan(&name)
		names = append(names, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	return names, nil
}
