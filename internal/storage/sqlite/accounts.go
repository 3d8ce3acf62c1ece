package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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
	return db.write(ctx, "create account", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (username, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			username, time.Now().UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: create account %q: %w", username, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: create account %q: %w", username, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: create account %q: %w", username, storage.ErrExists)
		}
		if err := putCredentials(ctx, tx, username, creds); err != nil {
			return fmt.Errorf("sqlite: create account %q: %w", username, err)
		}
		return nil
	})
}

// SetCredentials implements storage.Accounts.
func (db *DB) SetCredentials(ctx context.Context, username string, creds storage.Credentials) error {
	return db.write(ctx, "set credentials", func(tx *sql.Tx) error {
		ok, err := accountExists(ctx, tx, username)
		if err != nil {
			return fmt.Errorf("sqlite: set credentials of %q: %w", username, err)
		}
		if !ok {
			return fmt.Errorf("sqlite: set credentials of %q: %w", username, storage.ErrNotFound)
		}
		if err := putCredentials(ctx, tx, username, creds); err != nil {
			return fmt.Errorf("sqlite: set credentials of %q: %w", username, err)
		}
		return nil
	})
}

// putCredentials stores both SCRAM credentials of username, replacing any.
func putCredentials(ctx context.Context, tx *sql.Tx, username string, creds storage.Credentials) error {
	for _, c := range []struct {
		hash string
		cred storage.ScramCredential
	}{{hashSHA1, creds.SHA1}, {hashSHA256, creds.SHA256}} {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO scram_credentials (username, hash, salt, iterations, stored_key, server_key)
			VALUES (?, ?, ?, ?, ?, ?)
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

// GetCredentials implements storage.Accounts.
func (db *DB) GetCredentials(ctx context.Context, username string) (storage.Credentials, error) {
	var creds storage.Credentials
	err := db.read(ctx, "get credentials", func(tx rtx) error {
		ok, err := accountExists(ctx, tx, username)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT hash, salt, iterations, stored_key, server_key
			FROM scram_credentials WHERE username = ?`, username)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var hash string
			var c storage.ScramCredential
			if err := rows.Scan(&hash, &c.Salt, &c.Iters, &c.StoredKey, &c.ServerKey); err != nil {
				return err
			}
			switch hash {
			case hashSHA1:
				creds.SHA1 = c
			case hashSHA256:
				creds.SHA256 = c
			}
		}
		return rows.Err()
	})
	if err != nil {
		return storage.Credentials{}, fmt.Errorf("sqlite: get credentials of %q: %w", username, err)
	}
	return creds, nil
}

// DeleteAccount implements storage.Accounts.
//
// Archives and room memberships (account_joins) are keyed by bare JID but
// accounts by localpart, and the store does not know which domains it
// serves, so the account's archives are those whose owner is
// username@<any domain>: a bare JID with exactly one '@' and no '/'. The owner range is compared bytewise rather than with
// LIKE, which in SQLite is case-insensitive and treats '_' and '%' as
// wildcards. A room whose bare JID has the same localpart as the account
// (alice@conference.example.net for account alice) is matched too:
// telling the two apart needs the account's domain, which
// storage.Accounts does not pass.
func (db *DB) DeleteAccount(ctx context.Context, username string) error {
	if err := db.SyncArchive(ctx); err != nil { // its archive records still queued go too
		return fmt.Errorf("sqlite: delete account %q: %w", username, err)
	}
	return db.write(ctx, "delete account", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE username = ?`, username)
		if err != nil {
			return fmt.Errorf("sqlite: delete account %q: %w", username, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: delete account %q: %w", username, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: delete account %q: %w", username, storage.ErrNotFound)
		}
		lo, hi := ownerRange(username)
		ownerOfAccount := bareOfAccount("owner")
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM scram_credentials WHERE username = ?`, []any{username}},
			{`DELETE FROM roster_items WHERE username = ?`, []any{username}},
			{`DELETE FROM roster_versions WHERE username = ?`, []any{username}},
			{`DELETE FROM offline_messages WHERE username = ?`, []any{username}},
			{`DELETE FROM private_storage WHERE username = ?`, []any{username}},
			{`DELETE FROM vcards WHERE username = ?`, []any{username}},
			{`DELETE FROM blocklists WHERE username = ?`, []any{username}},
			{`DELETE FROM push_registrations WHERE username = ?`, []any{username}},
			{`DELETE FROM archive_counts WHERE ` + ownerOfAccount, []any{lo, hi}},
			{`DELETE FROM archive_messages WHERE ` + ownerOfAccount, []any{lo, hi}},
			{`DELETE FROM archive_prefs WHERE ` + ownerOfAccount, []any{lo, hi}},
			{`DELETE FROM account_joins WHERE ` + bareOfAccount("account"), []any{lo, hi}},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				table := strings.Fields(q.sql)[2]
				return fmt.Errorf("sqlite: delete account %q: %s: %w", username, table, err)
			}
		}
		if err := sqlarchive.DeleteMemberships(ctx, dialect, writeTx{tx}, bareOfAccount("account"), lo, hi); err != nil {
			return fmt.Errorf("sqlite: delete account %q: %w", username, err)
		}
		return nil
	})
}

// bareOfAccount is the condition that column holds a bare JID in the
// range of ownerRange: exactly one '@' and no '/'.
func bareOfAccount(column string) string {
	return column + ` >= ? AND ` + column + ` < ?
		AND length(replace(` + column + `, '@', '')) = length(` + column + `) - 1
		AND instr(` + column + `, '/') = 0`
}

// ownerRange returns the bounds [lo, hi) of the bare JIDs whose localpart
// is username: every string that starts with username+"@" sorts in it,
// because 'A' is the byte after '@'.
func ownerRange(username string) (lo, hi string) {
	return username + "@", username + "A"
}

// AccountExists implements storage.Accounts.
func (db *DB) AccountExists(ctx context.Context, username string) (bool, error) {
	var ok bool
	err := db.read(ctx, "account exists", func(tx rtx) error {
		var err error
		ok, err = accountExists(ctx, tx, username)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: account %q exists: %w", username, err)
	}
	return ok, nil
}

func accountExists(ctx context.Context, tx querier, username string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE username = ?`, username).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// ListAccounts implements storage.Accounts. The order is bytewise, which
// for the UTF-8 localparts PRECIS produces is code point order.
func (db *DB) ListAccounts(ctx context.Context) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT username FROM accounts ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("sqlite: list accounts: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return names, nil
}
