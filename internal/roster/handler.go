package roster

import (
	"context"
	"errors"
	"fmt"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Register serves roster gets and sets that an account sends to itself.
// Nothing is advertised on disco: roster support is implied by RFC 6121,
// and the versioning stream feature is sent by c2s.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "query", iq.Self, s.serve)
}

func (s *Service) serve(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if !req.Self() {
		// Only the account's own resources read or change its roster
		// (RFC 6121 2.1.5 and 2.3.3).
		return nil, xmpperr.New(xmpperr.Forbidden, "")
	}
	if req.Type == "get" {
		return s.get(ctx, req)
	}
	return s.set(ctx, req)
}

// get answers a roster get (RFC 6121 2.2). A client that presents the
// current version gets an empty result and keeps its cached roster
// (2.6.3). Either way the session becomes interested in pushes.
func (s *Service) get(ctx context.Context, req iq.Request) (*xml.Element, error) {
	user := req.From.Bare()
	if sess := s.r.Registry().Get(req.From); sess != nil {
		// Before reading, so that no change made after the read is
		// missed: it is pushed.
		sess.State().SetRosterRequested()
	}
	items, ver, err := s.store.RosterItems(ctx, user.Local)
	if err != nil {
		return nil, fmt.Errorf("roster get of %s: %w", user, err)
	}
	if req.Payload.HasAttr("ver") && req.Payload.Attr("ver") == ver {
		return nil, nil
	}
	q := xml.New(NS, "query", "ver", ver)
	for _, it := range items {
		if !it.Hidden {
			q.Append(itemElement(it))
		}
	}
	return q, nil
}

// set answers a roster set (RFC 6121 2.3 to 2.5): it adds or updates the
// item's name and groups, or removes it, and never changes subscription
// states except by removal.
func (s *Service) set(ctx context.Context, req iq.Request) (*xml.Element, error) {
	user := req.From.Bare()
	si, err := parseSetItem(user, req.Payload)
	if err != nil {
		return nil, err
	}
	if si.remove {
		return nil, s.remove(ctx, user, si.contact)
	}
	err = s.Update(ctx, user, si.contact, func(it *storage.RosterItem, exists bool) Change {
		// An item that only remembered an inbound request joins the
		// roster now, with its subscription state intact.
		it.Hidden = false
		it.Name = si.name
		it.Groups = si.groups
		return Put
	})
	switch {
	case errors.Is(err, ErrFull):
		return nil, xmpperr.New(xmpperr.ResourceConstraintC, "the roster is full").WithType(xmpperr.Cancel)
	case err != nil:
		return nil, fmt.Errorf("roster set of %s: %w", user, err)
	}
	return nil, nil
}

// remove deletes user's item for contact and tells the contact, as RFC
// 6121 2.5.2 requires: unsubscribe if the user was subscribed to the
// contact or had asked to be, unsubscribed if the contact was subscribed
// to the user or had asked to be, and unavailable presence from each of
// the user's available resources if the contact was receiving it.
func (s *Service) remove(ctx context.Context, user, contact jid.JID) error {
	var (
		before storage.RosterItem
		found  bool
	)
	err := s.Update(ctx, user, contact, func(it *storage.RosterItem, exists bool) Change {
		if !exists || it.Hidden {
			return Keep
		}
		before, found = *it, true
		return Delete
	})
	if err != nil {
		return fmt.Errorf("roster remove by %s: %w", user, err)
	}
	if !found {
		return xmpperr.New(xmpperr.ItemNotFound, "")
	}
	to := before.Subscription == storage.SubTo || before.Subscription == storage.SubBoth
	from := before.Subscription == storage.SubFrom || before.Subscription == storage.SubBoth
	if to || before.PendingOut {
		s.route(ctx, "unsubscribe", user, contact)
	}
	if from || before.PendingIn {
		s.route(ctx, "unsubscribed", user, contact)
	}
	if from {
		for _, sess := range s.r.Registry().Sessions(user) {
			if avail, _ := sess.State().Available(); avail {
				s.route(ctx, "unavailable", sess.JID(), contact)
			}
		}
	}
	return nil
}

func (s *Service) route(ctx context.Context, typ string, from, to jid.JID) {
	p := xml.New(xml.NSClient, stanza.Presence, "type", typ, "from", from.String(), "to", to.String())
	s.r.Route(ctx, p, from, to)
}
