package pubsubsvc

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/pubsub"
	"minimix/internal/xmpperr"
)

// Affiliations of XEP-0060 section 4.1 the service keeps.
const (
	affOwner     = "owner"
	affPublisher = "publisher"
	affMember    = "member"
	affOutcast   = "outcast"
	affNone      = "none"
)

// maxAffiliations bounds the affiliations of one node.
const maxAffiliations = 1000

// record is what storage keeps of a node: its configuration, its
// affiliations and its subscriptions, as JSON in storage.PEPNode.Config.
type record struct {
	pubsub.NodeConfig
	// Affiliations maps bare JIDs to owner, publisher, member or
	// outcast.
	Affiliations map[string]string `json:"affiliations"`
	// Subscriptions are in the order made.
	Subscriptions []subscription `json:"subscriptions,omitempty"`
}

// subscription is one entity's subscription to a node: at most one per
// JID (so no subid), bare or full as it subscribed.
type subscription struct {
	JID string `json:"jid"`
	// NoDeliver is pubsub#deliver false: subscribed, but no
	// notifications for now (XEP-0060 section 6.3.7).
	NoDeliver bool `json:"no_deliver,omitempty"`
	// Pending is a request to an authorize node that no owner has
	// answered yet (XEP-0060 section 6.1.2): no notifications, no items.
	Pending bool `json:"pending,omitempty"`
}

// state is the subscription attribute of sub.
func (sub subscription) state() string {
	if sub.Pending {
		return "pending"
	}
	return "subscribed"
}

func (r *record) marshal() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("pubsubsvc: marshal node: %v", err)) // plain struct: cannot fail
	}
	return b
}

func unmarshalRecord(b []byte, defaults pubsub.NodeConfig) (record, error) {
	r := record{NodeConfig: defaults}
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("pubsubsvc: stored node: %w", err)
	}
	if r.Affiliations == nil {
		r.Affiliations = make(map[string]string)
	}
	return r, nil
}

// clone returns a copy of r that shares nothing with it.
func (r *record) clone() record {
	c := *r
	c.Affiliations = maps.Clone(r.Affiliations)
	c.Subscriptions = slices.Clone(r.Subscriptions)
	c.Members, c.Outcasts = nil, nil
	return c
}

// node is one node of the service. mu serialises its changes, from the
// decision to the stored record and the notifications, so that they
// happen in one order.
type node struct {
	name string

	mu      sync.Mutex
	rec     record
	deleted bool // removed from the service; a request that found it before gets item-not-found
}

// affiliation returns the affiliation of the bare JID of who.
func (r *record) affiliation(who jid.JID) string {
	if a, ok := r.Affiliations[who.Bare().String()]; ok {
		return a
	}
	return affNone
}

// owners returns the node's owners, sorted.
func (r *record) owners() []string {
	var out []string
	for j, a := range r.Affiliations {
		if a == affOwner {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// subscribed returns the index of who's subscription (by the exact JID
// it subscribed with), or -1.
func (r *record) subscribed(who string) int {
	return slices.IndexFunc(r.Subscriptions, func(s subscription) bool { return s.JID == who })
}

// subscribedBare reports whether any JID of who's bare JID is
// subscribed (pending requests do not count).
func (r *record) subscribedBare(who jid.JID) bool {
	return r.hasBare(who, false)
}

// hasBare reports whether a JID of who's bare JID has a subscription
// that is pending (pending true) or approved (false).
func (r *record) hasBare(who jid.JID, pending bool) bool {
	bare := who.Bare()
	for _, s := range r.Subscriptions {
		if j, err := jid.Parse(s.JID); err == nil && j.Bare() == bare && s.Pending == pending {
			return true
		}
	}
	return false
}

// affiliated reports whether who is an owner, publisher or member.
func (r *record) affiliated(who jid.JID) bool {
	switch r.affiliation(who) {
	case affOwner, affPublisher, affMember:
		return true
	}
	return false
}

// access returns nil when who may see the node's items and subscribe
// (XEP-0060 sections 6.1.3 and 6.5.9), the error otherwise. admin is
// whether who is one of the service's admins.
func (r *record) access(who jid.JID, admin bool) error {
	if admin {
		return nil
	}
	switch r.affiliation(who) {
	case affOutcast:
		return xmpperr.New(xmpperr.Forbidden, "you are blocked from this node")
	case affOwner, affPublisher, affMember:
		return nil
	}
	switch r.AccessModel {
	case pubsub.AccessOpen:
		return nil
	case pubsub.AccessAuthorize:
		switch {
		case r.subscribedBare(who):
			return nil
		case r.hasBare(who, true):
			return pubsub.Error(xmpperr.NotAuthorizedC, "pending-subscription", "your subscription awaits an owner's approval")
		}
		return pubsub.Error(xmpperr.NotAuthorizedC, "not-subscribed", "the node is for approved subscribers")
	default:
		return pubsub.Error(xmpperr.NotAllowed, "closed-node", "the node is for its owners and members only")
	}
}

// discoverable reports whether who may learn that the node exists: not an
// outcast, and affiliated when the node is a whitelist's (XEP-0060
// section 5.2 lets a service hide what one may not access). An authorize
// node shows itself, so that one can ask to subscribe.
func (r *record) discoverable(who jid.JID, admin bool) bool {
	switch {
	case admin:
		return true
	case r.affiliation(who) == affOutcast:
		return false
	case r.AccessModel == pubsub.AccessWhitelist:
		return r.affiliated(who)
	}
	return true
}

// mayPublish reports whether who may publish (pubsub#publish_model).
func (r *record) mayPublish(who jid.JID, admin bool) bool {
	if admin {
		return true
	}
	switch r.affiliation(who) {
	case affOutcast:
		return false
	case affOwner, affPublisher:
		return true
	}
	switch r.PublishModel {
	case pubsub.PublishOpen:
		return true
	case pubsub.PublishSubscribers:
		return r.subscribedBare(who)
	}
	return false
}

// isOwner reports whether who owns the node (admins own every node).
func (r *record) isOwner(who jid.JID, admin bool) bool {
	return admin || r.affiliation(who) == affOwner
}
