package server

import (
	"context"
	"fmt"

	"minimix/internal/jid"
	"minimix/internal/pubsubsvc"
)

// buildPubSub makes the publish-subscribe service of [pubsub] and routes
// its domain to it; nothing when pubsub.domain is "".
func (f *features) buildPubSub() error {
	s := f.s
	c := s.cfg.PubSub
	if c.Domain == "" {
		return nil
	}
	var admins []jid.JID
	for _, a := range s.cfg.Admins {
		j, err := jid.Parse(a)
		if err != nil {
			return fmt.Errorf("pubsub admin %q: %w", a, err)
		}
		admins = append(admins, j)
	}
	svc, err := pubsubsvc.New(pubsubsvc.Config{
		Domain:           c.Domain,
		ServerDomain:     s.cfg.Domain,
		Creation:         c.RestrictNodeCreation,
		Admins:           admins,
		MaxNodes:         c.MaxNodes,
		MaxNodesPerOwner: c.MaxNodesPerOwner,
		MaxItems:         c.MaxItems,
		MaxPayloadBytes:  c.MaxPayloadBytes,
		MaxSubscriptions: c.MaxSubscriptions,
		Router:           s.Router,
		Store:            s.store,
		Logger:           s.log.With("component", "pubsub"),
	})
	if err != nil {
		return fmt.Errorf("pubsub: %w", err)
	}
	if err := f.disco.AddServerItem(c.Domain, pubsubsvc.ServiceName); err != nil {
		return err
	}
	s.Router.AddComponent(c.Domain, svc)
	f.pubsub = svc
	return nil
}

// startPubSub loads the service's nodes.
func (f *features) startPubSub(ctx context.Context) error {
	if f.pubsub == nil {
		return nil
	}
	return f.pubsub.Start(ctx)
}
