package xml

import "bytes"

// tree is the scratch form of the element being read. Nothing in it points
// into the input buffer, which moves as it refills, and its tables hold no
// pointers at all, so filling them costs no write barriers and the
// collector need not scan them. Strings are offsets into arena, which
// becomes one string when the element is complete, or indexes into
// commonNames and nsTab; elements, attributes and nodes are indexes into
// tables that become three exactly sized slices. The tables are reused
// from one element to the next.
type tree struct {
	arena  []byte    // text, attribute values and uncommon names
	elems  []pelem   // in start-tag order; elems[0] is the root
	attrs  []pattr   // each element's attributes are contiguous
	nodes  []pnode   // each closed element's children are contiguous
	open   []pnode   // children of the elements still open, innermost last
	frames []frame   // elements still open, innermost last
	qnames []byte    // raw names of the open elements, to match end tags
	raw    []rawAttr // attributes of the start tag being read
	tmp    []byte    // attribute names of the start tag being read

	nsCache [8]string // recently seen uncommon namespace URIs
	nsNext  int
}

// sref is a name: arena[off:end], or commonNames[off] when end < 0.
type sref struct {
	off, end int32
}

type pelem struct {
	space  int32 // nsTab index
	local  sref
	a0, a1 int32 // attrs[a0:a1]
	c0, c1 int32 // nodes[c0:c1]
}

type pattr struct {
	space  int32 // nsTab index
	local  sref
	v0, v1 int32 // arena[v0:v1]
}

// pnode is a child: element elems[elem], or when elem < 0 the text
// arena[off:end].
type pnode struct {
	elem     int32
	off, end int32
}

type frame struct {
	elem   int32 // elems index
	open   int32 // where its children start in open
	binds  int32 // len(binds) before its declarations
	prefix int32 // len(prefixes) before its declarations
	qname  int32 // where its raw name starts in qnames
}

type rawAttr struct {
	n0, n1 int32 // name in tmp
	v0, v1 int32 // value in arena
}

// binding maps prefixes[p0:p1] ("" for the default namespace) to the
// namespace nsTab[ns].
type binding struct {
	p0, p1 int32
	ns     int32
}

// nsTab always starts with these two; a stream's declarations follow.
const (
	nsNone = 0 // no namespace, ""
	nsXML  = 1 // NSXML, bound to the xml prefix
)

func (d *Decoder) beginTree() {
	t := d.tree
	t.arena = t.arena[:0]
	t.elems = t.elems[:0]
	t.attrs = t.attrs[:0]
	t.nodes = t.nodes[:0]
	t.open = t.open[:0]
	t.frames = t.frames[:0]
	t.qnames = t.qnames[:0]
	d.binds = d.binds[:d.streamBinds]
	d.prefixes = d.prefixes[:d.streamPrefixes]
	if d.streamNS == 0 {
		d.nsTab = append(d.nsTab[:0], "", NSXML)
		d.streamNS = len(d.nsTab)
	}
	d.nsTab = d.nsTab[:d.streamNS]
}

// shrink drops scratch tables that a large element grew, so that an idle
// connection does not keep them.
func (d *Decoder) shrink() {
	t := d.tree
	if cap(t.arena) > 64<<10 {
		t.arena = nil
	}
	if cap(t.elems) > 1024 {
		t.elems = nil
	}
	if cap(t.attrs) > 1024 {
		t.attrs = nil
	}
	if cap(t.nodes) > 1024 {
		t.nodes = nil
	}
	if cap(t.open) > 1024 {
		t.open = nil
	}
	if cap(t.qnames) > 4<<10 {
		t.qnames = nil
	}
	if cap(t.tmp) > 4<<10 {
		t.tmp = nil
	}
}

// readTree reads one element, whose '<' has been consumed, with all of its
// content.
func (d *Decoder) readTree() error {
	if err := d.readStart(); err != nil {
		return err
	}
	for len(d.frames) > 0 {
		if err := d.readText(); err != nil {
			return err
		}
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
		}
		var err error
		switch d.buf[d.pos] {
		case '/':
			d.pos++
			err = d.readEnd()
		case '!':
			err = d.readBang()
		case '?':
			err = restricted("processing instruction")
		default:
			err = d.readStart()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readBang reads markup starting "<!" inside an element: only a CDATA
// section is allowed.
func (d *Decoder) readBang() error {
	if ok, err := d.hasPrefix("![CDATA["); err != nil {
		return err
	} else if ok {
		d.pos += len("![CDATA[")
		return d.readCDATA()
	}
	if ok, err := d.hasPrefix("!--"); err != nil {
		return err
	} else if ok {
		return restricted("comment")
	}
	return restricted("markup declaration")
}

// readStart reads a start tag after its '<' and opens the element.
func (d *Decoder) readStart() error {
	if len(d.frames) >= d.lim.MaxDepth {
		return &Error{Condition: condPolicyViolation, Text: "elements nested too deeply"}
	}
	q0, b0, p0 := len(d.qnames), len(d.binds), len(d.prefixes)
	var err error
	if d.qnames, err = d.readName(d.qnames); err != nil {
		return err
	}
	empty, err := d.readAttrs(b0)
	if err != nil {
		return err
	}
	space, local, err := d.resolveName(d.qnames[q0:])
	if err != nil {
		return err
	}
	a0 := len(d.attrs)
	if err := d.resolveAttrs(); err != nil {
		return err
	}
	idx := int32(len(d.elems))
	d.elems = append(d.elems, pelem{space: space, local: local, a0: int32(a0), a1: int32(len(d.attrs))})
	if empty {
		d.binds, d.prefixes, d.qnames = d.binds[:b0], d.prefixes[:p0], d.qnames[:q0]
		if len(d.frames) > 0 {
			d.open = append(d.open, pnode{elem: idx})
		}
		return nil
	}
	d.frames = append(d.frames, frame{elem: idx, open: int32(len(d.open)), binds: int32(b0), prefix: int32(p0), qname: int32(q0)})
	return nil
}

// readEnd reads an end tag after its "</" and closes the innermost element.
func (d *Decoder) readEnd() error {
	f := d.frames[len(d.frames)-1]
	if err := d.readEndTag(d.qnames[f.qname:]); err != nil {
		return err
	}
	e := &d.elems[f.elem]
	e.c0 = int32(len(d.nodes))
	d.nodes = append(d.nodes, d.open[f.open:]...)
	e.c1 = int32(len(d.nodes))
	d.open = d.open[:f.open]
	d.binds, d.prefixes, d.qnames = d.binds[:f.binds], d.prefixes[:f.prefix], d.qnames[:f.qname]
	d.frames = d.frames[:len(d.frames)-1]
	if len(d.frames) > 0 {
		d.open = append(d.open, pnode{elem: f.elem})
	}
	return nil
}

// addText adds arena[off:] as character data of the innermost element,
// joining it to text just before it (as around a CDATA section) so that a
// tree always has the shape its serialisation reparses to.
func (d *Decoder) addText(off int) {
	end := len(d.arena)
	if end == off {
		return
	}
	f := &d.frames[len(d.frames)-1]
	if n := len(d.open); n > int(f.open) && d.open[n-1].elem < 0 && int(d.open[n-1].end) == off {
		d.open[n-1].end = int32(end)
		return
	}
	d.open = append(d.open, pnode{elem: -1, off: int32(off), end: int32(end)})
}

// readAttrs reads the attributes of a start tag up to and including its
// '>' or "/>", reporting whether it was "/>". Namespace declarations are
// bound at once; other attributes are left in raw for resolveAttrs.
func (d *Decoder) readAttrs(b0 int) (empty bool, err error) {
	d.raw = d.raw[:0]
	d.tmp = d.tmp[:0]
	for {
		sp, err := d.skipSpace()
		if err != nil {
			return false, err
		}
		switch d.buf[d.pos] {
		case '>':
			d.pos++
			return false, nil
		case '/':
			d.pos++
			if err := d.need(1); err != nil {
				return false, err
			}
			if d.buf[d.pos] != '>' {
				return false, notWellFormed("expected '>' after '/' in tag")
			}
			d.pos++
			return true, nil
		}
		if !sp {
			return false, notWellFormed("missing whitespace before attribute")
		}
		if len(d.raw)+len(d.binds)-b0 >= maxAttrs {
			return false, &Error{Condition: condPolicyViolation, Text: "too many attributes"}
		}
		n0 := len(d.tmp)
		if d.tmp, err = d.readName(d.tmp); err != nil {
			return false, err
		}
		if _, err = d.skipSpace(); err != nil {
			return false, err
		}
		if d.buf[d.pos] != '=' {
			return false, notWellFormed("expected '=' after attribute name")
		}
		d.pos++
		if _, err = d.skipSpace(); err != nil {
			return false, err
		}
		q := d.buf[d.pos]
		if q != '"' && q != '\'' {
			return false, notWellFormed("attribute value not quoted")
		}
		d.pos++
		v0 := len(d.arena)
		if err := d.readAttrValue(q); err != nil {
			return false, err
		}
		name := d.tmp[n0:]
		if isDecl := string(name) == "xmlns"; isDecl || len(name) > 6 && string(name[:6]) == "xmlns:" {
			var prefix []byte
			if !isDecl {
				prefix = name[6:]
			}
			if err := d.declare(prefix, d.arena[v0:], b0); err != nil {
				return false, err
			}
			d.arena = d.arena[:v0]
			d.tmp = d.tmp[:n0]
			continue
		}
		d.raw = append(d.raw, rawAttr{n0: int32(n0), n1: int32(len(d.tmp)), v0: int32(v0), v1: int32(len(d.arena))})
	}
}

const nsXMLNS = "http://www.w3.org/2000/xmlns/"

// declare binds prefix ("" for xmlns="...") to uri for the element whose
// declarations start at binds[b0], enforcing Namespaces in XML 1.0.
func (d *Decoder) declare(prefix, uri []byte, b0 int) error {
	if prefix != nil && !isNCName(prefix) {
		return notWellFormed("bad namespace prefix name")
	}
	for i := b0; i < len(d.binds); i++ {
		b := d.binds[i]
		if bytes.Equal(d.prefixes[b.p0:b.p1], prefix) {
			return notWellFormed("duplicate namespace declaration")
		}
	}
	switch {
	case string(prefix) == "xmlns":
		return badPrefix("the xmlns prefix cannot be declared")
	case string(prefix) == "xml":
		if string(uri) != NSXML {
			return badPrefix("the xml prefix cannot be rebound")
		}
	case string(uri) == NSXML:
		return badPrefix("the XML namespace cannot be bound to another prefix")
	case string(uri) == nsXMLNS:
		return badPrefix("the xmlns namespace cannot be bound")
	case len(prefix) > 0 && len(uri) == 0:
		return notWellFormed("a prefix cannot be bound to the empty namespace")
	}
	ns := nsXML
	if string(prefix) != "xml" {
		ns = len(d.nsTab)
		d.nsTab = append(d.nsTab, d.namespace(uri))
	}
	p0 := len(d.prefixes)
	d.prefixes = append(d.prefixes, prefix...)
	d.binds = append(d.binds, binding{p0: int32(p0), p1: int32(len(d.prefixes)), ns: int32(ns)})
	return nil
}

// namespace returns uri as a string shared with earlier uses where it can.
func (d *Decoder) namespace(uri []byte) string {
	if i := namespaceIndex.find(uri); i >= 0 {
		return commonNamespaces[i]
	}
	if len(uri) == 0 {
		return ""
	}
	for _, s := range d.nsCache {
		if s == string(uri) {
			return s
		}
	}
	s := string(uri)
	d.nsCache[d.nsNext] = s
	d.nsNext = (d.nsNext + 1) % len(d.nsCache)
	return s
}

// lookup returns the nsTab index of the namespace bound to prefix ("" for
// the default namespace).
func (d *Decoder) lookup(prefix []byte) (int32, bool) {
	for i := len(d.binds) - 1; i >= 0; i-- {
		b := &d.binds[i]
		if bytes.Equal(d.prefixes[b.p0:b.p1], prefix) {
			return b.ns, true
		}
	}
	switch string(prefix) {
	case "":
		return nsNone, true
	case "xml":
		return nsXML, true
	}
	return 0, false
}

// splitQName splits a QName into prefix and local part.
func splitQName(q []byte) (prefix, local []byte, err error) {
	i := bytes.IndexByte(q, ':')
	if i < 0 {
		return nil, q, nil
	}
	prefix, local = q[:i], q[i+1:]
	if len(prefix) == 0 || !isNCName(local) {
		return nil, nil, notWellFormed("bad qualified name " + string(q))
	}
	return prefix, local, nil
}

// isNCName reports whether the Name b is an NCName: no colon and a
// name-start character first.
func isNCName(b []byte) bool {
	return isNameHead(b) && bytes.IndexByte(b, ':') < 0
}

// resolveName returns the namespace and local name of an element's QName.
func (d *Decoder) resolveName(q []byte) (int32, sref, error) {
	prefix, local, err := splitQName(q)
	if err != nil {
		return 0, sref{}, err
	}
	if string(prefix) == "xmlns" {
		return 0, sref{}, badPrefix("element with the xmlns prefix")
	}
	space, ok := d.lookup(prefix)
	if !ok {
		return 0, sref{}, badPrefix("undeclared prefix " + string(prefix))
	}
	if space == nsXML {
		// It could not be written back: the XML namespace cannot be the
		// default namespace.
		return 0, sref{}, badPrefix("element in the XML namespace")
	}
	return space, d.name(local), nil
}

// name returns the local name b as an sref, shared or copied to the arena.
func (d *Decoder) name(b []byte) sref {
	if i := nameIndex.find(b); i >= 0 {
		return sref{off: int32(i), end: -1}
	}
	off := len(d.arena)
	d.arena = append(d.arena, b...)
	return sref{off: int32(off), end: int32(len(d.arena))}
}

// resolveAttrs resolves the raw attributes of the start tag just read into
// attrs, rejecting duplicates by resolved name.
func (d *Decoder) resolveAttrs() error {
	a0 := len(d.attrs)
	for _, r := range d.raw {
		prefix, local, err := splitQName(d.tmp[r.n0:r.n1])
		if err != nil {
			return err
		}
		space := int32(nsNone)
		if prefix != nil {
			var ok bool
			if space, ok = d.lookup(prefix); !ok {
				return badPrefix("undeclared prefix " + string(prefix))
			}
		}
		d.attrs = append(d.attrs, pattr{space: space, local: d.name(local), v0: r.v0, v1: r.v1})
	}
	return d.checkDuplicates(d.attrs[a0:])
}

func (d *Decoder) checkDuplicates(as []pattr) error {
	if len(as) > 32 {
		seen := make(map[[2]string]struct{}, len(as))
		for i := range as {
			k := [2]string{d.nsTab[as[i].space], d.str(as[i].local)}
			if _, dup := seen[k]; dup {
				return notWellFormed("duplicate attribute " + k[1])
			}
			seen[k] = struct{}{}
		}
		return nil
	}
	for i := 1; i < len(as); i++ {
		for j := 0; j < i; j++ {
			if d.nsTab[as[i].space] == d.nsTab[as[j].space] && d.srefEqual(as[i].local, as[j].local) {
				return notWellFormed("duplicate attribute " + d.str(as[i].local))
			}
		}
	}
	return nil
}

// str returns r as a new string; for error messages and the rare paths.
func (d *Decoder) str(r sref) string {
	if r.end < 0 {
		return commonNames[r.off]
	}
	return string(d.arena[r.off:r.end])
}

func (d *Decoder) srefEqual(a, b sref) bool {
	switch {
	case a.end < 0 && b.end < 0:
		return a.off == b.off
	case a.end < 0:
		return commonNames[a.off] == string(d.arena[b.off:b.end])
	case b.end < 0:
		return commonNames[b.off] == string(d.arena[a.off:a.end])
	default:
		return bytes.Equal(d.arena[a.off:a.end], d.arena[b.off:b.end])
	}
}

// build turns the scratch tables into the element tree.
func (d *Decoder) build() *Element {
	t := d.tree
	var str string
	if len(t.arena) > 0 {
		str = string(t.arena)
	}
	get := func(r sref) string {
		if r.end < 0 {
			return commonNames[r.off]
		}
		return str[r.off:r.end]
	}
	elems := make([]Element, len(t.elems))
	var attrs []Attr
	if len(t.attrs) > 0 {
		attrs = make([]Attr, len(t.attrs))
		for i, a := range t.attrs {
			attrs[i] = Attr{Space: d.nsTab[a.space], Local: get(a.local), Value: str[a.v0:a.v1]}
		}
	}
	var nodes []Node
	if len(t.nodes) > 0 {
		nodes = make([]Node, len(t.nodes))
		for i, n := range t.nodes {
			if n.elem >= 0 {
				nodes[i].Elem = &elems[n.elem]
			} else {
				nodes[i].Text = str[n.off:n.end]
			}
		}
	}
	for i := range t.elems {
		p, e := &t.elems[i], &elems[i]
		e.Space = d.nsTab[p.space]
		e.Local = get(p.local)
		if p.a1 > p.a0 {
			// Full slice expressions, so that appending to one element's
			// attributes or children never writes over another's.
			e.Attrs = attrs[p.a0:p.a1:p.a1]
		}
		if p.c1 > p.c0 {
			e.Children = nodes[p.c0:p.c1:p.c1]
		}
	}
	return &elems[0]
}
