package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Kind says what Scanner.Next found.
type Kind int

// What Scanner.Next returns.
const (
	KindElement     Kind = iota // a complete top-level element (a stanza, features, SASL, ...)
	KindStreamOpen              // the <stream:stream ...> open tag
	KindStreamClose             // </stream:stream>
)

// Scanner splits an XMPP stream into its top-level elements without
// building a tree: it only finds where each element starts and ends, which
// is all a load generator needs to count and time what arrives. It is
// incremental (an element split across reads is resumed where the scan
// stopped), skips the XML declaration, comments and CDATA sections, and
// honours quotes inside tags, so a '>' in an attribute value does not end
// the tag. It does not check well-formedness: the peer is a server under
// test, not an adversary.
type Scanner struct {
	r   io.Reader
	buf []byte
	// buf[start:end] is unconsumed input; scanning of the element that
	// begins at start has reached pos with depth open elements.
	start, pos, end int
	depth           int
	max             int
	err             error
}

const (
	scanInitial = 4 << 10
	scanMax     = 1 << 20 // largest element accepted
	scanReadMax = 64 << 10
)

// ErrTooBig is returned for an element larger than the scanner accepts.
var ErrTooBig = errors.New("loadgen: element larger than 1 MiB")

// NewScanner returns a scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, scanInitial), max: scanMax}
}

// Reset makes s read a new stream from r (after STARTTLS), dropping
// anything buffered.
func (s *Scanner) Reset(r io.Reader) {
	s.r = r
	s.start, s.pos, s.end, s.depth, s.err = 0, 0, 0, 0, nil
}

// Next returns the next top-level element's raw bytes, valid until the
// following call.
func (s *Scanner) Next() (Kind, []byte, error) {
	for {
		k, raw, ok := s.scan()
		if ok {
			return k, raw, nil
		}
		if s.err != nil {
			return 0, nil, s.err
		}
		if err := s.fill(); err != nil {
			s.err = err
			// Bytes held back stay unreported: a partial element is
			// not an element.
			return 0, nil, err
		}
	}
}

// fill reads more input, compacting or growing the buffer first.
func (s *Scanner) fill() error {
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.pos -= s.start
		s.end = n
		s.start = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.max {
			return ErrTooBig
		}
		nb := make([]byte, min(2*len(s.buf), s.max))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	// A reader that filled the buffer is fast: give it a bigger one so
	// that a flood costs fewer reads.
	if s.end == len(s.buf) && len(s.buf) < scanReadMax {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// scan looks for a complete element in the buffer.
func (s *Scanner) scan() (Kind, []byte, bool) {
	for {
		if s.depth == 0 {
			// Between top-level elements only whitespace is expected;
			// skip anything else too.
			i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
			if i < 0 {
				s.pos = s.end
				s.start = s.end
				return 0, nil, false
			}
			s.pos += i
			s.start = s.pos
		} else {
			i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
			if i < 0 {
				s.pos = s.end
				return 0, nil, false
			}
			s.pos += i
		}
		tag, ok := tagEnd(s.buf[s.pos:s.end])
		if !ok {
			return 0, nil, false
		}
		t := s.buf[s.pos : s.pos+tag.n]
		s.pos += tag.n
		switch tag.kind {
		case tagOther:
			if s.depth == 0 {
				s.start = s.pos
			}
		case tagStart:
			if s.depth == 0 && isStreamTag(t[1:]) {
				s.start = s.pos
				return KindStreamOpen, t, true
			}
			s.depth++
		case tagEmpty:
			if s.depth == 0 {
				raw := s.buf[s.start:s.pos]
				s.start = s.pos
				return KindElement, raw, true
			}
		case tagClose:
			if s.depth == 0 {
				s.start = s.pos
				return KindStreamClose, t, true
			}
			s.depth--
			if s.depth == 0 {
				raw := s.buf[s.start:s.pos]
				s.start = s.pos
				return KindElement, raw, true
			}
		}
	}
}

func isStreamTag(b []byte) bool {
	name := b
	if i := bytes.IndexAny(b, " \t\r\n/>"); i >= 0 {
		name = b[:i]
	}
	return bytes.Equal(localName(name), []byte("stream"))
}

type tagKind int

const (
	tagStart tagKind = iota
	tagClose
	tagEmpty
	tagOther // declaration, comment, CDATA
)

type tagInfo struct {
	kind tagKind
	n    int
}

var (
	cdataOpen    = []byte("<![CDATA[")
	cdataClose   = []byte("]]>")
	commentOpen  = []byte("<!--")
	commentClose = []byte("-->")
	piClose      = []byte("?>")
)

// tagEnd finds the end of the markup that starts at b[0] == '<'; ok is
// false when it is not complete in b.
func tagEnd(b []byte) (tagInfo, bool) {
	if len(b) < 2 {
		return tagInfo{}, false
	}
	switch b[1] {
	case '?':
		i := bytes.Index(b[2:], piClose)
		if i < 0 {
			return tagInfo{}, false
		}
		return tagInfo{tagOther, i + 4}, true
	case '!':
		for _, d := range [][2][]byte{{cdataOpen, cdataClose}, {commentOpen, commentClose}} {
			open, close := d[0], d[1]
			if len(b) < len(open) {
				if bytes.HasPrefix(open, b) {
					return tagInfo{}, false
				}
				continue
			}
			if bytes.HasPrefix(b, open) {
				i := bytes.Index(b[len(open):], close)
				if i < 0 {
					return tagInfo{}, false
				}
				return tagInfo{tagOther, len(open) + i + len(close)}, true
			}
		}
		// Anything else (a DOCTYPE) is not XMPP; skip to '>'.
		i := bytes.IndexByte(b, '>')
		if i < 0 {
			return tagInfo{}, false
		}
		return tagInfo{tagOther, i + 1}, true
	case '/':
		i := bytes.IndexByte(b, '>')
		if i < 0 {
			return tagInfo{}, false
		}
		return tagInfo{tagClose, i + 1}, true
	}
	var quote byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			if b[i-1] == '/' {
				return tagInfo{tagEmpty, i + 1}, true
			}
			return tagInfo{tagStart, i + 1}, true
		}
	}
	return tagInfo{}, false
}

// localName strips a namespace prefix.
func localName(q []byte) []byte {
	if i := bytes.IndexByte(q, ':'); i >= 0 {
		return q[i+1:]
	}
	return q
}

// Name returns the local name of raw's top element.
func Name(raw []byte) string {
	return string(nameBytes(raw))
}

func nameBytes(raw []byte) []byte {
	if len(raw) < 2 || raw[0] != '<' {
		return nil
	}
	b := raw[1:]
	i := 0
	for i < len(b) && !isSpaceByte(b[i]) && b[i] != '>' && b[i] != '/' {
		i++
	}
	return localName(b[:i])
}

// Is reports whether raw's top element has local name name, without
// allocating.
func Is(raw []byte, name string) bool {
	return string(nameBytes(raw)) == name
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Attr returns the value of attribute name on raw's top element, with the
// five predefined entities decoded; "" when it is absent.
func Attr(raw []byte, name string) string {
	v, _ := attr(raw, name)
	return unescape(v)
}

// attr returns the raw value of attribute name of the first tag in raw.
func attr(raw []byte, name string) ([]byte, bool) {
	end, ok := tagEnd(raw)
	if !ok || len(raw) < 2 {
		return nil, false
	}
	tag := raw[:end.n]
	i := 1
	for i < len(tag) && !isSpaceByte(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++
	}
	for i < len(tag) {
		for i < len(tag) && isSpaceByte(tag[i]) {
			i++
		}
		ns := i
		for i < len(tag) && tag[i] != '=' && !isSpaceByte(tag[i]) && tag[i] != '>' && tag[i] != '/' {
			i++
		}
		an := tag[ns:i]
		for i < len(tag) && isSpaceByte(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			return nil, false
		}
		i++
		for i < len(tag) && isSpaceByte(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '\'' && tag[i] != '"') {
			return nil, false
		}
		q := tag[i]
		j := bytes.IndexByte(tag[i+1:], q)
		if j < 0 {
			return nil, false
		}
		val := tag[i+1 : i+1+j]
		i += j + 2
		if string(an) == name {
			return val, true
		}
	}
	return nil, false
}

var entities = []struct{ ent, ch string }{
	{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", `"`}, {"&apos;", "'"}, {"&amp;", "&"},
}

func unescape(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 {
		return string(b)
	}
	s := string(b)
	for _, e := range entities {
		s = string(bytes.ReplaceAll([]byte(s), []byte(e.ent), []byte(e.ch)))
	}
	return s
}

// Text returns the character data of raw's top element up to its first
// child, entities decoded.
func Text(raw []byte) string {
	t, ok := tagEnd(raw)
	if !ok || t.kind == tagEmpty {
		return ""
	}
	body := raw[t.n:]
	j := bytes.IndexByte(body, '<')
	if j < 0 {
		return ""
	}
	return unescape(body[:j])
}

// ChildText returns the text of the first element named local (any
// prefix) inside raw, entities decoded, and whether there is one. It is
// meant for small negotiation elements (<challenge/>, <jid/>).
func ChildText(raw []byte, local string) (string, bool) {
	at := 1 // skip the top element's own '<'
	for {
		i := bytes.IndexByte(raw[at:], '<')
		if i < 0 {
			return "", false
		}
		at += i
		n := nameBytes(raw[at:])
		if at+1 >= len(raw) || string(n) != local || raw[at+1] == '/' {
			at++
			continue
		}
		t, ok := tagEnd(raw[at:])
		if !ok {
			return "", false
		}
		if t.kind == tagEmpty {
			return "", true
		}
		body := raw[at+t.n:]
		j := bytes.IndexByte(body, '<')
		if j < 0 {
			return "", false
		}
		return unescape(body[:j]), true
	}
}

// Has reports whether raw contains an element named local (any prefix).
func Has(raw []byte, local string) bool {
	_, ok := ChildText(raw, local)
	if ok {
		return true
	}
	// An element with children has no direct text; look for its tag.
	for at := 1; ; {
		i := bytes.IndexByte(raw[at:], '<')
		if i < 0 {
			return false
		}
		at += i
		if at+1 < len(raw) && raw[at+1] != '/' && string(nameBytes(raw[at:])) == local {
			return true
		}
		at++
	}
}

// HasStatus reports whether raw carries a MUC <status code='code'/>.
func HasStatus(raw []byte, code string) bool {
	return bytes.Contains(raw, []byte("code='"+code+"'")) || bytes.Contains(raw, []byte(`code="`+code+`"`))
}

// errorCondition returns the first child element name of <error/> in raw,
// for messages.
func errorCondition(raw []byte) string {
	i := bytes.Index(raw, []byte("<error"))
	if i < 0 {
		return ""
	}
	rest := raw[i:]
	t, ok := tagEnd(rest)
	if !ok || t.kind == tagEmpty {
		return "error"
	}
	rest = rest[t.n:]
	j := bytes.IndexByte(rest, '<')
	if j < 0 {
		return "error"
	}
	n := nameBytes(rest[j:])
	if len(n) == 0 {
		return "error"
	}
	return string(n)
}

// describe shortens raw for an error message.
func describe(raw []byte) string {
	if len(raw) > 300 {
		return fmt.Sprintf("%s…", raw[:300])
	}
	return string(raw)
}
