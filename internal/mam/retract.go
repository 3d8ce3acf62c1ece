package mam

import (
	"context"
	"fmt"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Message retraction (XEP-0424) and moderation (XEP-0425) in archives: a
// retracted message's record keeps its place, id, sender and stamp, and
// its content is replaced by a tombstone, <retracted/> (with a
// <moderated/> inside when a moderator retracted it). The retraction
// message itself is archived as any message is.
//
// One-to-one records are found by the id attribute of the message they
// keep (stored as the record's origin id) and edited only when the
// retraction comes from the original's sender; a room's messages by the
// room's stanza-id, in the room's own archive and in the shared records
// that local accounts' archives hold by reference, so that one edit
// reaches every member's archive.

// Namespaces of retraction and moderation.
const (
	NSRetract          = nsRetract
	NSRetractTombstone = nsRetract + "#tombstone"
	NSModerate         = "urn:xmpp:message-moderate:1"
	NSModerateLegacy   = "urn:xmpp:message-moderate:0"
	NSRetractLegacy    = nsRetractLegacy
	NSFasten           = nsFasten
	nsOccupantID       = "urn:xmpp:occupant-id:0"
)

// Retraction returns the id of the message el asks to retract (XEP-0424:
// <retract id/> in urn:xmpp:message-retract:1, or the older
// <apply-to id><retract/></apply-to> of :0), "" when el retracts nothing.
// A moderation the room relays (<moderated/> inside) is not the sender's
// retraction and is not reported here.
func Retraction(el *xml.Element) string {
	for _, n := range el.Children {
		c := n.Elem
		switch {
		case c == nil:
		case c.Space == nsRetract && c.Local == "retract":
			if c.Child(NSModerate, "moderated") == nil {
				return c.Attr("id")
			}
		case c.Space == nsFasten && c.Local == "apply-to":
			if c.Child(nsRetractLegacy, "retract") != nil {
				return c.Attr("id")
			}
		}
	}
	return ""
}

// Retracted is the <retracted/> tombstone element of a retraction made at
// stamp by the message whose id is id ("" when none names it).
func Retracted(id string, stamp time.Time) *xml.Element {
	r := xml.New(nsRetract, "retracted", "stamp", stamp.UTC().Format(time.RFC3339))
	if id != "" {
		r.SetAttr("id", id)
	}
	return r
}

// Tombstone returns a copy of m with its content replaced by retracted:
// its attributes and the children that identify it (stanza-ids, origin
// id, occupant-id, the MUC private message marker) stay, everything else
// (body, encrypted payloads, attachments, replies) goes.
func Tombstone(m *xml.Element, retracted *xml.Element) *xml.Element {
	t := &xml.Element{Space: m.Space, Local: m.Local, Attrs: append([]xml.Attr(nil), m.Attrs...)}
	for _, n := range m.Children {
		c := n.Elem
		if c == nil {
			continue
		}
		switch {
		case c.Space == stanza.NSStanzaID, c.Space == nsOccupantID,
			c.Space == stanza.NSMUCUser && c.Local == "x" && len(c.Children) == 0:
			t.Append(c)
		}
	}
	return t.Append(retracted)
}

// isTombstone reports whether m was retracted already.
func isTombstone(m *xml.Element) bool { return m.Child(nsRetract, "retracted") != nil }

// occupantID returns the XEP-0421 occupant-id of m, "" if none.
func occupantID(m *xml.Element) string {
	if c := m.Child(nsOccupantID, "occupant-id"); c != nil {
		return c.Attr("id")
	}
	return ""
}

// RetractGroupchat replaces the message with the room's stanza-id id by
// a tombstone carrying retracted, in room's own archive and in the shared
// records of its local members. author, when set, is the occupant-id of
// the one retracting (XEP-0424): only records of messages with that
// occupant-id change. A moderator's retraction (XEP-0425) passes "". It
// returns how many records changed.
func (a *Archive) RetractGroupchat(ctx context.Context, room jid.JID, id, author string, retracted *xml.Element) (int, error) {
	room = room.Bare()
	edit := func(rec *storage.ArchiveRecord) []byte {
		m, err := xml.Parse(rec.Stanza)
		if err != nil {
			a.log.Error("mam: retracting an unreadable record", "archive", rec.Owner, "id", rec.ID, "err", err)
			return nil
		}
		if isTombstone(m) || author != "" && occupantID(m) != author {
			return nil
		}
		return Tombstone(m, retracted).AppendXML(nil, "")
	}
	own, err := a.store.EditArchive(ctx, storage.ArchiveEdit{Owner: room.String(), ID: id}, edit)
	if err != nil {
		return 0, fmt.Errorf("mam: retract %s in %s: %w", id, room, err)
	}
	shared, err := a.store.EditArchive(ctx, storage.ArchiveEdit{Room: room.String(), OriginStanzaID: id}, edit)
	if err != nil {
		return own, fmt.Errorf("mam: retract %s in the members' archives of %s: %w", id, room, err)
	}
	return own + shared, nil
}

// retractChat applies a one-to-one retraction el to owner's archive: the
// records with with whose message has the id el names and came from the
// retraction's sender become tombstones. Failures are logged: the
// retraction is delivered and archived whether or not its original was
// found. A retraction is rare, so its read and write, unlike other
// archiving, happen on the message's path.
func (a *Archive) retractChat(ctx context.Context, owner, with jid.JID, el *xml.Element, incoming bool) {
	id := Retraction(el)
	if id == "" {
		return
	}
	sender := owner
	if incoming {
		sender = with
	}
	key := func(j jid.JID) string {
		// Occupants of one room share its bare JID: a private message's
		// sender is its occupant JID.
		if j.Bare() == with.Bare() && with.Resource != "" {
			return j.String()
		}
		return j.Bare().String()
	}
	want := key(sender)
	var retracted *xml.Element // made when a record is found: a.now may be a test's stepping clock
	_, err := a.store.EditArchive(ctx, storage.ArchiveEdit{Owner: owner.Bare().String(), With: with.Bare().String(), OriginStanzaID: id},
		func(rec *storage.ArchiveRecord) []byte {
			m, err := xml.Parse(rec.Stanza)
			if err != nil || isTombstone(m) {
				return nil
			}
			from := owner
			if f, err := stanza.From(m); err == nil && !f.IsZero() {
				from = f
			}
			if key(from) != want {
				return nil
			}
			if retracted == nil {
				retracted = Retracted(el.Attr("id"), a.now())
			}
			return Tombstone(m, retracted).AppendXML(nil, "")
		})
	if err != nil {
		a.log.Error("mam: retracting a message", "owner", owner.Bare().String(), "id", id, "err", err)
	}
}

// roomRetraction reads a retraction in a message that room sent: a
// moderation from the room itself (XEP-0425, its message-retract:1 form
// or the older :0 one) or an occupant's retraction of its own message
// (XEP-0424), which counts only with the occupant-id the room gave it. It
// returns the room's stanza-id of the retracted message, the author whose
// records may change ("" for a moderation: any) and the tombstone's
// <retracted/>.
func roomRetraction(el *xml.Element, room jid.JID, now func() time.Time) (id, author string, retracted *xml.Element, ok bool) {
	if el.Child(nsRetract, "retract") == nil && el.Child(nsFasten, "apply-to") == nil {
		return "", "", nil, false // every other room message: no address parsed
	}
	from, err := stanza.From(el)
	if err != nil || from.Bare() != room {
		return "", "", nil, false
	}
	if from.Resource == "" {
		// Only the room moderates (XEP-0425 section 6).
		if rt := el.Child(nsRetract, "retract"); rt != nil && rt.Attr("id") != "" {
			if mod := rt.Child(NSModerate, "moderated"); mod != nil {
				r := Retracted("", now()).Append(mod)
				if reason := rt.Child(nsRetract, "reason"); reason != nil {
					r.Append(reason)
				}
				return rt.Attr("id"), "", r, true
			}
		}
		if at := el.Child(nsFasten, "apply-to"); at != nil && at.Attr("id") != "" {
			if mod := at.Child(NSModerateLegacy, "moderated"); mod != nil && mod.Child(nsRetractLegacy, "retract") != nil {
				m := xml.New(NSModerate, "moderated", "by", mod.Attr("by"))
				if oid := mod.Child(nsOccupantID, "occupant-id"); oid != nil {
					m.Append(oid)
				}
				r := Retracted("", now()).Append(m)
				if reason := mod.ChildText(NSModerateLegacy, "reason"); reason != "" {
					r.Append(xml.New(nsRetract, "reason").AppendText(reason))
				}
				return at.Attr("id"), "", r, true
			}
		}
		return "", "", nil, false
	}
	id = Retraction(el)
	author = occupantID(el)
	if id == "" || author == "" {
		return "", "", nil, false
	}
	return id, author, Retracted(el.Attr("id"), now()), true
}

// retractShared applies a retraction that room sent to its shared
// records: the archives of the local accounts in it, for rooms anywhere.
// (A local room has done so before it sent it; nothing changes then.)
func (a *Archive) retractShared(ctx context.Context, room jid.JID, id, author string, retracted *xml.Element) {
	edit := func(rec *storage.ArchiveRecord) []byte {
		m, err := xml.Parse(rec.Stanza)
		if err != nil || isTombstone(m) || author != "" && occupantID(m) != author {
			return nil
		}
		return Tombstone(m, retracted).AppendXML(nil, "")
	}
	if _, err := a.store.EditArchive(ctx, storage.ArchiveEdit{Room: room.String(), OriginStanzaID: id}, edit); err != nil {
		a.log.Error("mam: retracting a room message in the members' archives", "room", room.String(), "id", id, "err", err)
	}
}
