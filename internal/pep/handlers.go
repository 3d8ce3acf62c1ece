package pep

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Bounds of one request.
const (
	maxNodeName = 1024 // bytes of a node name
	maxItemID   = 1024 // bytes of an item id
	maxIDsAsked = 1000 // item ids in one retrieval or retract
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

// split returns the one action element of a <pubsub/> request and its
// companion (publish-options with publish, configure with create).
func split(p *xml.Element, companions ...string) (action, extra *xml.Element, err error) {
	for _, c := range p.Elements() {
		if c.Space != p.Space {
			return nil, nil, xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <pubsub/>")
		}
		if isCompanion(c.Local, companions) {
			if extra != nil {
				return nil, nil, xmpperr.New(xmpperr.BadRequest, "<"+c.Local+"/> given twice")
			}
			extra = c
			continue
		}
		if action != nil {
			return nil, nil, xmpperr.New(xmpperr.BadRequest, "one action per request")
		}
		action = c
	}
	if action == nil {
		return nil, nil, xmpperr.New(xmpperr.BadRequest, "no action in <pubsub/>")
	}
	return action, extra, nil
}

func isCompanion(local string, companions []string) bool {
	for _, c := range companions {
		if c == local {
			return true
		}
	}
	return false
}

// nodeAttr returns the node an action names.
func nodeAttr(el *xml.Element) (string, error) {
	node := el.Attr("node")
	switch {
	case node == "":
		return "", nodeIDRequired()
	case len(node) > maxNodeName:
		return "", xmpperr.New(xmpperr.BadRequest, "node name too long")
	}
	return node, nil
}

func wantType(req iq.Request, typ string) error {
	if req.Type != typ {
		return xmpperr.New(xmpperr.BadRequest, "this request is an iq of type "+typ)
	}
	return nil
}

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
	node, err := nodeAttr(el)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range el.Elements() {
		if c.Space != NS || c.Local != "item" {
			continue
		}
		id := c.Attr("id")
		if id == "" {
			return nil, xmpperr.New(xmpperr.BadRequest, "an <item/> to retrieve needs an id")
		}
		ids = append(ids, id)
	}
	if len(ids) > maxIDsAsked {
		return nil, xmpperr.New(xmpperr.BadRequest, fmt.Sprintf("at most %d items per request", maxIDsAsked))
	}
	max := 0
	if v := el.Attr("max_items"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 1 {
			return nil, xmpperr.New(xmpperr.BadRequest, "max_items must be a positive number")
		}
	}
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
	case len(ids) > 0:
		stored, err = s.store.PEPItemsByID(ctx, owner.Local, node, ids)
	default:
		stored, err = s.store.PEPItems(ctx, owner.Local, node, max)
	}
	if err != nil {
		return nil, fmt.Errorf("pep: items of %s node %s: %w", owner, node, err)
	}
	items := xml.New(NS, "items", "node", node)
	for _, it := range s.decodeItems(owner, node, stored) {
		e := xml.New(NS, "item", "id", it.ID)
		if it.Payload != nil {
			e.Append(it.Payload)
		}
		items.Append(e)
	}
	return xml.New(NS, "pubsub").Append(items), nil
}

// publish stores an item (XEP-0060 section 7.1, XEP-0163 section 3),
// creating the node when it does not exist (auto-create).
func (s *Service) publish(ctx context.Context, req iq.Request, el, opts *xml.Element) (*xml.Element, error) {
	owner := ownerOf(req.To)
	node, err := nodeAttr(el)
	if err != nil {
		return nil, err
	}
	var items []*xml.Element
	for _, c := range el.Elements() {
		if c.Space != NS || c.Local != "item" {
			return nil, xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <publish/>")
		}
		items = append(items, c)
	}
	switch {
	case len(items) == 0:
		return nil, itemRequired()
	case len(items) > 1:
		return nil, invalidPayload("publish one item per request")
	}
	item := items[0]
	id := item.Attr("id")
	if len(id) > maxItemID {
		return nil, xmpperr.New(xmpperr.BadRequest, "item id too long")
	}
	payload, err := onePayload(item)
	if err != nil {
		return nil, err
	}
	if n := len(payload.AppendXML(nil, "")); n > s.maxPayload {
		return nil, Error(xmpperr.NotAcceptable, "payload-too-big",
			fmt.Sprintf("the payload has %d bytes, more than the %d allowed", n, s.maxPayload))
	}
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
				if se := cfg.check(form, s.maxItems); se != nil {
					return se
				}
			}
		} else {
			cfg = s.defaultConfig(node)
			if form != nil {
				if se := cfg.apply(form, s.maxItems, false); se != nil {
					return se
				}
			}
		}
		return tx.Publish(node, Item{ID: id, Publisher: owner.String(), Payload: payload.Clone()}, &cfg)
	})
	if err != nil {
		return nil, err
	}
	return xml.New(NS, "pubsub").Append(
		xml.New(NS, "publish", "node", node).Append(xml.New(NS, "item", "id", id))), nil
}

// onePayload returns the single payload element of an item.
func onePayload(item *xml.Element) (*xml.Element, error) {
	var payload *xml.Element
	for _, c := range item.Children {
		if c.Elem == nil {
			if strings.TrimSpace(c.Text) != "" {
				return nil, invalidPayload("an item's payload is one element, not text")
			}
			continue
		}
		if payload != nil {
			return nil, invalidPayload("an item has one payload element")
		}
		payload = c.Elem
	}
	if payload == nil {
		return nil, Error(xmpperr.BadRequest, "payload-required", "the item has no payload")
	}
	return payload, nil
}

// retract removes items (XEP-0060 section 7.2).
func (s *Service) retract(ctx context.Context, req iq.Request, el *xml.Element) error {
	owner := ownerOf(req.To)
	node, err := nodeAttr(el)
	if err != nil {
		return err
	}
	var ids []string
	for _, c := range el.Elements() {
		if c.Space != NS || c.Local != "item" {
			return xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <retract/>")
		}
		id := c.Attr("id")
		if id == "" {
			return itemRequired()
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return itemRequired()
	}
	if len(ids) > maxIDsAsked {
		return xmpperr.New(xmpperr.BadRequest, fmt.Sprintf("at most %d items per request", maxIDsAsked))
	}
	var notify *bool
	switch v := el.Attr("notify"); v {
	case "":
	case "true", "1", "false", "0":
		b := v == "true" || v == "1"
		notify = &b
	default:
		return xmpperr.New(xmpperr.BadRequest, "notify is a boolean")
	}
	return s.Update(ctx, owner, func(tx *Tx) error {
		cfg, err := tx.existingNode(node)
		if err != nil {
			return err
		}
		n := cfg.NotifyRetract
		if notify != nil {
			n = *notify
		}
		for _, id := range ids {
			if err := tx.Retract(node, id, n); err != nil {
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
	if len(node) > maxNodeName {
		return xmpperr.New(xmpperr.BadRequest, "node name too long")
	}
	cfg := s.defaultConfig(node)
	if configure != nil {
		if x := dataform.Find(configure); x != nil {
			form, err := parseOptionsForm(x, FormNodeConfig)
			if err != nil {
				return err
			}
			if se := cfg.apply(form, s.maxItems, true); se != nil {
				return se
			}
		}
	}
	return s.Update(ctx, owner, func(tx *Tx) error { return tx.Create(node, cfg) })
}
