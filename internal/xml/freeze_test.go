package xml

import (
	"strings"
	"sync"
	"testing"
)

func TestFreezeWritesTheSame(t *testing.T) {
	const src = `<message xmlns="jabber:client" from="r@muc/n" type="groupchat">` +
		`<body>a &lt; b &amp; "c"</body>` +
		`<stanza-id xmlns="urn:xmpp:sid:0" by="r@muc" id="1"/>` +
		`<x xmlns="http://jabber.org/protocol/muc#user"><item jid="a@b/c"/></x>` +
		`hello</message>`
	tests := []struct {
		name     string
		parentNS string
	}{
		{"client stream", NSClient},
		{"server stream", NSServer},
		{"stored, root declares", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			want := string(m.AppendXML(nil, tc.parentNS))
			Freeze(m)
			for i := range 3 { // the first write keeps, the others reuse
				f := m.ShallowClone()
				f.SetAttr("to", "x@y/z")
				plain := m.Clone()
				plain.SetAttr("to", "x@y/z")
				if got, want := string(f.AppendXML(nil, tc.parentNS)), string(plain.AppendXML(nil, tc.parentNS)); got != want {
					t.Fatalf("write %d of a fork of a frozen element:\n got %s\nwant %s", i, got, want)
				}
			}
			if got := string(m.AppendXML(nil, tc.parentNS)); got != want {
				t.Fatalf("frozen element written:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// The same frozen children written into different contexts keep apart.
func TestFreezeContexts(t *testing.T) {
	m, err := Parse([]byte(`<message xmlns="jabber:client"><body>hi</body></message>`))
	if err != nil {
		t.Fatal(err)
	}
	Freeze(m)
	body := m.Children[0].Elem
	if got := string(body.appendFrozen(nil, NSClient)); got != "<body>hi</body>" {
		t.Fatalf("in jabber:client: %s", got)
	}
	if got := string(body.appendFrozen(nil, NSServer)); got != `<body xmlns="jabber:client">hi</body>` {
		t.Fatalf("in jabber:server: %s", got)
	}
	// A frozen element changed after all (a bug elsewhere) is not
	// written from a stale copy of its namespace.
	body.Space = NSServer
	if got := string(body.appendFrozen(nil, NSServer)); got != "<body>hi</body>" {
		t.Fatalf("after its namespace changed: %s", got)
	}
}

// Copies that share frozen children are written on many goroutines at
// once (run with -race).
func TestFreezeConcurrentWriters(t *testing.T) {
	m, err := Parse([]byte(`<message xmlns="jabber:client"><body>` + strings.Repeat("x&amp;y", 100) + `</body><a xmlns="urn:a"/></message>`))
	if err != nil {
		t.Fatal(err)
	}
	want := string(m.AppendXML(nil, NSClient))
	Freeze(m)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := string(m.ShallowClone().AppendXML(nil, NSClient)); got != want {
					t.Errorf("got %s", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkWriteForked(b *testing.B) {
	m, err := Parse([]byte(`<message xmlns="jabber:client" from="room@muc.example/alice" type="groupchat" id="a1b2c3">` +
		`<body>` + strings.Repeat("Hello there, this is a room message of ordinary length. ", 2) + `</body>` +
		`<stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example" id="0123456789abcdef"/>` +
		`<origin-id xmlns="urn:xmpp:sid:0" id="fedcba9876543210"/></message>`))
	if err != nil {
		b.Fatal(err)
	}
	for _, frozen := range []bool{false, true} {
		name := "shared"
		if frozen {
			name = "frozen"
			Freeze(m)
		}
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for range b.N {
				f := m.ShallowClone()
				f.SetAttr("to", "bob@example.com/phone")
				buf = f.AppendXML(buf[:0], NSClient)
			}
		})
	}
}
