package xml

import (
	"strconv"
	"unicode/utf8"
)

// AppendXML appends the serialisation of e to dst and returns the result.
// parentNS is the default namespace in scope where e is written: e gets an
// xmlns declaration only when its namespace differs. Writing a stanza with
// parentNS set to the stream's content namespace (jabber:client or
// jabber:server) therefore leaves it unqualified, as RFC 6120 4.8.3 wants.
func (e *Element) AppendXML(dst []byte, parentNS string) []byte {
	return e.appendXML(dst, "", parentNS)
}

// AppendPrefixedXML appends e written as prefix:local, for elements whose
// namespace an ancestor bound to prefix: <stream:features/> and
// <stream:error/> inside <stream:stream>, which is how every client
// expects them. Children declare their own namespaces.
func (e *Element) AppendPrefixedXML(dst []byte, prefix string) []byte {
	return e.appendXML(dst, prefix, "")
}

func (e *Element) appendXML(dst []byte, prefix, parentNS string) []byte {
	dst = append(dst, '<')
	if prefix != "" {
		dst = append(dst, prefix...)
		dst = append(dst, ':')
	}
	dst = append(dst, e.Local...)
	childNS := e.Space
	if prefix != "" {
		childNS = parentNS // a prefix changes no default namespace
	} else if e.Space != parentNS {
		dst = append(dst, ` xmlns="`...)
		dst = appendEscaped(dst, e.Space, true)
		dst = append(dst, '"')
	}
	prefixes := 0
	for _, a := range e.Attrs {
		dst = append(dst, ' ')
		switch a.Space {
		case "":
		case NSXML:
			dst = append(dst, "xml:"...)
		default:
			// A namespaced attribute other than xml:*: declare a private
			// prefix for it. Rare in XMPP, so no attempt is made to reuse
			// prefixes across attributes.
			prefixes++
			p := "ns" + strconv.Itoa(prefixes)
			dst = append(dst, "xmlns:"...)
			dst = append(dst, p...)
			dst = append(dst, `="`...)
			dst = appendEscaped(dst, a.Space, true)
			dst = append(dst, `" `...)
			dst = append(dst, p...)
			dst = append(dst, ':')
		}
		dst = append(dst, a.Local...)
		dst = append(dst, `="`...)
		dst = appendEscaped(dst, a.Value, true)
		dst = append(dst, '"')
	}
	if len(e.Children) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, c := range e.Children {
		switch {
		case c.Elem != nil && c.Elem.frozen != nil:
			dst = c.Elem.appendFrozen(dst, childNS)
		case c.Elem != nil:
			dst = c.Elem.AppendXML(dst, childNS)
		default:
			dst = appendEscaped(dst, c.Text, false)
		}
	}
	dst = append(dst, "</"...)
	if prefix != "" {
		dst = append(dst, prefix...)
		dst = append(dst, ':')
	}
	dst = append(dst, e.Local...)
	return append(dst, '>')
}

// appendEscaped escapes the five XML specials (quotes only in attributes)
// and replaces characters XML cannot carry with U+FFFD, so that whatever a
// builder put in a tree always serialises to well-formed XML.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	mask := plainText
	if attr {
		mask = plainAttr
	}
	last := 0
	for i := 0; i < len(s); {
		// Most of what is written needs nothing: skip it a byte at a time
		// on one table lookup.
		for i < len(s) && plain[s[i]]&mask != 0 {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			var esc string
			switch {
			case c == '<':
				esc = "&lt;"
			case c == '>':
				esc = "&gt;"
			case c == '&':
				esc = "&amp;"
			case c == '"' && attr:
				esc = "&quot;"
			case c == '\'' && attr:
				esc = "&apos;"
			case c == '\r':
				esc = "&#xD;"
			case (c == '\n' || c == '\t') && attr:
				if c == '\n' {
					esc = "&#xA;"
				} else {
					esc = "&#x9;"
				}
			case c < 0x20 && c != '\n' && c != '\t':
				esc = "\uFFFD"
			default:
				i++
				continue
			}
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc...)
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == 0xFFFE || r == 0xFFFF {
			dst = append(dst, s[last:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			last = i
			continue
		}
		i += size
	}
	return append(dst, s[last:]...)
}

// plain says, per byte, where it is written as it is: plainText in
// character data, plainAttr in an attribute. Bytes from 0x80 up start a
// multi-byte character that appendEscaped checks.
var plain = func() (t [256]uint8) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		switch c {
		case '<', '>', '&':
		case '"', '\'':
			t[c] = plainText
		default:
			t[c] = plainText | plainAttr
		}
	}
	t['\n'], t['\t'] = plainText, plainText
	return t
}()

const (
	plainText uint8 = 1 << iota
	plainAttr
)

// Escape returns s escaped for use as character data.
func Escape(s string) string { return string(appendEscaped(nil, s, false)) }

// EscapeAttr returns s escaped for use inside a double-quoted attribute.
func EscapeAttr(s string) string { return string(appendEscaped(nil, s, true)) }
