package xml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Limits bound what a peer can make us hold. Besides these, the decoder
// applies a fixed bound: one element may carry at most 256 attributes,
// namespace declarations included. Exceeding any of them is a
// policy-violation.
type Limits struct {
	// MaxStanzaBytes bounds the bytes of one top-level element, from its
	// '<' to the '>' of its end tag; 0 means 262144. Values above 1 GiB are
	// treated as 1 GiB.
	MaxStanzaBytes int
	// MaxDepth bounds element nesting: the top-level element is at depth 1,
	// its children at depth 2, and so on; 0 means 64.
	MaxDepth int
	// MaxHeaderBytes bounds the stream header: anything before and
	// including the <stream:stream> open tag; 0 means 8192. Values above
	// 1 GiB are treated as 1 GiB.
	MaxHeaderBytes int
}

const (
	defaultMaxStanzaBytes = 256 << 10
	defaultMaxDepth       = 64
	maxLimitBytes         = 1 << 30 // keeps every offset within int32
	defaultMaxHeaderBytes = 8 << 10
	maxAttrs              = 256
	bufSize               = 4 << 10
	noLimit               = -1
)

func (l Limits) withDefaults() Limits {
	if l.MaxStanzaBytes <= 0 {
		l.MaxStanzaBytes = defaultMaxStanzaBytes
	}
	if l.MaxStanzaBytes > maxLimitBytes {
		l.MaxStanzaBytes = maxLimitBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if l.MaxHeaderBytes > maxLimitBytes {
		l.MaxHeaderBytes = maxLimitBytes
	}
	return l
}

// StreamHeader is the <stream:stream> open tag.
type StreamHeader struct {
	To, From, ID, Version, Lang string
	// ContentNS is the default namespace declared on the stream element
	// (jabber:client, jabber:server, jabber:component:accept, ...), or ""
	// when it declares none.
	ContentNS string
	// Attrs holds every attribute (not namespace declarations), in order.
	Attrs []Attr
	// NSDecls holds the namespace declarations on the stream element, in
	// order: Local is the prefix ("" for the default namespace) and Value the
	// URI. A server-to-server stream looks here for xmlns:db.
	NSDecls []Attr
}

// Decoder reads one XMPP stream: a header, then top-level elements.
//
// It reads through a 4 KiB buffer and scans bytes directly. The buffer and
// the scratch tables are held only while there is something to read: an
// idle stream (a client between stanzas) waits for its next byte with a
// one-byte read and holds neither, so thousands of idle connections cost
// no buffers. A partial element keeps the buffer until it is complete. Each
// top-level element is first recorded in reusable scratch tables and then
// built in one go, so a stanza costs about four allocations whatever its
// size: its elements, its attributes, its child nodes and one string that
// holds all of its text, attribute values and uncommon names. The pieces of
// one stanza therefore share memory; keeping any part of a tree keeps the
// whole stanza's memory, which is bounded by Limits.MaxStanzaBytes.
//
// Errors from the reader are sticky once part of an element has been read.
// Between elements they are not: after a read deadline expires while the
// peer is idle, Next may be called again.
type Decoder struct {
	r    io.Reader
	rerr error // reader error held back until the bytes read with it are consumed
	lim  Limits

	buf      []byte // unread input is buf[pos:end]; nil while idle
	bufp     *[]byte
	pos, end int
	one      [1]byte // what an idle stream waits for its next byte with
	base     int64   // input offset of buf[0]
	fragment bool    // buf is the caller's whole input (Parse); never read or shifted

	err   error // sticky
	state int

	// The element being read may use at most limitMax bytes from limitStart.
	limitStart  int64
	limitMax    int64
	limitTooBig bool // exceeding the limit is a stanza-too-big

	// Namespace scope. binds[:streamBinds], prefixes[:streamPrefixes] and
	// nsTab[:streamNS] belong to the stream element and outlive each stanza.
	binds          []binding
	prefixes       []byte
	nsTab          []string // namespaces bound so far; see nsNone, nsXML
	streamBinds    int
	streamPrefixes int
	streamNS       int
	streamQName    []byte
	pendingLimits  atomic.Pointer[Limits] // see SetLimits

	*tree // scratch tables while reading; see takeTree
}

// Buffers and scratch tables are recycled between the decoders of all
// connections; a decoder holds them only while it reads.
var (
	readBufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}
	trees    = sync.Pool{New: func() any { return new(tree) }}
)

// takeTree gives d scratch tables for reading an element or header. The
// tables are moved into d (not pointed to) so that the scanner reaches
// them with no extra indirection.
func (d *Decoder) takeTree() {
	if d.tree == nil {
		d.tree = trees.Get().(*tree)
	}
}

// dropTree gives the scratch tables back, after shrinking what a large
// element grew. The decoders of Parse keep theirs: they are pooled whole.
func (d *Decoder) dropTree() {
	if d.tree == nil || d.fragment {
		return
	}
	d.shrink()
	trees.Put(d.tree)
	d.tree = nil
}

// takeBuf gives d a read buffer; d must hold no unread input.
func (d *Decoder) takeBuf() {
	d.bufp = readBufs.Get().(*[]byte)
	d.buf = *d.bufp
}

// dropBuf gives the read buffer back if everything in it was consumed.
func (d *Decoder) dropBuf() {
	if d.bufp == nil || d.pos != d.end {
		return
	}
	d.base += int64(d.pos)
	d.pos, d.end = 0, 0
	readBufs.Put(d.bufp)
	d.bufp, d.buf = nil, nil
}

const (
	stateNew = iota
	stateOpen
	stateClosed
)

var errNoHeader = errors.New("xml: Next called before ReadHeader")

// NewDecoder returns a decoder reading a stream from r. It reads nothing
// until ReadHeader is called.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	return &Decoder{r: r, lim: lim.withDefaults(), limitMax: noLimit}
}

// Reset makes d read a fresh stream from r (a stream restart after STARTTLS
// or SASL), keeping its buffers. Bytes buffered from the previous reader are
// discarded; check Buffered first to refuse data pipelined past a STARTTLS
// proceed.
func (d *Decoder) Reset(r io.Reader) {
	d.r = r
	d.rerr = nil
	d.base += int64(d.pos)
	d.pos, d.end = 0, 0
	d.dropBuf()
	d.Restart()
}

// Buffered reports the bytes read from the reader but not yet consumed.
func (d *Decoder) Buffered() int { return d.end - d.pos }

// InputOffset returns the total bytes consumed since NewDecoder, across
// Resets.
func (d *Decoder) InputOffset() int64 { return d.base + int64(d.pos) }

// ReadHeader reads an optional XML declaration and the stream open tag.
// The declaration may only give version 1.x, an encoding of UTF-8 (any
// case; anything else is unsupported-encoding) and standalone. Whitespace
// may precede the open tag. The stream element must be named "stream" in
// namespace http://etherx.jabber.org/streams, with any prefix (an
// undeclared prefix is bad-namespace-prefix, another name or namespace
// invalid-namespace). Its namespace declarations stay in scope for every
// element that Next returns.
func (d *Decoder) ReadHeader() (StreamHeader, error) {
	if d.err != nil {
		return StreamHeader{}, d.err
	}
	if d.state != stateNew {
		return StreamHeader{}, errors.New("xml: ReadHeader called twice without Reset or Restart")
	}
	d.takeTree()
	defer d.dropTree()
	d.limitStart, d.limitMax, d.limitTooBig = d.InputOffset(), int64(d.lim.MaxHeaderBytes), false
	h, err := d.readHeader()
	if err == nil && d.InputOffset()-d.limitStart > d.limitMax {
		err = d.limitError()
	}
	d.limitMax = noLimit
	if err != nil {
		return StreamHeader{}, d.fail(err)
	}
	return h, nil
}

// Next returns the next top-level element, a child of the stream element.
// Whitespace between elements (keepalives) is skipped. When the stream's
// closing tag is read it returns io.EOF, and keeps doing so. When the reader
// fails, including io.EOF before the closing tag, it returns
// io.ErrUnexpectedEOF or the reader's error wrapped. Syntax and policy
// problems are returned as *Error, after which the stream is unusable.
//
// An element with no namespace prefix and no xmlns of its own is in the
// default namespace declared on the stream element.
func (d *Decoder) Next() (*Element, error) {
	if d.err != nil {
		return nil, d.err
	}
	switch d.state {
	case stateNew:
		return nil, errNoHeader
	case stateClosed:
		return nil, io.EOF
	}
	for {
		for d.pos < d.end && isSpace(d.buf[d.pos]) {
			d.pos++
		}
		if d.pos < d.end {
			break
		}
		if err := d.fillIdle(); err != nil {
			return nil, readError(err)
		}
	}
	d.takeTree()
	defer d.dropTree()
	if d.buf[d.pos] != '<' {
		return nil, d.fail(notWellFormed("character data at stream level"))
	}
	if err := d.need(2); err != nil {
		return nil, readError(err)
	}
	d.applyPendingLimits()
	d.limitStart, d.limitMax, d.limitTooBig = d.InputOffset(), int64(d.lim.MaxStanzaBytes), true
	defer func() { d.limitMax = noLimit }()
	switch d.buf[d.pos+1] {
	case '/':
		d.pos += 2
		if err := d.readStreamEnd(); err != nil {
			return nil, d.fail(err)
		}
		d.state = stateClosed
		return nil, io.EOF
	case '?':
		return nil, d.fail(restricted("processing instruction"))
	case '!':
		if cdata, err := d.hasPrefix("<!["); err != nil {
			return nil, d.fail(err)
		} else if cdata {
			return nil, d.fail(notWellFormed("character data at stream level"))
		}
		return nil, d.fail(restricted("comment or markup declaration"))
	}
	d.beginTree()
	d.pos++
	err := d.readTree()
	if err == nil && d.InputOffset()-d.limitStart > d.limitMax {
		err = d.limitError()
	}
	if err != nil {
		return nil, d.fail(err)
	}
	e := d.build()
	d.dropBuf()
	return e, nil
}

// readStreamEnd reads the stream's closing tag after its "</".
func (d *Decoder) readStreamEnd() error { return d.readEndTag(d.streamQName) }

// readEndTag reads an end tag after its "</" up to and including its '>',
// and checks that it closes the element whose qualified name is open.
func (d *Decoder) readEndTag(open []byte) error {
	var err error
	if d.tmp, err = d.readName(d.tmp[:0]); err != nil {
		return err
	}
	if _, err = d.skipSpace(); err != nil {
		return err
	}
	if d.buf[d.pos] != '>' {
		return notWellFormed("expected '>' in end tag")
	}
	d.pos++
	if !bytes.Equal(d.tmp, open) {
		return notWellFormed("end tag </" + string(d.tmp) + "> does not match <" + string(open) + ">")
	}
	return nil
}

// fail records err as the decoder's sticky error, in the form Next returns.
func (d *Decoder) fail(err error) error {
	d.err = readError(err)
	return d.err
}

// readError maps a reader error to what the API returns: io.EOF inside the
// stream is unexpected, others are wrapped. Decoder errors pass unchanged.
func readError(err error) error {
	var xe *Error
	switch {
	case errors.As(err, &xe):
		return err
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	default:
		return fmt.Errorf("xml: reading stream: %w", err)
	}
}

func (d *Decoder) limitError() error {
	if d.limitTooBig {
		return &Error{Condition: condPolicyViolation, Text: fmt.Sprintf("element larger than %d bytes", d.limitMax), TooBig: true}
	}
	return &Error{Condition: condPolicyViolation, Text: fmt.Sprintf("stream header larger than %d bytes", d.limitMax)}
}

// fill makes at least one more byte available in buf[pos:end], moving the
// unread bytes to the front of buf first. It is the one place that checks
// the size limit, so no element can make the decoder read past its limit by
// more than one buffer.
func (d *Decoder) fill() error {
	if d.limitMax >= 0 && d.InputOffset()-d.limitStart >= d.limitMax {
		// The element needs more input but has already used its budget.
		return d.limitError()
	}
	if d.fragment {
		if d.end == len(d.buf) {
			return io.EOF
		}
		d.end = min(len(d.buf), d.end+bufSize)
		return nil
	}
	if d.rerr != nil {
		err := d.rerr
		d.rerr = nil
		return err
	}
	if d.r == nil {
		return io.EOF
	}
	if d.buf == nil {
		d.takeBuf()
	}
	if d.pos > 0 {
		d.base += int64(d.pos)
		d.end = copy(d.buf, d.buf[d.pos:d.end])
		d.pos = 0
	}
	if d.end == len(d.buf) {
		// Lookahead is never more than a few bytes, so this is a bug.
		return errors.New("xml: internal error: lookahead exceeds buffer")
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		if n < 0 || n > len(d.buf)-d.end {
			return errors.New("xml: reader returned an invalid count")
		}
		d.end += n
		if err != nil {
			if n > 0 {
				d.rerr = err
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// fillIdle is fill between elements, when everything read so far was
// consumed: it gives the buffer back and waits for the next byte with a
// one-byte read, so that an idle stream holds no buffer. The byte goes
// into a fresh buffer; fill reads the rest of what arrived.
func (d *Decoder) fillIdle() error {
	if d.fragment || d.rerr != nil || d.r == nil || d.pos != d.end {
		return d.fill()
	}
	d.dropBuf()
	for range 100 {
		n, err := d.r.Read(d.one[:])
		if n > 0 {
			d.takeBuf()
			d.buf[0] = d.one[0]
			d.end = 1
			if err != nil {
				d.rerr = err
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// Fill reads whatever the reader returns into d between elements,
// without decoding it, and returns the reader's error if it returned
// nothing. A caller uses it to learn whether input is already waiting in
// a reader that buffers (a TLS connection, with a read deadline in the
// past) before it waits for the network. With unread input it does
// nothing.
func (d *Decoder) Fill() error {
	if d.err != nil {
		return d.err
	}
	if d.pos != d.end {
		return nil
	}
	err := d.fill()
	if err != nil {
		d.dropBuf()
	}
	return err
}

// need makes at least n bytes available in buf[pos:end].
func (d *Decoder) need(n int) error {
	for d.end-d.pos < n {
		if err := d.fill(); err != nil {
			return err
		}
	}
	return nil
}

// hasPrefix reports whether the unread input starts with s, reading only
// as far as needed to decide.
func (d *Decoder) hasPrefix(s string) (bool, error) {
	for {
		avail := d.buf[d.pos:d.end]
		n := min(len(avail), len(s))
		if string(avail[:n]) != s[:n] {
			return false, nil
		}
		if n == len(s) {
			return true, nil
		}
		if err := d.fill(); err != nil {
			return false, err
		}
	}
}

// skipSpace skips whitespace and reports whether there was any. On success
// at least one byte is available at d.pos.
func (d *Decoder) skipSpace() (bool, error) {
	if d.pos < d.end && !isSpace(d.buf[d.pos]) {
		return false, nil // most calls, and cheap enough to inline
	}
	return d.skipSpaceSlow()
}

func (d *Decoder) skipSpaceSlow() (bool, error) {
	skipped := false
	for {
		for d.pos < d.end {
			if !isSpace(d.buf[d.pos]) {
				return skipped, nil
			}
			d.pos++
			skipped = true
		}
		if err := d.fill(); err != nil {
			return skipped, err
		}
	}
}
