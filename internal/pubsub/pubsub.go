// Package pubsub is the vocabulary of Publish-Subscribe (XEP-0060) that
// minimix's two pubsub services share: the PEP service every account has
// at its bare JID (package pep) and the generic service at
// pubsub.<domain> (package pubsubsvc). It holds the namespaces, the
// errors as XEP-0060 names them, node configuration and its forms,
// parsing of requests and items, and the notification payloads. It keeps
// no state and sends nothing: each service decides who may do what and
// who is notified.
package pubsub

import (
	"crypto/rand"
	"time"

	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Namespaces of XEP-0060.
const (
	NS       = "http://jabber.org/protocol/pubsub"
	NSOwner  = NS + "#owner"
	NSEvent  = NS + "#event"
	NSErrors = NS + "#errors"

	// FormNodeConfig, FormPublishOptions, FormSubscribeOptions and
	// FormMetaData are the FORM_TYPEs of node configuration, publish
	// options, subscription options and node meta-data forms.
	FormNodeConfig       = NS + "#node_config"
	FormPublishOptions   = NS + "#publish-options"
	FormSubscribeOptions = NS + "#subscribe_options"
	FormMetaData         = NS + "#meta-data"
)

// Bounds of one request.
const (
	MaxNodeName = 1024 // bytes of a node name
	MaxItemID   = 1024 // bytes of an item id
	MaxIDsAsked = 1000 // item ids in one retrieval or retract
)

// Item is one item of a node.
type Item struct {
	ID        string
	Publisher string
	Stamp     time.Time
	Payload   *xml.Element // nil when stored XML no longer parses
}

// DecodeItems parses stored items. One whose XML no longer parses is kept
// without payload (it can still be listed and retracted) and reported to
// bad, which may be nil.
func DecodeItems(stored []storage.PEPItem, bad func(id string, err error)) []Item {
	out := make([]Item, 0, len(stored))
	for _, si := range stored {
		it := Item{ID: si.ID, Publisher: si.Publisher, Stamp: si.Stamp}
		p, err := xml.Parse(si.Payload)
		if err != nil {
			if bad != nil {
				bad(si.ID, err)
			}
		} else {
			it.Payload = p
		}
		out = append(out, it)
	}
	return out
}

// StoredItem is it as storage keeps it.
func StoredItem(it Item) storage.PEPItem {
	return storage.PEPItem{ID: it.ID, Publisher: it.Publisher, Stamp: it.Stamp, Payload: it.Payload.AppendXML(nil, "")}
}

// NewID returns a random id for items, nodes, notifications and queries.
func NewID() string { return rand.Text()[:16] }

// Stamp formats t as a XEP-0082 DateTime in UTC.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
