package xml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const testHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>`

// decodeAll reads a stream and returns its elements and the error that
// ended it.
func decodeAll(r io.Reader, lim Limits) ([]*Element, error) {
	d := NewDecoder(r, lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	var out []*Element
	for {
		e, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

// equalElement reports whether two trees are equal, treating nil and empty
// slices alike.
func equalElement(a, b *Element) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Space != b.Space || a.Local != b.Local || len(a.Attrs) != len(b.Attrs) || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return false
		}
	}
	for i := range a.Children {
		x, y := a.Children[i], b.Children[i]
		if (x.Elem == nil) != (y.Elem == nil) || x.Text != y.Text || !equalElement(x.Elem, y.Elem) {
			return false
		}
	}
	return true
}

// dump prints a tree with every namespace, for failure messages.
func dump(e *Element) string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{%s}%s%q[", e.Space, e.Local, e.Attrs)
	for _, c := range e.Children {
		if c.Elem != nil {
			b.WriteString(dump(c.Elem))
		} else {
			fmt.Fprintf(&b, "%q", c.Text)
		}
	}
	b.WriteString("]")
	return b.String()
}

func TestDecoderElements(t *testing.T) {
	tests := []struct {
		name string
		in   string // after testHeader
		want []*Element
	}{
		{
			name: "message inherits the stream namespace",
			in:   `<message to='a@b' type="chat" id='1'><body>hi</body></message>`,
			want: []*Element{New(NSClient, "message", "to", "a@b", "type", "chat", "id", "1").Append(New(NSClient, "body").AppendText("hi"))},
		},
		{
			name: "keepalive whitespace between elements",
			in:   " \n\t\r\n<presence/> \n <iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>\n ",
			want: []*Element{
				New(NSClient, "presence"),
				New(NSClient, "iq", "type", "get", "id", "p").Append(New("urn:xmpp:ping", "ping")),
			},
		},
		{
			name: "prefixes, xml:lang and undeclaring the default namespace",
			in: `<message xml:lang='de' xmlns:a='urn:a'><a:x a:k='v' k='w'><y/><z xmlns=''/></a:x>` +
				`<s xmlns='urn:s'><t/></s></message>`,
			want: []*Element{{
				Space: NSClient, Local: "message",
				Attrs: []Attr{{Space: NSXML, Local: "lang", Value: "de"}},
				Children: []Node{
					{Elem: &Element{Space: "urn:a", Local: "x",
						Attrs:    []Attr{{Space: "urn:a", Local: "k", Value: "v"}, {Local: "k", Value: "w"}},
						Children: []Node{{Elem: New(NSClient, "y")}, {Elem: New("", "z")}}}},
					{Elem: New("urn:s", "s").Append(New("urn:s", "t"))},
				},
			}},
		},
		{
			name: "a prefix declared on the stream element stays in scope",
			in:   `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>`,
			want: []*Element{New(NSStream, "features").Append(New("urn:ietf:params:xml:ns:xmpp-tls", "starttls"))},
		},
		{
			name: "entities, character references, CDATA and newlines",
			in:   "<body a='&lt;&gt;&amp;&apos;&quot;' b='x\ty\r\nz&#10;&#x9;'>&#65;&#x42;&#x000043;&#x1F600;&#233;\r\nx\ry<![CDATA[<&]]]]>&gt; ]] ]>]></body>",
			want: []*Element{New(NSClient, "body", "a", `<>&'"`, "b", "x y z\n\t").AppendText("ABC😀é\nx\ny<&]]> ]] ]>]>")},
		},
		{
			name: "non-ASCII names and text",
			in:   `<ñame xmlns='urn:ü' ätt='wert'>Grüße 世界</ñame>`,
			want: []*Element{New("urn:ü", "ñame", "ätt", "wert").AppendText("Grüße 世界")},
		},
		{
			name: "mixed content keeps whitespace text",
			in:   "<message>\n  <body>a</body>\n</message>",
			want: []*Element{New(NSClient, "message").AppendText("\n  ").Append(New(NSClient, "body").AppendText("a")).AppendText("\n")},
		},
		{
			name: "whitespace inside tags",
			in:   "<iq\n id = \"1\"\ttype\r\n=\n'set' ></iq >",
			want: []*Element{New(NSClient, "iq", "id", "1", "type", "set")},
		},
		{
			name: "an attribute in the same namespace as an unprefixed one is distinct",
			in:   `<x xmlns:p='urn:p' xmlns:q='urn:q' p:a='1' q:a='2' a='3'/>`,
			want: []*Element{{Space: NSClient, Local: "x", Attrs: []Attr{{"urn:p", "a", "1"}, {"urn:q", "a", "2"}, {"", "a", "3"}}}},
		},
		{
			name: "xml prefix may be declared with its own namespace",
			in:   `<x xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>`,
			want: []*Element{{Space: NSClient, Local: "x", Attrs: []Attr{{NSXML, "lang", "en"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The one-byte reader makes every token cross buffer refills.
			for _, r := range []io.Reader{strings.NewReader(testHeader + tt.in + "</stream:stream>"), iotest.OneByteReader(strings.NewReader(testHeader + tt.in + "</stream:stream>"))} {
				got, err := decodeAll(r, Limits{})
				if err != io.EOF {
					t.Fatalf("stream ended with %v, want io.EOF", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d elements, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if !equalElement(got[i], tt.want[i]) {
						t.Errorf("element %d:\n got %s\nwant %s", i, dump(got[i]), dump(tt.want[i]))
					}
				}
			}
		})
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name, in, cond string
	}{
		{"DTD", `<!DOCTYPE x>`, condRestrictedXML},
		{"entity declaration", `<message><!ENTITY x 'y'></message>`, condRestrictedXML},
		{"comment at top level", `<!-- hi -->`, condRestrictedXML},
		{"comment in element", `<message><!-- hi --></message>`, condRestrictedXML},
		{"processing instruction", `<?php echo 1 ?>`, condRestrictedXML},
		{"processing instruction in element", `<message><?x y?></message>`, condRestrictedXML},
		{"XML declaration mid-stream", `<?xml version='1.0'?>`, condRestrictedXML},
		{"undefined entity", `<body>&nbsp;</body>`, condRestrictedXML},
		{"undefined entity in attribute", `<body a='&foo;'/>`, condRestrictedXML},
		{"long undefined entity", `<body>&` + strings.Repeat("x", maxEntityName) + `;</body>`, condRestrictedXML},
		{"overlong entity name", `<body>&` + strings.Repeat("x", maxEntityName+1) + `;</body>`, condNotWellFormed},
		{"unterminated entity", `<body>&amp </body>`, condNotWellFormed},
		{"empty entity reference", `<body>&;</body>`, condNotWellFormed},
		{"entity name starting with a digit", `<body>&1a;</body>`, condNotWellFormed},
		{"bare ampersand", `<body>a & b</body>`, condNotWellFormed},
		{"char ref to NUL", `<body>&#0;</body>`, condNotWellFormed},
		{"char ref to control", `<body>&#x1;</body>`, condNotWellFormed},
		{"char ref to surrogate", `<body>&#xD800;</body>`, condNotWellFormed},
		{"char ref to FFFE", `<body>&#xFFFE;</body>`, condNotWellFormed},
		{"char ref out of range", `<body>&#x110000;</body>`, condNotWellFormed},
		{"char ref overflow", `<body>&#99999999999999999999;</body>`, condNotWellFormed},
		{"char ref without digits", `<body>&#;</body>`, condNotWellFormed},
		{"char ref bad digit", `<body>&#x1g;</body>`, condNotWellFormed},
		{"invalid UTF-8 in text", "<body>\xff</body>", condNotWellFormed},
		{"truncated UTF-8 in text", "<body>\xe4\xb8</body>", condNotWellFormed},
		{"UTF-8 surrogate", "<body>\xed\xa0\x80</body>", condNotWellFormed},
		{"U+FFFF in text", "<body>\xef\xbf\xbf</body>", condNotWellFormed},
		{"invalid UTF-8 in attribute", "<body a='\xc3'/>", condNotWellFormed},
		{"invalid UTF-8 in name", "<b\xffody/>", condNotWellFormed},
		{"control char in text", "<body>\x01</body>", condNotWellFormed},
		{"NUL in text", "<body>\x00</body>", condNotWellFormed},
		{"control char in attribute", "<body a='\x1f'/>", condNotWellFormed},
		{"less-than in attribute", `<body a='<'/>`, condNotWellFormed},
		{"]]> in text", `<body>a]]>b</body>`, condNotWellFormed},
		{"mismatched end tag", `<message><body></message></body>`, condNotWellFormed},
		{"end tag with other prefix", `<a:x xmlns:a='urn:a' xmlns:b='urn:a'></b:x>`, condNotWellFormed},
		{"duplicate attribute", `<message id='1' id='2'/>`, condNotWellFormed},
		{"duplicate resolved attribute", `<message xmlns:a='urn:x' xmlns:b='urn:x' a:id='1' b:id='2'/>`, condNotWellFormed},
		{"duplicate namespace declaration", `<message xmlns:a='urn:x' xmlns:a='urn:y'/>`, condNotWellFormed},
		{"duplicate default namespace", `<message xmlns='urn:x' xmlns='urn:x'/>`, condNotWellFormed},
		{"undeclared element prefix", `<foo:message/>`, condBadNamespacePrefix},
		{"undeclared attribute prefix", `<message foo:id='1'/>`, condBadNamespacePrefix},
		{"prefix out of scope", `<a xmlns:p='urn:p'><p:b/></a><p:c/>`, condBadNamespacePrefix},
		{"xmlns prefix on element", `<xmlns:a/>`, condBadNamespacePrefix},
		{"xml prefix rebound", `<a xmlns:xml='urn:x'/>`, condBadNamespacePrefix},
		{"XML namespace bound to other prefix", `<a xmlns:x='http://www.w3.org/XML/1998/namespace'/>`, condBadNamespacePrefix},
		{"element in XML namespace", `<xml:a/>`, condBadNamespacePrefix},
		{"prefix bound to empty namespace", `<a xmlns:p=''/>`, condNotWellFormed},
		{"empty prefix", `<:a/>`, condNotWellFormed},
		{"two colons", `<a:b:c xmlns:a='urn:a'/>`, condNotWellFormed},
		{"missing quotes", `<message id=1/>`, condNotWellFormed},
		{"missing value", `<message id/>`, condNotWellFormed},
		{"no space between attributes", `<message a='1'b='2'/>`, condNotWellFormed},
		{"bad name start", `<1message/>`, condNotWellFormed},
		{"space after <", `< message/>`, condNotWellFormed},
		{"slash without >", `<message/ >`, condNotWellFormed},
		{"text at top level", `hello<message/>`, condNotWellFormed},
		{"entity at top level", `&amp;`, condNotWellFormed},
		{"CDATA at top level", `<![CDATA[x]]>`, condNotWellFormed},
		{"wrong stream end tag", `</stream:streams>`, condNotWellFormed},
		{"stream end tag with other prefix", `</s:stream>`, condNotWellFormed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testHeader + tt.in + "</stream:stream>"
			for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
				_, err := decodeAll(r, Limits{})
				var xe *Error
				if !errors.As(err, &xe) || xe.Condition != tt.cond {
					t.Fatalf("got %v, want condition %s", err, tt.cond)
				}
			}
		})
	}
}

func TestDecoderErrorIsSticky(t *testing.T) {
	d := NewDecoder(strings.NewReader(testHeader+`<a><!-- x --></a><b/>`), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err1 := d.Next()
	_, err2 := d.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same error twice", err1, err2)
	}
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want StreamHeader
	}{
		{
			name: "client stream with XML declaration",
			in:   `<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
			want: StreamHeader{
				To: "im.example.com", From: "juliet@im.example.com", Version: "1.0", Lang: "en", ContentNS: NSClient,
				Attrs:   []Attr{{"", "from", "juliet@im.example.com"}, {"", "to", "im.example.com"}, {"", "version", "1.0"}, {NSXML, "lang", "en"}},
				NSDecls: []Attr{{"", "", NSClient}, {"", "stream", NSStream}},
			},
		},
		{
			name: "server stream without declaration, with dialback",
			in:   "  \r\n<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' id='abc' version='1.0'>",
			want: StreamHeader{
				ID: "abc", Version: "1.0", ContentNS: NSServer,
				Attrs:   []Attr{{"", "id", "abc"}, {"", "version", "1.0"}},
				NSDecls: []Attr{{"", "", NSServer}, {"", "db", "jabber:server:dialback"}, {"", "stream", NSStream}},
			},
		},
		{
			name: "byte order mark, standalone, other prefix",
			in:   "\xEF\xBB\xBF<?xml version='1.1' encoding='UTF-8' standalone='yes' ?><s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' to='muc.example'>",
			want: StreamHeader{
				To: "muc.example", ContentNS: "jabber:component:accept",
				Attrs:   []Attr{{"", "to", "muc.example"}},
				NSDecls: []Attr{{"", "s", NSStream}, {"", "", "jabber:component:accept"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(iotest.OneByteReader(strings.NewReader(tt.in)), Limits{})
			h, err := d.ReadHeader()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(h) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", h, tt.want)
			}
			if d.Buffered() != 0 || d.InputOffset() != int64(len(tt.in)) {
				t.Errorf("Buffered %d, InputOffset %d, want 0, %d", d.Buffered(), d.InputOffset(), len(tt.in))
			}
		})
	}
}

func TestReadHeaderErrors(t *testing.T) {
	const ns = ` xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	tests := []struct {
		name, in, cond string
	}{
		{"wrong stream namespace", `<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>`, condInvalidNamespace},
		{"wrong element name", `<stream:flow` + ns, condInvalidNamespace},
		{"no prefix, client namespace", `<stream xmlns='jabber:client'>`, condInvalidNamespace},
		{"undeclared stream prefix", `<stream:stream xmlns='jabber:client'>`, condBadNamespacePrefix},
		{"encoding", `<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream` + ns, condUnsupportedEncoding},
		{"UTF-16 byte order mark", "\xFE\xFF\x00<", condUnsupportedEncoding},
		{"UTF-16LE", "<\x00s\x00", condNotWellFormed},
		{"XML version 2", `<?xml version='2.0'?><stream:stream` + ns, condNotWellFormed},
		{"declaration without version", `<?xml encoding='UTF-8'?><stream:stream` + ns, condNotWellFormed},
		{"declaration attributes out of order", `<?xml version='1.0' standalone='yes' encoding='UTF-8'?><stream:stream` + ns, condNotWellFormed},
		{"declaration after whitespace", ` <?xml version='1.0'?><stream:stream` + ns, condRestrictedXML},
		{"processing instruction", `<?xml-stylesheet href='x'?><stream:stream` + ns, condRestrictedXML},
		{"DTD", `<!DOCTYPE stream><stream:stream` + ns, condRestrictedXML},
		{"comment", `<!-- hi --><stream:stream` + ns, condRestrictedXML},
		{"text", `hello<stream:stream` + ns, condNotWellFormed},
		{"header too big", `<stream:stream a='` + strings.Repeat("x", defaultMaxHeaderBytes) + `'` + ns, condPolicyViolation},
		{"too many attributes", `<stream:stream` + strings.Repeat(" a=''", 0) + manyAttrs(300) + ns, condPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(strings.NewReader(tt.in+"</stream:stream>"), Limits{}).ReadHeader()
			var xe *Error
			if !errors.As(err, &xe) || xe.Condition != tt.cond || xe.TooBig {
				t.Fatalf("got %#v, want condition %s", err, tt.cond)
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	const ns = ` xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	in := `<stream:stream a='` + strings.Repeat("x", 1500) + `'` + ns
	if _, err := NewDecoder(strings.NewReader(in), Limits{}).ReadHeader(); err != nil {
		t.Fatalf("default limit: %v", err)
	}
	_, err := NewDecoder(strings.NewReader(in), Limits{MaxHeaderBytes: 1024}).ReadHeader()
	var xe *Error
	if !errors.As(err, &xe) || xe.Condition != condPolicyViolation || xe.TooBig {
		t.Fatalf("limit 1024: got %#v, want policy-violation", err)
	}
}

func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d=''", i)
	}
	return b.String()
}

func TestStreamEnd(t *testing.T) {
	for _, in := range []string{
		testHeader + "<presence/></stream:stream>",
		testHeader + "<presence/> </stream:stream \n>trailing garbage is not read",
	} {
		d := NewDecoder(strings.NewReader(in), Limits{})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if e, err := d.Next(); e != nil || err != io.EOF {
				t.Fatalf("Next = %v, %v; want nil, io.EOF", e, err)
			}
		}
	}

	// A self-closing stream element is a stream that ends at once.
	d := NewDecoder(strings.NewReader(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("Next after self-closing stream: %v, want io.EOF", err)
	}
}

func TestUnexpectedEOF(t *testing.T) {
	for _, body := range []string{
		"",
		"<presence/>",
		"<presence/> ",
		"<",
		"<mess",
		"<message to='a",
		"<message><body>hi",
		"<message><body>hi</bo",
		"<message>&am",
		"<message>&#x4",
		"<message><![CDATA[abc]]",
		"<message>\r",
		"<message>\xe4\xb8",
		"</stream:str",
	} {
		for _, r := range []io.Reader{strings.NewReader(testHeader + body), iotest.OneByteReader(strings.NewReader(testHeader + body))} {
			if _, err := decodeAll(r, Limits{}); err != io.ErrUnexpectedEOF {
				t.Errorf("%q: got %v, want io.ErrUnexpectedEOF", body, err)
			}
		}
	}
	for _, in := range []string{"", "   ", "<?xml version='1.0'?>", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"} {
		if _, err := NewDecoder(strings.NewReader(in), Limits{}).ReadHeader(); err != io.ErrUnexpectedEOF {
			t.Errorf("header %q: got %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

var errBroken = errors.New("connection reset")

func TestReaderError(t *testing.T) {
	r := io.MultiReader(strings.NewReader(testHeader+"<message><body>"), iotest.ErrReader(errBroken))
	_, err := decodeAll(r, Limits{})
	if !errors.Is(err, errBroken) {
		t.Fatalf("got %v, want it to wrap %v", err, errBroken)
	}
	// Data returned together with an error is used before the error.
	r = iotest.DataErrReader(strings.NewReader(testHeader + "<presence/></stream:stream>"))
	if els, err := decodeAll(r, Limits{}); err != io.EOF || len(els) != 1 {
		t.Fatalf("DataErrReader: %d elements, %v", len(els), err)
	}
}

// timeoutReader returns its chunks, each in as few Reads as p allows,
// with errTimeout between them, as a connection with a read deadline does
// while the peer is idle.
type timeoutReader struct {
	chunks []string
	idle   bool
}

var errTimeout = errors.New("i/o timeout")

func (r *timeoutReader) Read(p []byte) (int, error) {
	if r.idle = !r.idle; !r.idle {
		return 0, errTimeout
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	} else {
		r.idle = false // the rest of the chunk follows at once
	}
	return n, nil
}

func TestIdleTimeoutBetweenElements(t *testing.T) {
	r := &timeoutReader{chunks: []string{testHeader, "<presence/>", " ", "<presence/>", "</stream:stream>"}}
	d := NewDecoder(r, Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var got int
	for range 20 {
		e, err := d.Next()
		switch {
		case err == io.EOF:
			if got != 2 {
				t.Fatalf("got %d elements, want 2", got)
			}
			return
		case errors.Is(err, errTimeout):
		case err != nil:
			t.Fatal(err)
		default:
			got++
			_ = e
		}
	}
	t.Fatal("stream did not end")
}

func TestTimeoutInsideElementIsFatal(t *testing.T) {
	r := &timeoutReader{chunks: []string{testHeader, "<presence>", "</presence>"}}
	d := NewDecoder(r, Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next() // the timeout after the header, between elements
	if !errors.Is(err, errTimeout) {
		t.Fatalf("first Next: %v", err)
	}
	_, err = d.Next() // reads "<presence>", then times out inside it
	if !errors.Is(err, errTimeout) {
		t.Fatalf("second Next: %v", err)
	}
	if _, err2 := d.Next(); err2 != err {
		t.Fatalf("third Next: %v, want the sticky %v", err2, err)
	}
}

func TestReset(t *testing.T) {
	// A client sends <starttls/> with data pipelined behind it.
	first := testHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>"
	d := NewDecoder(strings.NewReader(first), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	e, err := d.Next()
	if err != nil || e.Local != "starttls" {
		t.Fatalf("Next = %v, %v", e, err)
	}
	if got := d.Buffered(); got != len("<message/>") {
		t.Fatalf("Buffered = %d, want %d", got, len("<message/>"))
	}
	consumed := d.InputOffset()
	if consumed != int64(len(first)-len("<message/>")) {
		t.Fatalf("InputOffset = %d", consumed)
	}

	// The restarted stream has another default namespace and prefix.
	second := `<?xml version='1.0'?><s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams'><message/></s:stream>`
	d.Reset(strings.NewReader(second))
	if d.Buffered() != 0 {
		t.Fatalf("Buffered after Reset = %d", d.Buffered())
	}
	h, err := d.ReadHeader()
	if err != nil || h.ContentNS != NSServer {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
	e, err = d.Next()
	if err != nil || e.Space != NSServer || e.Local != "message" {
		t.Fatalf("Next = %s, %v", dump(e), err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	if d.InputOffset() != consumed+int64(len(second)) {
		t.Fatalf("InputOffset = %d, want %d", d.InputOffset(), consumed+int64(len(second)))
	}

	// Reset also clears a sticky error.
	d.Reset(strings.NewReader("<!DOCTYPE x>"))
	if _, err := d.ReadHeader(); err == nil {
		t.Fatal("no error for DTD")
	}
	d.Reset(strings.NewReader(testHeader + "<presence/>"))
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
}

func TestCallOrder(t *testing.T) {
	d := NewDecoder(strings.NewReader(testHeader), Limits{})
	if _, err := d.Next(); err == nil {
		t.Fatal("Next before ReadHeader succeeded")
	}
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadHeader(); err == nil {
		t.Fatal("second ReadHeader succeeded")
	}
}

func TestTooBig(t *testing.T) {
	const limit = 1000
	// exactly returns a message of n bytes.
	exactly := func(n int) string {
		s := "<message><body></body></message>"
		return s[:15] + strings.Repeat("x", n-len(s)) + s[15:]
	}
	for _, tc := range []struct {
		n  int
		ok bool
	}{{limit, true}, {limit + 1, false}, {10 * limit, false}} {
		for _, r := range []io.Reader{strings.NewReader(testHeader + exactly(tc.n) + "</stream:stream>"), iotest.OneByteReader(strings.NewReader(testHeader + exactly(tc.n) + "</stream:stream>"))} {
			els, err := decodeAll(r, Limits{MaxStanzaBytes: limit})
			if tc.ok {
				if err != io.EOF || len(els) != 1 {
					t.Errorf("%d bytes: %d elements, %v", tc.n, len(els), err)
				}
				continue
			}
			var xe *Error
			if !errors.As(err, &xe) || xe.Condition != condPolicyViolation || !xe.TooBig {
				t.Errorf("%d bytes: got %v, want a policy-violation with TooBig", tc.n, err)
			}
		}
	}
}

// endless is a reader that never ends, repeating its pattern after a prefix.
type endless struct {
	prefix  string
	pattern string
	read    int
}

func (r *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		var src string
		if r.read < len(r.prefix) {
			src = r.prefix[r.read:]
		} else {
			k := (r.read - len(r.prefix)) % len(r.pattern)
			src = r.pattern[k:]
		}
		c := copy(p[n:], src)
		n += c
		r.read += c
	}
	return n, nil
}

func TestEndlessElement(t *testing.T) {
	const limit = 64 << 10
	for _, tc := range []struct{ name, open, pattern string }{
		{"text", "<message><body>", "all work and no play "},
		{"children", "<message>", "<x/>"},
		{"attribute value", "<message a='", "xxxxxxxx"},
		{"attributes", "<message", " a='1'"},
		{"name", "<message", "x"},
		{"whitespace in tag", "<message", " "},
		{"CDATA", "<message><![CDATA[", "]]]]"},
		{"character references", "<message>", "&#x41;"},
		{"stream end tag", "</stream:", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &endless{prefix: testHeader + tc.open, pattern: tc.pattern}
			_, err := decodeAll(r, Limits{MaxStanzaBytes: limit})
			var xe *Error
			if !errors.As(err, &xe) || xe.Condition != condPolicyViolation {
				t.Fatalf("got %v, want policy-violation", err)
			}
			if tc.name == "attributes" {
				return // stopped by the attribute count, not the size
			}
			if !xe.TooBig {
				t.Fatalf("got %v, want TooBig", err)
			}
			if max := len(testHeader) + limit + 2*bufSize; r.read > max {
				t.Fatalf("read %d bytes, want at most %d", r.read, max)
			}
		})
	}
}

func TestTooDeep(t *testing.T) {
	nest := func(n int) string {
		return strings.Repeat("<a>", n) + strings.Repeat("</a>", n)
	}
	for _, tc := range []struct {
		depth, limit int
		ok           bool
	}{{64, 0, true}, {65, 0, false}, {3, 3, true}, {4, 3, false}, {1, 1, true}, {2, 1, false}} {
		_, err := decodeAll(strings.NewReader(testHeader+nest(tc.depth)+"</stream:stream>"), Limits{MaxDepth: tc.limit})
		var xe *Error
		switch {
		case tc.ok && err != io.EOF:
			t.Errorf("depth %d, limit %d: %v", tc.depth, tc.limit, err)
		case !tc.ok && (!errors.As(err, &xe) || xe.Condition != condPolicyViolation || xe.TooBig):
			t.Errorf("depth %d, limit %d: got %v, want policy-violation", tc.depth, tc.limit, err)
		}
	}
	// Empty elements count too.
	_, err := decodeAll(strings.NewReader(testHeader+"<a><b/></a>"), Limits{MaxDepth: 1})
	var xe *Error
	if !errors.As(err, &xe) || xe.Condition != condPolicyViolation {
		t.Errorf("empty child past the limit: %v", err)
	}
}

func TestTooManyAttributes(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{maxAttrs, true}, {maxAttrs + 1, false}} {
		_, err := decodeAll(strings.NewReader(testHeader+"<a"+manyAttrs(tc.n)+"/></stream:stream>"), Limits{})
		var xe *Error
		switch {
		case tc.ok && err != io.EOF:
			t.Errorf("%d attributes: %v", tc.n, err)
		case !tc.ok && (!errors.As(err, &xe) || xe.Condition != condPolicyViolation):
			t.Errorf("%d attributes: got %v, want policy-violation", tc.n, err)
		}
	}
	// Many attributes take the map path of the duplicate check.
	_, err := decodeAll(strings.NewReader(testHeader+"<a"+manyAttrs(100)+" a7=''/>"), Limits{})
	var xe *Error
	if !errors.As(err, &xe) || xe.Condition != condNotWellFormed {
		t.Errorf("duplicate among many attributes: %v", err)
	}
}

func TestElementsDoNotShareSlices(t *testing.T) {
	els, err := decodeAll(strings.NewReader(testHeader+"<m a='1'><x b='2'/><y c='3'/></m></stream:stream>"), Limits{})
	if err != io.EOF {
		t.Fatal(err)
	}
	m := els[0]
	x, y := m.Children[0].Elem, m.Children[1].Elem
	x.Attrs = append(x.Attrs, Attr{Local: "new", Value: "v"})
	m.Attrs = append(m.Attrs, Attr{Local: "new", Value: "v"})
	x.AppendText("t")
	if y.Attrs[0].Local != "c" || x.Attrs[0].Local != "b" || len(m.Children) != 2 {
		t.Fatalf("append to one element changed another: %s", dump(m))
	}
}

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want *Element
	}{
		{`<a/>`, New("", "a")},
		{"<?xml version='1.0' encoding='utf-8'?>\n<a xmlns='urn:a'>x</a>\n", New("urn:a", "a").AppendText("x")},
		{`<p:a xmlns:p='urn:p'><b/></p:a>`, New("urn:p", "a").Append(New("", "b"))},
		{` <message xmlns="jabber:client" to="x"><body>hi</body></message>`, New(NSClient, "message", "to", "x").Append(New(NSClient, "body").AppendText("hi"))},
	}
	for _, tt := range good {
		got, err := Parse([]byte(tt.in))
		if err != nil || !equalElement(got, tt.want) {
			t.Errorf("Parse(%q) = %s, %v; want %s", tt.in, dump(got), err, dump(tt.want))
		}
	}
	bad := []struct{ in, cond string }{
		{``, condNotWellFormed},
		{`   `, condNotWellFormed},
		{`<a>`, condNotWellFormed},
		{`<a/><b/>`, condNotWellFormed},
		{`<a/>x`, condNotWellFormed},
		{`<a/><!-- c -->`, condNotWellFormed},
		{`<!-- c --><a/>`, condRestrictedXML},
		{`<p:a/>`, condBadNamespacePrefix},
		{`<a>&x;</a>`, condRestrictedXML},
		{"<a>\x00</a>", condNotWellFormed},
	}
	for _, tt := range bad {
		_, err := Parse([]byte(tt.in))
		var xe *Error
		if !errors.As(err, &xe) || xe.Condition != tt.cond {
			t.Errorf("Parse(%q): got %v, want %s", tt.in, err, tt.cond)
		}
	}

	// Limits: Parse allows 1 MiB, ParseWithLimits what it is given.
	big := []byte("<a>" + strings.Repeat("x", 512<<10) + "</a>")
	if _, err := Parse(big); err != nil {
		t.Errorf("Parse of 512 KiB: %v", err)
	}
	huge := []byte("<a>" + strings.Repeat("x", 2<<20) + "</a>")
	var xe *Error
	if _, err := Parse(huge); !errors.As(err, &xe) || !xe.TooBig {
		t.Errorf("Parse of 2 MiB: %v, want TooBig", err)
	}
	if _, err := ParseWithLimits(big, Limits{MaxStanzaBytes: 1000}); !errors.As(err, &xe) || !xe.TooBig {
		t.Errorf("ParseWithLimits 1000: %v, want TooBig", err)
	}
	if _, err := ParseWithLimits([]byte("<a><b><c/></b></a>"), Limits{MaxDepth: 2}); !errors.As(err, &xe) || xe.Condition != condPolicyViolation {
		t.Errorf("ParseWithLimits depth 2: %v", err)
	}

	// Parse must not modify its input, nor keep it.
	in := []byte(`<a x='1'>text &amp; more</a>`)
	orig := bytes.Clone(in)
	e, err := Parse(in)
	if err != nil || !bytes.Equal(in, orig) {
		t.Fatalf("Parse changed its input: %q, %v", in, err)
	}
	copy(in, bytes.Repeat([]byte("z"), len(in)))
	if e.Attr("x") != "1" || e.Text() != "text & more" {
		t.Fatalf("tree changed with the input: %s", dump(e))
	}
}

// roundTripInputs are elements that must survive Parse, AppendXML, Parse.
var roundTripInputs = []string{
	`<message xmlns='jabber:client' from='a@b/c' to='d@e' type='chat' id='1' xml:lang='en'><body>Hello &lt;world&gt; &amp; "all" 'of' you ]]&gt;</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
	`<iq xmlns='jabber:server' type='result' id='x'><query xmlns='jabber:iq:roster' ver='1'><item jid='a@b' name='A&#9;B&#10;C&#13;D'><group>Friends</group></item></query></iq>`,
	`<p:a xmlns:p='urn:p' xmlns:q='urn:q' q:x='1' p:x='2' x='3'><q:b p:y='4'><c xmlns=''/></q:b></p:a>`,
	"<a>line1\r\nline2\rline3&#13;<![CDATA[<cdata> & ]]>tail</a>",
	`<a>  <b/>  <c>  </c>  </a>`,
	`<ñ xmlns='urn:ü' ä='ö'>Grüße 😀 &#x10FFFF;</ñ>`,
	`<a xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='de' xml:space='preserve'/>`,
	`<x:stream xmlns:x='http://etherx.jabber.org/streams'><x:features/></x:stream>`,
}

func TestRoundTrip(t *testing.T) {
	for _, in := range roundTripInputs {
		e1, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		out := e1.AppendXML(nil, "")
		e2, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		if !equalElement(e1, e2) {
			t.Errorf("round trip changed the tree:\n  in %s\n out %s\n%s\n%s", in, out, dump(e1), dump(e2))
		}
	}
	// The same through a stream, written back with the stream's namespace
	// as the parent, as a router would.
	els, err := decodeAll(strings.NewReader(testHeader+roundTripInputs[0]+"<presence/><iq type='get'/></stream:stream>"), Limits{})
	if err != io.EOF {
		t.Fatal(err)
	}
	var out []byte
	for _, e := range els {
		out = e.AppendXML(out, NSClient)
	}
	again, err := decodeAll(strings.NewReader(testHeader+string(out)+"</stream:stream>"), Limits{})
	if err != io.EOF || len(again) != len(els) {
		t.Fatalf("reread %q: %d elements, %v", out, len(again), err)
	}
	for i := range els {
		if !equalElement(els[i], again[i]) {
			t.Errorf("element %d changed:\n%s\n%s", i, dump(els[i]), dump(again[i]))
		}
	}
}

// TestRuns checks the word-at-a-time scanners against a byte loop, with
// every byte value at every position of a word.
func TestRuns(t *testing.T) {
	slow := func(b []byte, class uint8) int {
		i := 0
		for i < len(b) && charClass[b[i]]&class != 0 {
			i++
		}
		return i
	}
	base := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	for c := range 256 {
		for pos := range 20 {
			b := bytes.Clone(base)
			b[pos] = byte(c)
			for cut := range len(b) + 1 {
				if got, want := textRun(b[:cut]), slow(b[:cut], cText); got != want {
					t.Fatalf("textRun(%q) = %d, want %d", b[:cut], got, want)
				}
				if got, want := attrRun(b[:cut]), slow(b[:cut], cAttr); got != want {
					t.Fatalf("attrRun(%q) = %d, want %d", b[:cut], got, want)
				}
			}
		}
	}
}

func TestRestartKeepsBufferedHeader(t *testing.T) {
	// After SASL success a client sends its new header at once; it is
	// already buffered with the <auth/> element.
	in := testHeader + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>" +
		"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.com'><iq/>"
	d := NewDecoder(strings.NewReader(in), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Next(); err != nil || e.Local != "auth" {
		t.Fatalf("Next = %v, %v", e, err)
	}
	d.Restart()
	h, err := d.ReadHeader()
	if err != nil || h.ContentNS != NSServer || h.To != "example.com" {
		t.Fatalf("ReadHeader after Restart = %+v, %v", h, err)
	}
	e, err := d.Next()
	if err != nil || e.Space != NSServer || e.Local != "iq" {
		t.Fatalf("Next = %s, %v", dump(e), err)
	}
}

// lenRecorder passes reads through and reports the size of each buffer
// it is given.
type lenRecorder struct {
	r    io.Reader
	lens chan int
}

func (l *lenRecorder) Read(p []byte) (int, error) {
	l.lens <- len(p)
	return l.r.Read(p)
}

// TestIdleStreamHoldsNoBuffer checks that a decoder waiting between
// elements, with everything read consumed, waits with a one-byte read,
// holding no read buffer, and that a partial element keeps its bytes.
func TestIdleStreamHoldsNoBuffer(t *testing.T) {
	pr, pw := io.Pipe()
	rec := &lenRecorder{r: pr, lens: make(chan int, 100)}
	d := NewDecoder(rec, Limits{})
	go func() {
		io.WriteString(pw, testHeader+"<presence/>")
	}()
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Next(); err != nil || e.Local != "presence" {
		t.Fatalf("Next = %v, %v", e, err)
	}
	for len(rec.lens) > 0 {
		<-rec.lens
	}
	got := make(chan *Element)
	go func() {
		e, err := d.Next()
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	if n := <-rec.lens; n != 1 {
		t.Errorf("idle decoder reads into %d bytes, want a one-byte read", n)
	}
	if d.buf != nil {
		t.Errorf("idle decoder holds a %d-byte buffer", cap(d.buf))
	}
	io.WriteString(pw, "<message><body>split")
	io.WriteString(pw, " across writes</body></message>")
	if e := <-got; e == nil || e.Local != "message" || e.FirstElement().Text() != "split across writes" {
		t.Fatalf("after idling: %v", e)
	}
	pw.Close()
}
