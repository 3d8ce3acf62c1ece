package muc

import (
	"context"
	"errors"

	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Message retraction in rooms: by the sender (XEP-0424) and by a
// moderator (XEP-0425, urn:xmpp:message-moderate:1 and the older :0 form
// with XEP-0422 <apply-to/>, which some clients still send). A retracted
// message leaves the room's history, and its records in the room's
// archive and in local members' archives (the shared records of the
// archive by reference) become tombstones, before the room tells its
// occupants: whoever sees the retraction and asks an archive sees the
// tombstone. Messages are named by the room's stanza-id.
//
// A retraction takes three steps: under the room's lock, who may retract
// and whether the message is in the history; outside it, the archives;
// under it again, the history and the broadcast. A message whose author
// is not known (out of the history, and the room keeps no archive) is
// still relayed: clients check the occupant-id, as XEP-0424 asks.

// Namespaces rooms advertise and use for retraction and moderation.
const (
	NSModerate       = mam.NSModerate
	NSModerateLegacy = mam.NSModerateLegacy
	NSRetract        = mam.NSRetract
	nsRetractLegacy  = mam.NSRetractLegacy
	nsFasten         = mam.NSFasten
)

// moderation is a parsed XEP-0425 request.
type moderation struct {
	id, reason string
}

// parseModeration reads a moderation request, p being the iq's payload:
// <moderate id xmlns=…:1><retract xmlns=…retract:1/><reason/></moderate>
// or <apply-to id xmlns=fasten:0><moderate xmlns=…:0><retract
// xmlns=…retract:0/><reason/></moderate></apply-to>. ok is false when p
// is neither.
func parseModeration(p *xml.Element) (m moderation, ok bool, err error) {
	switch {
	case p.Space == NSModerate && p.Local == "moderate":
		m.id, m.reason = p.Attr("id"), p.ChildText(NSModerate, "reason")
		if p.Child(NSRetract, "retract") == nil {
			return m, true, xmpperr.New(xmpperr.BadRequest, "only retraction is a supported moderation")
		}
	case p.Space == nsFasten && p.Local == "apply-to" && p.Child(NSModerateLegacy, "moderate") != nil:
		mod := p.Child(NSModerateLegacy, "moderate")
		m.id, m.reason = p.Attr("id"), mod.ChildText(NSModerateLegacy, "reason")
		if mod.Child(nsRetractLegacy, "retract") == nil {
			return m, true, xmpperr.New(xmpperr.BadRequest, "only retraction is a supported moderation")
		}
	default:
		return m, false, nil
	}
	if m.id == "" {
		return m, true, xmpperr.New(xmpperr.BadRequest, "the message to moderate needs an id")
	}
	return m, true, nil
}

// moderate handles a moderator's retraction (XEP-0425): an iq set to the
// room naming a message by the room's stanza-id.
func (s *Service) moderate(ctx context.Context, r *room, el *xml.Element, m moderation, from, to jid.JID) {
	if el.Attr("type") != "set" {
		s.routeError(ctx, el, xmpperr.New(xmpperr.BadRequest, "moderation is set"), from, to)
		return
	}
	r.mu.Lock()
	var se *xmpperr.StanzaError
	by, byID := r.jid, ""
	actor := r.byReal[from]
	switch {
	case r.destroyed, r.locked && s.affOf(r, from.Bare()) != affOwner:
		se = xmpperr.New(xmpperr.ItemNotFound, "no such room")
	case actor != nil && actor.role == roleModerator:
		by, byID = actor.jid, actor.id
	case actor == nil && s.affOf(r, from.Bare()) >= affAdmin:
		// An admin out of the room may moderate it, as with muc#admin.
	default:
		se = xmpperr.New(xmpperr.Forbidden, "only moderators may retract other occupants' messages")
	}
	inHistory := r.historyIndex(m.id) >= 0
	r.mu.Unlock()
	if se != nil {
		s.routeError(ctx, el, se, from, to)
		return
	}

	stamp := s.now()
	retracted := mam.Retracted("", stamp).Append(moderatedElement(NSModerate, by, byID))
	if m.reason != "" {
		retracted.Append(xml.New(NSRetract, "reason").AppendText(m.reason))
	}
	found, err := s.retractArchived(ctx, r, m.id, "", retracted)
	if err != nil {
		s.routeError(ctx, el, xmpperr.New(xmpperr.InternalServerErrorC, ""), from, to)
		return
	}
	if found == 0 && !inHistory {
		s.routeError(ctx, el, xmpperr.New(xmpperr.ItemNotFound, "no message of this room has that id"), from, to)
		return
	}

	r.mu.Lock()
	defer s.release(ctx, r)
	if r.destroyed {
		r.sendError(el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		return
	}
	r.dropHistory(m.id)
	b := xml.New(xml.NSClient, stanza.Message, "from", r.jidS, "type", "groupchat", "id", randomID())
	rt := xml.New(NSRetract, "retract", "id", m.id).Append(moderatedElement(NSModerate, by, byID))
	legacy := xml.New(NSModerateLegacy, "moderated", "by", by.String()).Append(xml.New(nsRetractLegacy, "retract"))
	if byID != "" {
		legacy.Append(occupantIDElement(byID))
	}
	if m.reason != "" {
		rt.Append(xml.New(NSRetract, "reason").AppendText(m.reason))
		legacy.Append(xml.New(NSModerateLegacy, "reason").AppendText(m.reason))
	}
	b.Append(rt, xml.New(nsFasten, "apply-to", "id", m.id).Append(legacy), xml.New(stanza.NSHints, "store"))
	s.archiveNotice(ctx, r, b)
	r.fanout(b, r.jid)
	r.send(resultIQ(el, nil, to, from), to, from)
}

// moderatedElement is <moderated by/> in ns with the moderator's
// occupant-id, when it has one.
func moderatedElement(ns string, by jid.JID, occupantID string) *xml.Element {
	e := xml.New(ns, "moderated", "by", by.String())
	if occupantID != "" {
		e.Append(occupantIDElement(occupantID))
	}
	return e
}

// archiveNotice keeps a message the room itself sends (a moderation) in
// its archive, when it keeps one, and stamps it with its stanza-id.
// r.mu is held.
func (s *Service) archiveNotice(ctx context.Context, r *room, m *xml.Element) {
	id := ""
	if r.cfg.Logging && s.cfg.Archive != nil {
		var err error
		if id, err = s.cfg.Archive.Append(ctx, r.jid, r.jid, m, true); err != nil {
			s.log.Error("muc: archiving a moderation", "room", r.jidS, "err", err)
			id = ""
		}
	}
	if id == "" {
		id = randomID()
	}
	stanza.AddStanzaID(m, r.jid, id)
}

// retractArchived replaces the message id of r by a tombstone in the
// archives (see mam.Archive.RetractGroupchat) and returns how many
// records changed. r.mu is not held.
func (s *Service) retractArchived(ctx context.Context, r *room, id, author string, retracted *xml.Element) (int, error) {
	if s.cfg.Archive == nil {
		return 0, nil
	}
	n, err := s.cfg.Archive.RetractGroupchat(ctx, r.jid, id, author, retracted)
	if err != nil {
		s.log.Error("muc: retracting a message in the archives", "room", r.jidS, "id", id, "err", err)
	}
	return n, err
}

// archivedAuthor returns the occupant-id of the message id in r's
// archive, and whether it is there. r.mu is not held.
func (s *Service) archivedAuthor(ctx context.Context, r *room, id string) (string, bool) {
	page, err := s.cfg.Store.QueryArchive(ctx, r.jidS, storage.ArchiveQuery{IDs: []string{id}, Max: 1, OwnOnly: true})
	if err != nil || len(page.Records) == 0 {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Error("muc: reading a retracted message's author", "room", r.jidS, "id", id, "err", err)
		}
		return "", false
	}
	m, err := xml.Parse(page.Records[0].Stanza)
	if err != nil {
		return "", false
	}
	if c := m.Child(NSOccupantID, "occupant-id"); c != nil {
		return c.Attr("id"), true
	}
	return "", true
}

// historyIndex returns the index in r's history of the message with the
// room's stanza-id id, -1 if none. r.mu is held.
func (r *room) historyIndex(id string) int {
	for i := range r.history {
		if stanza.StanzaID(r.history[i].el, r.jid) == id {
			return i
		}
	}
	return -1
}

// dropHistory takes the message with the room's stanza-id id out of the
// history: retracted, it is replayed to nobody. r.mu is held.
func (r *room) dropHistory(id string) {
	if i := r.historyIndex(id); i >= 0 {
		copy(r.history[i:], r.history[i+1:])
		r.history[len(r.history)-1] = histEntry{}
		r.history = r.history[:len(r.history)-1]
	}
}

// historyAuthor returns the occupant-id of the message id in the
// history, and whether it is there. r.mu is held.
func (r *room) historyAuthor(id string) (string, bool) {
	i := r.historyIndex(id)
	if i < 0 {
		return "", false
	}
	if c := r.history[i].el.Child(NSOccupantID, "occupant-id"); c != nil {
		return c.Attr("id"), true
	}
	return "", true
}

// retractOwn handles a retraction by the sender (XEP-0424): a groupchat
// message naming one of the sender's earlier messages. Naming another
// occupant's message in the history is forbidden; the records of another
// occupant's message are left as they are in any case (they are edited
// only when their occupant-id is the sender's).
func (s *Service) retractOwn(ctx context.Context, r *room, el *xml.Element, id string, from, to jid.JID) {
	r.mu.Lock()
	if r.destroyed {
		r.sendError(el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		s.release(ctx, r)
		return
	}
	o := r.member(el, from, to)
	if o == nil || o.role < roleParticipant {
		if o != nil {
			r.sendError(el, xmpperr.New(xmpperr.Forbidden, "visitors may not speak in this room"), from, to)
		}
		s.release(ctx, r)
		return
	}
	author := o.id
	a, inHistory := r.historyAuthor(id)
	if inHistory && a != author {
		r.sendError(el, xmpperr.New(xmpperr.Forbidden, "only its sender may retract a message"), from, to)
		s.release(ctx, r)
		return
	}
	logged := r.cfg.Logging
	s.release(ctx, r)

	if !inHistory && logged {
		// Older than the history: the room's archive knows its author.
		if a, ok := s.archivedAuthor(ctx, r, id); ok && a != author {
			s.routeError(ctx, el, xmpperr.New(xmpperr.Forbidden, "only its sender may retract a message"), from, to)
			return
		}
	}

	retracted := mam.Retracted(el.Attr("id"), s.now())
	_, _ = s.retractArchived(ctx, r, id, author, retracted) // logged; the retraction is relayed anyway

	r.mu.Lock()
	defer s.release(ctx, r)
	if r.destroyed {
		r.sendError(el, xmpperr.New(xmpperr.ItemNotFound, "no such room"), from, to)
		return
	}
	if a, ok := r.historyAuthor(id); ok && a == author {
		r.dropHistory(id)
	}
	s.groupchat(ctx, r, el, from, to)
}
