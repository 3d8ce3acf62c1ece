package pep

import (
	"context"
	"slices"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// ownerOther refuses owner requests to another account's service.
func (s *Service) ownerOther(ctx context.Context, req iq.Request) (*xml.Element, error) {
	return nil, forbidden("only the account owns its nodes")
}

// ownerSelf answers the account's pubsub#owner requests (XEP-0060
// section 8): node configuration, default configuration, deletion,
// purging and affiliations.
func (s *Service) ownerSelf(ctx context.Context, req iq.Request) (*xml.Element, error) {
	action, _, err := split(req.Payload)
	if err != nil {
		return nil, err
	}
	owner := ownerOf(req.To)
	switch action.Local {
	case "configure":
		if req.Type == "get" {
			return s.configureForm(ctx, owner, action)
		}
		return nil, s.configure(ctx, owner, action)
	case "default":
		if err := wantType(req, "get"); err != nil {
			return nil, err
		}
		cfg := DefaultNodeConfig()
		return xml.New(NSOwner, "pubsub").Append(
			xml.New(NSOwner, "default").Append(configForm(&cfg, dataform.TypeForm).Element())), nil
	case "delete", "purge":
		if err := wantType(req, "set"); err != nil {
			return nil, err
		}
		node, err := nodeAttr(action)
		if err != nil {
			return nil, err
		}
		return nil, s.Update(ctx, owner, func(tx *Tx) error {
			if action.Local == "delete" {
				return tx.Delete(node)
			}
			return tx.Purge(node)
		})
	case "affiliations":
		if req.Type == "get" {
			return s.affiliations(ctx, owner, action)
		}
		return nil, s.setAffiliations(ctx, owner, action)
	case "subscriptions":
		return nil, unsupported("manage-subscriptions")
	}
	return nil, xmpperr.New(xmpperr.BadRequest, "unknown pubsub#owner action <"+action.Local+"/>")
}

// nodeConfig returns the configuration of owner's node, item-not-found
// if it does not exist.
func (s *Service) nodeConfig(ctx context.Context, owner jid.JID, node string) (NodeConfig, error) {
	tx := newTx(ctx, s, owner)
	return tx.existingNode(node)
}

// ownedNode reads the node attribute of el and the configuration of
// that node of owner.
func (s *Service) ownedNode(ctx context.Context, owner jid.JID, el *xml.Element) (string, NodeConfig, error) {
	node, err := nodeAttr(el)
	if err != nil {
		return "", NodeConfig{}, err
	}
	cfg, err := s.nodeConfig(ctx, owner, node)
	return node, cfg, err
}

func (s *Service) configureForm(ctx context.Context, owner jid.JID, el *xml.Element) (*xml.Element, error) {
	node, cfg, err := s.ownedNode(ctx, owner, el)
	if err != nil {
		return nil, err
	}
	return xml.New(NSOwner, "pubsub").Append(
		xml.New(NSOwner, "configure", "node", node).Append(configForm(&cfg, dataform.TypeForm).Element())), nil
}

// configure applies a submitted configuration form (XEP-0060 section
// 8.2.4); a cancelled form changes nothing.
func (s *Service) configure(ctx context.Context, owner jid.JID, el *xml.Element) error {
	node, err := nodeAttr(el)
	if err != nil {
		return err
	}
	x := dataform.Find(el)
	if x == nil {
		return xmpperr.New(xmpperr.BadRequest, "a configuration form is required")
	}
	if x.Attr("type") == string(dataform.TypeCancel) {
		_, err := s.nodeConfig(ctx, owner, node)
		return err
	}
	form, err := parseOptionsForm(x, FormNodeConfig)
	if err != nil {
		return err
	}
	return s.Update(ctx, owner, func(tx *Tx) error {
		cfg, err := tx.existingNode(node)
		if err != nil {
			return err
		}
		if se := apply(&cfg, form, s.maxItems, true); se != nil {
			return se
		}
		return tx.Configure(node, cfg)
	})
}

// affiliations lists the owner, members and outcasts of a node (XEP-0060
// section 8.9.1).
func (s *Service) affiliations(ctx context.Context, owner jid.JID, el *xml.Element) (*xml.Element, error) {
	node, cfg, err := s.ownedNode(ctx, owner, el)
	if err != nil {
		return nil, err
	}
	affs := xml.New(NSOwner, "affiliations", "node", node)
	add := func(j, aff string) {
		affs.Append(xml.New(NSOwner, "affiliation", "jid", j, "affiliation", aff))
	}
	add(owner.String(), "owner")
	for _, m := range cfg.Members {
		add(m, "member")
	}
	for _, o := range cfg.Outcasts {
		add(o, "outcast")
	}
	return xml.New(NSOwner, "pubsub").Append(affs), nil
}

// setAffiliations changes members and outcasts, which the whitelist
// access model (members) and every model (outcasts) read (XEP-0060
// section 8.9.2). Other affiliations are not offered.
func (s *Service) setAffiliations(ctx context.Context, owner jid.JID, el *xml.Element) error {
	node, err := nodeAttr(el)
	if err != nil {
		return err
	}
	type change struct{ jid, aff string }
	var changes []change
	for _, c := range el.Elements() {
		if c.Space != NSOwner || c.Local != "affiliation" {
			return xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <affiliations/>")
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil || j.IsZero() {
			return xmpperr.New(xmpperr.NotAcceptable, "affiliation for a malformed JID")
		}
		j = j.Bare()
		if j == owner {
			return xmpperr.New(xmpperr.NotAcceptable, "the owner's affiliation cannot change")
		}
		switch a := c.Attr("affiliation"); a {
		case "member", "outcast", "none":
			changes = append(changes, change{j.String(), a})
		default:
			return xmpperr.New(xmpperr.NotAcceptable, "affiliation "+a+" is not supported")
		}
	}
	return s.Update(ctx, owner, func(tx *Tx) error {
		cfg, err := tx.existingNode(node)
		if err != nil {
			return err
		}
		members, outcasts := slices.Clone(cfg.Members), slices.Clone(cfg.Outcasts)
		for _, ch := range changes {
			members = slices.DeleteFunc(members, func(m string) bool { return m == ch.jid })
			outcasts = slices.DeleteFunc(outcasts, func(o string) bool { return o == ch.jid })
			switch ch.aff {
			case "member":
				members = append(members, ch.jid)
			case "outcast":
				outcasts = append(outcasts, ch.jid)
			}
		}
		if len(members) > maxAffiliations || len(outcasts) > maxAffiliations {
			return xmpperr.New(xmpperr.PolicyViolationC, "too many affiliations")
		}
		return tx.setAffiliations(node, members, outcasts)
	})
}
