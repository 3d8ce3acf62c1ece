package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// The roster version (XEP-0237) is a per-account counter kept in
// roster_versions, incremented by every put or delete and returned as a
// decimal string; "0" means the roster has never changed.

// RosterItems implements storage.Roster. Items are ordered by contact.
func (db *DB) RosterItems(ctx context.Context, user string) ([]storage.RosterItem, string, error) {
	var (
		items []storage.RosterItem
		ver   string
	)
	err := db.read(ctx, "roster items", func(tx rtx) error {
		var err error
		if ver, err = rosterVersion(ctx, tx, user); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT contact, name, subscription, pending_out, pending_in, approved, hidden, pending_in_stanza
			FROM roster_items WHERE username = ? ORDER BY contact`, user)
		if err != nil {
			return err
		}
		defer rows.Close()
		index := map[string]int{}
		for rows.Next() {
			it, err := scanRosterItem(rows)
			if err != nil {
				return err
			}
			index[it.Contact] = len(items)
			items = append(items, it)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		groups, err := tx.QueryContext(ctx, `
			SELECT contact, name FROM roster_groups WHERE username = ?
			ORDER BY contact, position`, user)
		if err != nil {
			return err
		}
		defer groups.Close()
		for groups.Next() {
			var contact, name string
			if err := groups.Scan(&contact, &name); err != nil {
				return err
			}
			if i, ok := index[contact]; ok {
				items[i].Groups = append(items[i].Groups, name)
			}
		}
		return groups.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: roster of %q: %w", user, err)
	}
	return items, ver, nil
}

// RosterItem implements storage.Roster.
func (db *DB) RosterItem(ctx context.Context, user, contact string) (storage.RosterItem, error) {
	var it storage.RosterItem
	err := db.read(ctx, "roster item", func(tx rtx) error {
		var err error
		it, err = scanRosterItem(tx.QueryRowContext(ctx, `
			SELECT contact, name, subscription, pending_out, pending_in, approved, hidden, pending_in_stanza
			FROM roster_items WHERE username = ? AND contact = ?`, user, contact))
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT name FROM roster_groups WHERE username = ? AND contact = ?
			ORDER BY position`, user, contact)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			it.Groups = append(it.Groups, name)
		}
		return rows.Err()
	})
	if err != nil {
		return storage.RosterItem{}, fmt.Errorf("sqlite: roster item %q of %q: %w", contact, user, err)
	}
	return it, nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner = sqlarchive.Scanner

func scanRosterItem(s scanner) (storage.RosterItem, error) {
	var (
		it                                    storage.RosterItem
		sub                                   string
		pendingOut, pendingIn, approved, hide int
	)
	err := s.Scan(&it.Contact, &it.Name, &sub, &pendingOut, &pendingIn, &approved, &hide, &it.PendingInStanza)
	if err != nil {
		return storage.RosterItem{}, err
	}
	it.Subscription = storage.Subscription(sub)
	it.PendingOut = pendingOut != 0
	it.PendingIn = pendingIn != 0
	it.Approved = approved != 0
	it.Hidden = hide != 0
	return it, nil
}

// PutRosterItem implements storage.Roster. An empty Subscription is stored
// as "none", the RFC 6121 default for an item without the attribute.
func (db *DB) PutRosterItem(ctx context.Context, user string, item storage.RosterItem) (string, error) {
	if item.Contact == "" {
		return "", fmt.Errorf("sqlite: put roster item of %q: empty contact", user)
	}
	sub := item.Subscription
	switch sub {
	case "":
		sub = storage.SubNone
	case storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth:
	default:
		return "", fmt.Errorf("sqlite: put roster item %q of %q: unknown subscription %q", item.Contact, user, sub)
	}
	var ver string
	err := db.write(ctx, "put roster item", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO roster_items (username, contact, name, subscription,
				pending_out, pending_in, approved, hidden, pending_in_stanza)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (username, contact) DO UPDATE SET
				name = excluded.name, subscription = excluded.subscription,
				pending_out = excluded.pending_out, pending_in = excluded.pending_in,
				approved = excluded.approved, hidden = excluded.hidden,
				pending_in_stanza = excluded.pending_in_stanza`,
			user, item.Contact, item.Name, string(sub),
			boolInt(item.PendingOut), boolInt(item.PendingIn), boolInt(item.Approved), boolInt(item.Hidden),
			item.PendingInStanza)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM roster_groups WHERE username = ? AND contact = ?`, user, item.Contact); err != nil {
			return err
		}
		for i, g := range item.Groups {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO roster_groups (username, contact, position, name) VALUES (?, ?, ?, ?)`,
				user, item.Contact, i, g); err != nil {
				return err
			}
		}
		ver, err = bumpRosterVersion(ctx, tx, user)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: put roster item %q of %q: %w", item.Contact, user, err)
	}
	return ver, nil
}

// DeleteRosterItem implements storage.Roster. Deleting an absent item
// leaves the version unchanged.
func (db *DB) DeleteRosterItem(ctx context.Context, user, contact string) (string, error) {
	var ver string
	err := db.write(ctx, "delete roster item", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM roster_items WHERE username = ? AND contact = ?`, user, contact)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		ver, err = bumpRosterVersion(ctx, tx, user)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: delete roster item %q of %q: %w", contact, user, err)
	}
	return ver, nil
}

func rosterVersion(ctx context.Context, tx querier, user string) (string, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `SELECT version FROM roster_versions WHERE username = ?`, user).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("roster version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

func bumpRosterVersion(ctx context.Context, tx *sql.Tx, user string) (string, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `
		INSERT INTO roster_versions (username, version) VALUES (?, 1)
		ON CONFLICT (username) DO UPDATE SET version = roster_versions.version + 1
		RETURNING version`, user).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("bump roster version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}
