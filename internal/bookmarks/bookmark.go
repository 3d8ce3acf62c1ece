package bookmarks

import (
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Bookmark is one group chat an account keeps (XEP-0402 section 3).
type Bookmark struct {
	Room     jid.JID // bare JID of the room
	Name     string
	Nick     string
	Password string
	Autojoin bool
	// Extensions is the <extensions/> element (in NS) with whatever
	// clients keep there, nil when there is none.
	Extensions *xml.Element
}

// Equal reports whether b and o say the same.
func (b Bookmark) Equal(o Bookmark) bool {
	return b.Room == o.Room && b.Name == o.Name && b.Nick == o.Nick && b.Password == o.Password &&
		b.Autojoin == o.Autojoin && extString(b.Extensions) == extString(o.Extensions)
}

// extString is the serialisation of the children of an <extensions/>
// element, "" when it has none.
func extString(ext *xml.Element) string {
	if ext == nil {
		return ""
	}
	var b []byte
	for _, c := range ext.Elements() {
		b = c.AppendXML(b, NS)
	}
	return string(b)
}

func badItem(text string) *xmpperr.StanzaError {
	return pep.Error(xmpperr.BadRequest, "invalid-payload", text)
}

// parseRoom reads a room address: a bare JID with a localpart.
func parseRoom(s string) (jid.JID, bool) {
	j, err := jid.Parse(s)
	if err != nil || j.Local == "" || j.Resource != "" {
		return jid.JID{}, false
	}
	return j, true
}

// parseAutojoin reads an xs:boolean.
func parseAutojoin(v string) (bool, bool) {
	switch v {
	case "true", "1":
		return true, true
	case "false", "0", "":
		return false, true
	}
	return false, false
}

// fromItem reads a native bookmark: the item id is the room, the payload
// a <conference xmlns='urn:xmpp:bookmarks:1'/>.
func fromItem(it pep.Item) (Bookmark, error) {
	room, ok := parseRoom(it.ID)
	if !ok {
		return Bookmark{}, badItem("a bookmark's item id is the bare JID of its room")
	}
	c := it.Payload
	if c == nil || c.Space != NS || c.Local != "conference" {
		return Bookmark{}, badItem("a bookmark is a <conference xmlns='" + NS + "'/>")
	}
	auto, ok := parseAutojoin(c.Attr("autojoin"))
	if !ok {
		return Bookmark{}, badItem("autojoin is a boolean")
	}
	b := Bookmark{Room: room, Name: c.Attr("name"), Autojoin: auto}
	for _, e := range c.Elements() {
		if e.Space != NS {
			continue
		}
		switch e.Local {
		case "nick":
			b.Nick = e.Text()
		case "password":
			b.Password = e.Text()
		case "extensions":
			if len(e.Elements()) > 0 {
				b.Extensions = e.Clone()
			}
		}
	}
	return b, nil
}

// payload renders b as a native <conference/>.
func (b Bookmark) payload() *xml.Element {
	c := b.fill(xml.New(NS, "conference"))
	if b.Extensions != nil && len(b.Extensions.Elements()) > 0 {
		c.Append(b.Extensions.Clone())
	}
	return c
}

// fromLegacy reads a XEP-0048 <conference/> (storage:bookmarks). Children
// other than nick and password go into extensions, as XEP-0402 section
// 6 says; a conference with none keeps the extensions of old, since a
// legacy client drops what it does not know.
func fromLegacy(c *xml.Element, old *Bookmark) (Bookmark, error) {
	room, ok := parseRoom(c.Attr("jid"))
	if !ok {
		return Bookmark{}, badItem("a legacy bookmark's jid is the bare JID of its room")
	}
	auto, ok := parseAutojoin(c.Attr("autojoin"))
	if !ok {
		return Bookmark{}, badItem("autojoin is a boolean")
	}
	b := Bookmark{Room: room, Name: c.Attr("name"), Autojoin: auto}
	var ext *xml.Element
	for _, e := range c.Elements() {
		switch {
		case e.Space == NSLegacy && e.Local == "nick":
			b.Nick = e.Text()
		case e.Space == NSLegacy && e.Local == "password":
			b.Password = e.Text()
		case e.Space == NSLegacy:
			// Nothing else is defined in storage:bookmarks.
		default:
			if ext == nil {
				ext = xml.New(NS, "extensions")
			}
			ext.Append(e.Clone())
		}
	}
	b.Extensions = ext
	if ext == nil && old != nil {
		b.Extensions = old.Extensions
	}
	return b, nil
}

// legacy renders b as a XEP-0048 <conference/>, with the children of its
// extensions, so that a legacy client that keeps what it does not know
// gives them back.
func (b Bookmark) legacy() *xml.Element {
	c := b.fill(xml.New(NSLegacy, "conference", "jid", b.Room.String()))
	if b.Extensions != nil {
		for _, e := range b.Extensions.Elements() {
			c.Append(e.Clone())
		}
	}
	return c
}

// fill sets the name, autojoin, nick and password of b on the
// <conference/> c, in the namespace of c, and returns c.
func (b Bookmark) fill(c *xml.Element) *xml.Element {
	c.SetAttr("name", b.Name)
	if b.Autojoin {
		c.SetAttr("autojoin", "true")
	}
	if b.Nick != "" {
		c.Append(xml.New(c.Space, "nick").AppendText(b.Nick))
	}
	if b.Password != "" {
		c.Append(xml.New(c.Space, "password").AppendText(b.Password))
	}
	return c
}
