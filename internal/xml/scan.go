package xml

import "unicode/utf8"

// The scanners below share one shape: an inner loop runs over the bytes
// already in the buffer while they need no attention (see charClass), the
// run is copied out in one append, and the byte that stopped the loop is
// handled on a slow path. A token may span any number of refills; nothing
// keeps a pointer into the buffer across one.

// readName appends a Name (XML 1.0 production 5) read from the input to dst.
func (d *Decoder) readName(dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return dst, err
			}
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) && charClass[b[i]]&cName != 0 {
			i++
		}
		dst = append(dst, b[:i]...)
		d.pos += i
		if i == len(b) {
			continue
		}
		if b[i] < utf8.RuneSelf {
			break
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(b[i:]) {
				if err := d.fill(); err != nil {
					return dst, err
				}
				continue
			}
			return dst, notWellFormed("invalid UTF-8")
		}
		if !isNameRune(r) {
			return dst, notWellFormed("invalid character in name")
		}
		dst = append(dst, b[i:i+size]...)
		d.pos += size
	}
	if len(dst) == start {
		return dst, notWellFormed("expected a name")
	}
	if c := dst[start]; c < utf8.RuneSelf && charClass[c]&cNameHead == 0 || c >= utf8.RuneSelf && !isNameHead(dst[start:]) {
		return dst, notWellFormed("name starts with a character that cannot start a name")
	}
	return dst, nil
}

// copyNonASCII validates the multi-byte UTF-8 characters at d.pos and
// appends them to the arena. When the buffer ends inside a character it
// refills instead, and the caller loops.
func (d *Decoder) copyNonASCII() error {
	b := d.buf[d.pos:d.end]
	j := 0
	for j < len(b) && b[j] >= utf8.RuneSelf {
		r, size := utf8.DecodeRune(b[j:])
		if r == utf8.RuneError && size == 1 {
			if utf8.FullRune(b[j:]) {
				return notWellFormed("invalid UTF-8")
			}
			if j == 0 {
				return d.fill()
			}
			break
		}
		if r == 0xFFFE || r == 0xFFFF {
			return notWellFormed("character not allowed in XML")
		}
		j += size
	}
	d.arena = append(d.arena, b[:j]...)
	d.pos += j
	return nil
}

// readText appends character data up to the next '<', which it consumes,
// to the innermost element.
func (d *Decoder) readText() error {
	off := len(d.arena)
	brackets := 0 // literal ']' just before d.pos, to refuse "]]>"
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
		}
		b := d.buf[d.pos:d.end]
		i := textRun(b)
		if i > 0 {
			d.arena = append(d.arena, b[:i]...)
			d.pos += i
			brackets = 0
			if i == len(b) {
				continue
			}
		}
		switch c := b[i]; {
		case c == '<':
			d.pos++
			d.addText(off)
			return nil
		case c == ']':
			d.arena = append(d.arena, c)
			d.pos++
			brackets++
		case c == '>':
			if brackets >= 2 {
				return notWellFormed("]]> in character data")
			}
			d.arena = append(d.arena, c)
			d.pos++
			brackets = 0
		case c == '&':
			d.pos++
			brackets = 0
			if err := d.readRef(); err != nil {
				return err
			}
		case c == '\r':
			brackets = 0
			if err := d.newline('\n'); err != nil {
				return err
			}
		case c >= utf8.RuneSelf:
			brackets = 0
			if err := d.copyNonASCII(); err != nil {
				return err
			}
		default:
			return notWellFormed("control character in character data")
		}
	}
}

// newline consumes the '\r' at d.pos and a '\n' after it, appending nl:
// XML reads CR LF and a lone CR as LF (section 2.11).
func (d *Decoder) newline(nl byte) error {
	d.pos++
	d.arena = append(d.arena, nl)
	if err := d.need(1); err != nil {
		return err
	}
	if d.buf[d.pos] == '\n' {
		d.pos++
	}
	return nil
}

// readCDATA appends the content of a CDATA section, whose "<![CDATA[" has
// been consumed, as character data of the innermost element.
func (d *Decoder) readCDATA() error {
	off := len(d.arena)
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) && charClass[b[i]]&cCDATA != 0 {
			i++
		}
		d.arena = append(d.arena, b[:i]...)
		d.pos += i
		if i == len(b) {
			continue
		}
		switch c := b[i]; {
		case c == ']':
			end, err := d.hasPrefix("]]>")
			if err != nil {
				return err
			}
			if end {
				d.pos += 3
				d.addText(off)
				return nil
			}
			d.arena = append(d.arena, c)
			d.pos++
		case c == '\r':
			if err := d.newline('\n'); err != nil {
				return err
			}
		case c >= utf8.RuneSelf:
			if err := d.copyNonASCII(); err != nil {
				return err
			}
		default:
			return notWellFormed("control character in CDATA section")
		}
	}
}

// readAttrValue appends an attribute value up to the closing quote q, which
// it consumes, to the arena, normalised as XML 1.0 section 3.3.3 says for
// CDATA attributes: literal tab, CR, LF and CR LF each become one space.
func (d *Decoder) readAttrValue(q byte) error {
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
		}
		b := d.buf[d.pos:d.end]
		i := attrRun(b)
		d.arena = append(d.arena, b[:i]...)
		d.pos += i
		if i == len(b) {
			continue
		}
		switch c := b[i]; {
		case c == q:
			d.pos++
			return nil
		case c == '"' || c == '\'':
			d.arena = append(d.arena, c)
			d.pos++
		case c == '&':
			d.pos++
			if err := d.readRef(); err != nil {
				return err
			}
		case c == '\t' || c == '\n':
			d.arena = append(d.arena, ' ')
			d.pos++
		case c == '\r':
			if err := d.newline(' '); err != nil {
				return err
			}
		case c == '<':
			return notWellFormed("'<' in attribute value")
		case c >= utf8.RuneSelf:
			if err := d.copyNonASCII(); err != nil {
				return err
			}
		default:
			return notWellFormed("control character in attribute value")
		}
	}
}

func (d *Decoder) readByte() (byte, error) {
	if d.pos == d.end {
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
	c := d.buf[d.pos]
	d.pos++
	return c, nil
}

// maxEntityName bounds the name of an entity reference the decoder reads
// before deciding it is not well-formed.
const maxEntityName = 64

// readRef decodes a reference whose '&' has been consumed and appends the
// character it stands for. Only character references and the five
// predefined entities exist: any other entity would need a DTD. A
// well-formed reference to another entity is restricted XML (RFC 6120
// 11.1 forbids entity references other than the predefined ones, and
// 4.9.3.18 names restricted-xml for them); a malformed one is not
// well-formed.
func (d *Decoder) readRef() error {
	c, err := d.readByte()
	if err != nil {
		return err
	}
	if c == '#' {
		return d.readCharRef()
	}
	var name [maxEntityName]byte
	n := 0
	for ; c != ';'; n++ {
		if n == len(name) || charClass[c]&cName == 0 || c == ':' {
			return notWellFormed("malformed entity reference")
		}
		if n == 0 && charClass[c]&cNameHead == 0 {
			return notWellFormed("malformed entity reference")
		}
		name[n] = c
		if c, err = d.readByte(); err != nil {
			return err
		}
	}
	if n == 0 {
		return notWellFormed("empty entity reference")
	}
	var r byte
	switch string(name[:n]) {
	case "lt":
		r = '<'
	case "gt":
		r = '>'
	case "amp":
		r = '&'
	case "apos":
		r = '\''
	case "quot":
		r = '"'
	default:
		return restricted("reference to entity " + string(name[:n]))
	}
	d.arena = append(d.arena, r)
	return nil
}

// readCharRef decodes a character reference after its "&#".
func (d *Decoder) readCharRef() error {
	c, err := d.readByte()
	if err != nil {
		return err
	}
	base := rune(10)
	if c == 'x' {
		base = 16
		if c, err = d.readByte(); err != nil {
			return err
		}
	}
	var r rune
	digits := 0
	for ; c != ';'; digits++ {
		var v rune
		switch {
		case c >= '0' && c <= '9':
			v = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			v = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			v = rune(c-'A') + 10
		default:
			return notWellFormed("bad character reference")
		}
		if r = r*base + v; r > utf8.MaxRune {
			r = utf8.MaxRune + 1 // saturate: leading zeros are legal, overflow is not
		}
		if c, err = d.readByte(); err != nil {
			return err
		}
	}
	if digits == 0 || !isChar(r) {
		return notWellFormed("character reference to a character not allowed in XML")
	}
	d.arena = utf8.AppendRune(d.arena, r)
	return nil
}
