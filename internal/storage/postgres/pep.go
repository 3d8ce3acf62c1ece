package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"minimix/internal/storage"
)

// pepLock is the first key of the transaction advisory lock that
// serialises ApplyPEP per user ("pep "): a republished id is a delete and
// an insert, which two concurrent publishers would otherwise interleave
// into a unique violation.
const pepLock = 0x70657020

// PEPNodes implements storage.PEP.
func (db *DB) PEPNodes(ctx context.Context, user string) ([]storage.PEPNode, error) {
	var out []storage.PEPNode
	err := queryRows(ctx, db.pool, `SELECT node, config FROM pep_nodes WHERE username = $1 ORDER BY node`,
		[]any{user}, func(s scanner) error {
			var n storage.PEPNode
			err := s.Scan(&n.Name, &n.Config)
			out = append(out, n)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("postgres: pep nodes of %q: %w", user, err)
	}
	return out, nil
}

// PEPNode implements storage.PEP.
func (db *DB) PEPNode(ctx context.Context, user, node string) (storage.PEPNode, error) {
	n := storage.PEPNode{Name: node}
	err := db.pool.QueryRow(ctx, `SELECT config FROM pep_nodes WHERE username = $1 AND node = $2`, user, node).Scan(&n.Config)
	if noRows(err) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.PEPNode{}, fmt.Errorf("postgres: pep node %q of %q: %w", node, user, err)
	}
	return n, nil
}

// PEPItems implements storage.PEP.
func (db *DB) PEPItems(ctx context.Context, user, node string, max int) ([]storage.PEPItem, error) {
	var limit *int // NULL: LIMIT ALL
	if max > 0 {
		limit = &max
	}
	items, err := scanPEPItems(ctx, db.pool, `
		SELECT id, publisher, stamp, payload FROM (
			SELECT seq, id, publisher, stamp, payload FROM pep_items
			WHERE username = $1 AND node = $2 ORDER BY seq DESC LIMIT $3
		) newest ORDER BY seq`, user, node, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep items of %q node %q: %w", user, node, err)
	}
	return items, nil
}

// PEPItemsByID implements storage.PEP.
func (db *DB) PEPItemsByID(ctx context.Context, user, node string, ids []string) ([]storage.PEPItem, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	items, err := scanPEPItems(ctx, db.pool, `
		SELECT id, publisher, stamp, payload FROM pep_items
		WHERE username = $1 AND node = $2 AND id = ANY($3) ORDER BY seq`, user, node, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep items of %q node %q: %w", user, node, err)
	}
	return items, nil
}

func scanPEPItems(ctx context.Context, q querier, query string, args ...any) ([]storage.PEPItem, error) {
	var out []storage.PEPItem
	err := queryRows(ctx, q, query, args, func(s scanner) error {
		var it storage.PEPItem
		var stamp int64
		if err := s.Scan(&it.ID, &it.Publisher, &stamp, &it.Payload); err != nil {
			return err
		}
		it.Stamp = time.UnixMicro(stamp).UTC()
		out = append(out, it)
		return nil
	})
	return out, err
}

// ApplyPEP implements storage.PEP.
func (db *DB) ApplyPEP(ctx context.Context, user string, ops []storage.PEPOp) error {
	if len(ops) == 0 {
		return nil
	}
	return db.tx(ctx, "apply pep", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(pepLock), user); err != nil {
			return fmt.Errorf("postgres: pep of %q: %w", user, err)
		}
		for i, op := range ops {
			if err := applyPEPOp(ctx, tx, user, op); err != nil {
				return fmt.Errorf("postgres: pep op %d of %q on node %q: %w", i, user, op.Node.Name, err)
			}
		}
		return nil
	})
}

func applyPEPOp(ctx context.Context, tx pgx.Tx, user string, op storage.PEPOp) error {
	node := op.Node.Name
	switch op.Kind {
	case storage.PEPPutNode:
		_, err := tx.Exec(ctx, `
			INSERT INTO pep_nodes (username, node, config) VALUES ($1, $2, $3)
			ON CONFLICT (username, node) DO UPDATE SET config = excluded.config`,
			user, node, nonNil(op.Node.Config))
		return err
	case storage.PEPDeleteNode:
		// Items go by the foreign key's cascade.
		_, err := tx.Exec(ctx, `DELETE FROM pep_nodes WHERE username = $1 AND node = $2`, user, node)
		return err
	case storage.PEPPutItem:
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM pep_nodes WHERE username = $1 AND node = $2`, user, node).Scan(&one)
		if noRows(err) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		// Delete and insert rather than update, so that the item gets a
		// new seq: it is the newest now.
		if _, err := tx.Exec(ctx, `DELETE FROM pep_items WHERE username = $1 AND node = $2 AND id = $3`,
			user, node, op.Item.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO pep_items (username, node, id, publisher, stamp, payload) VALUES ($1, $2, $3, $4, $5, $6)`,
			user, node, op.Item.ID, op.Item.Publisher, op.Item.Stamp.UnixMicro(), nonNil(op.Item.Payload)); err != nil {
			return err
		}
		if op.MaxItems > 0 {
			return trimPEPItems(ctx, tx, user, node, op.MaxItems)
		}
		return nil
	case storage.PEPDeleteItem:
		_, err := tx.Exec(ctx, `DELETE FROM pep_items WHERE username = $1 AND node = $2 AND id = $3`, user, node, op.Item.ID)
		return err
	case storage.PEPPurgeItems:
		_, err := tx.Exec(ctx, `DELETE FROM pep_items WHERE username = $1 AND node = $2`, user, node)
		return err
	case storage.PEPTrimItems:
		if op.MaxItems > 0 {
			return trimPEPItems(ctx, tx, user, node, op.MaxItems)
		}
		return nil
	default:
		return fmt.Errorf("unknown op kind %d", op.Kind)
	}
}

// trimPEPItems keeps the max newest items of a node.
func trimPEPItems(ctx context.Context, tx pgx.Tx, user, node string, max int) error {
	_, err := tx.Exec(ctx, `
		DELETE FROM pep_items WHERE username = $1 AND node = $2 AND seq < (
			SELECT coalesce(min(seq), 0) FROM (
				SELECT seq FROM pep_items WHERE username = $1 AND node = $2 ORDER BY seq DESC LIMIT $3
			) newest
		)`, user, node, max)
	return err
}
