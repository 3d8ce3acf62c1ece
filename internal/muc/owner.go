package muc

import (
	"context"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// owner answers a muc#owner query (section 10): the configuration form,
// its submission or cancellation, and the room's destruction. Only
// owners may. r.mu is held.
func (s *Service) owner(ctx context.Context, r *room, req iq.Request) (*xml.Element, error) {
	if s.affOf(r, req.From.Bare()) != affOwner {
		return nil, xmpperr.New(xmpperr.Forbidden, "only owners configure the room")
	}
	if req.Type == "get" {
		if len(req.Payload.Elements()) > 0 {
			return nil, xmpperr.New(xmpperr.BadRequest, "a configuration request is empty")
		}
		return xml.New(NSOwner, "query").Append(r.cfg.form(s.defaults().maxOccupants, s.cfg.Limits.MaxHistoryLength).Element()), nil
	}
	if d := req.Payload.Child(NSOwner, "destroy"); d != nil {
		return nil, s.destroyRequest(ctx, r, d)
	}
	x := dataform.Find(req.Payload)
	if x == nil {
		return nil, xmpperr.New(xmpperr.BadRequest, "a form or a destroy request is needed")
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return nil, xmpperr.New(xmpperr.BadRequest, err.Error())
	}
	switch f.Type {
	case dataform.TypeCancel:
		if r.locked {
			// Section 10.1.3: cancelling the first configuration
			// destroys the room.
			s.destroy(ctx, r, nil)
		}
		return nil, nil
	case dataform.TypeSubmit:
	default:
		return nil, xmpperr.New(xmpperr.BadRequest, "the form must be submitted or cancelled")
	}
	cfg, err := r.cfg.apply(f, s.defaults().maxOccupants, s.cfg.Limits.MaxHistoryLength)
	if err != nil {
		return nil, err
	}
	s.reconfigure(ctx, r, cfg)
	return nil, nil
}

// reconfigure gives r the configuration cfg and carries out what the
// change implies: unlocking a new room, removing non-members from a room
// turned members-only (322), voice in a room turned (un)moderated,
// storing or forgetting a room turned (non-)persistent, and telling the
// occupants (status 104, and 170-173 for logging and anonymity).
func (s *Service) reconfigure(ctx context.Context, r *room, cfg roomConfig) {
	old, wasLocked := r.cfg, r.locked
	r.cfg, r.locked = cfg, false
	r.trimHistory()
	r.invalidateAll()
	if !wasLocked {
		codes := []string{"104"}
		if old.Logging != cfg.Logging {
			codes = append(codes, map[bool]string{true: "170", false: "171"}[cfg.Logging])
		}
		if old.Whois != cfg.Whois {
			codes = append(codes, map[bool]string{true: "172", false: "173"}[cfg.Whois == whoisAnyone])
		}
		x := xml.New(NSUser, "x")
		for _, c := range codes {
			x.Append(status(c))
		}
		m := xml.New(xml.NSClient, stanza.Message, "from", r.jidS, "type", "groupchat", "id", randomID()).Append(x)
		r.fanout(m, r.jid)
	}
	if cfg.MembersOnly && !old.MembersOnly {
		for _, o := range append([]*occupant(nil), r.list...) {
			if s.affOf(r, o.bare) < affMember {
				s.removeOccupant(r, o, &change{typ: "unavailable", codes: []string{"322"}})
			}
		}
	}
	if cfg.Moderated != old.Moderated {
		for _, o := range r.list {
			if s.affOf(r, o.bare) != affNone {
				continue
			}
			var to role
			switch {
			case cfg.Moderated && o.role == roleParticipant:
				to = roleVisitor
			case !cfg.Moderated && o.role == roleVisitor:
				to = roleParticipant
			default:
				continue
			}
			o.role = to
			c := &change{}
			s.toOthers(r, o, c)
			s.toSelf(r, o, c)
		}
	}
	switch {
	case cfg.Persistent:
		if err := s.save(ctx, r); err != nil {
			s.log.Error("muc: saving room", "room", r.jidS, "err", err)
		}
	case old.Persistent:
		if err := s.cfg.Store.DeleteRoom(ctx, r.jidS); err != nil {
			s.log.Error("muc: forgetting room", "room", r.jidS, "err", err)
		}
	}
}

// destroyRequest handles <destroy/> (section 10.9).
func (s *Service) destroyRequest(ctx context.Context, r *room, d *xml.Element) error {
	out := xml.New(NSUser, "destroy")
	if alt := d.Attr("jid"); alt != "" {
		j, err := jid.Parse(alt)
		if err != nil {
			return xmpperr.New(xmpperr.JIDMalformed, "the alternate venue is not a JID")
		}
		out.SetAttr("jid", j.String())
	}
	if reason := d.Child(NSOwner, "reason"); reason != nil {
		out.Append(xml.New(NSUser, "reason").AppendText(reason.Text()))
	}
	if pw := d.Child(NSOwner, "password"); pw != nil {
		out.Append(xml.New(NSUser, "password").AppendText(pw.Text()))
	}
	s.destroy(ctx, r, out)
	return nil
}

// destroy ends the room: every occupant is told, with the destroy
// element when there is one, and the room is gone with its stored state
// and archive. Each copy is the occupant's own (status 110, as section
// 10.9 shows and Prosody sends): it is what tells a client, or a server
// that joined for an account, that it is out.
func (s *Service) destroy(ctx context.Context, r *room, d *xml.Element) {
	for _, o := range r.list {
		o.role = roleNone
		c := &change{typ: "unavailable", destroy: d, affNone: true}
		for _, rl := range o.reals {
			p := s.presenceEl(r, o, c, "", true, "")
			p.SetAttr("to", rl.s)
			r.send(p, o.jid, rl.j)
		}
	}
	r.clearOccupants()
	s.dispose(ctx, r)
}
