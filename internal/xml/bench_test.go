package xml

import (
	"bytes"
	stdxml "encoding/xml"
	"io"
	"testing"
)

// benchStanza is a realistic group chat message of about 400 bytes.
const benchStanza = `<message from='juliet@capulet.example/balcony' to='romeo@montague.example' type='chat' id='5e8a3b7c-1f2d-4c9e-8b6a' xml:lang='en'>` +
	`<body>Art thou not Romeo, and a Montague? Neither, fair saint, if either thee dislike.</body>` +
	`<stanza-id xmlns='urn:xmpp:sid:0' id='c7b1f0d2-9a8e-4d3c-b2a1' by='romeo@montague.example'/>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='5e8a3b7c-1f2d-4c9e-8b6a'/>` +
	`<active xmlns='http://jabber.org/protocol/chatstates'/></message>`

const benchStanzas = 1000

// benchStream returns a stream header followed by benchStanzas copies of
// benchStanza, as a busy connection delivers them.
func benchStream() []byte {
	var b bytes.Buffer
	b.WriteString(testHeader)
	for range benchStanzas {
		b.WriteString(benchStanza)
	}
	return b.Bytes()
}

func BenchmarkDecoder(b *testing.B) {
	stream := benchStream()
	r := bytes.NewReader(stream)
	d := NewDecoder(r, Limits{})
	if _, err := d.ReadHeader(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchStanza)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n == benchStanzas {
			r.Reset(stream)
			d.Reset(r)
			if _, err := d.ReadHeader(); err != nil {
				b.Fatal(err)
			}
			n = 0
		}
		e, err := d.Next()
		if err != nil || len(e.Children) != 4 {
			b.Fatal(err)
		}
		n++
	}
}

// genericElement is the tree that BenchmarkEncodingXML builds, as close to
// Element as encoding/xml's tokens allow.
type genericElement struct {
	Name     stdxml.Name
	Attr     []stdxml.Attr
	Children []any // *genericElement or string
}

// readGeneric reads the next top-level element from d into a tree.
func readGeneric(d *stdxml.Decoder) (*genericElement, error) {
	var stack []*genericElement
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case stdxml.StartElement:
			e := &genericElement{Name: t.Name, Attr: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			}
			stack = append(stack, e)
		case stdxml.EndElement:
			if len(stack) == 0 {
				return nil, io.EOF // the stream's end tag
			}
			e := stack[len(stack)-1]
			if stack = stack[:len(stack)-1]; len(stack) == 0 {
				return e, nil
			}
		case stdxml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, string(t))
			}
		}
	}
}

func BenchmarkEncodingXML(b *testing.B) {
	stream := benchStream()
	r := bytes.NewReader(stream)
	start := func() *stdxml.Decoder {
		r.Reset(stream)
		d := stdxml.NewDecoder(r)
		if _, err := d.Token(); err != nil { // the XML declaration
			b.Fatal(err)
		}
		if _, err := d.Token(); err != nil { // <stream:stream>
			b.Fatal(err)
		}
		return d
	}
	d := start()
	b.SetBytes(int64(len(benchStanza)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n == benchStanzas {
			d = start()
			n = 0
		}
		e, err := readGeneric(d)
		if err != nil || len(e.Children) != 4 {
			b.Fatal(err)
		}
		n++
	}
}

func BenchmarkAppendXML(b *testing.B) {
	e, err := Parse([]byte(benchStanza))
	if err != nil {
		b.Fatal(err)
	}
	buf := e.AppendXML(nil, NSClient)
	b.SetBytes(int64(len(benchStanza)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendXML(buf[:0], NSClient)
	}
}

func BenchmarkParse(b *testing.B) {
	in := []byte(benchStanza)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}
