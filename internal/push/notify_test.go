package push

import (
	"testing"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

func parse(t testing.TB, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

func TestParseNotify(t *testing.T) {
	const ext = `<extensions xmlns='urn:xmpp:bookmarks:1'>`
	for _, tc := range []struct {
		name, xml string
		want      Notify
		ok        bool
	}{
		{"none", ext + `</extensions>`, 0, false},
		{"other extension", ext + `<state xmlns='urn:example'/></extensions>`, 0, false},
		{"fallback never", ext + `<notify xmlns='urn:xmpp:notification-settings:1'><never/></notify></extensions>`, Never, true},
		{"fallback always", ext + `<notify xmlns='urn:xmpp:notification-settings:1'><always/></notify></extensions>`, Always, true},
		{"fallback on-mention", ext + `<notify xmlns='urn:xmpp:notification-settings:1'><on-mention/></notify></extensions>`, OnMention, true},
		{"first version", ext + `<notify xmlns='urn:xmpp:notification-settings:0'><always/></notify></extensions>`, Always, true},
		// XEP-0492 section 2.2's example: the phone's setting wins.
		{"identities", ext + `<notify xmlns='urn:xmpp:notification-settings:1'>
			<never identity-category='client' identity-type='pc'/>
			<on-mention identity-category='client' identity-type='phone'/>
			<on-mention identity-category='gateway'/>
			<always/></notify></extensions>`, OnMention, true},
		{"category over fallback", ext + `<notify xmlns='urn:xmpp:notification-settings:1'>
			<always/><never identity-category='client'/></notify></extensions>`, Never, true},
		{"another identity only", ext + `<notify xmlns='urn:xmpp:notification-settings:1'>
			<never identity-category='client' identity-type='pc'/></notify></extensions>`, 0, false},
		{"unknown setting", ext + `<notify xmlns='urn:xmpp:notification-settings:1'><sometimes/></notify></extensions>`, 0, false},
	} {
		got, ok := ParseNotify(parse(t, tc.xml))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: ParseNotify = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := ParseNotify(nil); ok {
		t.Error("ParseNotify(nil) found a setting")
	}
}

func TestContainsWord(t *testing.T) {
	for _, tc := range []struct {
		s, w string
		want bool
	}{
		{"hi alice!", "alice", true},
		{"Alice, look", "alice", true},
		{"ALICE", "Alice", true},
		{"malice aforethought", "alice", false},
		{"alices", "alice", false},
		{"alice2 is here", "alice", false},
		{"x malice alice", "alice", true},
		{"@alice:", "alice", true},
		{"héléne and Hélène", "hélène", true},
		{"nothing", "alice", false},
		{"", "alice", false},
		{"alice", "", false},
	} {
		if got := containsWord(tc.s, tc.w); got != tc.want {
			t.Errorf("containsWord(%q, %q) = %v", tc.s, tc.w, got)
		}
	}
}

func TestMentions(t *testing.T) {
	room := jid.MustParse("room@muc.example")
	account := jid.MustParse("alice@example")
	for _, tc := range []struct {
		name, xml string
		want      bool
	}{
		{"nick in body", `<message xmlns='jabber:client'><body>al, are you there?</body></message>`, true},
		{"no mention", `<message xmlns='jabber:client'><body>hello all</body></message>`, false},
		{"reference to the occupant", `<message xmlns='jabber:client'><body>hey you</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='4' end='7' uri='xmpp:room@muc.example/al'/></message>`, true},
		{"reference to the account", `<message xmlns='jabber:client'><body>hey</body><reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:alice@example'/></message>`, true},
		{"reference to another", `<message xmlns='jabber:client'><body>hey</body><reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:room@muc.example/bob'/></message>`, false},
		{"reply to the occupant", `<message xmlns='jabber:client'><body>yes</body><reply xmlns='urn:xmpp:reply:0' to='room@muc.example/al' id='x'/></message>`, true},
		{"reply to another", `<message xmlns='jabber:client'><body>yes</body><reply xmlns='urn:xmpp:reply:0' to='room@muc.example/bob' id='x'/></message>`, false},
	} {
		el := parse(t, tc.xml)
		body, _ := content(el)
		if got := mentions(el, body, room, account, "al"); got != tc.want {
			t.Errorf("%s: mentions = %v", tc.name, got)
		}
	}
}

func TestContent(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		body      string
		ok        bool
	}{
		{"body", `<message xmlns='jabber:client'><body>hi</body></message>`, "hi", true},
		{"chat state", `<message xmlns='jabber:client'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, "", false},
		{"receipt", `<message xmlns='jabber:client'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, "", false},
		{"OMEMO without body", `<message xmlns='jabber:client'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>x</payload></encrypted></message>`, "", true},
		{"OMEMO 2", `<message xmlns='jabber:client'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, "", true},
		{"OpenPGP", `<message xmlns='jabber:client'><openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp></message>`, "", true},
		{"OMEMO with fallback body", `<message xmlns='jabber:client'><body>I sent you an OMEMO message</body><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`, "I sent you an OMEMO message", true},
	} {
		body, ok := content(parse(t, tc.xml))
		if body != tc.body || ok != tc.ok {
			t.Errorf("%s: content = %q, %v", tc.name, body, ok)
		}
	}
}
