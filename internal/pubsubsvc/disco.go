package pubsubsvc

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"minimix/internal/dataform"
	"minimix/internal/pubsub"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Features are the disco#info features of the service (XEP-0060 section
// 10): what it does, not more.
var Features = []string{
	stanza.NSDiscoInfo,
	stanza.NSDiscoItem,
	nsPing,
	pubsub.NS,
	pubsub.NS + "#access-authorize",
	pubsub.NS + "#access-open",
	pubsub.NS + "#access-whitelist",
	pubsub.NS + "#auto-create",
	pubsub.NS + "#config-node",
	pubsub.NS + "#config-node-max", // "max" for pubsub#max_items (Converse asks for it, else sends 9999)
	pubsub.NS + "#config-node-max",
	pubsub.NS + "#create-and-configure",
	pubsub.NS + "#create-nodes",
	pubsub.NS + "#delete-items",
	pubsub.NS + "#delete-nodes",
	pubsub.NS + "#instant-nodes",
	pubsub.NS + "#item-ids",
	pubsub.NS + "#last-published",
	pubsub.NS + "#manage-subscriptions",
	pubsub.NS + "#member-affiliation",
	pubsub.NS + "#meta-data",
	pubsub.NS + "#modify-affiliations",
	pubsub.NS + "#outcast-affiliation",
	pubsub.NS + "#persistent-items",
	pubsub.NS + "#publish",
	pubsub.NS + "#publish-options",
	pubsub.NS + "#publisher-affiliation",
	pubsub.NS + "#purge-nodes",
	pubsub.NS + "#retract-items",
	pubsub.NS + "#retrieve-affiliations",
	pubsub.NS + "#retrieve-default",
	pubsub.NS + "#retrieve-default-sub",
	pubsub.NS + "#retrieve-items",
	pubsub.NS + "#retrieve-subscriptions",
	pubsub.NS + "#subscribe",
	pubsub.NS + "#subscription-notifications",
	pubsub.NS + "#subscription-options",
}

// ServiceName is the name of the service's identity.
const ServiceName = "Publish-Subscribe"

// discoInfo answers disco#info on the service (XEP-0060 section 5.1) and
// on a node (5.3, with the meta-data of 5.4).
func (s *Service) discoInfo(req *request) (*xml.Element, error) {
	if req.typ != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "service discovery is get only")
	}
	name := req.payload.Attr("node")
	q := xml.New(stanza.NSDiscoInfo, "query")
	if name == "" {
		q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "pubsub", "type", "service", "name", ServiceName))
		for _, f := range Features {
			q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", f))
		}
		return q, nil
	}
	n, err := s.visible(req, name)
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	q.SetAttr("node", name)
	q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "pubsub", "type", "leaf"))
	q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", pubsub.NS))
	q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoInfo))
	q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoItem))
	r := &n.rec
	meta := dataform.New(dataform.TypeResult, pubsub.FormMetaData,
		dataform.Field{Var: "pubsub#title", Type: dataform.TextSingle, Values: []string{r.Title}},
		dataform.Field{Var: "pubsub#type", Type: dataform.TextSingle, Values: []string{r.Type}},
		dataform.Field{Var: "pubsub#access_model", Type: dataform.ListSingle, Values: []string{r.AccessModel}},
		dataform.Field{Var: "pubsub#publish_model", Type: dataform.ListSingle, Values: []string{r.PublishModel}},
		dataform.Field{Var: "pubsub#owner", Type: dataform.JIDMulti, Values: r.owners()},
		dataform.Field{Var: "pubsub#max_items", Type: dataform.TextSingle, Values: []string{strconv.Itoa(r.EffectiveMax(s.cfg.MaxItems))}},
		dataform.Field{Var: "pubsub#num_subscribers", Type: dataform.TextSingle, Values: []string{strconv.Itoa(len(r.Subscriptions))}},
	)
	q.Append(meta.Element())
	return q, nil
}

// visible returns node name locked when the requester may discover it
// (record.discoverable), else item-not-found.
func (s *Service) visible(req *request, name string) (*node, error) {
	n, err := s.locked(name)
	if err != nil {
		return nil, err
	}
	if !n.rec.discoverable(req.from, req.admin) {
		n.mu.Unlock()
		return nil, pubsub.NodeNotFound()
	}
	return n, nil
}

// discoItems lists the nodes the requester may see (XEP-0060 section
// 5.2), or the items of one node (5.5).
func (s *Service) discoItems(ctx context.Context, req *request) (*xml.Element, error) {
	if req.typ != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "service discovery is get only")
	}
	name := req.payload.Attr("node")
	q := xml.New(stanza.NSDiscoItem, "query")
	if name == "" {
		for _, n := range s.all() {
			n.mu.Lock()
			if !n.deleted && n.rec.discoverable(req.from, req.admin) {
				it := xml.New(stanza.NSDiscoItem, "item", "jid", s.domain.Domain, "node", n.name)
				it.SetAttr("name", n.rec.Title)
				q.Append(it)
			}
			n.mu.Unlock()
		}
		return q, nil
	}
	n, err := s.visible(req, name)
	if err != nil {
		return nil, err
	}
	defer n.mu.Unlock()
	if err := n.rec.access(req.from, req.admin); err != nil {
		return nil, err
	}
	q.SetAttr("node", name)
	stored, err := s.cfg.Store.PEPItems(ctx, s.key, name, 0)
	if err != nil {
		return nil, fmt.Errorf("pubsubsvc: items of %s: %w", name, err)
	}
	slices.Reverse(stored) // newest first, as a list of recent items reads
	for _, it := range stored {
		q.Append(xml.New(stanza.NSDiscoItem, "item", "jid", s.domain.Domain, "name", it.ID))
	}
	return q, nil
}
