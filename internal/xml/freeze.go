package xml

import "sync/atomic"

// frozen keeps the serialisation of a frozen element, made by the first
// writer that needed it.
type frozen struct {
	enc atomic.Pointer[encoding]
}

// encoding is an element's serialisation in one context: the namespace
// of its parent (which decides whether it declares xmlns) and its own
// namespace when it was written (a guard against a frozen element that
// was changed after all).
type encoding struct {
	parentNS, space string
	b               []byte
}

// Freeze marks the child elements of e as unchanging from now on, so that
// a writer serialises each of them once, however many copies of e share
// them: a room message forked to five hundred occupants writes its body,
// its stanza-id and its <x/> once, not five hundred times. e itself stays
// changeable (forks rewrite its to attribute and add children), and so
// does its list of children. Freezing is a promise that the caller makes
// for everyone who holds those children: anything that would change one
// must change a Clone instead (copies that share children may be written
// on other goroutines meanwhile, so changing a shared child was never
// safe).
func Freeze(e *Element) {
	for _, c := range e.Children {
		if c.Elem != nil && c.Elem.frozen == nil {
			c.Elem.frozen = new(frozen)
		}
	}
}

// appendFrozen appends the kept serialisation of e, a frozen element,
// written with parentNS as its parent's namespace, making it first if it
// is not kept yet in that context.
func (e *Element) appendFrozen(dst []byte, parentNS string) []byte {
	if enc := e.frozen.enc.Load(); enc != nil && enc.parentNS == parentNS && enc.space == e.Space {
		return append(dst, enc.b...)
	}
	start := len(dst)
	dst = e.appendXML(dst, "", parentNS)
	b := make([]byte, len(dst)-start)
	copy(b, dst[start:])
	e.frozen.enc.Store(&encoding{parentNS: parentNS, space: e.Space, b: b})
	return dst
}
