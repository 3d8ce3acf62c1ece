package roster

import (
	"slices"
	"unicode/utf8"

	"minimix/internal/jid"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// subRemove is the subscription value of a removal, in a roster set from
// the client and in the push that announces it.
const subRemove storage.Subscription = "remove"

// Bounds on what a client may store in one item. RFC 6121 2.3.3 leaves
// them to the server; these are generous for people and small enough
// that a full roster stays a reasonable stanza.
const (
	maxNameChars  = 1000
	maxGroupChars = 1000
	maxGroups     = 100
)

// itemElement renders it as the <item/> of a roster result or push. A
// pending inbound request is not shown: RFC 6121 conveys it by
// redelivering the subscribe presence, not in the roster.
func itemElement(it storage.RosterItem) *xml.Element {
	el := xml.New(NS, "item", "jid", it.Contact)
	el.SetAttr("name", it.Name)
	sub := it.Subscription
	if sub == "" {
		sub = storage.SubNone
	}
	el.SetAttr("subscription", string(sub))
	if sub == subRemove {
		return el
	}
	if it.PendingOut {
		el.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(xml.New(NS, "group").AppendText(g))
	}
	return el
}

// setItem is what a client's roster set asks for.
type setItem struct {
	contact jid.JID
	name    string
	groups  []string
	remove  bool
}

// parseSetItem validates the single <item/> of a roster set by user
// (RFC 6121 2.3.3 and 2.5.3). Subscription states in the item other
// than "remove" are ignored: only presence changes them.
func parseSetItem(user jid.JID, query *xml.Element) (setItem, error) {
	children := query.Elements()
	if len(children) != 1 || children[0].Local != "item" || children[0].Space != NS {
		return setItem{}, xmpperr.New(xmpperr.BadRequest, "a roster set carries exactly one item")
	}
	el := children[0]
	raw := el.Attr("jid")
	if raw == "" {
		return setItem{}, xmpperr.New(xmpperr.BadRequest, "the item has no jid")
	}
	contact, err := jid.Parse(raw)
	if err != nil {
		return setItem{}, xmpperr.New(xmpperr.JIDMalformed, "the item's jid is not a valid JID")
	}
	if !contact.IsBare() {
		// Subscriptions are between bare JIDs (RFC 6121 3); an item for
		// one resource could never get a subscription state.
		return setItem{}, xmpperr.New(xmpperr.BadRequest, "roster items are bare JIDs")
	}
	if contact == user.Bare() {
		return setItem{}, xmpperr.New(xmpperr.NotAllowed, "the account's own JID cannot be a roster item")
	}
	it := setItem{contact: contact}
	if el.Attr("subscription") == string(subRemove) {
		it.remove = true
		return it, nil
	}
	it.name = el.Attr("name")
	if utf8.RuneCountInString(it.name) > maxNameChars {
		return setItem{}, xmpperr.New(xmpperr.NotAcceptable, "the item's name is too long")
	}
	for _, g := range el.Elements() {
		if g.Local != "group" || g.Space != NS {
			continue
		}
		name := g.Text()
		switch {
		case name == "":
			return setItem{}, xmpperr.New(xmpperr.NotAcceptable, "a group name is empty")
		case utf8.RuneCountInString(name) > maxGroupChars:
			return setItem{}, xmpperr.New(xmpperr.NotAcceptable, "a group name is too long")
		case slices.Contains(it.groups, name):
			return setItem{}, xmpperr.New(xmpperr.BadRequest, "a group is listed twice")
		case len(it.groups) == maxGroups:
			return setItem{}, xmpperr.New(xmpperr.NotAcceptable, "the item is in too many groups")
		}
		it.groups = append(it.groups, name)
	}
	return it, nil
}
