package loadgen

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type scanned struct {
	Kind Kind
	Raw  string
}

func scanAll(t *testing.T, r io.Reader) ([]scanned, error) {
	t.Helper()
	sc := NewScanner(r)
	var out []scanned
	for {
		k, raw, err := sc.Next()
		if err != nil {
			return out, err
		}
		out = append(out, scanned{k, string(raw)})
	}
}

const stream = `<?xml version='1.0'?>` +
	`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='d' version='1.0'>` +
	`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>` +
	"\n  " +
	`<message from='r@m/n' a="x>y" b='it"s'><body>a &amp; b</body><x/><!-- c<> --><![CDATA[ <not/> ]]></message>` +
	`<presence/>` +
	`<iq type='result' id='1'><bind xmlns='b'><jid>u@d/r</jid></bind></iq>` +
	`</stream:stream>`

var wantStream = []scanned{
	{KindStreamOpen, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='d' version='1.0'>`},
	{KindElement, `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>`},
	{KindElement, `<message from='r@m/n' a="x>y" b='it"s'><body>a &amp; b</body><x/><!-- c<> --><![CDATA[ <not/> ]]></message>`},
	{KindElement, `<presence/>`},
	{KindElement, `<iq type='result' id='1'><bind xmlns='b'><jid>u@d/r</jid></bind></iq>`},
	{KindStreamClose, `</stream:stream>`},
}

// TestScannerSplits feeds the stream whole, one byte at a time and in
// odd-sized pieces: the elements found must be the same however the
// input is split.
func TestScannerSplits(t *testing.T) {
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := scanAll(t, mk())
			if !errors.Is(err, io.EOF) {
				t.Errorf("end: %v, want EOF", err)
			}
			if d := cmp.Diff(wantStream, got); d != "" {
				t.Errorf("elements (-want +got):\n%s", d)
			}
		})
	}
}

// TestScannerLarge checks that elements larger than the initial buffer
// grow it, and that one beyond the limit is refused rather than held.
func TestScannerLarge(t *testing.T) {
	body := strings.Repeat("x", 100<<10)
	in := `<stream:stream xmlns:stream='s'><message><body>` + body + `</body></message><presence/>`
	got, err := scanAll(t, iotest.HalfReader(strings.NewReader(in)))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	if len(got) != 3 || len(got[1].Raw) != len(`<message><body></body></message>`)+len(body) || got[2].Raw != "<presence/>" {
		t.Fatalf("got %d elements, second %d bytes", len(got), len(got[1].Raw))
	}
	huge := `<stream:stream xmlns:stream='s'><message><body>` + strings.Repeat("y", 2<<20) + `</body></message>`
	_, err = scanAll(t, strings.NewReader(huge))
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("huge element: %v, want ErrTooBig", err)
	}
}

// TestScannerTruncated: an element cut off by the end of input is not
// reported.
func TestScannerTruncated(t *testing.T) {
	got, err := scanAll(t, strings.NewReader(`<stream:stream xmlns:stream='s'><presence/><message><body>cut`))
	if !errors.Is(err, io.EOF) || len(got) != 2 {
		t.Fatalf("got %v, %v; want header and presence, then EOF", got, err)
	}
}

func TestAttrAndText(t *testing.T) {
	raw := []byte(`<message  from = "a@b/c&amp;d" to='x' type='groupchat' id="it's"><body>mmb t 1 2</body><stanza-id xmlns='urn:xmpp:sid:0' id='s1'/></message>`)
	for name, want := range map[string]string{"from": "a@b/c&d", "to": "x", "type": "groupchat", "id": "it's", "xmlns": "", "body": ""} {
		if got := Attr(raw, name); got != want {
			t.Errorf("Attr(%q) = %q, want %q", name, got, want)
		}
	}
	if Name(raw) != "message" || !Is(raw, "message") || Is(raw, "presence") {
		t.Errorf("Name = %q", Name(raw))
	}
	if got, ok := ChildText(raw, "body"); !ok || got != "mmb t 1 2" {
		t.Errorf("ChildText(body) = %q, %v", got, ok)
	}
	if !Has(raw, "stanza-id") || Has(raw, "subject") {
		t.Error("Has")
	}
	if Name([]byte(`<stream:features><x/></stream:features>`)) != "features" {
		t.Error("prefixed name")
	}
	if got := Text([]byte(`<challenge xmlns='s'>cj1h</challenge>`)); got != "cj1h" {
		t.Errorf("Text = %q", got)
	}
	if got := Text([]byte(`<success xmlns='s'/>`)); got != "" {
		t.Errorf("Text of empty = %q", got)
	}
}

func TestStatusAndErrors(t *testing.T) {
	p := []byte(`<presence from='r@m/n'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator'/><status code="110"/><status code='201'/></x></presence>`)
	if !HasStatus(p, "110") || !HasStatus(p, "201") || HasStatus(p, "100") {
		t.Error("HasStatus")
	}
	e := []byte(`<presence type='error' from='r@m/n'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	if got := errorCondition(e); got != "conflict" {
		t.Errorf("errorCondition = %q", got)
	}
	if got := errorCondition(p); got != "" {
		t.Errorf("errorCondition without error = %q", got)
	}
}

func TestMechanisms(t *testing.T) {
	feats := []byte(wantStream[1].Raw)
	got := mechanisms(feats)
	if d := cmp.Diff([]string{"SCRAM-SHA-1", "SCRAM-SHA-256"}, got); d != "" {
		t.Fatal(d)
	}
	for _, tc := range []struct {
		offered []string
		want    string
		pick    string
		err     bool
	}{
		{got, "", "SCRAM-SHA-256", false},
		{got, "SCRAM-SHA-1", "SCRAM-SHA-1", false},
		{[]string{"SCRAM-SHA-1", "PLAIN"}, "", "SCRAM-SHA-1", false},
		{[]string{"PLAIN"}, "", "", true},
		{[]string{"SCRAM-SHA-1"}, "SCRAM-SHA-256", "", true},
	} {
		m, err := pickMechanism(tc.offered, tc.want)
		if m != tc.pick || (err != nil) != tc.err {
			t.Errorf("pickMechanism(%v, %q) = %q, %v", tc.offered, tc.want, m, err)
		}
	}
}

func TestMarker(t *testing.T) {
	b := &bench{token: "abcd"}
	body := b.appendBody(nil, 42)
	raw := []byte(`<message type='groupchat'><body>` + string(body) + `</body></message>`)
	seq, st, ok := parseMarker(raw, b.marker())
	if !ok || seq != 42 || st < 0 {
		t.Fatalf("parseMarker = %d, %d, %v", seq, st, ok)
	}
	for _, bad := range []string{
		`<message><body>mmb other 1 2</body></message>`,
		`<message><body>mmb abcd x 2</body></message>`,
		`<message><body>mmb abcd 1</body></message>`,
		`<message><body>mmb abcd 1 </body></message>`,
	} {
		if _, _, ok := parseMarker([]byte(bad), b.marker()); ok {
			t.Errorf("parseMarker(%s) accepted", bad)
		}
	}
}

func TestOccupantNick(t *testing.T) {
	room := "r@m"
	for raw, want := range map[string]string{
		`<presence from='r@m/alice'><x/></presence>`:         "alice",
		`<presence from='r@m/a&amp;b'/>`:                     "a&b",
		`<presence from='r@m/alice' type='unavailable'/>`:    "",
		`<presence from='other@m/alice'/>`:                   "",
		`<message from='r@m/alice'><body>x</body></message>`: "",
		`<presence from='r@m2/alice'/>`:                      "",
	} {
		got, ok := occupantNick([]byte(raw), room)
		if got != want || ok != (want != "") {
			t.Errorf("occupantNick(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}
