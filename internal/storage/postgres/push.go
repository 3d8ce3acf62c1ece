package postgres

import (
	"context"
	"fmt"

	"minimix/internal/storage"
)

// PutPushRegistration implements storage.PushRegistrations.
func (db *DB) PutPushRegistration(ctx context.Context, r storage.PushRegistration) error {
	if _, err := db.exec(ctx, `
		INSERT INTO push_registrations (username, service, node, options, resource, enabled)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (username, service, node) DO UPDATE SET
			options = excluded.options, resource = excluded.resource, enabled = excluded.enabled`,
		r.User, r.Service, r.Node, r.Options, r.Resource, micros(r.Enabled)); err != nil {
		return fmt.Errorf("postgres: put push registration of %q to %s: %w", r.User, r.Service, err)
	}
	return nil
}

// DeletePushRegistrations implements storage.PushRegistrations.
func (db *DB) DeletePushRegistrations(ctx context.Context, user, service, node string) error {
	q, args := `DELETE FROM push_registrations WHERE username = $1 AND service = $2 AND node = $3`, []any{user, service, node}
	if node == "" {
		q, args = `DELETE FROM push_registrations WHERE username = $1 AND service = $2`, []any{user, service}
	}
	if _, err := db.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("postgres: delete push registrations of %q to %s: %w", user, service, err)
	}
	return nil
}

// PushRegistrations implements storage.PushRegistrations.
func (db *DB) PushRegistrations(ctx context.Context) ([]storage.PushRegistration, error) {
	var out []storage.PushRegistration
	err := queryRows(ctx, db.pool, `
		SELECT username, service, node, options, resource, enabled
		FROM push_registrations ORDER BY username, service, node`, nil, func(s scanner) error {
		var r storage.PushRegistration
		var enabled int64
		if err := s.Scan(&r.User, &r.Service, &r.Node, &r.Options, &r.Resource, &enabled); err != nil {
			return err
		}
		r.Enabled = fromMicros(enabled)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: push registrations: %w", err)
	}
	return out, nil
}

var _ storage.PushRegistrations = (*DB)(nil)
