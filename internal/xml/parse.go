package xml

import (
	"io"
	"sync"
)

// Parse's limits are generous, as stored XML has already
// passed the stream limits once.
const (
	parseMaxBytes = 1 << 20
	parseMaxDepth = defaultMaxDepth
)

// parsers recycles decoders and their scratch tables between Parse calls;
// it holds no state that outlives a call.
var parsers = sync.Pool{New: func() any { return new(Decoder) }}

// Parse parses one standalone element, such as a stored XML blob, with the
// same restrictions as a stream and limits of 1 MiB and depth 64. The
// element may be preceded by an XML declaration and whitespace and followed
// by whitespace. Its namespace is whatever it declares, "" if nothing. Every
// failure, including truncated input, is an *Error.
func Parse(b []byte) (*Element, error) {
	return ParseWithLimits(b, Limits{MaxStanzaBytes: parseMaxBytes, MaxDepth: parseMaxDepth})
}

// ParseWithLimits is Parse with the given limits; zero fields take the
// defaults described on Limits.
func ParseWithLimits(b []byte, lim Limits) (*Element, error) {
	d := parsers.Get().(*Decoder)
	if d.tree == nil {
		d.tree = new(tree)
	}
	*d = Decoder{
		lim:      lim.withDefaults(),
		limitMax: noLimit,
		buf:      b,
		end:      min(len(b), bufSize),
		fragment: true,
		tree:     d.tree,
		binds:    d.binds[:0],
		prefixes: d.prefixes[:0],
		nsTab:    d.nsTab[:0],
	}
	e, err := d.parseFragment()
	d.buf = nil
	d.shrink()
	parsers.Put(d)
	return e, err
}

func (d *Decoder) parseFragment() (*Element, error) {
	err := d.readProlog()
	if err == nil {
		d.beginTree()
		d.limitStart, d.limitMax, d.limitTooBig = d.InputOffset(), int64(d.lim.MaxStanzaBytes), true
		d.pos++
		err = d.readTree()
		if err == nil && d.InputOffset()-d.limitStart > d.limitMax {
			err = d.limitError()
		}
		d.limitMax = noLimit
	}
	if err == nil {
		for err == nil {
			_, err = d.skipSpace()
			if err == nil {
				err = notWellFormed("data after the root element")
			}
		}
		if err == io.EOF {
			return d.build(), nil
		}
	}
	if err == io.EOF {
		err = notWellFormed("unexpected end of input")
	}
	return nil, err
}
