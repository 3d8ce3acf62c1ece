package pep

import (
	"context"
	"errors"
	"fmt"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/pubsub"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// unsupportedActions are the XEP-0060 requests PEP does not offer, with
// the feature their <unsupported/> error names. Subscriptions are implicit
// in PEP (XEP-0163 section 4): interest comes from entity capabilities.
var unsupportedActions = map[string]string{
	"subscribe":     "subscribe",
	"unsubscribe":   "subscribe",
	"subscriptions": "retrieve-subscriptions",
	"affiliations":  "retrieve-affiliations",
	"options":       "subscription-options",
	"default":       "retrieve-default-sub",
}

// The request parsing PEP shares with the generic pubsub service.
var (
	split    = pubsub.Split
	nodeAttr = pubsub.NodeAttr
	wantType = pubsub.WantType
)

func (s *Service) pubsubSelf(ctx context.Context, req iq.Request) (*xml.Element, error) {
	return s.pubsub(ctx, req, true)
}

func (s *Service) pubsubOther(ctx context.Context, req iq.Request) (*xml.Element, error) {
	return s.pubsub(ctx, req, false)
}

func (s *Service) pubsub(ctx context.Context, req iq.Request, self bool) (*xml.Element, error) {
	action, extra, err := split(req.Payload, "publish-options", "configure")
	if err != nil {
		return nil, err
	}
	if extra != nil && !(extra.Local == "publish-options" && action.Local == "publish" ||
		extra.Local == "configure" && action.Local == "create") {
		return nil, xmpperr.New(xmpperr.BadRequest, "<"+extra.Local+"/> does not go with <"+action.Local+"/>")
	}
	switch action.Local {
	case "items":
		if err := wantType(req, "get"); err != nil {
			return nil, err
		}
		return s.items(ctx, req, action)
	case "publish", "retract", "create":
		if err := wantType(req, "set"); err != nil {
			return nil, err
		}
		if !self {
			return nil, forbidden("only the account may change its nodes")
		}
		switch action.Local {
		case "publish":
			return s.publish(ctx, req, action, extra)
		case "retract":
			return nil, s.retract(ctx, req, action)
		default:
			return nil, s.create(ctx, req, action, extra)
		}
	}
	if f, ok := unsupportedActions[action.Local]; ok {
		return nil, unsupported(f)
	}
	return nil, xmpperr.New(xmpperr.BadRequest, "unknown pubsub action <"+action.Local+"/>")
}

// items answers a retrieval (XEP-0060 section 6.5), from the account or
// from anyone the node's access model admits.
func (s *Service) items(ctx context.Context, req iq.Request, el *xml.Element) (*xml.Element, error) {
	owner := ownerOf(req.To)
	r, err := pubsub.ParseItems(el)
	if err != nil {
		return nil, err
	}
	node := r.Node
	sn, err := s.store.PEPNode(ctx, owner.Local, node)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nodeNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("pep: node %s of %s: %w", node, owner, err)
	}
	cfg, err := unmarshalConfig(sn.Config)
	if err != nil {
		return nil, err
	}
	if se := s.newAccess(ctx, owner).check(req.From, &cfg); se != nil {
		return nil, se
	}
	var stored []storage.PEPItem
	switch {
	case !cfg.PersistItems:
	case len(r.IDs) > 0:
		stored, err = s.store.PEPItemsByID(ctx, owner.Local, node, r.IDs)
	default:
		stored, err = s.store.PEPItems(ctx, owner.Local, node, r.Max)
	}
	if err != nil {
		return nil, fmt.Errorf("pep: items of %s node %s: %w", owner, node, err)
	}
	return pubsub.ItemsResult(node, s.decodeItems(owner, node, stored)), nil
}

// publish stores an item (XEP-0060 section 7.1, XEP-0163 section 3),
// creating the node when it does not exist (auto-create).
func (s *Service) publish(ctx context.Context, req iq.Request, el, opts *xml.Element) (*xml.Element, error) {
	owner := ownerOf(req.To)
	r, err := pubsub.ParsePublish(el, s.maxPayload)
	if err != nil {
		return nil, err
	}
	node, id, payload := r.Node, r.ID, r.Payload
	var form *dataform.Form
	if opts != nil {
		if form, err = parseOptionsForm(dataform.Find(opts), FormPublishOptions, FormNodeConfig); err != nil {
			return nil, err
		}
	}
	if id == "" {
		id = newID()
	}
	err = s.Update(ctx, owner, func(tx *Tx) error {
		cfg, exists, err := tx.Node(node)
		if err != nil {
			return err
		}
		if exists {
			if form != nil {
				if se := check(&cfg, form, s.maxItems); se != nil {
					return se
				}
			}
		} else {
			cfg = s.defaultConfig(node)
			if form != nil {
				if se := apply(&cfg, form, s.maxItems, false); se != nil {
					return se
				}
			}
		}
		return tx.Publish(node, Item{ID: id, Publisher: owner.String(), Payload: payload.Clone()}, &cfg)
	})
	if err != nil {
		return nil, err
	}
	return pubsub.PublishResult(node, id), nil
}

// retract removes items (XEP-0060 section 7.2).
func (s *Service) retract(ctx context.Context, req iq.Request, el *xml.Element) error {
	owner := ownerOf(req.To)
	r, err := pubsub.ParseRetract(el)
	if err != nil {
		return err
	}
	return s.Update(ctx, owner, func(tx *Tx) error {
		cfg, err := tx.existingNode(r.Node)
		if err != nil {
			return err
		}
		n := cfg.NotifyRetract
		if r.Notify != nil {
			n = *r.Notify
		}
		for _, id := range r.IDs {
			if err := tx.Retract(r.Node, id, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// create makes a node, configured by an optional form (XEP-0060 sections
// 8.1.1 and 8.1.3). PEP has no instant nodes.
func (s *Service) create(ctx context.Context, req iq.Request, el, configure *xml.Element) error {
	owner := ownerOf(req.To)
	node := el.Attr("node")
	if node == "" {
		return Error(xmpperr.NotAcceptable, "nodeid-required", "PEP nodes need a name")
	}
	if len(node) > pubsub.MaxNodeName {
		return xmpperr.New(xmpperr.BadRequest, "node name too long")
	}
	cfg := s.defaultConfig(node)
	if configure != nil {
		if x := dataform.Find(configure); x != nil {
			form, err := parseOptionsForm(x, FormNodeConfig)
			if err != nil {
				return err
			}
			if se := apply(&cfg, form, s.maxItems, true); se != nil {
				return se
			}
		}
	}
	return s.Update(ctx, owner, func(tx *Tx) error { return tx.Create(node, cfg) })
}
