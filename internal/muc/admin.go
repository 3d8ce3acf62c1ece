package muc

import (
	"context"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// adminOp is one validated change of a muc#admin set.
type adminOp struct {
	target  *occupant // a role change's occupant
	bare    jid.JID   // an affiliation change's bare JID
	role    role
	aff     affiliation
	setRole bool
	reason  string
	// nick is the nick an affiliation item reserves (section 9.3), when
	// setNick.
	nick    string
	setNick bool
}

// admin answers a muc#admin query (sections 8 and 9): a get lists the
// occupants with a role or the JIDs with an affiliation; a set changes
// roles by nick and affiliations by JID or nick, all of its items or
// none. r.mu is held.
func (s *Service) admin(ctx context.Context, r *room, req iq.Request) (*xml.Element, error) {
	actor := r.byReal[req.From]
	actorAff := s.affOf(r, req.From.Bare())
	actorRole := roleNone
	switch {
	case actor != nil:
		actorRole = actor.role
	case actorAff >= affAdmin:
		// An admin out of the room may still moderate it.
		actorRole = roleModerator
	}
	var items []*xml.Element
	for _, c := range req.Payload.Elements() {
		if c.Space == NSAdmin && c.Local == "item" {
			items = append(items, c)
		}
	}
	if req.Type == "get" {
		return s.adminList(r, items, actorAff, actorRole)
	}
	switch {
	case len(items) == 0:
		return nil, xmpperr.New(xmpperr.BadRequest, "no item to change")
	case len(items) > maxAdminItems:
		return nil, xmpperr.New(xmpperr.PolicyViolationC, "too many items in one request")
	}
	affs := maps.Clone(r.affs)
	roles := make(map[*occupant]role)
	ops := make([]adminOp, 0, len(items))
	for _, it := range items {
		op, err := s.planItem(r, it, actorAff, actorRole, affs, roles)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if countAff(r.affs, affOwner) > 0 && countAff(affs, affOwner) == 0 {
		// Section 10.6: the last owner cannot step down.
		return nil, xmpperr.New(xmpperr.ConflictC, "a room must keep at least one owner")
	}
	if len(affs) > maxAffiliations {
		return nil, xmpperr.New(xmpperr.PolicyViolationC, "too many affiliations")
	}
	actorNick := ""
	if actor != nil {
		actorNick = actor.nick
	}
	for _, op := range ops {
		if op.setRole {
			s.applyRole(r, op, actorNick)
		} else {
			s.applyAffiliation(ctx, r, op, actorNick)
		}
	}
	return nil, nil
}

func countAff(affs map[jid.JID]affiliation, a affiliation) int {
	n := 0
	for _, v := range affs {
		if v == a {
			n++
		}
	}
	return n
}

// planItem checks one item of an admin set against the actor's
// privileges (the tables of sections 5.1.2 and 5.2.1) and records its
// effect in affs and roles, so that later items see earlier ones.
func (s *Service) planItem(r *room, it *xml.Element, actorAff affiliation, actorRole role, affs map[jid.JID]affiliation, roles map[*occupant]role) (adminOp, error) {
	roleS, affS := it.Attr("role"), it.Attr("affiliation")
	op := adminOp{reason: it.ChildText(NSAdmin, "reason")}
	switch {
	case roleS != "" && affS != "":
		return op, xmpperr.New(xmpperr.BadRequest, "an item changes a role or an affiliation, not both")
	case roleS != "":
		nr, ok := parseRole(roleS)
		if !ok {
			return op, xmpperr.New(xmpperr.BadRequest, "unknown role "+roleS)
		}
		target, err := s.itemOccupant(r, it)
		if err != nil {
			return op, err
		}
		cur, ok := roles[target]
		if !ok {
			cur = target.role
		}
		tAff := s.affOf(r, target.bare)
		forbidden := xmpperr.New(xmpperr.Forbidden, "you may not change roles to "+nr.String())
		notAllowed := xmpperr.New(xmpperr.NotAllowed, "the occupant's affiliation protects it")
		switch nr {
		case roleNone:
			if actorRole != roleModerator {
				return op, forbidden
			}
			if tAff >= affAdmin || tAff > actorAff {
				return op, notAllowed
			}
		case roleVisitor:
			if actorRole != roleModerator {
				return op, forbidden
			}
			if tAff >= affAdmin || cur == roleModerator && actorAff < affAdmin {
				return op, notAllowed
			}
		case roleParticipant:
			if cur == roleModerator {
				if actorAff < affAdmin {
					return op, forbidden
				}
				if tAff >= affAdmin {
					return op, notAllowed
				}
			} else if actorRole != roleModerator {
				return op, forbidden
			}
		case roleModerator:
			if actorAff < affAdmin {
				return op, forbidden
			}
		}
		roles[target] = nr
		op.target, op.role, op.setRole = target, nr, true
		return op, nil
	case affS != "":
		na, ok := parseAffiliation(affS)
		if !ok {
			return op, xmpperr.New(xmpperr.BadRequest, "unknown affiliation "+affS)
		}
		var bare jid.JID
		if j := it.Attr("jid"); j != "" {
			p, err := jid.Parse(j)
			if err != nil {
				return op, xmpperr.New(xmpperr.JIDMalformed, "bad jid")
			}
			bare = p.Bare()
			if n := it.Attr("nick"); n != "" && na >= affMember {
				// An item with a JID and a nick reserves the nick.
				nick, key, _, err := prepareNick(n)
				if err == nil && utf8.RuneCountInString(n) > s.cfg.Limits.MaxNickLength {
					err = xmpperr.New(xmpperr.NotAcceptable, "the nickname is too long")
				}
				if err != nil {
					return op, err
				}
				if err := s.nickFree(r, bare, key); err != nil {
					return op, err
				}
				op.nick, op.setNick = nick, true
			}
		} else {
			target, err := s.itemOccupant(r, it)
			if err != nil {
				return op, err
			}
			bare = target.bare
		}
		cur, ok := affs[bare]
		if !ok {
			cur = affNone
		}
		switch {
		case actorAff < affAdmin:
			return op, xmpperr.New(xmpperr.Forbidden, "only admins and owners change affiliations")
		case (na >= affAdmin || cur >= affAdmin) && actorAff < affOwner:
			if na >= affAdmin {
				return op, xmpperr.New(xmpperr.Forbidden, "only owners grant admin or owner")
			}
			return op, xmpperr.New(xmpperr.NotAllowed, "admins cannot change the affiliation of admins or owners")
		}
		if na == affNone {
			delete(affs, bare)
		} else {
			affs[bare] = na
		}
		op.bare, op.aff = bare, na
		return op, nil
	}
	return op, xmpperr.New(xmpperr.BadRequest, "an item needs a role or an affiliation")
}

// itemOccupant finds the occupant an admin item names, by nick or JID.
func (s *Service) itemOccupant(r *room, it *xml.Element) (*occupant, error) {
	if nick := it.Attr("nick"); nick != "" {
		if o := r.occupants[nickKey(nick)]; o != nil {
			return o, nil
		}
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no occupant has that nick")
	}
	if j := it.Attr("jid"); j != "" {
		p, err := jid.Parse(j)
		if err != nil {
			return nil, xmpperr.New(xmpperr.JIDMalformed, "bad jid")
		}
		if o := r.byReal[p]; o != nil {
			return o, nil
		}
		if os := r.byBare(p.Bare()); len(os) > 0 {
			return os[0], nil
		}
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no occupant has that JID")
	}
	return nil, xmpperr.New(xmpperr.BadRequest, "an item needs a nick or a jid")
}

// applyRole carries out a role change: a kick (307) or a new role.
func (s *Service) applyRole(r *room, op adminOp, actor string) {
	o := op.target
	if r.occupants[o.key] != o {
		return // kicked by an earlier item
	}
	if op.role == roleNone {
		s.removeOccupant(r, o, &change{typ: "unavailable", codes: []string{"307"}, actor: actor, reason: op.reason})
		return
	}
	if o.role == op.role {
		return
	}
	o.role = op.role
	o.invalidate()
	c := &change{reason: op.reason}
	s.toOthers(r, o, c)
	s.toSelf(r, o, c)
}

// applyAffiliation carries out an affiliation change, and its effect on
// the occupants of that bare JID: a ban removes them (301), losing
// membership of a members-only room too (321), anything else may change
// their role and shows in a new presence.
func (s *Service) applyAffiliation(ctx context.Context, r *room, op adminOp, actor string) {
	prev := s.affOf(r, op.bare)
	if op.setNick {
		r.reserve(op.bare, op.nick)
	}
	s.setAffiliation(ctx, r, op.bare, op.aff, op.reason)
	for _, o := range r.byBare(op.bare) {
		switch {
		case op.aff == affOutcast:
			s.removeOccupant(r, o, &change{typ: "unavailable", codes: []string{"301"}, actor: actor, reason: op.reason})
		case r.cfg.MembersOnly && op.aff < affMember:
			s.removeOccupant(r, o, &change{typ: "unavailable", codes: []string{"321"}, actor: actor, reason: op.reason})
		default:
			if prev == op.aff {
				continue
			}
			if op.aff >= affAdmin || prev >= affAdmin || o.role == roleVisitor && op.aff >= affMember {
				o.role = r.defaultRole(op.aff)
			}
			o.invalidate()
			c := &change{reason: op.reason}
			s.toOthers(r, o, c)
			s.toSelf(r, o, c)
		}
	}
}

// setAffiliation records bare's affiliation, in storage too for a
// persistent room.
func (s *Service) setAffiliation(ctx context.Context, r *room, bare jid.JID, a affiliation, reason string) {
	if a == affNone {
		delete(r.affs, bare)
	} else {
		r.affs[bare] = a
	}
	if a == affNone || a == affOutcast {
		r.reserve(bare, "")
	}
	for _, o := range r.byBare(bare) {
		o.invalidate()
	}
	if r.cfg.Persistent {
		if err := s.cfg.Store.SetRoomAffiliation(ctx, r.jidS, storageAffiliation(bare, a, r.nicks[bare], reason)); err != nil {
			s.log.Error("muc: saving affiliation", "room", r.jidS, "jid", bare.String(), "err", err)
		}
	}
}

// adminList answers a muc#admin get: the JIDs with one affiliation (for
// admins and owners) or the occupants with one role (for moderators).
func (s *Service) adminList(r *room, items []*xml.Element, actorAff affiliation, actorRole role) (*xml.Element, error) {
	if len(items) != 1 {
		return nil, xmpperr.New(xmpperr.BadRequest, "a list request has one item")
	}
	it := items[0]
	q := xml.New(NSAdmin, "query")
	if a := it.Attr("affiliation"); a != "" {
		aff, ok := parseAffiliation(a)
		if !ok || aff == affNone {
			return nil, xmpperr.New(xmpperr.BadRequest, "unknown affiliation "+a)
		}
		if actorAff < affAdmin {
			return nil, xmpperr.New(xmpperr.Forbidden, "only admins and owners see affiliation lists")
		}
		jids := slices.SortedFunc(maps.Keys(r.affs), func(a, b jid.JID) int {
			return strings.Compare(a.String(), b.String())
		})
		for _, j := range jids {
			if r.affs[j] == aff {
				it := xml.New(NSAdmin, "item", "affiliation", aff.String(), "jid", j.String())
				if nick, ok := r.nicks[j]; ok {
					it.SetAttr("nick", nick)
				}
				q.Append(it)
			}
		}
		return q, nil
	}
	if ro := it.Attr("role"); ro != "" {
		role, ok := parseRole(ro)
		if !ok || role == roleNone {
			return nil, xmpperr.New(xmpperr.BadRequest, "unknown role "+ro)
		}
		if actorRole != roleModerator {
			return nil, xmpperr.New(xmpperr.Forbidden, "only moderators see role lists")
		}
		for _, o := range r.list {
			if o.role == role {
				q.Append(xml.New(NSAdmin, "item", "role", role.String(), "nick", o.nick,
					"affiliation", s.affOf(r, o.bare).String(), "jid", o.reals[0].s))
			}
		}
		return q, nil
	}
	return nil, xmpperr.New(xmpperr.BadRequest, "a list request names a role or an affiliation")
}
