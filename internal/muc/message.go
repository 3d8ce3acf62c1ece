package muc

import (
	"context"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// onMessage handles a message to a room or occupant JID.
func (s *Service) onMessage(ctx context.Context, el *xml.Element, from, to jid.JID) {
	typ := stanza.Type(el)
	if typ == "error" {
		s.onError(ctx, el, from, to)
		return
	}
	r := s.lookup(to.Local)
	if r == nil {
		if typ != "headline" {
			s.routeError(ctx, el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		}
		return
	}
	if typ == "groupchat" && to.Resource == "" {
		if id := mam.Retraction(el); id != "" {
			s.retractOwn(ctx, r, el, id, from, to)
			return
		}
	}
	r.mu.Lock()
	defer s.release(ctx, r)
	switch {
	case r.destroyed:
		if typ != "headline" {
			r.sendError(el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		}
	case to.Resource != "":
		s.privateMessage(r, el, from, to, typ)
	case typ == "groupchat":
		s.groupchat(ctx, r, el, from, to)
	default:
		s.roomMessage(ctx, r, el, from, to, typ)
	}
}

// groupchat handles a message of type groupchat to the room (sections 7.4
// and 8.1): reflected to every occupant, the sender included, from the
// sender's occupant JID, with the sender's id, a stanza-id that is the
// room archive's id, and the sender's occupant-id.
func (s *Service) groupchat(ctx context.Context, r *room, el *xml.Element, from, to jid.JID) {
	o := r.member(el, from, to)
	if o == nil {
		return
	}
	body := el.Child("", "body")
	subject := el.Child("", "subject")
	isSubject := subject != nil && body == nil
	switch {
	case isSubject && !(o.role == roleModerator || r.cfg.ChangeSubject && o.role >= roleParticipant):
		r.sendError(el, xmpperr.New(xmpperr.Forbidden, "you may not change the subject"), from, to)
		return
	case isSubject && len(subject.Text()) > maxSubjectBytes:
		r.sendError(el, xmpperr.New(xmpperr.NotAcceptable, "the subject is too long"), from, to)
		return
	case o.role < roleParticipant:
		r.sendError(el, xmpperr.New(xmpperr.Forbidden, "visitors may not speak in this room"), from, to)
		return
	}
	m := s.reflect(r, o, el, "groupchat")
	stamp := s.now()
	if id := s.stanzaID(ctx, r, o, m, body != nil || isSubject); id != "" {
		stanza.AddStanzaID(m, r.jid, id)
	}
	if isSubject {
		r.subject, r.subjectNick = subject.Text(), o.nick
		if r.cfg.Persistent {
			if err := s.save(ctx, r); err != nil {
				s.log.Error("muc: saving subject", "room", r.jidS, "err", err)
			}
		}
	} else if body != nil && mam.Retraction(el) == "" {
		// A retraction's fallback body is not worth replaying.
		r.addHistory(m, o.jid, stamp)
	}
	r.fanout(m, o.jid)
}

// stanzaID archives m when the room keeps an archive and m is worth
// keeping, and returns the id to stamp it with (XEP-0359): the archive
// id, or a fresh unique id for content the archive does not keep.
func (s *Service) stanzaID(ctx context.Context, r *room, o *occupant, m *xml.Element, content bool) string {
	if !content || m.Child(stanza.NSHints, "no-store") != nil || m.Child(stanza.NSHints, "no-permanent-store") != nil {
		return ""
	}
	if r.cfg.Logging && s.cfg.Archive != nil {
		id, err := s.cfg.Archive.Append(ctx, r.jid, o.jid, m, true)
		if err == nil {
			return id
		}
		s.log.Error("muc: archiving message", "room", r.jidS, "err", err)
	}
	return randomID()
}

// reflect builds the copy of a message from o that the room sends: from
// o's occupant JID, o's id and language kept, without what only the
// service may say (occupant-id, its own stanza-id and delay, MUC user
// data), with o's occupant-id.
func (s *Service) reflect(r *room, o *occupant, el *xml.Element, typ string) *xml.Element {
	m := xml.New(xml.NSClient, stanza.Message, "from", o.jidS, "type", typ)
	m.SetAttr("id", el.Attr("id"))
	if lang := el.AttrNS(xml.NSXML, "lang"); lang != "" {
		m.Attrs = append(m.Attrs, xml.Attr{Space: xml.NSXML, Local: "lang", Value: lang})
	}
	m.Children = make([]xml.Node, 0, len(el.Children)+2)
	for _, c := range el.Children {
		if e := c.Elem; e != nil && !r.spoofed(e) {
			m.Children = append(m.Children, c)
		}
	}
	m.Append(occupantIDElement(o.id))
	return m
}

// spoofed reports whether a child of a client's message claims to come
// from the room.
func (r *room) spoofed(e *xml.Element) bool {
	switch {
	case e.Space == NSOccupantID:
		return true // XEP-0421: never trust a client's
	case e.Space == stanza.NSStanzaID && e.Local == "stanza-id":
		return e.Attr("by") == r.jidS
	case e.Space == NSUser:
		return true
	case e.Space == stanza.NSDelay:
		return true
	}
	return false
}

// privateMessage handles a message to an occupant JID (section 7.5).
func (s *Service) privateMessage(r *room, el *xml.Element, from, to jid.JID, typ string) {
	o := r.member(el, from, to)
	if o == nil {
		return
	}
	if typ == "groupchat" {
		r.sendError(el, xmpperr.New(xmpperr.BadRequest, "groupchat messages go to the room"), from, to)
		return
	}
	target := r.addressed(el, from, to)
	if target == nil {
		return
	}
	if !r.mayPM(o) {
		r.sendError(el, xmpperr.New(xmpperr.Forbidden, "private messages are not allowed in this room"), from, to)
		return
	}
	m := s.reflect(r, o, el, typ)
	m.Append(xml.New(NSUser, "x"))
	for _, rl := range target.reals {
		// A private message may be archived and stamped by the
		// receiving server, which changes its children: each copy has
		// its own.
		c := m.Clone()
		c.SetAttr("to", rl.s)
		r.send(c, o.jid, rl.j)
	}
}

// mayPM applies muc#roomconfig_allowpm.
func (r *room) mayPM(o *occupant) bool {
	switch r.cfg.AllowPM {
	case pmNone:
		return false
	case pmModerators:
		return o.role == roleModerator
	case pmParticipants:
		return o.role >= roleParticipant
	}
	return true
}

// roomMessage handles a message of type normal, chat or headline to the
// room's bare JID: mediated invitations and declines, voice requests.
func (s *Service) roomMessage(ctx context.Context, r *room, el *xml.Element, from, to jid.JID, typ string) {
	if x := el.Child(NSUser, "x"); x != nil && (x.Child(NSUser, "invite") != nil || x.Child(NSUser, "decline") != nil) {
		s.invitations(ctx, r, el, x, from, to)
		return
	}
	if x := dataform.Find(el); x != nil {
		if f, err := dataform.Parse(x); err == nil && f.FormType() == NSRequest {
			s.voiceRequest(r, el, f, from, to)
			return
		} else if err != nil {
			r.sendError(el, xmpperr.New(xmpperr.BadRequest, err.Error()), from, to)
			return
		}
	}
	if typ != "headline" && el.Child("", "body") != nil {
		r.sendError(el, xmpperr.New(xmpperr.BadRequest, "messages to the room are of type groupchat"), from, to)
	}
}

// invitations handles mediated invitations and declines (section 7.8.2
// and 7.8.3): the room passes them on from itself, naming the inviter
// or decliner by bare JID.
func (s *Service) invitations(ctx context.Context, r *room, el, x *xml.Element, from, to jid.JID) {
	var invites, declines []*xml.Element
	for _, c := range x.Elements() {
		switch {
		case c.Space == NSUser && c.Local == "invite":
			invites = append(invites, c)
		case c.Space == NSUser && c.Local == "decline":
			declines = append(declines, c)
		}
	}
	if len(invites)+len(declines) > maxInvites {
		r.sendError(el, xmpperr.New(xmpperr.PolicyViolationC, "too many invitations in one message"), from, to)
		return
	}
	targets := make([]jid.JID, 0, len(invites)+len(declines))
	for _, c := range append(invites, declines...) {
		j, err := jid.Parse(c.Attr("to"))
		if err != nil || j.IsZero() {
			r.sendError(el, xmpperr.New(xmpperr.JIDMalformed, "an invitation or decline needs a valid to"), from, to)
			return
		}
		targets = append(targets, j)
	}
	if len(invites) > 0 {
		o := r.byReal[from]
		if o == nil {
			r.sendError(el, xmpperr.New(xmpperr.NotAcceptable, "only occupants may invite"), from, to)
			return
		}
		aff := s.affOf(r, o.bare)
		if r.cfg.MembersOnly && aff < affAdmin && !r.cfg.AllowInvites {
			r.sendError(el, xmpperr.New(xmpperr.Forbidden, "only admins may invite to this room"), from, to)
			return
		}
	}
	inviter := from.Bare().String()
	for i, c := range invites {
		invitee := targets[i]
		if r.cfg.MembersOnly && s.affOf(r, invitee.Bare()) == affNone && len(r.affs) < maxAffiliations {
			// Section 7.8.2: in a members-only room whoever may invite
			// makes the invitee a member, or the invitation is useless.
			s.setAffiliation(ctx, r, invitee.Bare(), affMember, "")
		}
		inv := xml.New(NSUser, "invite", "from", inviter)
		if reason := c.Child(NSUser, "reason"); reason != nil {
			inv.Append(xml.New(NSUser, "reason").AppendText(reason.Text()))
		}
		if cont := c.Child(NSUser, "continue"); cont != nil {
			inv.Append(cont)
		}
		ux := xml.New(NSUser, "x").Append(inv)
		if r.cfg.passwordRequired() {
			ux.Append(xml.New(NSUser, "password").AppendText(r.cfg.Password))
		}
		m := xml.New(xml.NSClient, stanza.Message, "from", r.jidS, "to", invitee.String())
		m.SetAttr("id", el.Attr("id"))
		m.Append(ux, xml.New(xml.NSClient, "body").AppendText(inviter+" invites you to the room "+r.jidS))
		r.send(m, r.jid, invitee)
	}
	decliner := from.Bare().String()
	for i, c := range declines {
		target := targets[len(invites)+i]
		d := xml.New(NSUser, "decline", "from", decliner)
		if reason := c.Child(NSUser, "reason"); reason != nil {
			d.Append(xml.New(NSUser, "reason").AppendText(reason.Text()))
		}
		m := xml.New(xml.NSClient, stanza.Message, "from", r.jidS, "to", target.String())
		m.SetAttr("id", el.Attr("id"))
		m.Append(xml.New(NSUser, "x").Append(d))
		r.send(m, r.jid, target)
	}
}

// voiceRequest handles a visitor's request for voice, passed on to the
// moderators as a form, and a moderator's answer (section 8.6).
func (s *Service) voiceRequest(r *room, el *xml.Element, f *dataform.Form, from, to jid.JID) {
	o := r.member(el, from, to)
	if o == nil {
		return
	}
	if f.Field("muc#request_allow") != nil {
		// A moderator's answer.
		if o.role != roleModerator {
			r.sendError(el, xmpperr.New(xmpperr.Forbidden, "only moderators grant voice"), from, to)
			return
		}
		allow, err := dataform.ParseBool(f.Value("muc#request_allow"))
		if err != nil {
			r.sendError(el, xmpperr.New(xmpperr.BadRequest, "muc#request_allow is not a boolean"), from, to)
			return
		}
		target := r.occupants[nickKey(f.Value("muc#roomnick"))]
		if allow && target != nil && target.role == roleVisitor {
			target.role = roleParticipant
			target.invalidate()
			c := &change{actor: o.nick}
			s.toOthers(r, target, c)
			s.toSelf(r, target, c)
		}
		return
	}
	if f.Value("muc#role") != roleParticipant.String() || o.role != roleVisitor {
		return
	}
	if !s.voice.allow(o.bare, s.now()) {
		r.sendError(el, xmpperr.New(xmpperr.ResourceConstraintC, "too many requests"), from, to)
		return
	}
	req := dataform.New(dataform.TypeForm, NSRequest,
		dataform.Field{Var: "muc#role", Type: dataform.ListSingle, Label: "Requested role", Values: []string{"participant"},
			Options: []dataform.Option{{Value: "participant"}}},
		dataform.Field{Var: "muc#jid", Type: dataform.JIDSingle, Label: "User ID", Values: []string{from.String()}},
		dataform.Field{Var: "muc#roomnick", Type: dataform.TextSingle, Label: "Room Nickname", Values: []string{o.nick}},
		dataform.Field{Var: "muc#request_allow", Type: dataform.Boolean, Label: "Grant voice to this person?", Values: []string{"false"}},
	)
	req.Title = "Voice request"
	form := req.Element()
	for _, p := range r.list {
		if p.role != roleModerator {
			continue
		}
		for _, rl := range p.reals {
			m := xml.New(xml.NSClient, stanza.Message, "from", r.jidS, "to", rl.s, "id", randomID())
			m.Append(form)
			r.send(m, r.jid, rl.j)
		}
	}
}
