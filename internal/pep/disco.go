package pep

import (
	"context"
	"fmt"

	"minimix/internal/jid"
)

// Nodes returns the names of owner's nodes that requester may see, for
// service discovery of the account's items (XEP-0060 section 5.2).
func (s *Service) Nodes(ctx context.Context, owner, requester jid.JID) ([]string, error) {
	owner = owner.Bare()
	stored, err := s.store.PEPNodes(ctx, owner.Local)
	if err != nil {
		return nil, fmt.Errorf("pep: nodes of %s: %w", owner, err)
	}
	access := s.newAccess(ctx, owner)
	var out []string
	for _, sn := range stored {
		cfg, err := unmarshalConfig(sn.Config)
		if err != nil {
			s.log.Error("pep: node unreadable", "owner", owner.String(), "node", sn.Name, "err", err)
			continue
		}
		if access.check(requester, &cfg) == nil {
			out = append(out, sn.Name)
		}
	}
	return out, nil
}
