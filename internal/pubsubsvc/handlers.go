package pubsubsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// wantType refuses a request that is not an iq of type typ.
func (req *request) wantType(typ string) error {
	if req.typ != typ {
		return xmpperr.New(xmpperr.BadRequest, "this request is an iq of type "+typ)
	}
	return nil
}

// pubsub answers the requests of the pubsub namespace (XEP-0060
// sections 6 and 7, and creation, 8.1).
func (s *Service) pubsub(ctx context.Context, req *request) (*xml.Element, error) {
	companions := []string{"publish-options", "configure"}
	if req.payload.Child(pubsub.NS, "subscribe") != nil {
		// <options/> goes with <subscribe/> (XEP-0060 section 6.3.7)
		// and is a request of its own otherwise.
		companions = append(companions, "options")
	}
	action, extra, err := pubsub.Split(req.payload, companions...)
	if err != nil {
		return nil, err
	}
	if extra != nil && !(extra.Local == "publish-options" && action.Local == "publish" ||
		extra.Local == "configure" && action.Local == "create" ||
		extra.Local == "options" && action.Local == "subscribe") {
		return nil, xmpperr.New(xmpperr.BadRequest, "<"+extra.Local+"/> does not go with <"+action.Local+"/>")
	}
	get := map[string]bool{"items": true, "subscriptions": true, "affiliations": true, "default": true}
	switch action.Local {
	case "create", "publish", "retract", "subscribe", "unsubscribe":
		if err := req.wantType("set"); err != nil {
			return nil, err
		}
	case "options":
	default:
		if !get[action.Local] {
			return nil, xmpperr.New(xmpperr.BadRequest, "unknown pubsub action <"+action.Local+"/>")
		}
		if err := req.wantType("get"); err != nil {
			return nil, err
		}
	}
	switch action.Local {
	case "create":
		return s.createNode(ctx, req, action, extra)
	case "publish":
		return s.publish(ctx, req, action, extra)
	case "retract":
		return nil, s.retract(ctx, req, action)
	case "subscribe":
		return s.subscribe(ctx, req, action, extra)
	case "unsubscribe":
		return nil, s.unsubscribe(ctx, req, action)
	case "items":
		return s.items(ctx, req, action)
	case "subscriptions":
		return s.ownSubscriptions(req, action)
	case "affiliations":
		return s.ownAffiliations(req, action)
	case "default":
		return xml.New(pubsub.NS, "pubsub").Append(
			xml.New(pubsub.NS, "default").Append(subscribeOptions(subscription{}, dataform.TypeForm).Element())), nil
	default: // options
		return s.options(ctx, req, action)
	}
}

// createNode creates a node (XEP-0060 section 8.1), an instant node when
// it names none, configured by an optional form.
func (s *Service) createNode(ctx context.Context, req *request, el, configure *xml.Element) (*xml.Element, error) {
	name := el.Attr("node")
	instant := name == ""
	if instant {
		name = pubsub.NewID()
	}
	if len(name) > pubsub.MaxNodeName {
		return nil, xmpperr.New(xmpperr.NotAcceptable, "node name too long")
	}
	cfg := s.defaultConfig()
	if configure != nil {
		if x := dataform.Find(configure); x != nil {
			form, err := pubsub.ParseOptionsForm(x, pubsub.FormNodeConfig)
			if err != nil {
				return nil, err
			}
			if se := s.opts.Apply(&cfg, form, true); se != nil {
				return nil, se
			}
		}
	}
	n, err := s.create(ctx, name, req.from, cfg)
	if err != nil {
		return nil, err
	}
	n.mu.Unlock()
	s.log.Debug("pubsub: node created", "node", name, "owner", req.from.Bare().String())
	if instant {
		return xml.New(pubsub.NS, "pubsub").Append(xml.New(pubsub.NS, "create", "node", name)), nil
	}
	return nil, nil
}

// publish stores an item and notifies the subscribers (XEP-0060 section
// 7.1), creating the node when it does not exist and the publisher may
// create nodes (auto-create, 7.1.4).
func (s *Service) publish(ctx context.Context, req *request, el, opts *xml.Element) (*xml.Element, error) {
	r, err := pubsub.ParsePublish(el, s.cfg.MaxPayloadBytes)
	if err != nil {
		return nil, err
	}
	var form *dataform.Form
	if opts != nil {
		if form, err = pubsub.ParseOptionsForm(dataform.Find(opts), pubsub.FormPublishOptions, pubsub.FormNodeConfig); err != nil {
			return nil, err
		}
	}
	n, err := s.locked(r.Node)
	if isCondition(err, xmpperr.ItemNotFound) && s.mayCreate(req.from) {
		cfg := s.defaultConfig()
		if form != nil {
			if se := s.opts.Apply(&cfg, form, false); se != nil {
				return nil, se
			}
		}
		n, err = s.create(ctx, r.Node, req.from, cfg)
		if isCondition(err, xmpperr.ConflictC) {
			// Created meanwhile by another request: publish to it.
			n, err = s.locked(r.Node)
			form = nil
		}
	} else if err == nil && form != nil {
		if se := s.opts.Check(&n.rec.NodeConfig, form); se != nil {
			n.mu.Unlock()
			return nil, se
		}
	}
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	if !n.rec.mayPublish(req.from, req.admin) {
		return nil, xmpperr.New(xmpperr.Forbidden, "you may not publish to this node")
	}
	it := pubsub.Item{ID: r.ID, Publisher: req.from.Bare().String(), Stamp: s.now(), Payload: r.Payload.Clone()}
	if it.ID == "" {
		it.ID = pubsub.NewID()
	}
	if n.rec.PersistItems {
		op := storage.PEPOp{Kind: storage.PEPPutItem, Node: storage.PEPNode{Name: n.name}, Item: pubsub.StoredItem(it),
			MaxItems: n.rec.EffectiveMax(s.cfg.MaxItems)}
		if err := s.cfg.Store.ApplyPEP(ctx, s.key, []storage.PEPOp{op}); err != nil {
			return nil, fmt.Errorf("pubsubsvc: publish to %s: %w", n.name, err)
		}
	}
	s.notify(ctx, n, pubsub.ItemsEvent(n.name, pubsub.EventItem(it, it.Publisher, n.rec.DeliverPayloads)))
	return pubsub.PublishResult(n.name, it.ID), nil
}

// retract removes items (XEP-0060 section 7.2): an owner any, a
// publisher its own.
func (s *Service) retract(ctx context.Context, req *request, el *xml.Element) error {
	r, err := pubsub.ParseRetract(el)
	if err != nil {
		return err
	}
	n, err := s.locked(r.Node)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	owner := n.rec.isOwner(req.from, req.admin)
	if !owner && !n.rec.mayPublish(req.from, req.admin) {
		return xmpperr.New(xmpperr.Forbidden, "you may not retract items of this node")
	}
	stored, err := s.cfg.Store.PEPItemsByID(ctx, s.key, n.name, r.IDs)
	if err != nil {
		return fmt.Errorf("pubsubsvc: items of %s: %w", n.name, err)
	}
	var ops []storage.PEPOp
	var retracts []*xml.Element
	for _, id := range r.IDs {
		i := slices.IndexFunc(stored, func(it storage.PEPItem) bool { return it.ID == id })
		if i < 0 {
			return xmpperr.New(xmpperr.ItemNotFound, "no such item")
		}
		if !owner && stored[i].Publisher != req.from.Bare().String() {
			return xmpperr.New(xmpperr.Forbidden, "only an owner or its publisher may retract item "+id)
		}
		ops = append(ops, storage.PEPOp{Kind: storage.PEPDeleteItem, Node: storage.PEPNode{Name: n.name}, Item: storage.PEPItem{ID: id}})
		retracts = append(retracts, pubsub.RetractEvent(id))
	}
	if err := s.cfg.Store.ApplyPEP(ctx, s.key, ops); err != nil {
		return fmt.Errorf("pubsubsvc: retract from %s: %w", n.name, err)
	}
	notify := n.rec.NotifyRetract
	if r.Notify != nil {
		notify = *r.Notify
	}
	if notify {
		s.notify(ctx, n, pubsub.ItemsEvent(n.name, retracts...))
	}
	return nil
}

// items answers a retrieval (XEP-0060 section 6.5).
func (s *Service) items(ctx context.Context, req *request, el *xml.Element) (*xml.Element, error) {
	r, err := pubsub.ParseItems(el)
	if err != nil {
		return nil, err
	}
	n, err := s.locked(r.Node)
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	if err := n.rec.access(req.from, req.admin); err != nil {
		return nil, err
	}
	var stored []storage.PEPItem
	switch {
	case !n.rec.PersistItems:
	case len(r.IDs) > 0:
		stored, err = s.cfg.Store.PEPItemsByID(ctx, s.key, n.name, r.IDs)
	default:
		stored, err = s.cfg.Store.PEPItems(ctx, s.key, n.name, r.Max)
	}
	if err != nil {
		return nil, fmt.Errorf("pubsubsvc: items of %s: %w", n.name, err)
	}
	return pubsub.ItemsResult(n.name, s.decode(n.name, stored)), nil
}

func (s *Service) decode(name string, stored []storage.PEPItem) []pubsub.Item {
	return pubsub.DecodeItems(stored, func(id string, err error) {
		s.log.Error("pubsub: stored item unreadable", "node", name, "item", id, "err", err)
	})
}

// subscriber reads the jid attribute of a subscribe, unsubscribe or
// options request: the requester's bare or full JID (XEP-0060 section
// 6.1.3.1, bad-request with invalid-jid otherwise).
func subscriber(req *request, el *xml.Element) (jid.JID, error) {
	j, err := jid.Parse(el.Attr("jid"))
	if err != nil || j.IsZero() || j.Bare() != req.from.Bare() {
		return jid.JID{}, pubsub.Error(xmpperr.BadRequest, "invalid-jid", "the JID must be your own")
	}
	return j, nil
}

// subscribe subscribes the requester (XEP-0060 section 6.1), with
// subscription options when given (6.3.7); the node's last item follows
// the result when send_last_published_item says so (6.1.7).
func (s *Service) subscribe(ctx context.Context, req *request, el, opts *xml.Element) (*xml.Element, error) {
	name, err := pubsub.NodeAttr(el)
	if err != nil {
		return nil, err
	}
	who, err := subscriber(req, el)
	if err != nil {
		return nil, err
	}
	n, err := s.locked(name)
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	rec := n.rec.clone()
	sub := subscription{JID: who.String()}
	i := rec.subscribed(sub.JID)
	if i >= 0 {
		sub = rec.Subscriptions[i]
	}
	// On an authorize node, anyone but an outcast may ask; an owner
	// decides (XEP-0060 section 6.1.2). Elsewhere the access model does.
	ask := rec.AccessModel == pubsub.AccessAuthorize && !req.admin && !rec.affiliated(req.from)
	switch {
	case ask && rec.affiliation(req.from) == affOutcast:
		return nil, xmpperr.New(xmpperr.Forbidden, "you are blocked from this node")
	case ask:
		sub.Pending = i < 0 || sub.Pending
	default:
		if err := rec.access(req.from, req.admin); err != nil {
			return nil, err
		}
		sub.Pending = false
	}
	if opts != nil {
		if sub, err = applySubscribeOptions(sub, dataform.Find(opts)); err != nil {
			return nil, err
		}
	}
	if i >= 0 {
		rec.Subscriptions[i] = sub
	} else {
		if len(rec.Subscriptions) >= s.cfg.MaxSubscriptions {
			return nil, xmpperr.New(xmpperr.PolicyViolationC, fmt.Sprintf("the node has its %d subscribers", s.cfg.MaxSubscriptions))
		}
		rec.Subscriptions = append(rec.Subscriptions, sub)
	}
	if err := s.save(ctx, n, rec); err != nil {
		return nil, err
	}
	switch {
	case sub.Pending && i < 0:
		req.after = append(req.after, s.authorizationRequests(n, who)...)
	case i < 0 && n.rec.SendLastPublishedItem != pubsub.SendLastNever && n.rec.DeliverNotifications && !sub.NoDeliver:
		if m, err := s.lastItem(ctx, n, who); err != nil {
			s.log.Error("pubsub: last item not sent", "node", n.name, "to", who.String(), "err", err)
		} else if m != nil {
			req.after = append(req.after, m)
		}
	}
	return xml.New(pubsub.NS, "pubsub").Append(subscriptionElement(pubsub.NS, n.name, sub.JID, sub.state())), nil
}

func subscriptionElement(space, node, j, state string) *xml.Element {
	e := xml.New(space, "subscription", "jid", j, "subscription", state)
	e.SetAttr("node", node)
	return e
}

// unsubscribe ends the requester's subscription (XEP-0060 section 6.2).
func (s *Service) unsubscribe(ctx context.Context, req *request, el *xml.Element) error {
	name, err := pubsub.NodeAttr(el)
	if err != nil {
		return err
	}
	who, err := subscriber(req, el)
	if err != nil {
		return err
	}
	n, err := s.locked(name)
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	rec := n.rec.clone()
	i := rec.subscribed(who.String())
	if i < 0 {
		return pubsub.Error(xmpperr.UnexpectedRequest, "not-subscribed", "you are not subscribed")
	}
	rec.Subscriptions = slices.Delete(rec.Subscriptions, i, i+1)
	return s.save(ctx, n, rec)
}

// ownSubscriptions lists the requester's subscriptions (XEP-0060 section
// 5.6), of one node when it names one.
func (s *Service) ownSubscriptions(req *request, el *xml.Element) (*xml.Element, error) {
	only := el.Attr("node")
	out := xml.New(pubsub.NS, "subscriptions")
	out.SetAttr("node", only)
	bare := req.from.Bare()
	for _, n := range s.all() {
		if only != "" && n.name != only {
			continue
		}
		n.mu.Lock()
		for _, sub := range n.rec.Subscriptions {
			if j, err := jid.Parse(sub.JID); err == nil && j.Bare() == bare {
				out.Append(subscriptionElement(pubsub.NS, n.name, sub.JID, sub.state()))
			}
		}
		n.mu.Unlock()
	}
	return xml.New(pubsub.NS, "pubsub").Append(out), nil
}

// ownAffiliations lists the requester's affiliations (XEP-0060 section
// 5.7).
func (s *Service) ownAffiliations(req *request, el *xml.Element) (*xml.Element, error) {
	only := el.Attr("node")
	out := xml.New(pubsub.NS, "affiliations")
	out.SetAttr("node", only)
	for _, n := range s.all() {
		if only != "" && n.name != only {
			continue
		}
		n.mu.Lock()
		if a := n.rec.affiliation(req.from); a != affNone {
			out.Append(xml.New(pubsub.NS, "affiliation", "node", n.name, "affiliation", a))
		}
		n.mu.Unlock()
	}
	return xml.New(pubsub.NS, "pubsub").Append(out), nil
}

// subscribeOptions renders the subscription options form (XEP-0060
// section 6.3): pubsub#deliver is the one option offered.
func subscribeOptions(sub subscription, typ dataform.Type) *dataform.Form {
	return dataform.New(typ, pubsub.FormSubscribeOptions,
		dataform.Field{Var: "pubsub#deliver", Type: dataform.Boolean, Label: "Enable delivery?", Values: []string{dataform.FormatBool(!sub.NoDeliver)}})
}

// applySubscribeOptions sets the options of a submitted form on sub;
// options the service does not offer are ignored.
func applySubscribeOptions(sub subscription, x *xml.Element) (subscription, error) {
	if x == nil {
		return sub, nil
	}
	f, err := pubsub.ParseOptionsForm(x, pubsub.FormSubscribeOptions)
	if err != nil {
		return sub, pubsub.Error(xmpperr.BadRequest, "invalid-options", err.Error())
	}
	if fl := f.Field("pubsub#deliver"); fl != nil {
		b, err := fl.Bool()
		if err != nil {
			return sub, pubsub.Error(xmpperr.BadRequest, "invalid-options", "pubsub#deliver is a boolean")
		}
		sub.NoDeliver = !b
	}
	return sub, nil
}

// options gets or sets the options of the requester's subscription
// (XEP-0060 sections 6.3.2 and 6.3.5).
func (s *Service) options(ctx context.Context, req *request, el *xml.Element) (*xml.Element, error) {
	name, err := pubsub.NodeAttr(el)
	if err != nil {
		return nil, err
	}
	who, err := subscriber(req, el)
	if err != nil {
		return nil, err
	}
	n, err := s.locked(name)
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	i := n.rec.subscribed(who.String())
	if i < 0 {
		return nil, pubsub.Error(xmpperr.UnexpectedRequest, "not-subscribed", "you are not subscribed")
	}
	if req.typ == "get" {
		o := xml.New(pubsub.NS, "options", "node", name, "jid", who.String())
		return xml.New(pubsub.NS, "pubsub").Append(o.Append(subscribeOptions(n.rec.Subscriptions[i], dataform.TypeForm).Element())), nil
	}
	x := dataform.Find(el)
	if x == nil {
		return nil, pubsub.Error(xmpperr.BadRequest, "invalid-options", "a form is required")
	}
	rec := n.rec.clone()
	if rec.Subscriptions[i], err = applySubscribeOptions(rec.Subscriptions[i], x); err != nil {
		return nil, err
	}
	return nil, s.save(ctx, n, rec)
}

// lastItem returns the notification of n's newest item for a new
// subscriber, with the delay of XEP-0060 section 6.1.7, or nil when n has
// none; n.mu is held.
func (s *Service) lastItem(ctx context.Context, n *node, to jid.JID) (*xml.Element, error) {
	if !n.rec.PersistItems {
		return nil, nil
	}
	stored, err := s.cfg.Store.PEPItems(ctx, s.key, n.name, 1)
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	it := s.decode(n.name, stored)[0]
	m := pubsub.Message(s.domain.Domain, &n.rec.NodeConfig,
		pubsub.ItemsEvent(n.name, pubsub.EventItem(it, it.Publisher, n.rec.DeliverPayloads)))
	m.SetAttr("to", to.String())
	m.Append(stanza.Delay(s.domain.Domain, pubsub.Stamp(it.Stamp)))
	return m, nil
}

// isCondition reports whether err is a stanza error with condition c.
func isCondition(err error, c xmpperr.Condition) bool {
	se, ok := errors.AsType[*xmpperr.StanzaError](err)
	return ok && se.Condition == c
}
