package xml

import (
	"encoding/binary"
	"unicode/utf8"
)

// Byte classes for the scanner's inner loops. A byte with the class bit
// set needs no further attention in that context; every other byte sends
// the scanner to its slow path. Bytes >= 0x80 never have a class: they
// start multi-byte UTF-8 sequences that must be validated.
const (
	cText     = 1 << iota // character data: not < & ] > \r, not a control char
	cAttr                 // attribute value: not < & " ' and no whitespace but space
	cCDATA                // CDATA section: not ] \r, not a control char
	cNameHead             // ASCII NameStartChar
	cName                 // ASCII NameChar
	cSpace                // XML S
)

var charClass = func() (t [256]uint8) {
	for c := 0x20; c < 0x80; c++ {
		t[c] |= cText | cAttr | cCDATA
	}
	for _, c := range "<&]>" {
		t[c] &^= cText
	}
	for _, c := range `<&"'` {
		t[c] &^= cAttr
	}
	t[']'] &^= cCDATA
	t['\t'] |= cText | cCDATA
	t['\n'] |= cText | cCDATA
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cNameHead | cName
		t[c-'a'+'A'] |= cNameHead | cName
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= cName
	}
	t['_'] |= cNameHead | cName
	t[':'] |= cNameHead | cName
	t['-'] |= cName
	t['.'] |= cName
	for _, c := range " \t\r\n" {
		t[c] |= cSpace
	}
	return t
}()

func isSpace(c byte) bool { return charClass[c]&cSpace != 0 }

// isChar reports whether r is an XML 1.0 Char (production 2).
func isChar(r rune) bool {
	switch {
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= utf8.MaxRune
	}
}

// isNameHeadRune reports whether the non-ASCII r is a NameStartChar
// (XML 1.0 fifth edition, production 4).
func isNameHeadRune(r rune) bool {
	switch {
	case r < 0xC0:
		return false
	case r <= 0x2FF:
		return r != 0xD7 && r != 0xF7
	case r < 0x370:
		return false
	case r <= 0x1FFF:
		return r != 0x37E
	case r == 0x200C || r == 0x200D:
		return true
	case r >= 0x2070 && r <= 0x218F:
		return true
	case r >= 0x2C00 && r <= 0x2FEF:
		return true
	case r >= 0x3001 && r <= 0xD7FF:
		return true
	case r >= 0xF900 && r <= 0xFDCF:
		return true
	case r >= 0xFDF0 && r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= 0xEFFFF
	}
}

// isNameRune reports whether the non-ASCII r is a NameChar (production 4a).
func isNameRune(r rune) bool {
	return isNameHeadRune(r) || r == 0xB7 || (r >= 0x300 && r <= 0x36F) || r == 0x203F || r == 0x2040
}

// isNameHead reports whether the name in b starts with a NameStartChar.
func isNameHead(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] < utf8.RuneSelf {
		return charClass[b[0]]&cNameHead != 0
	}
	r, _ := utf8.DecodeRune(b)
	return isNameHeadRune(r)
}

// The run functions return how many leading bytes of b need no attention
// in their context (the bytes whose charClass has the context's bit). They
// test eight bytes at a time with word arithmetic while no byte in the word
// can be special, then go byte by byte through the word that may be.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasByte is non-zero when a byte of w equals c (Bit Twiddling Hacks,
// "determine if a word has a byte equal to n"). It may also flag bytes
// above a real match, which only matters to callers that need the exact
// position; these use it only to decide whether to look closer.
func hasByte(w uint64, c byte) uint64 {
	x := w ^ (lsb * uint64(c))
	return (x - lsb) & ^x & msb
}

// hasControlOrHigh is non-zero when a byte of w is below 0x20 or above 0x7F.
func hasControlOrHigh(w uint64) uint64 {
	return (w & msb) | ((w - lsb*0x20) & ^w & msb)
}

func textRun(b []byte) int {
	i := 0
	for {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if hasControlOrHigh(w)|hasByte(w, '<')|hasByte(w, '&')|hasByte(w, ']')|hasByte(w, '>') != 0 {
				break
			}
			i += 8
		}
		for end := min(i+8, len(b)); i < end; i++ {
			if charClass[b[i]]&cText == 0 {
				return i
			}
		}
		if i == len(b) {
			return i
		}
	}
}

func attrRun(b []byte) int {
	i := 0
	for {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if hasControlOrHigh(w)|hasByte(w, '<')|hasByte(w, '&')|hasByte(w, '"')|hasByte(w, '\'') != 0 {
				break
			}
			i += 8
		}
		for end := min(i+8, len(b)); i < end; i++ {
			if charClass[b[i]]&cAttr == 0 {
				return i
			}
		}
		if i == len(b) {
			return i
		}
	}
}
