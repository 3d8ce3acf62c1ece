package accountjoin

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Namespaces used on the wire.
const (
	nsMUC      = stanza.NSMUC
	nsMUCUser  = stanza.NSMUCUser
	nsPing     = "urn:xmpp:ping"
	nsMAM      = "urn:xmpp:mam:2"
	nsStanzaID = stanza.NSStanzaID
	nsMUCOwner = "http://jabber.org/protocol/muc#owner"
	nsDataForm = "jabber:x:data"
)

// newID returns a random stanza id with the prefix: 96 bits that nobody
// outside can guess, for the ids the account's requests go out with.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// statusCodes returns the muc#user status codes of a room stanza.
func statusCodes(el *xml.Element) map[string]bool {
	x := el.Child(nsMUCUser, "x")
	if x == nil {
		return nil
	}
	codes := make(map[string]bool)
	for _, c := range x.Elements() {
		if c.Local == "status" && c.Space == nsMUCUser {
			codes[c.Attr("code")] = true
		}
	}
	return codes
}

// eventCodes are the muc#user status codes that tell of one event (the
// room was created, the room changed the nick, a nick change, a removal)
// rather than describe the room or the occupant. A cached presence
// replayed to a later join must not repeat them (a client reads 201 as
// "the room is locked until you configure it").
var eventCodes = map[string]bool{
	"201": true, "210": true, "301": true, "303": true, "307": true,
	"321": true, "322": true, "332": true, "333": true,
}

// withoutEventCodes returns el, or a copy of it without the status codes
// of eventCodes when it has any.
func withoutEventCodes(el *xml.Element) *xml.Element {
	has := false
	for code := range statusCodes(el) {
		has = has || eventCodes[code]
	}
	if !has {
		return el
	}
	c := el.Clone()
	c.Child(nsMUCUser, "x").RemoveFunc(func(e *xml.Element) bool {
		return e.Space == nsMUCUser && e.Local == "status" && eventCodes[e.Attr("code")]
	})
	return c
}

// forkTo returns a copy of el addressed to full. Children are shared: a
// forked stanza is only read after this.
func forkTo(el *xml.Element, to string) *xml.Element {
	c := el.ShallowClone()
	c.SetAttr("to", to)
	return c
}

// selfCopy returns the room's self-presence for session full: addressed to
// it, and with an item jid equal to the account's bare JID rewritten to
// the session's full JID, as a client joining itself would see it.
func selfCopy(el *xml.Element, bare, full jid.JID, id string, extraCodes ...string) *xml.Element {
	c := el.Clone()
	c.SetAttr("to", full.String())
	if id != "" {
		c.SetAttr("id", id)
	} else {
		c.SetAttr("id", "")
	}
	x := c.Child(nsMUCUser, "x")
	if x == nil {
		return c
	}
	bs := bare.String()
	for _, it := range x.Elements() {
		if it.Local == "item" && it.Space == nsMUCUser {
			if j := it.Attr("jid"); j == bs || strings.HasPrefix(j, bs+"/") {
				it.SetAttr("jid", full.String())
			}
		}
	}
	have := statusCodes(c)
	for _, code := range extraCodes {
		if !have[code] {
			x.Append(xml.New(nsMUCUser, "status", "code", code))
		}
	}
	return c
}

// selfUnavailable builds the unavailable self-presence (110) a session
// gets when it leaves while the account stays in the room.
func selfUnavailable(room jid.JID, nick string, to jid.JID, id string, self *xml.Element) *xml.Element {
	p := xml.New(xml.NSClient, stanza.Presence, "from", room.WithResource(nick).String(), "to", to.String(), "type", "unavailable")
	p.SetAttr("id", id)
	item := xml.New(nsMUCUser, "item", "affiliation", "none", "role", "none")
	if self != nil {
		if x := self.Child(nsMUCUser, "x"); x != nil {
			if it := x.Child(nsMUCUser, "item"); it != nil && it.Attr("affiliation") != "" {
				item.SetAttr("affiliation", it.Attr("affiliation"))
			}
		}
	}
	item.SetAttr("jid", to.String())
	x := xml.New(nsMUCUser, "x").Append(item, xml.New(nsMUCUser, "status", "code", "110"))
	return p.Append(x)
}

// isSubjectMessage reports whether el is a room's subject change: a
// message with <subject/> and no <body/> (XEP-0045 8.1).
func isSubjectMessage(el *xml.Element) bool {
	return el.Local == stanza.Message && el.Child("", "subject") != nil && el.Child("", "body") == nil
}

// emptySubject is what a session gets when the room has no subject.
func emptySubject(room, to jid.JID) *xml.Element {
	m := xml.New(xml.NSClient, stanza.Message, "from", room.String(), "to", to.String(), "type", "groupchat")
	return m.Append(xml.New(xml.NSClient, "subject"))
}

// showRank orders availability for the account's aggregated presence.
func showRank(p *xml.Element) int {
	if p == nil {
		return 0
	}
	switch p.ChildText("", "show") {
	case "chat":
		return 5
	case "":
		return 4
	case "dnd":
		return 3
	case "away":
		return 2
	case "xa":
		return 1
	}
	return 0
}

func priority(p *xml.Element) int {
	if p == nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(p.ChildText("", "priority")))
	return n
}

// historyLimits reads <history/> of a join (XEP-0045 7.2.13).
type historyLimits struct {
	none      bool
	maxStanza int // -1: unset
	maxChars  int // -1: unset
	seconds   int // -1: unset
	since     string
}

func parseHistory(x *xml.Element) historyLimits {
	h := historyLimits{maxStanza: -1, maxChars: -1, seconds: -1}
	if x == nil {
		return h
	}
	hist := x.Child(nsMUC, "history")
	if hist == nil {
		return h
	}
	atoi := func(s string) int {
		if s == "" {
			return -1
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	h.maxStanza = atoi(hist.Attr("maxstanzas"))
	h.maxChars = atoi(hist.Attr("maxchars"))
	h.seconds = atoi(hist.Attr("seconds"))
	h.since = hist.Attr("since")
	if h.maxChars == 0 || h.maxStanza == 0 {
		h.none = true
	}
	return h
}
