package muc

import (
	"context"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// onIQ handles an iq to a room or occupant JID.
func (s *Service) onIQ(ctx context.Context, el *xml.Element, from, to jid.JID) {
	switch el.Attr("type") {
	case "result":
		if to.Resource != "" {
			r := s.lookup(to.Local)
			if r == nil {
				return
			}
			r.mu.Lock()
			if !r.destroyed {
				s.relayAnswer(r, el, from, to)
			}
			s.release(ctx, r)
		}
		return
	case "error":
		s.onError(ctx, el, from, to)
		return
	case "get", "set":
	default:
		return
	}
	payloads := el.Elements()
	if len(payloads) != 1 {
		s.routeError(ctx, el, xmpperr.New(xmpperr.BadRequest, "an iq get or set must have exactly one child"), from, to)
		return
	}
	p := payloads[0]
	r := s.lookup(to.Local)
	if r == nil {
		s.routeError(ctx, el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		return
	}
	if to.Resource == "" && p.Space == mam.NS {
		s.archiveIQ(ctx, r, el, p, from, to)
		return
	}
	if to.Resource == "" {
		if m, ok, err := parseModeration(p); err != nil {
			s.routeError(ctx, el, s.stanzaError(err, el), from, to)
			return
		} else if ok {
			s.moderate(ctx, r, el, m, from, to)
			return
		}
	}
	r.mu.Lock()
	defer s.release(ctx, r)
	if r.destroyed || r.locked && s.affOf(r, from.Bare()) != affOwner {
		r.sendError(el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		return
	}
	if to.Resource != "" {
		s.occupantIQ(r, el, p, from, to)
		return
	}
	req := iq.Request{IQ: el, Payload: p, Type: el.Attr("type"), From: from, To: r.jid}
	var res *xml.Element
	var err error
	switch {
	case p.Space == stanza.NSDiscoInfo && p.Local == "query":
		res, err = s.roomInfo(r, req)
	case p.Space == stanza.NSDiscoItem && p.Local == "query":
		res, err = s.roomItems(r, req)
	case p.Space == NSAdmin && p.Local == "query":
		res, err = s.admin(ctx, r, req)
	case p.Space == NSOwner && p.Local == "query":
		res, err = s.owner(ctx, r, req)
	case p.Space == NSRegister && p.Local == "query":
		res, err = s.registration(ctx, r, req)
	case p.Space == nsPing && p.Local == "ping" && req.Type == "get":
	default:
		err = xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	if err != nil {
		r.sendError(el, s.stanzaError(err, el), from, to)
		return
	}
	r.send(resultIQ(el, res, to, from), to, from)
}

// occupantIQ handles an iq get or set to an occupant JID. A ping to
// one's own occupant JID is answered here (XEP-0410); anything else goes
// to one of the occupant's real JIDs (the bare one for vCards, which
// servers answer for accounts), with an id that brings the answer back.
// Only occupants may address occupants.
func (s *Service) occupantIQ(r *room, el, p *xml.Element, from, to jid.JID) {
	sender := r.member(el, from, to)
	if sender == nil {
		return
	}
	target := r.addressed(el, from, to)
	if target == nil {
		return
	}
	if p.Space == nsPing && p.Local == "ping" && target == sender {
		// Answered from the address asked, whatever its case, so that
		// the client matches the answer.
		r.send(resultIQ(el, nil, to, from), to, from)
		return
	}
	if len(el.Attr("id")) > maxOccupantIQIDSize {
		r.sendError(el, xmpperr.New(xmpperr.PolicyViolationC, "the id is too long"), from, to)
		return
	}
	via := target.reals[0].j
	if p.Space == nsVCard {
		via = target.bare
	}
	fwd := el.ShallowClone()
	fwd.Space = xml.NSClient
	fwd.SetAttr("id", s.relayID(el.Attr("id"), from, sender.jid, target.nick, via))
	fwd.SetAttr("from", sender.jidS)
	fwd.SetAttr("to", via.String())
	r.send(fwd, sender.jid, via)
}

// relayAnswer passes an answer to a relayed iq back to whoever asked,
// from the occupant JID of whoever answered. It reports whether el was
// such an answer.
func (s *Service) relayAnswer(r *room, el *xml.Element, from, to jid.JID) bool {
	orig, requester, target, ok := s.parseRelayID(el.Attr("id"), from, to)
	if !ok {
		return false
	}
	ans := el.ShallowClone()
	ans.Space = xml.NSClient
	occ := r.occupantJID(target)
	ans.SetAttr("id", orig)
	ans.SetAttr("from", occ.String())
	ans.SetAttr("to", requester.String())
	r.send(ans, occ, requester)
	return true
}

// archiveIQ answers a MAM query or metadata request on the room's
// archive (XEP-0313). Access is checked under the room's lock; the query
// runs outside it, so that a long query does not hold up the room.
func (s *Service) archiveIQ(ctx context.Context, r *room, el, p *xml.Element, from, to jid.JID) {
	r.mu.Lock()
	err := s.mayReadArchive(r, from)
	r.mu.Unlock()
	if err == nil && s.cfg.Archive == nil {
		err = xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	if err != nil {
		s.routeError(ctx, el, s.stanzaError(err, el), from, to)
		return
	}
	req := iq.Request{IQ: el, Payload: p, Type: el.Attr("type"), From: from, To: r.jid}
	var res *xml.Element
	switch p.Local {
	case "query":
		send := func(m *xml.Element) { s.route(m, r.jid, from) }
		res, err = s.cfg.Archive.ServeQuery(ctx, r.jid, req, send, mam.QueryOptions{DefaultIncludeGroupchat: true, OwnOnly: true})
	case "metadata":
		if req.Type != "get" {
			err = xmpperr.New(xmpperr.BadRequest, "metadata is only read")
			break
		}
		res, err = s.cfg.Archive.ServeMetadata(ctx, r.jid)
	default:
		err = xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	s.answer(ctx, el, res, err, from, to)
}

// mayReadArchive applies XEP-0313 section 8.1.2 to a room archive: the
// room must exist and keep one; outcasts may not read it, nor may
// non-members read a members-only room's unless they are in it.
func (s *Service) mayReadArchive(r *room, from jid.JID) error {
	aff := s.affOf(r, from.Bare())
	switch {
	case r.destroyed, r.locked && aff != affOwner:
		return xmpperr.New(xmpperr.ItemNotFound, "no such room")
	case !r.cfg.Logging:
		return xmpperr.New(xmpperr.ServiceUnavailable, "this room keeps no archive")
	case aff == affOutcast:
		return xmpperr.New(xmpperr.Forbidden, "you are banned from this room")
	case r.cfg.MembersOnly && aff < affMember && r.byReal[from] == nil:
		return xmpperr.New(xmpperr.Forbidden, "the archive of this room is for its members")
	}
	return nil
}

// serviceIQ answers an iq get or set to the service's domain.
func (s *Service) serviceIQ(ctx context.Context, el *xml.Element, from jid.JID) (*xml.Element, error) {
	payloads := el.Elements()
	if len(payloads) != 1 {
		return nil, xmpperr.New(xmpperr.BadRequest, "an iq get or set must have exactly one child")
	}
	p := payloads[0]
	typ := el.Attr("type")
	switch {
	case p.Space == stanza.NSDiscoInfo && p.Local == "query" && typ == "get":
		return s.serviceInfo(p)
	case p.Space == stanza.NSDiscoItem && p.Local == "query" && typ == "get":
		return s.serviceItems(ctx, p)
	case p.Space == NSUnique && p.Local == "unique" && typ == "get":
		// Section 10.1.4: a name nobody uses.
		return xml.New(NSUnique, "unique").AppendText(randomID()), nil
	case p.Space == nsPing && p.Local == "ping" && typ == "get":
		return nil, nil
	}
	return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
}
