package muc_test

import (
	"fmt"
	"testing"

	"minimix/internal/xmpptest"
)

// XEP-0280 section 6 with account-based group chat off: a private
// message from an occupant reaches the joined session and is not copied
// to the account's other sessions; one the joined session sends is
// copied to them as a <sent/> carbon.
func TestE2EPrivateMessageCarbons(t *testing.T) {
	srv := startServer(t)
	phone := dial(t, srv, "alice", "phone")
	pc := dial(t, srv, "alice", "pc")
	bob := dial(t, srv, "bob", "pc")
	for _, c := range []*xmpptest.Client{phone, pc} {
		if r := c.IQ(t, "<iq type='set' id='"+nextID("carbons")+"'><enable xmlns='urn:xmpp:carbons:2'/></iq>"); r.Attr("type") != "result" {
			t.Fatalf("enable carbons: %v", r)
		}
		c.SendRaw(t, "<presence/>")
	}
	room := "pm@" + service
	createRoom(t, bob, room, "Bob")
	enter(t, phone, room, "Al", "")
	drain(t, pc)

	bob.SendRaw(t, fmt.Sprintf("<message type='chat' to='%s/Al' id='pm1'><body>psst</body><x xmlns='%s'/></message>", room, nsUser))
	phone.Expect(t, "the private message", xmpptest.IsMessage("psst"))

	phone.SendRaw(t, fmt.Sprintf("<message type='chat' to='%s/Bob' id='pm2'><body>hi bob</body><x xmlns='%s'/></message>", room, nsUser))
	bob.Expect(t, "alice's private message", xmpptest.IsMessage("hi bob"))
	// A copy of the received private message would have been queued to
	// pc before the phone had the original: pc's first message is the
	// sent carbon.
	got := pc.Expect(t, "a message", func(n xmpptest.Node) bool { return n.XMLName.Local == "message" })
	if b := got.Find("sent/forwarded/message/body"); b == nil || b.Text != "hi bob" {
		t.Fatalf("pc's first message is not the sent carbon: %v", got)
	}
	quiet(t, pc, "a copy of a received private message", func(n xmpptest.Node) bool { return n.Find("received/forwarded/message") != nil })
}
