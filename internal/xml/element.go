// Package xml reads and writes the restricted XML that XMPP streams carry
// (RFC 6120 section 11): no DTDs, processing instructions, comments or
// entity declarations, namespace-aware, bounded in size and depth.
//
// A stream is read as a header (the <stream:stream> open tag) followed by a
// sequence of top-level elements, each decoded into an Element tree. Trees
// are small and short-lived; the writer serialises them back with only the
// namespace declarations that differ from the parent, so a stanza read in
// jabber:client can be written into a jabber:server stream unchanged.
package xml

import "strings"

// Well-known namespaces.
const (
	NSXML    = "http://www.w3.org/XML/1998/namespace"
	NSStream = "http://etherx.jabber.org/streams"
	NSClient = "jabber:client"
	NSServer = "jabber:server"
)

// Attr is one attribute. Namespace declarations are never kept as
// attributes: they are resolved into Space fields while reading.
type Attr struct {
	// Space is the namespace of a prefixed attribute (NSXML for xml:lang),
	// empty for the usual unprefixed attributes.
	Space string
	Local string
	Value string // unescaped
}

// Node is one child of an element: either an element or character data.
type Node struct {
	Elem *Element
	Text string // unescaped; meaningful only when Elem is nil
}

// Element is one element with its resolved namespace, attributes and
// children in document order.
type Element struct {
	Space    string // resolved namespace URI
	Local    string
	Attrs    []Attr
	Children []Node

	// frozen is set by Freeze: the element and its subtree no longer
	// change, so their serialisation can be kept and reused.
	frozen *frozen
}

// New returns an element with the given namespace, local name and
// unprefixed attributes given as name, value pairs.
func New(space, local string, attrs ...string) *Element {
	n := len(attrs) / 2
	if n == 0 {
		return &Element{Space: space, Local: local}
	}
	e := newWithAttrs(n)
	e.Space, e.Local = space, local
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Attrs = append(e.Attrs, Attr{Local: attrs[i], Value: attrs[i+1]})
	}
	return e
}

// elementWith2 and elementWith6 are an element and room for its
// attributes in one allocation: the elements the server builds for every
// delivery (a stanza-id, a forked copy of a message) then cost one
// allocation, not two. Two sizes, so that a small element stays small.
type elementWith2 struct {
	e     Element
	attrs [2]Attr
}

type elementWith6 struct {
	e     Element
	attrs [6]Attr
}

// newWithAttrs returns an empty element whose Attrs has room for n.
func newWithAttrs(n int) *Element {
	switch {
	case n <= 2:
		b := new(elementWith2)
		b.e.Attrs = b.attrs[:0]
		return &b.e
	case n <= 6:
		b := new(elementWith6)
		b.e.Attrs = b.attrs[:0]
		return &b.e
	}
	return &Element{Attrs: make([]Attr, 0, n)}
}

// Attr returns the value of the unprefixed attribute name, or "".
func (e *Element) Attr(name string) string {
	for i := range e.Attrs {
		if e.Attrs[i].Space == "" && e.Attrs[i].Local == name {
			return e.Attrs[i].Value
		}
	}
	return ""
}

// HasAttr reports whether the unprefixed attribute name is present.
func (e *Element) HasAttr(name string) bool {
	for i := range e.Attrs {
		if e.Attrs[i].Space == "" && e.Attrs[i].Local == name {
			return true
		}
	}
	return false
}

// AttrNS returns the value of the attribute in namespace space, or "".
func (e *Element) AttrNS(space, name string) string {
	for i := range e.Attrs {
		if e.Attrs[i].Space == space && e.Attrs[i].Local == name {
			return e.Attrs[i].Value
		}
	}
	return ""
}

// SetAttr sets (or adds) the unprefixed attribute name. An empty value
// removes it, because no XMPP attribute is meaningful when empty.
func (e *Element) SetAttr(name, value string) *Element {
	for i := range e.Attrs {
		if e.Attrs[i].Space == "" && e.Attrs[i].Local == name {
			if value == "" {
				e.Attrs = append(e.Attrs[:i], e.Attrs[i+1:]...)
			} else {
				e.Attrs[i].Value = value
			}
			return e
		}
	}
	if value != "" {
		e.Attrs = append(e.Attrs, Attr{Local: name, Value: value})
	}
	return e
}

// Child returns the first child element with the namespace and local name,
// or nil. An empty space matches any namespace.
func (e *Element) Child(space, local string) *Element {
	for _, c := range e.Children {
		if c.Elem != nil && c.Elem.Local == local && (space == "" || c.Elem.Space == space) {
			return c.Elem
		}
	}
	return nil
}

// ChildNS returns the first child element in namespace space, or nil.
func (e *Element) ChildNS(space string) *Element {
	for _, c := range e.Children {
		if c.Elem != nil && c.Elem.Space == space {
			return c.Elem
		}
	}
	return nil
}

// Elements returns the child elements (not text) in order.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, c := range e.Children {
		if c.Elem != nil {
			out = append(out, c.Elem)
		}
	}
	return out
}

// FirstElement returns the first child element, or nil.
func (e *Element) FirstElement() *Element {
	for _, c := range e.Children {
		if c.Elem != nil {
			return c.Elem
		}
	}
	return nil
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	switch n := 0; {
	default:
		var only string
		for _, c := range e.Children {
			if c.Elem == nil {
				n++
				only = c.Text
			}
		}
		if n <= 1 {
			return only
		}
	}
	var b strings.Builder
	for _, c := range e.Children {
		if c.Elem == nil {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// ChildText returns the text of the first child with the given name, or "".
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Append adds child elements and returns e, for building trees inline.
func (e *Element) Append(children ...*Element) *Element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, Node{Elem: c})
		}
	}
	return e
}

// AppendText adds character data and returns e.
func (e *Element) AppendText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, Node{Text: s})
	}
	return e
}

// WithText returns e after replacing its children with the text s.
func (e *Element) WithText(s string) *Element {
	e.Children = e.Children[:0]
	return e.AppendText(s)
}

// RemoveChildren removes every child element matching space and local
// (an empty space matches any namespace) and reports how many it removed.
func (e *Element) RemoveChildren(space, local string) int {
	n := 0
	kept := e.Children[:0]
	for _, c := range e.Children {
		if c.Elem != nil && c.Elem.Local == local && (space == "" || c.Elem.Space == space) {
			n++
			continue
		}
		kept = append(kept, c)
	}
	for i := len(kept); i < len(e.Children); i++ {
		e.Children[i] = Node{}
	}
	e.Children = kept
	return n
}

// RemoveFunc removes every child element for which drop returns true.
func (e *Element) RemoveFunc(drop func(*Element) bool) int {
	n := 0
	kept := e.Children[:0]
	for _, c := range e.Children {
		if c.Elem != nil && drop(c.Elem) {
			n++
			continue
		}
		kept = append(kept, c)
	}
	for i := len(kept); i < len(e.Children); i++ {
		e.Children[i] = Node{}
	}
	e.Children = kept
	return n
}

// Clone returns a deep copy of e. Strings are shared, as they are immutable.
func (e *Element) Clone() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Space: e.Space, Local: e.Local}
	if len(e.Attrs) > 0 {
		c.Attrs = make([]Attr, len(e.Attrs), len(e.Attrs)+2)
		copy(c.Attrs, e.Attrs)
	}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if n.Elem != nil {
				c.Children[i] = Node{Elem: n.Elem.Clone()}
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}

// ShallowClone copies e's name and attributes and shares its children;
// enough to rewrite to/from on a stanza being forked to many receivers.
func (e *Element) ShallowClone() *Element {
	c := newWithAttrs(len(e.Attrs) + 2)
	c.Space, c.Local, c.Children = e.Space, e.Local, e.Children
	c.Attrs = append(c.Attrs, e.Attrs...)
	return c
}

// String returns the element serialised with its own namespace declared.
func (e *Element) String() string {
	return string(e.AppendXML(nil, ""))
}
