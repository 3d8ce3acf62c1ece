package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"minimix/internal/storage"
)

// PEPNodes implements storage.PEP.
func (db *DB) PEPNodes(ctx context.Context, user string) ([]storage.PEPNode, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT node, config FROM pep_nodes WHERE username = ? ORDER BY node`, user)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep nodes of %q: %w", user, err)
	}
	defer rows.Close()
	var out []storage.PEPNode
	for rows.Next() {
		var n storage.PEPNode
		if err := rows.Scan(&n.Name, &n.Config); err != nil {
			return nil, fmt.Errorf("sqlite: pep nodes of %q: %w", user, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep nodes of %q: %w", user, err)
	}
	return out, nil
}

// PEPNode implements storage.PEP.
func (db *DB) PEPNode(ctx context.Context, user, node string) (storage.PEPNode, error) {
	n := storage.PEPNode{Name: node}
	err := db.sql.QueryRowContext(ctx,
		`SELECT config FROM pep_nodes WHERE username = ? AND node = ?`, user, node).Scan(&n.Config)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.PEPNode{}, fmt.Errorf("sqlite: pep node %q of %q: %w", node, user, err)
	}
	return n, nil
}

// PEPItems implements storage.PEP.
func (db *DB) PEPItems(ctx context.Context, user, node string, max int) ([]storage.PEPItem, error) {
	limit := -1 // SQLite: no limit
	if max > 0 {
		limit = max
	}
	rows, err := db.sql.QueryContext(ctx, `
		SELECT id, publisher, stamp, payload FROM (
			SELECT seq, id, publisher, stamp, payload FROM pep_items
			WHERE username = ? AND node = ? ORDER BY seq DESC LIMIT ?
		) ORDER BY seq`, user, node, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep items of %q node %q: %w", user, node, err)
	}
	return scanPEPItems(rows, user, node)
}

// PEPItemsByID implements storage.PEP.
func (db *DB) PEPItemsByID(ctx context.Context, user, node string, ids []string) ([]storage.PEPItem, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, user, node)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := db.sql.QueryContext(ctx, `
		SELECT id, publisher, stamp, payload FROM pep_items
		WHERE username = ? AND node = ? AND id IN (`+placeholders(len(ids))+`) ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep items of %q node %q: %w", user, node, err)
	}
	return scanPEPItems(rows, user, node)
}

func scanPEPItems(rows *sql.Rows, user, node string) ([]storage.PEPItem, error) {
	defer rows.Close()
	var out []storage.PEPItem
	for rows.Next() {
		var it storage.PEPItem
		var stamp int64
		if err := rows.Scan(&it.ID, &it.Publisher, &stamp, &it.Payload); err != nil {
			return nil, fmt.Errorf("sqlite: pep items of %q node %q: %w", user, node, err)
		}
		it.Stamp = time.UnixMicro(stamp).UTC()
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep items of %q node %q: %w", user, node, err)
	}
	return out, nil
}

// ApplyPEP implements storage.PEP.
func (db *DB) ApplyPEP(ctx context.Context, user string, ops []storage.PEPOp) error {
	if len(ops) == 0 {
		return nil
	}
	return db.write(ctx, "apply pep", func(tx *sql.Tx) error {
		for i, op := range ops {
			if err := applyPEPOp(ctx, tx, user, op); err != nil {
				return fmt.Errorf("sqlite: pep op %d of %q on node %q: %w", i, user, op.Node.Name, err)
			}
		}
		return nil
	})
}

func applyPEPOp(ctx context.Context, tx *sql.Tx, user string, op storage.PEPOp) error {
	node := op.Node.Name
	switch op.Kind {
	case storage.PEPPutNode:
		_, err := tx.ExecContext(ctx, `
			INSERT INTO pep_nodes (username, node, config) VALUES (?, ?, ?)
			ON CONFLICT (username, node) DO UPDATE SET config = excluded.config`,
			user, node, nonNil(op.Node.Config))
		return err
	case storage.PEPDeleteNode:
		// Items go by the foreign key's cascade.
		_, err := tx.ExecContext(ctx, `DELETE FROM pep_nodes WHERE username = ? AND node = ?`, user, node)
		return err
	case storage.PEPPutItem:
		var n int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM pep_nodes WHERE username = ? AND node = ?`, user, node).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		// Delete and insert rather than update, so that the item gets a
		// new seq: it is the newest now.
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM pep_items WHERE username = ? AND node = ? AND id = ?`, user, node, op.Item.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO pep_items (username, node, id, publisher, stamp, payload) VALUES (?, ?, ?, ?, ?, ?)`,
			user, node, op.Item.ID, op.Item.Publisher, op.Item.Stamp.UnixMicro(), nonNil(op.Item.Payload)); err != nil {
			return err
		}
		if op.MaxItems > 0 {
			return trimPEPItems(ctx, tx, user, node, op.MaxItems)
		}
		return nil
	case storage.PEPDeleteItem:
		_, err := tx.ExecContext(ctx,
			`DELETE FROM pep_items WHERE username = ? AND node = ? AND id = ?`, user, node, op.Item.ID)
		return err
	case storage.PEPPurgeItems:
		_, err := tx.ExecContext(ctx, `DELETE FROM pep_items WHERE username = ? AND node = ?`, user, node)
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
func trimPEPItems(ctx context.Context, tx *sql.Tx, user, node string, max int) error {
	_, err := tx.ExecContext(ctx, `
		DELETE FROM pep_items WHERE username = ? AND node = ? AND seq < (
			SELECT coalesce(min(seq), 0) FROM (
				SELECT seq FROM pep_items WHERE username = ? AND node = ? ORDER BY seq DESC LIMIT ?
			)
		)`, user, node, user, node, max)
	return err
}
