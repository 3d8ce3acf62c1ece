package push

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// Notify is when a room's messages are pushed.
type Notify int

// The settings of XEP-0492.
const (
	Always    Notify = iota + 1 // every message with a body
	OnMention                   // messages that mention the account
	Never
)

// ParseNotify reads a room's setting from its bookmark's <extensions/>
// (XEP-0402): the XEP-0492 <notify/> element (urn:xmpp:notification-
// settings:1, or :0 of its first version). Of its settings the most
// specific to a phone is taken, which is what a push notification wakes:
// one for identity client/phone, then for category client, then the one
// without identity. ok is false when there is none.
func ParseNotify(ext *xml.Element) (n Notify, ok bool) {
	if ext == nil {
		return 0, false
	}
	best := -1
	for _, space := range []string{NSNotify, NSNotify0} {
		notify := ext.Child(space, "notify")
		if notify == nil {
			continue
		}
		for _, e := range notify.Elements() {
			var v Notify
			switch e.Local {
			case "always":
				v = Always
			case "on-mention":
				v = OnMention
			case "never":
				v = Never
			default:
				continue
			}
			if e.Space != space {
				continue
			}
			cat, typ := e.Attr("identity-category"), e.Attr("identity-type")
			rank := -1
			switch {
			case cat == "" && typ == "":
				rank = 0
			case cat == "client" && typ == "":
				rank = 1
			case cat == "client" && typ == "phone":
				rank = 2
			}
			if rank > best {
				best, n = rank, v
			}
		}
		if best >= 0 {
			return n, true
		}
	}
	return 0, false
}

// The XEP-0492 namespaces.
const (
	NSNotify  = "urn:xmpp:notification-settings:1"
	NSNotify0 = "urn:xmpp:notification-settings:0"
)

// String is the setting's configuration name.
func (n Notify) String() string {
	switch n {
	case Always:
		return "all"
	case OnMention:
		return "mentions"
	case Never:
		return "never"
	}
	return "unknown"
}

// ParseSetting reads a configuration name: all, mentions or never.
func ParseSetting(s string) (Notify, bool) {
	switch s {
	case "all":
		return Always, true
	case "mentions":
		return OnMention, true
	case "never":
		return Never, true
	}
	return 0, false
}

// mentions reports whether a room message mentions the account, whose
// nick in room is nick: a XEP-0372 mention of its occupant or bare JID, a
// XEP-0461 reply to its occupant JID, or its nick in the body as a word of
// its own (letters and digits do not touch it), whatever the case.
func mentions(el *xml.Element, body string, room, account jid.JID, nick string) bool {
	own := room.WithResource(nick)
	for _, c := range el.Elements() {
		switch {
		case c.Space == nsReference && c.Local == "reference" && c.Attr("type") == "mention":
			u, _ := strings.CutPrefix(c.Attr("uri"), "xmpp:")
			if j, err := jid.Parse(u); err == nil && (j == own || j == account) {
				return true
			}
		case c.Space == nsReply && c.Local == "reply":
			if j, err := jid.Parse(c.Attr("to")); err == nil && j == own {
				return true
			}
		}
	}
	return nick != "" && containsWord(body, nick)
}

const (
	nsReference = "urn:xmpp:reference:0"
	nsReply     = "urn:xmpp:reply:0"
)

// containsWord reports whether word occurs in s, compared without case,
// with no letter or digit right before or after it.
func containsWord(s, word string) bool {
	ls, lw := strings.ToLower(s), strings.ToLower(word)
	if lw == "" {
		return false
	}
	for off := 0; off <= len(ls); {
		i := strings.Index(ls[off:], lw)
		if i < 0 {
			return false
		}
		start, end := off+i, off+i+len(lw)
		before, _ := utf8.DecodeLastRuneInString(ls[:start])
		after, _ := utf8.DecodeRuneInString(ls[end:])
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		_, size := utf8.DecodeRuneInString(ls[start:])
		off = start + size
	}
	return false
}

func wordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
