package muc

import (
	"context"
	"unicode/utf8"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Member registration (XEP-0045 sections 7.10, 7.12 and 9.3): a user
// registers with a room through jabber:iq:register and becomes a member
// with a reserved nick, which nobody else may enter the room under or
// change to (conflict). Admins reserve nicks too, with a nick attribute
// on an affiliation item. A reserved nick belongs to an affiliation: it
// goes when the affiliation goes (none, outcast).
//
// Who may register: anyone not banned in an open room (a member already
// changes its nick; an admin or owner keeps its affiliation and reserves
// a nick); in a members-only room only those on the member list, since
// membership there is the admins' to give (not-allowed).

// Namespaces of registration.
const (
	NSRegister     = "jabber:iq:register"
	NSRegisterForm = NS + "#register"

	fieldRoomNick = "muc#register_roomnick"
	nodeRoomUser  = "x-roomuser-item"
)

// reservedBy returns the bare JID that reserved the nick with compare key
// key, if any.
func (r *room) reservedBy(key string) (jid.JID, bool) {
	j, ok := r.reserved[key]
	return j, ok
}

// reservedByOther reports whether the nick with key is reserved by a
// bare JID other than bare.
func (r *room) reservedByOther(key string, bare jid.JID) bool {
	owner, ok := r.reserved[key]
	return ok && owner != bare
}

// reserve sets bare's reserved nick ("" drops it). r.mu is held.
func (r *room) reserve(bare jid.JID, nick string) {
	if old, ok := r.nicks[bare]; ok {
		if k := nickKey(old); r.reserved[k] == bare {
			delete(r.reserved, k)
		}
		delete(r.nicks, bare)
	}
	if nick == "" {
		return
	}
	r.nicks[bare] = nick
	r.reserved[nickKey(nick)] = bare
}

// registration answers jabber:iq:register on a room: a get returns the
// registration state or the form, a set registers or, with <remove/>,
// cancels. r.mu is held.
func (s *Service) registration(ctx context.Context, r *room, req iq.Request) (*xml.Element, error) {
	bare := req.From.Bare()
	aff := s.affOf(r, bare)
	if aff == affOutcast || r.cfg.MembersOnly && aff < affMember {
		return nil, xmpperr.New(xmpperr.NotAllowed, "you may not register with this room")
	}
	if req.Type == "get" {
		q := xml.New(NSRegister, "query")
		if nick, ok := r.nicks[bare]; ok {
			q.Append(xml.New(NSRegister, "registered"), xml.New(NSRegister, "username").AppendText(nick))
			return q, nil
		}
		form := dataform.New(dataform.TypeForm, NSRegisterForm,
			dataform.Field{Var: fieldRoomNick, Type: dataform.TextSingle, Label: "Desired Nickname", Required: true})
		form.Title = "Registration with " + r.displayName()
		form.Instructions = []string{"Choose the nickname reserved for you in this room."}
		q.Append(xml.New(NSRegister, "instructions").AppendText("Choose the nickname reserved for you in this room."), form.Element())
		return q, nil
	}
	if req.Payload.Child(NSRegister, "remove") != nil {
		if _, ok := r.nicks[bare]; !ok && r.affs[bare] != affMember {
			return nil, xmpperr.New(xmpperr.ItemNotFound, "you are not registered with this room")
		}
		r.reserve(bare, "")
		switch cur, ok := r.affs[bare]; {
		case ok && cur == affMember:
			// Cancelling a registration ends the membership it gave.
			s.applyAffiliation(ctx, r, adminOp{bare: bare, aff: affNone}, "")
		case ok:
			s.setAffiliation(ctx, r, bare, cur, "")
		}
		return nil, nil
	}
	x := dataform.Find(req.Payload)
	if x == nil {
		return nil, xmpperr.New(xmpperr.BadRequest, "registration needs the form")
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return nil, xmpperr.New(xmpperr.BadRequest, err.Error())
	}
	if f.Type == dataform.TypeCancel {
		return nil, nil
	}
	if ft := f.FormType(); ft != NSRegisterForm || f.Type != dataform.TypeSubmit {
		return nil, xmpperr.New(xmpperr.BadRequest, "not a muc#register submission")
	}
	if len(f.Fields) > maxFormFields {
		return nil, xmpperr.New(xmpperr.PolicyViolationC, "too many fields")
	}
	requested := f.Value(fieldRoomNick)
	if requested == "" {
		return nil, xmpperr.New(xmpperr.BadRequest, "muc#register_roomnick is required")
	}
	nick, key, _, err := prepareNick(requested)
	if err == nil && utf8.RuneCountInString(requested) > s.cfg.Limits.MaxNickLength {
		err = xmpperr.New(xmpperr.NotAcceptable, "the nickname is too long")
	}
	if err != nil {
		return nil, err
	}
	if err := s.nickFree(r, bare, key); err != nil {
		return nil, err
	}
	if _, ok := r.affs[bare]; !ok && len(r.affs) >= maxAffiliations {
		return nil, xmpperr.New(xmpperr.PolicyViolationC, "too many affiliations")
	}
	r.reserve(bare, nick)
	if cur, ok := r.affs[bare]; ok && cur >= affMember {
		s.setAffiliation(ctx, r, bare, cur, "")
	} else {
		s.applyAffiliation(ctx, r, adminOp{bare: bare, aff: affMember}, "")
	}
	return nil, nil
}

// nickFree reports, as a conflict error, whether the nick with key is
// reserved by someone other than bare or used by another user's
// occupant.
func (s *Service) nickFree(r *room, bare jid.JID, key string) error {
	if owner, ok := r.reservedBy(key); ok && owner != bare {
		return xmpperr.New(xmpperr.ConflictC, "that nickname is reserved")
	}
	if o := r.occupants[key]; o != nil && o.bare != bare {
		return xmpperr.New(xmpperr.ConflictC, "that nickname is in use")
	}
	return nil
}

// reservedNickInfo answers disco#info on the node x-roomuser-item
// (section 7.12): the requester's reserved nick as an identity's name,
// or an empty query.
func (r *room) reservedNickInfo(from jid.JID) *xml.Element {
	q := xml.New(stanza.NSDiscoInfo, "query", "node", nodeRoomUser)
	if nick, ok := r.nicks[from.Bare()]; ok {
		q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", nick))
	}
	return q
}
