package muc

import (
	"unicode/utf8"

	"context"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// change describes an occupant presence to send: an update, a departure
// and why.
type change struct {
	typ     string   // "" (available) or "unavailable"
	codes   []string // status codes for every recipient
	self    []string // status codes for the occupant itself, besides 110
	nick    string   // the item's nick: the new nick of a 303
	actor   string   // the item's actor nick (kick, ban)
	reason  string   // the item's reason
	destroy *xml.Element
	payload []xml.Node // show, status...; nil: the occupant's own
	affNone bool       // show affiliation none (room destroyed)
	gone    bool       // show role none: a session leaves an occupant that stays
}

// presencePayload keeps what a client's presence says about its sender
// (show, status, priority, caps, idle...), without the MUC elements and
// occupant-ids the service writes itself.
func presencePayload(el *xml.Element) []xml.Node {
	var out []xml.Node
	for _, c := range el.Children {
		e := c.Elem
		if e == nil {
			continue
		}
		switch {
		case e.Space == NS, e.Space == NSUser, e.Space == NSOccupantID, e.Local == "error":
			continue
		}
		out = append(out, c)
	}
	return out
}

// presenceEl builds o's presence as changed by c. realJID, when not
// empty, is shown in the item's jid; self adds status 110 and c.self; id
// is the stanza id (a join's, reflected in its self-presence). The
// presence has no to: fork adds it per recipient.
func (s *Service) presenceEl(r *room, o *occupant, c *change, realJID string, self bool, id string) *xml.Element {
	p := xml.New(xml.NSClient, stanza.Presence, "from", o.jidS)
	p.SetAttr("type", c.typ)
	p.SetAttr("id", id)
	payload := c.payload
	if payload == nil && c.typ == "" {
		payload = o.pres
	}
	p.Children = make([]xml.Node, 0, len(payload)+2)
	p.Children = append(p.Children, payload...)
	aff := s.affOf(r, o.bare)
	if c.affNone {
		aff = affNone
	}
	role := o.role
	if c.gone {
		role = roleNone
	}
	item := xml.New(NSUser, "item", "affiliation", aff.String(), "role", role.String())
	item.SetAttr("jid", realJID)
	item.SetAttr("nick", c.nick)
	if c.actor != "" {
		item.Append(xml.New(NSUser, "actor", "nick", c.actor))
	}
	if c.reason != "" {
		item.Append(xml.New(NSUser, "reason").AppendText(c.reason))
	}
	x := xml.New(NSUser, "x").Append(item, c.destroy)
	if self {
		x.Append(status("110"))
		for _, code := range c.self {
			x.Append(status(code))
		}
	}
	for _, code := range c.codes {
		x.Append(status(code))
	}
	p.Append(x, occupantIDElement(o.id))
	p.Children = p.Children[:len(p.Children):len(p.Children)]
	return p
}

func status(code string) *xml.Element { return xml.New(NSUser, "status", "code", code) }

// publicPresence is o's current available presence as others see it,
// with its real JID or without; cached until o changes.
func (s *Service) publicPresence(r *room, o *occupant, withJID bool) *xml.Element {
	if withJID {
		if o.pubJID == nil {
			o.pubJID = s.presenceEl(r, o, &change{}, o.reals[0].s, false, "")
		}
		return o.pubJID
	}
	if o.pubAnon == nil {
		o.pubAnon = s.presenceEl(r, o, &change{}, "", false, "")
	}
	return o.pubAnon
}

// toOthers queues o's presence as changed by c to every other occupant,
// with o's real JID for those who may see it.
func (s *Service) toOthers(r *room, o *occupant, c *change) {
	var withJID, anon *xml.Element
	plain := c.typ == "" && c.codes == nil && c.nick == "" && c.payload == nil && c.actor == "" && c.reason == ""
	for _, p := range r.list {
		if p == o {
			continue
		}
		var base *xml.Element
		if r.seesJIDs(p) {
			if withJID == nil {
				if plain {
					withJID = s.publicPresence(r, o, true)
				} else {
					withJID = s.presenceEl(r, o, c, o.reals[0].s, false, "")
				}
			}
			base = withJID
		} else {
			if anon == nil {
				if plain {
					anon = s.publicPresence(r, o, false)
				} else {
					anon = s.presenceEl(r, o, c, "", false, "")
				}
			}
			base = anon
		}
		for _, rl := range p.reals {
			r.send(fork(base, rl.s), o.jid, rl.j)
		}
	}
}

// toSelf queues o's presence as changed by c to each of o's real JIDs,
// as the occupant's own (status 110, its own real JID in the item).
func (s *Service) toSelf(r *room, o *occupant, c *change) {
	for _, rl := range o.reals {
		p := s.presenceEl(r, o, c, rl.s, true, "")
		p.SetAttr("to", rl.s)
		r.send(p, o.jid, rl.j)
	}
}

// onPresence handles a presence to a room or occupant JID.
func (s *Service) onPresence(ctx context.Context, el *xml.Element, from, to jid.JID) {
	typ := el.Attr("type")
	switch typ {
	case "error":
		s.onError(ctx, el, from, to)
		return
	case "", "unavailable":
	default:
		return // subscriptions and probes mean nothing to a room
	}
	if to.Resource == "" {
		if typ == "" {
			// Section 7.2.1: a join needs a nick.
			s.routeError(ctx, el, xmpperr.New(xmpperr.JIDMalformed, "a nickname is required to enter a room"), from, to)
		}
		return
	}
	if typ == "unavailable" {
		s.leave(ctx, el, from, to)
		return
	}
	s.available(ctx, el, from, to)
}

// available handles available presence to room/nick: a join, a rejoin,
// a nick change or a presence update, depending on who sends it.
func (s *Service) available(ctx context.Context, el *xml.Element, from, to jid.JID) {
	nick, key, modified, err := prepareNick(to.Resource)
	if err == nil && utf8.RuneCountInString(to.Resource) > s.cfg.Limits.MaxNickLength {
		err = xmpperr.New(xmpperr.NotAcceptable, "the nickname is too long")
	}
	if err != nil {
		s.routeError(ctx, el, s.stanzaError(err, el), from, to)
		return
	}
	join := el.Child(NS, "x")
	// A room disposed of between lookup and lock is looked up again; the
	// bound only guards against a pathological race.
	for range 3 {
		serverJoin := s.cfg.ExemptJoin != nil && s.cfg.ExemptJoin(ctx)
		r, created, err := s.lookupOrCreate(to.Local, from, !serverJoin)
		if err != nil {
			s.routeError(ctx, el, s.stanzaError(err, el), from, to)
			return
		}
		r.mu.Lock()
		if r.destroyed {
			r.mu.Unlock()
			continue
		}
		switch o := r.byReal[from]; {
		case o == nil:
			s.join(ctx, r, el, join, from, to, nick, key, modified, created)
		case o.key != key:
			s.changeNick(ctx, r, o, el, from, to, nick, key, modified)
		case join != nil:
			// A client that thinks it is not in the room (it lost its
			// connection and came back with the same resource) joins
			// again: it gets the whole join sequence, and nobody else
			// hears of it.
			s.welcome(r, o, from, el.Attr("id"), join, false, false)
		default:
			s.update(r, o, el)
		}
		s.release(ctx, r)
		return
	}
	s.routeError(ctx, el, xmpperr.New(xmpperr.ResourceConstraintC, "the room is busy; try again"), from, to)
}

// update handles a presence update from an occupant (section 7.7):
// everyone, the occupant included, gets the new presence.
func (s *Service) update(r *room, o *occupant, el *xml.Element) {
	o.pres = presencePayload(el)
	o.invalidate()
	c := &change{}
	s.toOthers(r, o, c)
	s.toSelf(r, o, c)
}

// changeNick handles presence to a new nick from an occupant (section
// 7.6): unavailable from the old nick with 303 and the new nick, then
// available from the new one, to everyone.
func (s *Service) changeNick(ctx context.Context, r *room, o *occupant, el *xml.Element, from, to jid.JID, nick, key string, modified bool) {
	if other := r.occupants[key]; other != nil && other != o {
		r.sendError(el, xmpperr.New(xmpperr.ConflictC, "that nickname is in use"), from, to)
		return
	}
	if r.reservedByOther(key, o.bare) {
		r.sendError(el, xmpperr.New(xmpperr.ConflictC, "that nickname is reserved"), from, to)
		return
	}
	gone := &change{typ: "unavailable", codes: []string{"303"}, nick: nick, payload: []xml.Node{}}
	s.toOthers(r, o, gone)
	s.toSelf(r, o, gone)
	r.rename(o, nick, key)
	o.pres = presencePayload(el)
	s.toOthers(r, o, &change{})
	back := &change{}
	if modified {
		back.self = []string{"210"}
	}
	s.toSelf(r, o, back)
}

// leave handles unavailable presence from a real JID (section 7.14).
// When other sessions share the occupant, only the leaving one is told.
func (s *Service) leave(ctx context.Context, el *xml.Element, from, to jid.JID) {
	r := s.lookup(to.Local)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer s.release(ctx, r)
	o := r.byReal[from]
	if o == nil {
		return
	}
	c := &change{typ: "unavailable", payload: presencePayload(el)}
	s.removeSession(r, o, from, c)
}

// removeSession removes the real JID real from o, telling it with c;
// when real was o's last, o leaves and the others are told too.
func (s *Service) removeSession(r *room, o *occupant, real jid.JID, c *change) {
	if len(o.reals) > 1 {
		c.gone = true
		p := s.presenceEl(r, o, c, real.String(), true, "")
		p.SetAttr("to", real.String())
		r.removeReal(o, real)
		r.send(p, o.jid, real)
		return
	}
	s.removeOccupant(r, o, c)
}

// removeOccupant takes o out of the room, telling everyone with c.
func (s *Service) removeOccupant(r *room, o *occupant, c *change) {
	o.role = roleNone
	o.invalidate()
	s.toOthers(r, o, c)
	s.toSelf(r, o, c)
	r.remove(o)
}

// member returns the occupant whose real JID is from, the sender of el
// to to; when from is not in the room, it answers el with an error and
// returns nil.
func (r *room) member(el *xml.Element, from, to jid.JID) *occupant {
	o := r.byReal[from]
	if o == nil {
		r.sendError(el, xmpperr.New(xmpperr.NotAcceptable, "you are not in the room"), from, to)
	}
	return o
}

// addressed returns the occupant at the occupant JID to; when there is
// none, it answers el (from sent it) with an error and returns nil.
func (r *room) addressed(el *xml.Element, from, to jid.JID) *occupant {
	o := r.occupants[nickKey(to.Resource)]
	if o == nil {
		r.sendError(el, xmpperr.New(xmpperr.ItemNotFound, "no such occupant"), from, to)
	}
	return o
}

// sendError queues the error reply to el (from sent it to to).
func (r *room) sendError(el *xml.Element, se *xmpperr.StanzaError, from, to jid.JID) {
	if reply := errorReply(el, se, from, to); reply != nil {
		r.send(reply, to, from)
	}
}
