package stanza

import (
	"testing"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

func TestIsJID(t *testing.T) {
	for _, j := range []string{"alice@example.net", "example.net", "alice@example.net/r", "room@muc.example.net/Nick Name"} {
		jj := jid.MustParse(j)
		for _, s := range []string{"alice@example.net", "example.net", "alice@example.net/r", "room@muc.example.net/Nick Name", "alice@example.org", "alicex@example.net", "alice@example.net/", "", "example.net/r"} {
			if got, want := IsJID(s, jj), s == jj.String(); got != want {
				t.Errorf("IsJID(%q, %s) = %v, want %v", s, j, got, want)
			}
		}
	}
}

func TestStanzaIDs(t *testing.T) {
	by := jid.MustParse("alice@example.net")
	room := jid.MustParse("room@muc.example.net")
	m := xml.New(xml.NSClient, Message)
	AddStanzaID(m, room, "r1")
	AddStanzaID(m, by, "forged")
	if StanzaID(m, room) != "r1" || StanzaID(m, by) != "forged" {
		t.Fatalf("StanzaID read wrong: %s", m)
	}
	RemoveStanzaIDs(m, by)
	if StanzaID(m, by) != "" || StanzaID(m, room) != "r1" {
		t.Errorf("RemoveStanzaIDs removed the wrong ones: %s", m)
	}
	if n := testing.AllocsPerRun(100, func() { RemoveStanzaIDs(m, by) }); n != 0 {
		t.Errorf("RemoveStanzaIDs with nothing to remove allocates %v times", n)
	}
}
