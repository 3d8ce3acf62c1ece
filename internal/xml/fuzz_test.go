package xml

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

var fuzzSeeds = []string{
	`<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>`,
	`<message to='room@muc.example.org' type='groupchat' id='a1'><body>hi &amp; bye &lt;3</body><stanza-id xmlns='urn:xmpp:sid:0' id='5f3dbc5e' by='room@muc.example.org'/><origin-id xmlns='urn:xmpp:sid:0' id='de305d54'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
	`<presence><show>away</show><status>brb</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://example.com' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
	`<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>`,
	`<iq type='result' id='r'><query xmlns='jabber:iq:roster' ver='ver7'><item jid='nurse@example.com' name='Nurse' subscription='both'><group>Servants</group></item></query></iq>`,
	`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`,
	`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>`,
	`<r xmlns='urn:xmpp:sm:3'/>  <a xmlns='urn:xmpp:sm:3' h='12'/>`,
	"<message>\r\n<body>x\ry&#13;&#x1F600;<![CDATA[<a>&]]></body></message>",
	`<a:x xmlns:a='urn:a' a:k='v' k='w'><y xmlns=''/><z xml:lang='de'/></a:x>`,
	`<message><body>unterminated`,
	`<!-- comment -->`,
	`</stream:stream>`,
	`<m xmlns:p='urn:p' p:a='1' xmlns:q='urn:p' q:a='2'/>`,
}

// FuzzDecoder feeds arbitrary bytes after a stream header. The decoder must
// neither panic nor hang, and every element it returns must serialise to
// XML that Parse accepts and that reparses to the same tree.
func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(testHeader), data...)
		d := NewDecoder(bytes.NewReader(in), Limits{MaxStanzaBytes: 64 << 10, MaxDepth: 32})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatalf("header: %v", err)
		}
		for {
			e, err := d.Next()
			if err != nil {
				var xe *Error
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &xe) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
			checkRoundTrip(t, e)
		}
	})
}

// FuzzParse checks Parse alone on arbitrary input.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseWithLimits(data, Limits{MaxStanzaBytes: 64 << 10, MaxDepth: 32})
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		checkRoundTrip(t, e)
	})
}

func checkRoundTrip(t *testing.T, e *Element) {
	t.Helper()
	out := e.AppendXML(nil, "")
	// Escaping can make the output up to six times the input.
	e2, err := ParseWithLimits(out, Limits{MaxStanzaBytes: 1 << 30, MaxDepth: 64})
	if err != nil {
		t.Fatalf("Parse(%q): %v\ntree %s", out, err, dump(e))
	}
	if !equalElement(e, e2) {
		t.Fatalf("round trip changed the tree:\n out %q\n was %s\n now %s", out, dump(e), dump(e2))
	}
}
