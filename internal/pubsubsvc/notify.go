package pubsubsvc

import (
	"context"

	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/xml"
)

// notify sends the event ev of node n to every subscriber that wants
// notifications and may still see the node; n.mu is held, so that the
// notifications of one node go out in the order of its changes.
func (s *Service) notify(ctx context.Context, n *node, ev *xml.Element) {
	s.notifyRecord(ctx, &n.rec, ev)
}

// notifyRecord is notify for the record a node had (a deleted one's).
func (s *Service) notifyRecord(ctx context.Context, rec *record, ev *xml.Element) {
	if !rec.DeliverNotifications {
		return
	}
	for _, sub := range rec.Subscriptions {
		if sub.NoDeliver || sub.Pending {
			continue
		}
		to, err := jid.Parse(sub.JID)
		if err != nil {
			continue
		}
		if rec.access(to, s.isAdmin(to)) != nil {
			// Subscribed under an access model that no longer lets it
			// see the node (a whitelist set later, an outcast).
			continue
		}
		m := pubsub.Message(s.domain.Domain, &rec.NodeConfig, ev)
		m.SetAttr("to", to.String())
		s.cfg.Router.Route(ctx, m, s.domain, to)
	}
}
