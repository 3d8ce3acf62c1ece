package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// The roster version (XEP-0237) is a per-account counter kept in
// roster_versions, incremented by every put or delete and returned as a
// decimal string; "0" means the roster has never changed.

const rosterColumns = `contact, name, subscription, pending_out, pending_in, approved, hidden, pending_in_stanza`

// RosterItems implements storage.Roster. Items are ordered by contact.
func (db *DB) RosterItems(ctx context.Context, user string) ([]storage.RosterItem, string, error) {
	var (
		items []storage.RosterItem
		ver   string
	)
	err := db.read(ctx, "roster items", func(tx pgx.Tx) error {
		var err error
		if ver, err = rosterVersion(ctx, tx, user); err != nil {
			return err
		}
		index := map[string]int{}
		err = queryRows(ctx, tx, `SELECT `+rosterColumns+` FROM roster_items WHERE username = $1 ORDER BY contact`,
			[]any{user}, func(s scanner) error {
				it, err := scanRosterItem(s)
				index[it.Contact] = len(items)
				items = append(items, it)
				return err
			})
		if err != nil {
			return err
		}
		return queryRows(ctx, tx, `SELECT contact, name FROM roster_groups WHERE username = $1 ORDER BY contact, position`,
			[]any{user}, func(s scanner) error {
				var contact, name string
				if err := s.Scan(&contact, &name); err != nil {
					return err
				}
				if i, ok := index[contact]; ok {
					items[i].Groups = append(items[i].Groups, name)
				}
				return nil
			})
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: roster of %q: %w", user, err)
	}
	return items, ver, nil
}

// RosterItem implements storage.Roster.
func (db *DB) RosterItem(ctx context.Context, user, contact string) (storage.RosterItem, error) {
	var it storage.RosterItem
	err := db.read(ctx, "roster item", func(tx pgx.Tx) error {
		var err error
		it, err = scanRosterItem(tx.QueryRow(ctx,
			`SELECT `+rosterColumns+` FROM roster_items WHERE username = $1 AND contact = $2`, user, contact))
		if noRows(err) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		return queryRows(ctx, tx, `SELECT name FROM roster_groups WHERE username = $1 AND contact = $2 ORDER BY position`,
			[]any{user, contact}, func(s scanner) error {
				var name string
				err := s.Scan(&name)
				it.Groups = append(it.Groups, name)
				return err
			})
	})
	if err != nil {
		return storage.RosterItem{}, fmt.Errorf("postgres: roster item %q of %q: %w", contact, user, err)
	}
	return it, nil
}

func scanRosterItem(s scanner) (storage.RosterItem, error) {
	var (
		it  storage.RosterItem
		sub string
	)
	err := s.Scan(&it.Contact, &it.Name, &sub, &it.PendingOut, &it.PendingIn, &it.Approved, &it.Hidden, &it.PendingInStanza)
	if err != nil {
		return storage.RosterItem{}, err
	}
	it.Subscription = storage.Subscription(sub)
	return it, nil
}

// PutRosterItem implements storage.Roster. An empty Subscription is
// stored as "none". The item's upsert locks its row, so concurrent puts of
// one contact replace its groups one after the other.
func (db *DB) PutRosterItem(ctx context.Context, user string, item storage.RosterItem) (string, error) {
	if item.Contact == "" {
		return "", fmt.Errorf("postgres: put roster item of %q: empty contact", user)
	}
	sub := item.Subscription
	switch sub {
	case "":
		sub = storage.SubNone
	case storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth:
	default:
		return "", fmt.Errorf("postgres: put roster item %q of %q: unknown subscription %q", item.Contact, user, sub)
	}
	var ver string
	err := db.tx(ctx, "put roster item", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO roster_items (username, contact, name, subscription,
				pending_out, pending_in, approved, hidden, pending_in_stanza)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (username, contact) DO UPDATE SET
				name = excluded.name, subscription = excluded.subscription,
				pending_out = excluded.pending_out, pending_in = excluded.pending_in,
				approved = excluded.approved, hidden = excluded.hidden,
				pending_in_stanza = excluded.pending_in_stanza`,
			user, item.Contact, item.Name, string(sub),
			item.PendingOut, item.PendingIn, item.Approved, item.Hidden, item.PendingInStanza)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM roster_groups WHERE username = $1 AND contact = $2`, user, item.Contact); err != nil {
			return err
		}
		if len(item.Groups) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO roster_groups (username, contact, position, name)
				SELECT $1, $2, g.ord - 1, g.name FROM unnest($3::text[]) WITH ORDINALITY AS g(name, ord)`,
				user, item.Contact, item.Groups); err != nil {
				return err
			}
		}
		ver, err = bumpRosterVersion(ctx, tx, user)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("postgres: put roster item %q of %q: %w", item.Contact, user, err)
	}
	return ver, nil
}

// DeleteRosterItem implements storage.Roster. Deleting an absent item
// leaves the version unchanged.
func (db *DB) DeleteRosterItem(ctx context.Context, user, contact string) (string, error) {
	var ver string
	err := db.tx(ctx, "delete roster item", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM roster_items WHERE username = $1 AND contact = $2`, user, contact)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		ver, err = bumpRosterVersion(ctx, tx, user)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("postgres: delete roster item %q of %q: %w", contact, user, err)
	}
	return ver, nil
}

func rosterVersion(ctx context.Context, tx querier, user string) (string, error) {
	var v int64
	err := tx.QueryRow(ctx, `SELECT version FROM roster_versions WHERE username = $1`, user).Scan(&v)
	if noRows(err) {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("roster version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

// bumpRosterVersion increments user's version; the upsert holds the row
// lock until commit, so concurrent changes get distinct versions.
func bumpRosterVersion(ctx context.Context, tx pgx.Tx, user string) (string, error) {
	var v int64
	err := tx.QueryRow(ctx, `
		INSERT INTO roster_versions (username, version) VALUES ($1, 1)
		ON CONFLICT (username) DO UPDATE SET version = roster_versions.version + 1
		RETURNING version`, user).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("bump roster version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}
