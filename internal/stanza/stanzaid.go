package stanza

import (
	"minimix/internal/jid"
	"minimix/internal/xml"
)

// XEP-0359 stanza ids: the archive that stored a message says so with
// <stanza-id by=archive id=.../>, and only the archive may: one claiming
// to be by a local account or room is forged and must go (section 5).

// StanzaID returns the id of the <stanza-id/> by by, or "".
func StanzaID(el *xml.Element, by jid.JID) string {
	for _, c := range el.Children {
		if c.Elem != nil && isStanzaIDBy(c.Elem, by) {
			return c.Elem.Attr("id")
		}
	}
	return ""
}

// RemoveStanzaIDs removes every <stanza-id/> by by from el. It runs for
// every delivered message, so the common case (none there) allocates
// nothing.
func RemoveStanzaIDs(el *xml.Element, by jid.JID) {
	for _, c := range el.Children {
		if c.Elem != nil && isStanzaIDBy(c.Elem, by) {
			el.RemoveFunc(func(e *xml.Element) bool { return isStanzaIDBy(e, by) })
			return
		}
	}
}

// AddStanzaID appends <stanza-id by=by id=id/> to el.
func AddStanzaID(el *xml.Element, by jid.JID, id string) {
	AddStanzaIDString(el, by.String(), id)
}

// AddStanzaIDString is AddStanzaID with by already written out, for a
// caller that adds one to every message it delivers.
func AddStanzaIDString(el *xml.Element, by, id string) {
	el.Append(xml.New(NSStanzaID, "stanza-id", "id", id, "by", by))
}

func isStanzaIDBy(e *xml.Element, by jid.JID) bool {
	return e.Space == NSStanzaID && e.Local == "stanza-id" && IsJID(e.Attr("by"), by)
}

// IsJID reports whether s is j written out, without building the string.
func IsJID(s string, j jid.JID) bool {
	n := len(j.Domain)
	if j.Local != "" {
		n += len(j.Local) + 1
	}
	if j.Resource != "" {
		n += len(j.Resource) + 1
	}
	if len(s) != n {
		return false
	}
	if j.Local != "" {
		if s[:len(j.Local)] != j.Local || s[len(j.Local)] != '@' {
			return false
		}
		s = s[len(j.Local)+1:]
	}
	if s[:len(j.Domain)] != j.Domain {
		return false
	}
	s = s[len(j.Domain):]
	if j.Resource != "" {
		return s[0] == '/' && s[1:] == j.Resource
	}
	return true
}
