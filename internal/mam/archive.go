package mam

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// Archiving modes of XEP-0441 preferences.
const (
	PrefsAlways = "always"
	PrefsNever  = "never"
	PrefsRoster = "roster"
)

// Namespaces this package reads and writes beyond the stanza package's.
const (
	nsClient        = xml.NSClient
	nsServer        = xml.NSServer
	nsConference    = "jabber:x:conference"        // XEP-0249 invitation
	nsOpenPGP       = "urn:xmpp:openpgp:0"         // XEP-0373
	nsLegacyPGP     = "jabber:x:encrypted"         // XEP-0027
	nsReactions     = "urn:xmpp:reactions:0"       // XEP-0444
	nsRetract       = "urn:xmpp:message-retract:1" // XEP-0424
	nsRetractLegacy = "urn:xmpp:message-retract:0" // XEP-0424 before 1.0
	nsFasten        = "urn:xmpp:fasten:0"          // XEP-0422, carried retract:0
)

// Archive implements router.Archiver for personal archives: it keeps
// messages of type chat and normal that carry content a user would want
// back (XEP-0313 section 5.1.1), honouring XEP-0334 hints and the owner's
// preferences, and returns the new archive id or "" when el is not kept.
// Chat messages from a room occupant (MUC private messages) are archived
// like any chat; groupchat, headline and error messages never are here.
// with is the other party; a full JID is kept whole, so that a query may
// select one resource or one occupant.
//
// The stored copy is el as the owner receives it: an incoming message
// gets the same <stanza-id by=owner> the router adds to the delivered
// copy after Archive returns. el itself is not modified. Failures are
// logged, since the message is delivered whether or not it was archived.
func (a *Archive) Archive(ctx context.Context, owner, with jid.JID, el *xml.Element, incoming bool) string {
	if !chatStorable(el) {
		return ""
	}
	owner = owner.Bare()
	ok, err := a.wanted(ctx, owner, with, false)
	if err != nil {
		a.log.Error("mam: reading preferences", "owner", owner.String(), "err", err)
		return ""
	}
	if !ok {
		return ""
	}
	id, err := a.append(ctx, owner, with, el, false, "", incoming)
	if err != nil {
		a.log.Error("mam: archiving message", "owner", owner.String(), "err", err)
		return ""
	}
	return id
}

// ArchiveGroupchat archives a groupchat message that owner received from
// room (account-based group chat). The room's own <stanza-id by=room> is
// kept as the record's origin id, and a message whose origin id is
// already in owner's archive (a history replay after a rejoin) is not
// stored again: it returns stored false and no error. The sender's nick
// (the resource of from) is recorded, so that a query with
// with=room/nick selects one occupant.
//
// Preferences apply with the room as the other party, except that the
// "roster" default archives rooms: a room is never a roster contact, and
// joining it is the owner's own choice of conversation.
//
// On success the stored copy carries <stanza-id by=owner id=id>, which
// the caller should add to the copies it delivers.
func (a *Archive) ArchiveGroupchat(ctx context.Context, owner, room jid.JID, el *xml.Element) (id string, stored bool, err error) {
	if el.Local != stanza.Message || stanza.Type(el) != "groupchat" || !groupchatStorable(el) {
		return "", false, nil
	}
	owner, room = owner.Bare(), room.Bare()
	ok, err := a.wanted(ctx, owner, room, true)
	if err != nil || !ok {
		return "", false, err
	}
	origin := stanza.StanzaID(el, room)
	var nick string
	if from, err := stanza.From(el); err == nil && from.Bare() == room {
		nick = from.Resource
	}

	defer a.owners.lock(owner.String())()
	if origin != "" {
		dup, err := a.store.HasOriginStanzaID(ctx, owner.String(), room.String(), origin)
		if err != nil {
			return "", false, fmt.Errorf("mam: groupchat from %s for %s: %w", room, owner, err)
		}
		if dup {
			return "", false, nil
		}
	}
	id, err = a.append(ctx, owner, room.WithResource(nick), el, true, origin, true)
	if err != nil {
		return "", false, fmt.Errorf("mam: groupchat from %s for %s: %w", room, owner, err)
	}
	return id, true, nil
}

// Append stores el in owner's archive unconditionally and returns its new
// archive id: the write a MUC room makes for each message it accepts.
// with is the other party; for a room archive, the occupant JID
// room/nick of the sender. The stored copy carries <stanza-id by=owner>,
// which the caller adds to what it delivers; groupchat marks the record
// for include-groupchat.
func (a *Archive) Append(ctx context.Context, owner, with jid.JID, el *xml.Element, groupchat bool) (string, error) {
	id, err := a.append(ctx, owner.Bare(), with, el, groupchat, "", true)
	if err != nil {
		return "", fmt.Errorf("mam: append to archive of %s: %w", owner.Bare(), err)
	}
	return id, nil
}

// append writes one record. The stored copy is a clone of el in
// jabber:client, rid of any <stanza-id by=owner> that did not come from
// here (XEP-0359 section 5), with the new one added when stamp is set.
func (a *Archive) append(ctx context.Context, owner, with jid.JID, el *xml.Element, groupchat bool, origin string, stamp bool) (string, error) {
	by := owner.String()
	st := el.Clone()
	toClient(st)
	stanza.RemoveStanzaIDs(st, owner)
	var sid *xml.Element
	if stamp {
		sid = xml.New(stanza.NSStanzaID, "stanza-id", "by", by)
		st.Append(sid)
	}
	rec := storage.ArchiveRecord{
		Owner:          by,
		With:           with.Bare().String(),
		FromNick:       with.Resource,
		Groupchat:      groupchat,
		OriginStanzaID: origin,
	}
	// A clash of ids needs two ids in the same millisecond with the same
	// 32 random bits, or a clock stepped back across a restart; one
	// retry with a fresh id covers both.
	for attempt := 0; ; attempt++ {
		now := a.now().UTC()
		rec.ID, rec.Stamp = a.ids.next(now), now
		if sid != nil {
			sid.SetAttr("id", rec.ID)
		}
		rec.Stanza = st.AppendXML(nil, "")
		err := a.store.AppendArchive(ctx, rec)
		if err == nil {
			return rec.ID, nil
		}
		if !errors.Is(err, storage.ErrExists) || attempt > 0 {
			return "", err
		}
	}
}

// wanted applies owner's XEP-0441 preferences to a message with with.
// Never beats always when a JID is in both lists; an entry matches with's
// bare JID, or its full JID when the entry has a resource.
func (a *Archive) wanted(ctx context.Context, owner, with jid.JID, room bool) (bool, error) {
	p, err := a.getPrefs(ctx, owner.String())
	if err != nil {
		return false, fmt.Errorf("mam: preferences of %s: %w", owner, err)
	}
	bare, full := with.Bare().String(), with.String()
	match := func(s string) bool { return s == bare || s == full }
	switch {
	case slices.ContainsFunc(p.Never, match):
		return false, nil
	case slices.ContainsFunc(p.Always, match):
		return true, nil
	}
	switch p.Default {
	case PrefsNever:
		return false, nil
	case PrefsRoster:
		if room || a.inRoster == nil {
			return true, nil
		}
		return a.inRoster(ctx, owner, with.Bare()), nil
	}
	return true, nil
}

// chatStorable reports whether a message belongs in a personal archive:
// type chat or normal, not a carbon copy (the original is archived
// once), not marked no-store or no-permanent-store, and with a body or
// another payload a conversation is made of (encrypted content,
// invitations, reactions, retractions), unless hinted <store/>.
func chatStorable(el *xml.Element) bool {
	if el.Local != stanza.Message {
		return false
	}
	switch stanza.Type(el) {
	case "chat", "normal":
	default:
		return false
	}
	store, content := false, false
	for _, c := range el.Elements() {
		switch {
		case c.Space == stanza.NSCarbons && (c.Local == "received" || c.Local == "sent"):
			return false
		case c.Space == stanza.NSHints:
			switch c.Local {
			case "no-store", "no-permanent-store":
				return false
			case "store":
				store = true
			}
		case (c.Space == nsClient || c.Space == nsServer) && (c.Local == "body" || c.Local == "subject"):
			content = true
		case c.Local == "encrypted", // OMEMO in any of its namespaces
			c.Space == nsOpenPGP && c.Local == "openpgp",
			c.Space == nsLegacyPGP && c.Local == "x",
			c.Space == nsConference && c.Local == "x",
			c.Space == stanza.NSMUCUser && c.Local == "x" && c.Child(stanza.NSMUCUser, "invite") != nil,
			c.Space == nsReactions && c.Local == "reactions",
			(c.Space == nsRetract || c.Space == nsRetractLegacy) && c.Local == "retract",
			c.Space == nsFasten && c.Local == "apply-to":
			content = true
		}
	}
	return store || content
}

// groupchatStorable reports whether a room message is worth keeping:
// a body or a subject change (XEP-0313 section 5.1.2), unless hinted
// otherwise.
func groupchatStorable(el *xml.Element) bool {
	store, content := false, false
	for _, c := range el.Elements() {
		switch {
		case c.Space == stanza.NSHints:
			switch c.Local {
			case "no-store", "no-permanent-store":
				return false
			case "store":
				store = true
			}
		case (c.Space == nsClient || c.Space == nsServer) && (c.Local == "body" || c.Local == "subject"):
			content = true
		}
	}
	return store || content
}

// toClient moves e and its descendants from jabber:server (a stanza from
// s2s) or no namespace (a stanza stored unqualified) into jabber:client,
// the namespace archived stanzas are kept and returned in.
func toClient(e *xml.Element) {
	if e.Space == nsServer || e.Space == "" {
		e.Space = nsClient
	}
	for _, c := range e.Children {
		if c.Elem != nil && (c.Elem.Space == nsServer || c.Elem.Space == "") {
			toClient(c.Elem)
		}
	}
}
