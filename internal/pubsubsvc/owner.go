package pubsubsvc

import (
	"context"
	"slices"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// owner answers the requests of the pubsub#owner namespace (XEP-0060
// section 8): configuration, the default configuration, deletion,
// purging, affiliations and subscriptions.
func (s *Service) owner(ctx context.Context, req *request) (*xml.Element, error) {
	action, _, err := pubsub.Split(req.payload)
	if err != nil {
		return nil, err
	}
	if action.Local == "default" {
		if err := req.wantType("get"); err != nil {
			return nil, err
		}
		cfg := s.defaultConfig()
		return xml.New(pubsub.NSOwner, "pubsub").Append(
			xml.New(pubsub.NSOwner, "default").Append(s.opts.Form(&cfg, dataform.TypeForm).Element())), nil
	}
	switch action.Local {
	case "configure", "affiliations", "subscriptions":
	case "delete", "purge":
		if err := req.wantType("set"); err != nil {
			return nil, err
		}
	default:
		return nil, xmpperr.New(xmpperr.BadRequest, "unknown pubsub#owner action <"+action.Local+"/>")
	}
	name, err := pubsub.NodeAttr(action)
	if err != nil {
		return nil, err
	}
	n, err := s.locked(name)
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	if !n.rec.isOwner(req.from, req.admin) {
		return nil, xmpperr.New(xmpperr.Forbidden, "only the node's owners may do this")
	}
	switch action.Local {
	case "configure":
		if req.typ == "get" {
			return xml.New(pubsub.NSOwner, "pubsub").Append(
				xml.New(pubsub.NSOwner, "configure", "node", name).Append(s.opts.Form(&n.rec.NodeConfig, dataform.TypeForm).Element())), nil
		}
		return nil, s.configure(ctx, n, action)
	case "delete":
		return nil, s.deleteNode(ctx, n)
	case "purge":
		return nil, s.purge(ctx, n)
	case "affiliations":
		if req.typ == "get" {
			return s.affiliations(n), nil
		}
		return nil, s.setAffiliations(ctx, n, action)
	default: // subscriptions
		if req.typ == "get" {
			return s.subscriptions(n), nil
		}
		return nil, s.setSubscriptions(ctx, n, action)
	}
}

// configure applies a submitted configuration form (XEP-0060 section
// 8.2.4); a cancelled form changes nothing. Lowering max_items drops the
// oldest items, turning persist_items off drops them all.
func (s *Service) configure(ctx context.Context, n *node, el *xml.Element) error {
	x := dataform.Find(el)
	if x == nil {
		return xmpperr.New(xmpperr.BadRequest, "a configuration form is required")
	}
	if x.Attr("type") == string(dataform.TypeCancel) {
		return nil
	}
	form, err := pubsub.ParseOptionsForm(x, pubsub.FormNodeConfig)
	if err != nil {
		return err
	}
	rec := n.rec.clone()
	if se := s.opts.Apply(&rec.NodeConfig, form, true); se != nil {
		return se
	}
	op := storage.PEPOp{Kind: storage.PEPTrimItems, Node: storage.PEPNode{Name: n.name}, MaxItems: rec.EffectiveMax(s.cfg.MaxItems)}
	if !rec.PersistItems {
		op = storage.PEPOp{Kind: storage.PEPPurgeItems, Node: storage.PEPNode{Name: n.name}}
	}
	return s.save(ctx, n, rec, op)
}

// deleteNode removes the node and its items and tells the subscribers
// (XEP-0060 section 8.4).
func (s *Service) deleteNode(ctx context.Context, n *node) error {
	if err := s.remove(ctx, n); err != nil {
		return err
	}
	if n.rec.NotifyDelete {
		s.notifyRecord(ctx, &n.rec, pubsub.DeleteEvent(n.name))
	}
	return nil
}

// purge removes every item and tells the subscribers (XEP-0060 section
// 8.5).
func (s *Service) purge(ctx context.Context, n *node) error {
	if err := s.cfg.Store.ApplyPEP(ctx, s.key, []storage.PEPOp{{Kind: storage.PEPPurgeItems, Node: storage.PEPNode{Name: n.name}}}); err != nil {
		return err
	}
	s.notify(ctx, n, pubsub.PurgeEvent(n.name))
	return nil
}

// affiliations lists the node's affiliations (XEP-0060 section 8.9.1).
func (s *Service) affiliations(n *node) *xml.Element {
	out := xml.New(pubsub.NSOwner, "affiliations", "node", n.name)
	js := make([]string, 0, len(n.rec.Affiliations))
	for j := range n.rec.Affiliations {
		js = append(js, j)
	}
	slices.Sort(js)
	for _, j := range js {
		out.Append(xml.New(pubsub.NSOwner, "affiliation", "jid", j, "affiliation", n.rec.Affiliations[j]))
	}
	return xml.New(pubsub.NSOwner, "pubsub").Append(out)
}

// setAffiliations changes affiliations (XEP-0060 section 8.9.2): owner,
// publisher, member, outcast or none. A node keeps at least one owner; an
// outcast loses its subscriptions.
func (s *Service) setAffiliations(ctx context.Context, n *node, el *xml.Element) error {
	rec := n.rec.clone()
	for _, c := range el.Elements() {
		if c.Space != pubsub.NSOwner || c.Local != "affiliation" {
			return xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <affiliations/>")
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil || j.IsZero() {
			return xmpperr.New(xmpperr.NotAcceptable, "affiliation for a malformed JID")
		}
		b := j.Bare().String()
		switch a := c.Attr("affiliation"); a {
		case affOwner, affPublisher, affMember, affOutcast:
			rec.Affiliations[b] = a
			if a == affOutcast {
				rec.Subscriptions = slices.DeleteFunc(rec.Subscriptions, func(sub subscription) bool {
					sj, err := jid.Parse(sub.JID)
					return err == nil && sj.Bare().String() == b
				})
			}
		case affNone:
			delete(rec.Affiliations, b)
		default:
			return xmpperr.New(xmpperr.NotAcceptable, "affiliation "+a+" is not supported")
		}
	}
	if len(rec.owners()) == 0 {
		return xmpperr.New(xmpperr.NotAcceptable, "a node keeps at least one owner")
	}
	if len(rec.Affiliations) > maxAffiliations {
		return xmpperr.New(xmpperr.PolicyViolationC, "too many affiliations")
	}
	return s.save(ctx, n, rec)
}

// subscriptions lists the node's subscriptions (XEP-0060 section
// 8.8.1).
func (s *Service) subscriptions(n *node) *xml.Element {
	out := xml.New(pubsub.NSOwner, "subscriptions", "node", n.name)
	for _, sub := range n.rec.Subscriptions {
		out.Append(xml.New(pubsub.NSOwner, "subscription", "jid", sub.JID, "subscription", sub.state()))
	}
	return xml.New(pubsub.NSOwner, "pubsub").Append(out)
}

// setSubscriptions changes subscriptions (XEP-0060 section 8.8.2):
// subscribed adds one, none removes it.
func (s *Service) setSubscriptions(ctx context.Context, n *node, el *xml.Element) error {
	rec := n.rec.clone()
	for _, c := range el.Elements() {
		if c.Space != pubsub.NSOwner || c.Local != "subscription" {
			return xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <subscriptions/>")
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil || j.IsZero() {
			return xmpperr.New(xmpperr.NotAcceptable, "subscription for a malformed JID")
		}
		i := rec.subscribed(j.String())
		switch c.Attr("subscription") {
		case "subscribed":
			switch {
			case i >= 0:
				// Approves a pending request (XEP-0060 section 8.8.2).
				rec.Subscriptions[i].Pending = false
			case rec.affiliation(j) == affOutcast:
				return xmpperr.New(xmpperr.NotAcceptable, j.String()+" is an outcast")
			default:
				rec.Subscriptions = append(rec.Subscriptions, subscription{JID: j.String()})
			}
		case "none":
			if i >= 0 {
				rec.Subscriptions = slices.Delete(rec.Subscriptions, i, i+1)
			}
		default:
			return xmpperr.New(xmpperr.NotAcceptable, "subscription state "+c.Attr("subscription")+" is not supported")
		}
	}
	if len(rec.Subscriptions) > s.cfg.MaxSubscriptions {
		return xmpperr.New(xmpperr.PolicyViolationC, "too many subscriptions")
	}
	return s.save(ctx, n, rec)
}
