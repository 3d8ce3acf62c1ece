package pubsubsvc

import (
	"context"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// FormSubscribeAuthorization is the FORM_TYPE of the form that asks a
// node's owners to approve a subscription (XEP-0060 section 8.6).
const FormSubscribeAuthorization = pubsub.NS + "#subscribe_authorization"

// authorizationRequests returns the messages that ask each owner of n to
// approve who's subscription (XEP-0060 section 8.6); n.mu is held.
func (s *Service) authorizationRequests(n *node, who jid.JID) []*xml.Element {
	var out []*xml.Element
	for _, o := range n.rec.owners() {
		f := dataform.New(dataform.TypeForm, FormSubscribeAuthorization,
			dataform.Field{Var: "pubsub#node", Type: dataform.TextSingle, Label: "Node ID", Values: []string{n.name}},
			dataform.Field{Var: "pubsub#subscriber_jid", Type: dataform.JIDSingle, Label: "Subscriber Address", Values: []string{who.String()}},
			dataform.Field{Var: "pubsub#allow", Type: dataform.Boolean, Label: "Allow this JID to subscribe to this pubsub node?", Values: []string{"0"}},
		)
		f.Title = "PubSub subscriber request"
		f.Instructions = []string{"To approve this entity's subscription request, submit the form with pubsub#allow true; to deny it, with false."}
		m := xml.New(xml.NSClient, stanza.Message, "from", s.domain.Domain, "to", o, "id", pubsub.NewID())
		out = append(out, m.Append(f.Element()))
	}
	return out
}

// onMessage handles a message to the service: an owner's answer to a
// subscription request (XEP-0060 section 8.6), a submitted
// pubsub#subscribe_authorization form. Anything else is
// service-unavailable.
func (s *Service) onMessage(ctx context.Context, el *xml.Element, from jid.JID) error {
	x := dataform.Find(el)
	if x == nil {
		return xmpperr.New(xmpperr.ServiceUnavailable, "the pubsub service takes no messages but answers to subscription requests")
	}
	f, err := pubsub.ParseOptionsForm(x, FormSubscribeAuthorization)
	if err != nil || f.FormType() != FormSubscribeAuthorization {
		if dataform.Type(x.Attr("type")) == dataform.TypeCancel {
			return nil // an owner who closed the form without answering
		}
		return xmpperr.New(xmpperr.BadRequest, "expected a submitted "+FormSubscribeAuthorization+" form")
	}
	who, err := jid.Parse(f.Value("pubsub#subscriber_jid"))
	if err != nil || who.IsZero() {
		return xmpperr.New(xmpperr.BadRequest, "pubsub#subscriber_jid is not a JID")
	}
	allow, err := dataform.ParseBool(f.Value("pubsub#allow"))
	if err != nil {
		return xmpperr.New(xmpperr.BadRequest, "pubsub#allow is a boolean")
	}
	n, err := s.locked(f.Value("pubsub#node"))
	if err != nil {
		return err
	}
	defer n.mu.Unlock()
	if !n.rec.isOwner(from, s.isAdmin(from)) {
		return xmpperr.New(xmpperr.Forbidden, "only the node's owners approve subscriptions")
	}
	rec := n.rec.clone()
	i := rec.subscribed(who.String())
	if i < 0 || !rec.Subscriptions[i].Pending {
		// Answered already (by another owner), or withdrawn.
		return nil
	}
	state := "subscribed"
	if allow {
		rec.Subscriptions[i].Pending = false
	} else {
		rec.Subscriptions = append(rec.Subscriptions[:i], rec.Subscriptions[i+1:]...)
		state = "none"
	}
	if err := s.save(ctx, n, rec); err != nil {
		return err
	}
	s.subscriptionChanged(ctx, n, who, state)
	return nil
}

// subscriptionChanged tells who that an owner approved (subscribed) or
// denied (none) its subscription (XEP-0060 section 8.6, the
// subscription-notifications feature).
func (s *Service) subscriptionChanged(ctx context.Context, n *node, who jid.JID, state string) {
	ev := xml.New(pubsub.NSEvent, "event").Append(subscriptionElement(pubsub.NSEvent, n.name, who.String(), state))
	m := xml.New(xml.NSClient, stanza.Message, "from", s.domain.Domain, "to", who.String(), "id", pubsub.NewID())
	s.cfg.Router.Route(ctx, m.Append(ev), s.domain, who)
}
