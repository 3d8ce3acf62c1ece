package muc

import (
	"context"
	"crypto/subtle"

	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// join handles a real JID's entry into r as nick (section 7.2). r.mu is
// held. The checks come in the order of section 7.2: banned, locked,
// nick taken, members only, password, full.
func (s *Service) join(ctx context.Context, r *room, el, x *xml.Element, from, to jid.JID, nick, key string, modified, created bool) {
	r.fresh = false
	bare := from.Bare()
	aff := s.affOf(r, bare)
	existing := r.occupants[key]
	shared := existing != nil && existing.bare == bare
	fail := func(c xmpperr.Condition, text string) {
		se := xmpperr.New(c, text)
		if c == xmpperr.ServiceUnavailable {
			se.WithType(xmpperr.Wait)
		}
		r.sendError(el, se, from, to)
	}
	var password string
	if x != nil {
		password = x.ChildText(NS, "password")
	}
	switch {
	case aff == affOutcast:
		fail(xmpperr.Forbidden, "you are banned from this room")
	case r.locked && aff != affOwner:
		// Section 10.1.1: a room not yet configured does not exist for
		// anyone but its owner.
		fail(xmpperr.ItemNotFound, "the room is locked until its owner configures it")
	case existing != nil && !shared:
		fail(xmpperr.ConflictC, "that nickname is in use")
	case r.reservedByOther(key, bare):
		// Section 7.12: a nick reserved by a registered member.
		fail(xmpperr.ConflictC, "that nickname is reserved")
	case r.cfg.MembersOnly && aff < affMember:
		fail(xmpperr.RegistrationRequired, "this room is for members only")
	case r.cfg.passwordRequired() && aff < affAdmin &&
		subtle.ConstantTimeCompare([]byte(password), []byte(r.cfg.Password)) != 1:
		fail(xmpperr.NotAuthorizedC, "a password is required to enter this room")
	case !shared && (len(r.list) >= s.defaults().maxOccupants || len(r.list) >= r.maxUsers(s.defaults().maxOccupants) && aff < affAdmin):
		fail(xmpperr.ServiceUnavailable, "the room is full")
	case shared && len(existing.reals) >= s.cfg.Limits.MaxSessionsPerNick:
		fail(xmpperr.ResourceConstraintC, "too many sessions share this nickname")
	case !created && !s.joinAllowed(ctx, bare):
		fail(xmpperr.ResourceConstraintC, "too many rooms entered; try again later")
	default:
		s.enter(ctx, r, el, x, from, nick, key, modified, created, existing)
	}
}

// enter admits from as nick, joining the occupant existing when it is
// another session of the same bare JID.
func (s *Service) enter(ctx context.Context, r *room, el, x *xml.Element, from jid.JID, nick, key string, modified, created bool, existing *occupant) {
	rl := realJID{j: from, s: from.String()}
	if existing != nil {
		// Section 7.2.6: another session of the same user shares the
		// occupant. The others see no change.
		existing.reals = append(existing.reals, rl)
		r.byReal[from] = existing
		s.welcome(r, existing, from, el.Attr("id"), x, false, modified)
		return
	}
	if !r.historyLoaded {
		s.loadHistory(ctx, r)
	}
	bare := from.Bare()
	o := &occupant{
		nick:  nick,
		key:   key,
		jid:   r.occupantJID(nick),
		bare:  bare,
		reals: []realJID{rl},
		role:  r.defaultRole(s.affOf(r, bare)),
		pres:  presencePayload(el),
		id:    s.occupantID(r.jid, bare),
	}
	o.jidS = o.jid.String()
	r.add(o)
	s.toOthers(r, o, &change{})
	s.welcome(r, o, from, el.Attr("id"), x, created, modified)
}

// welcome sends the real JID to, which has just entered as o, what a
// join is answered with (section 7.2): every other occupant's presence,
// its own presence last among them (110, the join's id), the history it
// asked for and the subject.
func (s *Service) welcome(r *room, o *occupant, to jid.JID, id string, x *xml.Element, created, modified bool) {
	toS := to.String()
	sees := r.seesJIDs(o)
	for _, p := range r.list {
		if p != o {
			r.send(fork(s.publicPresence(r, p, sees), toS), p.jid, to)
		}
	}
	c := &change{}
	if r.cfg.Whois == whoisAnyone {
		c.self = append(c.self, "100")
	}
	if r.cfg.Logging {
		c.self = append(c.self, "170")
	}
	if created {
		c.self = append(c.self, "201")
	}
	if modified {
		c.self = append(c.self, "210")
	}
	self := s.presenceEl(r, o, c, toS, true, id)
	self.SetAttr("to", toS)
	r.send(self, o.jid, to)
	var h *xml.Element
	if x != nil {
		h = x.Child(NS, "history")
	}
	s.sendHistory(r, to, toS, h)
	from, m := r.subjectMessage()
	m.SetAttr("to", toS)
	r.send(m, from, to)
}

// subjectMessage is the message that tells the room's subject: from the
// occupant JID of who set it, or from the room; an empty <subject/> when
// there is none (section 7.2.15).
func (r *room) subjectMessage() (jid.JID, *xml.Element) {
	from := r.jid
	if r.subjectNick != "" {
		from = r.occupantJID(r.subjectNick)
	}
	m := xml.New(xml.NSClient, "message", "from", from.String(), "type", "groupchat", "id", randomID())
	m.Append(xml.New(xml.NSClient, "subject").AppendText(r.subject))
	return from, m
}
