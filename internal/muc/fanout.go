package muc

import (
	"minimix/internal/jid"
	"minimix/internal/xml"
)

// forked is a stanza forked to one recipient with room for its
// attributes and top-level children, allocated together: a fan-out makes
// one allocation per delivered stanza.
type forked struct {
	el    xml.Element
	attrs [6]xml.Attr
	kids  [8]xml.Node
}

// fork returns a copy of base addressed to to; base has no to attribute.
// The copy has its own attributes and list of children, which receivers
// may change (the router removes and adds stanza-ids), and shares the
// child elements themselves, which nobody changes.
func fork(base *xml.Element, to string) *xml.Element {
	f := new(forked)
	f.el.Space, f.el.Local = base.Space, base.Local
	kids := f.kids[:0]
	if len(base.Children) > len(f.kids) {
		kids = make([]xml.Node, 0, len(base.Children))
	}
	f.el.Children = append(kids, base.Children...)
	attrs := f.attrs[:0]
	if len(base.Attrs)+1 > len(f.attrs) {
		attrs = make([]xml.Attr, 0, len(base.Attrs)+1)
	}
	attrs = append(attrs, base.Attrs...)
	f.el.Attrs = append(attrs, xml.Attr{Local: "to", Value: to})
	return &f.el
}

// fanout queues m, from the occupant or room JID from, to every real JID
// of every occupant.
func (r *room) fanout(m *xml.Element, from jid.JID) {
	xml.Freeze(m) // the copies share m's children: written once for all
	for _, p := range r.list {
		for _, rl := range p.reals {
			r.send(fork(m, rl.s), from, rl.j)
		}
	}
}
