package xep0227

import (
	"strings"

	mxml "minimix/internal/xml"
)

// Nodes of a vCard kept in PEP (XEP-0292) and of the avatar (XEP-0084).
const (
	nodeVCard4         = "urn:xmpp:vcard4"
	nsVCard4           = "urn:ietf:params:xml:ns:vcard-4.0"
	nodeAvatarMetadata = "urn:xmpp:avatar:metadata"
	nodeAvatarData     = "urn:xmpp:avatar:data"
)

// vcardFromPEP builds a vcard-temp <vCard/> from an account's PEP vCard
// (urn:xmpp:vcard4) and avatar, as Prosody's mod_vcard_legacy serves one:
// Prosody with its default modules keeps a vCard a client sets there and
// nowhere else, so its export has no <vCard xmlns='vcard-temp'/>. nil
// when there is neither.
func vcardFromPEP(items map[string][]*mxml.Element) *mxml.Element {
	v := mxml.New(NSVCard, "vCard")
	add := func(name, text string) *mxml.Element {
		el := mxml.New(NSVCard, name)
		if text != "" {
			el.WithText(text)
		}
		v.Append(el)
		return el
	}
	sub := func(parent *mxml.Element, name, text string) {
		if text != "" {
			parent.Append(mxml.New(NSVCard, name).WithText(text))
		}
	}
	kind := func(el *mxml.Element, out *mxml.Element) {
		if p := el.Child(nsVCard4, "parameters"); p != nil {
			if t := p.Child(nsVCard4, "type"); t != nil {
				switch t.ChildText(nsVCard4, "text") {
				case "home":
					out.Append(mxml.New(NSVCard, "HOME"))
				case "work":
					out.Append(mxml.New(NSVCard, "WORK"))
				}
			}
		}
	}
	found := false
	if card := lastPayload(items[nodeVCard4]); card != nil && card.Space == nsVCard4 {
		found = true
		for _, el := range card.Elements() {
			if el.Space != nsVCard4 {
				continue
			}
			text := el.ChildText(nsVCard4, "text")
			switch el.Local {
			case "fn":
				add("FN", text)
			case "n":
				n := add("N", "")
				sub(n, "FAMILY", el.ChildText(nsVCard4, "surname"))
				sub(n, "GIVEN", el.ChildText(nsVCard4, "given"))
				sub(n, "MIDDLE", el.ChildText(nsVCard4, "additional"))
				sub(n, "PREFIX", el.ChildText(nsVCard4, "prefix"))
				sub(n, "SUFFIX", el.ChildText(nsVCard4, "suffix"))
			case "nickname", "title", "role", "categories", "note":
				if text != "" {
					add(strings.ToUpper(el.Local), text)
				}
			case "url":
				if u := el.ChildText(nsVCard4, "uri"); u != "" {
					add("URL", u)
				}
			case "bday":
				if d := el.ChildText(nsVCard4, "date"); d != "" {
					add("BDAY", d)
				}
			case "email":
				if text != "" {
					e := add("EMAIL", "")
					sub(e, "USERID", text)
					e.Append(mxml.New(NSVCard, "INTERNET"))
					kind(el, e)
				}
			case "tel":
				if u := strings.TrimPrefix(el.ChildText(nsVCard4, "uri"), "tel:"); u != "" {
					t := add("TEL", "")
					sub(t, "NUMBER", u)
					kind(el, t)
				}
			case "adr":
				a := add("ADR", "")
				for _, f := range [][2]string{{"pobox", "POBOX"}, {"ext", "EXTADD"}, {"street", "STREET"},
					{"locality", "LOCALITY"}, {"region", "REGION"}, {"code", "PCODE"}, {"country", "CTRY"}} {
					sub(a, f[1], el.ChildText(nsVCard4, f[0]))
				}
				kind(el, a)
			case "impp":
				if u, ok := strings.CutPrefix(el.ChildText(nsVCard4, "uri"), "xmpp:"); ok {
					add("JABBERID", u)
				}
			case "org":
				o := add("ORG", "")
				sub(o, "ORGNAME", text)
			}
		}
	}
	if meta := lastPayload(items[nodeAvatarMetadata]); meta != nil {
		if info := meta.Child("urn:xmpp:avatar:metadata", "info"); info != nil {
			photo := mxml.New(NSVCard, "PHOTO")
			sub(photo, "TYPE", info.Attr("type"))
			switch {
			case info.Attr("url") != "":
				sub(photo, "EXTVAL", info.Attr("url"))
			case info.Attr("id") != "":
				for _, it := range items[nodeAvatarData] {
					if it.Attr("id") == info.Attr("id") {
						if d := it.FirstElement(); d != nil {
							sub(photo, "BINVAL", strings.TrimSpace(d.Text()))
						}
					}
				}
			}
			if photo.FirstElement() != nil {
				v.Append(photo)
				found = true
			}
		}
	}
	if !found {
		return nil
	}
	return v
}

// lastPayload is the payload of the last <item/> of a node's items.
func lastPayload(items []*mxml.Element) *mxml.Element {
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].Local == "item" {
			if p := items[i].FirstElement(); p != nil {
				return p
			}
		}
	}
	return nil
}
