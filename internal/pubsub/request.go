package pubsub

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"minimix/internal/iq"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Split returns the one action element of a <pubsub/> request and its
// companion (publish-options with publish, configure with create,
// options with subscribe).
func Split(p *xml.Element, companions ...string) (action, extra *xml.Element, err error) {
	for _, c := range p.Elements() {
		if c.Space != p.Space {
			return nil, nil, xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <pubsub/>")
		}
		if slices.Contains(companions, c.Local) {
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

// NodeAttr returns the node an action names.
func NodeAttr(el *xml.Element) (string, error) {
	node := el.Attr("node")
	switch {
	case node == "":
		return "", NodeIDRequired()
	case len(node) > MaxNodeName:
		return "", xmpperr.New(xmpperr.BadRequest, "node name too long")
	}
	return node, nil
}

// WantType refuses a request that is not an iq of type typ.
func WantType(req iq.Request, typ string) error {
	if req.Type != typ {
		return xmpperr.New(xmpperr.BadRequest, "this request is an iq of type "+typ)
	}
	return nil
}

// ItemsRequest is a parsed <items/> retrieval (XEP-0060 section 6.5).
type ItemsRequest struct {
	Node string
	IDs  []string // the items asked for by id, if any
	Max  int      // max_items, 0 when not given
}

// ParseItems reads an <items/> retrieval.
func ParseItems(el *xml.Element) (ItemsRequest, error) {
	var r ItemsRequest
	var err error
	if r.Node, err = NodeAttr(el); err != nil {
		return r, err
	}
	for _, c := range el.Elements() {
		if c.Space != NS || c.Local != "item" {
			continue
		}
		id := c.Attr("id")
		if id == "" {
			return r, xmpperr.New(xmpperr.BadRequest, "an <item/> to retrieve needs an id")
		}
		r.IDs = append(r.IDs, id)
	}
	if len(r.IDs) > MaxIDsAsked {
		return r, xmpperr.New(xmpperr.BadRequest, fmt.Sprintf("at most %d items per request", MaxIDsAsked))
	}
	if v := el.Attr("max_items"); v != "" {
		if r.Max, err = strconv.Atoi(v); err != nil || r.Max < 1 {
			return r, xmpperr.New(xmpperr.BadRequest, "max_items must be a positive number")
		}
	}
	return r, nil
}

// ItemsResult renders items as the <pubsub><items/></pubsub> of a
// retrieval's result.
func ItemsResult(node string, items []Item) *xml.Element {
	el := xml.New(NS, "items", "node", node)
	for _, it := range items {
		e := xml.New(NS, "item", "id", it.ID)
		if it.Payload != nil {
			e.Append(it.Payload)
		}
		el.Append(e)
	}
	return xml.New(NS, "pubsub").Append(el)
}

// PublishRequest is a parsed <publish/> (XEP-0060 section 7.1).
type PublishRequest struct {
	Node    string
	ID      string       // "" when the publisher gave none
	Payload *xml.Element // the item's one payload element
}

// ParsePublish reads a <publish/> of one item whose serialised payload
// has at most maxPayload bytes.
func ParsePublish(el *xml.Element, maxPayload int) (PublishRequest, error) {
	var r PublishRequest
	var err error
	if r.Node, err = NodeAttr(el); err != nil {
		return r, err
	}
	var items []*xml.Element
	for _, c := range el.Elements() {
		if c.Space != NS || c.Local != "item" {
			return r, xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <publish/>")
		}
		items = append(items, c)
	}
	switch {
	case len(items) == 0:
		return r, ItemRequired()
	case len(items) > 1:
		return r, InvalidPayload("publish one item per request")
	}
	r.ID = items[0].Attr("id")
	if len(r.ID) > MaxItemID {
		return r, xmpperr.New(xmpperr.BadRequest, "item id too long")
	}
	if r.Payload, err = OnePayload(items[0]); err != nil {
		return r, err
	}
	if n := len(r.Payload.AppendXML(nil, "")); n > maxPayload {
		return r, Error(xmpperr.NotAcceptable, "payload-too-big",
			fmt.Sprintf("the payload has %d bytes, more than the %d allowed", n, maxPayload))
	}
	return r, nil
}

// PublishResult is the result of a publish: the node and the item's id.
func PublishResult(node, id string) *xml.Element {
	return xml.New(NS, "pubsub").Append(
		xml.New(NS, "publish", "node", node).Append(xml.New(NS, "item", "id", id)))
}

// OnePayload returns the single payload element of an item.
func OnePayload(item *xml.Element) (*xml.Element, error) {
	var payload *xml.Element
	for _, c := range item.Children {
		if c.Elem == nil {
			if strings.TrimSpace(c.Text) != "" {
				return nil, InvalidPayload("an item's payload is one element, not text")
			}
			continue
		}
		if payload != nil {
			return nil, InvalidPayload("an item has one payload element")
		}
		payload = c.Elem
	}
	if payload == nil {
		return nil, Error(xmpperr.BadRequest, "payload-required", "the item has no payload")
	}
	return payload, nil
}

// RetractRequest is a parsed <retract/> (XEP-0060 section 7.2).
type RetractRequest struct {
	Node   string
	IDs    []string
	Notify *bool // the notify attribute; nil when absent
}

// ParseRetract reads a <retract/>.
func ParseRetract(el *xml.Element) (RetractRequest, error) {
	var r RetractRequest
	var err error
	if r.Node, err = NodeAttr(el); err != nil {
		return r, err
	}
	for _, c := range el.Elements() {
		if c.Space != NS || c.Local != "item" {
			return r, xmpperr.New(xmpperr.BadRequest, "unexpected <"+c.Local+"/> in <retract/>")
		}
		id := c.Attr("id")
		if id == "" {
			return r, ItemRequired()
		}
		r.IDs = append(r.IDs, id)
	}
	if len(r.IDs) == 0 {
		return r, ItemRequired()
	}
	if len(r.IDs) > MaxIDsAsked {
		return r, xmpperr.New(xmpperr.BadRequest, fmt.Sprintf("at most %d items per request", MaxIDsAsked))
	}
	switch v := el.Attr("notify"); v {
	case "":
	case "true", "1", "false", "0":
		b := v == "true" || v == "1"
		r.Notify = &b
	default:
		return r, xmpperr.New(xmpperr.BadRequest, "notify is a boolean")
	}
	return r, nil
}
