package mam

import (
	"context"
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
	a.retractChat(ctx, owner, with, el, incoming)
	id, err := a.append(ctx, owner, with, el, false, incoming)
	if err != nil {
		a.log.Error("mam: archiving message", "owner", owner.String(), "err", err)
		return ""
	}
	return id
}

// Append stores el in owner's archive unconditionally and returns its new
// archive id: the write a MUC room makes for each message it accepts.
// with is the other party; for a room archive, the occupant JID
// room/nick of the sender. The stored copy carries <stanza-id by=owner>,
// which the caller adds to what it delivers; groupchat marks the record
// for include-groupchat.
func (a *Archive) Append(ctx context.Context, owner, with jid.JID, el *xml.Element, groupchat bool) (string, error) {
	id, err := a.append(ctx, owner.Bare(), with, el, groupchat, true)
	if err != nil {
		return "", fmt.Errorf("mam: append to archive of %s: %w", owner.Bare(), err)
	}
	return id, nil
}

// append queues one record. The stored copy is a clone of el in
// jabber:client, rid of any <stanza-id by=owner> that did not come from
// here (XEP-0359 section 5), with the new one added when stamp is set.
// Ids come from one generator that never repeats itself (id.go), so the
// write needs no check that the id is free, and no read.
func (a *Archive) append(ctx context.Context, owner, with jid.JID, el *xml.Element, groupchat bool, stamp bool) (string, error) {
	by := owner.String()
	st := el.Clone()
	toClient(st)
	stanza.RemoveStanzaIDs(st, owner)
	now := a.now().UTC()
	rec := storage.ArchiveRecord{
		Owner:     by,
		ID:        a.ids.next(now),
		Stamp:     now,
		With:      with.Bare().String(),
		FromNick:  with.Resource,
		Groupchat: groupchat,
	}
	if !groupchat {
		// A retraction (XEP-0424) names a one-to-one message by its id.
		rec.OriginStanzaID = el.Attr("id")
	}
	if stamp {
		st.Append(xml.New(stanza.NSStanzaID, "stanza-id", "by", by, "id", rec.ID))
	}
	rec.Stanza = st.AppendXML(nil, "")
	if _, err := a.store.QueueArchive(ctx, rec); err != nil {
		return "", err
	}
	return rec.ID, nil
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
	return storable(el, chatContent)
}

// groupchatStorable reports whether a room message is worth keeping:
// a body or a subject change (XEP-0313 section 5.1.2), unless hinted
// otherwise.
func groupchatStorable(el *xml.Element) bool {
	return storable(el, func(*xml.Element) bool { return false })
}

// storable applies the XEP-0334 hints to el: no-store and
// no-permanent-store refuse it, store keeps it; otherwise it is kept if
// a child is a body, a subject, or content by the caller's measure. A
// carbon copy is never kept: its original is.
func storable(el *xml.Element, content func(c *xml.Element) bool) bool {
	store, has := false, false
	for _, n := range el.Children {
		c := n.Elem
		switch {
		case c == nil:
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
			has = true
		case content(c):
			has = true
		}
	}
	return store || has
}

// chatContent reports whether c is a payload a one-to-one conversation is
// made of besides a body.
func chatContent(c *xml.Element) bool {
	switch {
	case c.Local == "encrypted", // OMEMO in any of its namespaces
		c.Space == nsOpenPGP && c.Local == "openpgp",
		c.Space == nsLegacyPGP && c.Local == "x",
		c.Space == nsConference && c.Local == "x",
		c.Space == stanza.NSMUCUser && c.Local == "x" && c.Child(stanza.NSMUCUser, "invite") != nil,
		c.Space == nsReactions && c.Local == "reactions",
		(c.Space == nsRetract || c.Space == nsRetractLegacy) && c.Local == "retract",
		c.Space == nsFasten && c.Local == "apply-to":
		return true
	}
	return false
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
