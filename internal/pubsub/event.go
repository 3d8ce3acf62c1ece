package pubsub

import (
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// EventItem is the <item/> of a publish notification; publisher is left
// out when empty, the payload when withPayload is false
// (pubsub#deliver_payloads).
func EventItem(it Item, publisher string, withPayload bool) *xml.Element {
	el := xml.New(NSEvent, "item", "id", it.ID)
	el.SetAttr("publisher", publisher)
	if withPayload && it.Payload != nil {
		el.Append(it.Payload)
	}
	return el
}

// ItemsEvent is an <event/> carrying <items node/> with children
// (published items, or retractions).
func ItemsEvent(node string, children ...*xml.Element) *xml.Element {
	return xml.New(NSEvent, "event").Append(xml.New(NSEvent, "items", "node", node).Append(children...))
}

// RetractEvent is the <retract/> of an item's retraction.
func RetractEvent(id string) *xml.Element { return xml.New(NSEvent, "retract", "id", id) }

// DeleteEvent is the <event/> for a deleted node.
func DeleteEvent(node string) *xml.Element {
	return xml.New(NSEvent, "event").Append(xml.New(NSEvent, "delete", "node", node))
}

// PurgeEvent is the <event/> for a purged node.
func PurgeEvent(node string) *xml.Element {
	return xml.New(NSEvent, "event").Append(xml.New(NSEvent, "purge", "node", node))
}

// Message wraps an <event/> in a notification from from, of the type the
// node's configuration asks for.
func Message(from string, cfg *NodeConfig, ev *xml.Element) *xml.Element {
	typ := cfg.NotificationType
	if typ == "" {
		typ = "headline"
	}
	return xml.New(xml.NSClient, stanza.Message, "from", from, "type", typ, "id", NewID()).Append(ev)
}
