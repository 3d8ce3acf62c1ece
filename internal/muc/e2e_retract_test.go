package muc_test

import (
	"fmt"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

const (
	nsMAM            = "urn:xmpp:mam:2"
	nsRetract        = "urn:xmpp:message-retract:1"
	nsModerate       = "urn:xmpp:message-moderate:1"
	nsModerateLegacy = "urn:xmpp:message-moderate:0"
	nsFasten         = "urn:xmpp:fasten:0"
)

// mamQuery runs a MAM query on archive (the account's own when "") with
// the extra form fields and returns the forwarded messages, in order.
func mamQuery(t *testing.T, c *xmpptest.Client, archive string, fields map[string]string) []xmpptest.Node {
	t.Helper()
	id, qid := nextID("mam"), nextID("q")
	to := ""
	if archive != "" {
		to = " to='" + archive + "'"
	}
	form := ""
	if len(fields) > 0 {
		form = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + nsMAM + "</value></field>"
		for k, v := range fields {
			form += "<field var='" + k + "'><value>" + v + "</value></field>"
		}
		form += "</x>"
	}
	c.SendRaw(t, fmt.Sprintf("<iq type='set' id='%s'%s><query xmlns='%s' queryid='%s'>%s</query></iq>", id, to, nsMAM, qid, form))
	var out []xmpptest.Node
	for {
		n := next(t, c, "MAM results")
		if n.XMLName.Local == "iq" && n.Attr("id") == id {
			if n.Attr("type") != "result" {
				t.Fatalf("MAM query on %q: %v", archive, n)
			}
			return out
		}
		if r := n.Child(nsMAM, "result"); r != nil && r.Attr("queryid") == qid {
			if m := n.Find("result/forwarded/message"); m != nil {
				out = append(out, *m)
			}
		}
	}
}

// archived returns the archived message with the room's stanza-id id
// among msgs (by the stanza-id by room), or nil.
func archived(msgs []xmpptest.Node, by, id string) *xmpptest.Node {
	for i := range msgs {
		if stanzaID(msgs[i], by) == id {
			return &msgs[i]
		}
	}
	return nil
}

func isTombstone(m *xmpptest.Node) bool {
	return m != nil && m.Child("", "body") == nil && m.Child(nsRetract, "retracted") != nil
}

// XEP-0425: a moderator retracts a message by the room's stanza-id; the
// room tells every occupant, the room's archive and the archives of the
// local accounts in the room (one shared record) hold a tombstone, the
// message leaves the history, and others may not moderate.
func TestE2EMessageModeration(t *testing.T) {
	srv := startServer(t, xmpptest.WithConfig(func(c *config.Config) { c.AccountJoin.Enabled = true }))
	alice := dial(t, srv, "alice", "pc")
	bob := dial(t, srv, "bob", "pc")
	carol := dial(t, srv, "carol", "pc")
	room := "moderated@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")
	enter(t, carol, room, "Carol", "")

	info := carol.IQ(t, "<iq type='get' id='"+nextID("info")+"' to='"+room+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	for _, f := range []string{nsModerate, nsRetract} {
		if !hasFeature(info.Child("http://jabber.org/protocol/disco#info", "query"), f) {
			t.Errorf("room lacks feature %s", f)
		}
	}

	say(t, bob, room, "spam-1", "buy potions")
	spam := alice.Expect(t, "the spam", isGroupchat("buy potions"))
	carol.Expect(t, "the spam", isGroupchat("buy potions"))
	bob.Expect(t, "the spam", isGroupchat("buy potions"))
	sid := stanzaID(spam, room)
	author := occupantID(spam)
	say(t, bob, room, "fine-1", "a fine message")
	alice.Expect(t, "the fine message", isGroupchat("a fine message"))
	carol.Expect(t, "the fine message", isGroupchat("a fine message"))

	// A participant may not moderate.
	r := carol.IQ(t, fmt.Sprintf("<iq type='set' id='%s' to='%s'><moderate xmlns='%s' id='%s'><retract xmlns='%s'/></moderate></iq>", nextID("mod"), room, nsModerate, sid, nsRetract))
	if condition(r) != "forbidden" {
		t.Fatalf("participant moderates: %v", r)
	}
	// Nor name a message that does not exist.
	r = alice.IQ(t, fmt.Sprintf("<iq type='set' id='%s' to='%s'><moderate xmlns='%s' id='nonesuch'><retract xmlns='%s'/></moderate></iq>", nextID("mod"), room, nsModerate, nsRetract))
	if condition(r) != "item-not-found" {
		t.Fatalf("moderating an unknown id: %v", r)
	}

	r = alice.IQ(t, fmt.Sprintf("<iq type='set' id='%s' to='%s'><moderate xmlns='%s' id='%s'><retract xmlns='%s'/><reason>spam</reason></moderate></iq>", nextID("mod"), room, nsModerate, sid, nsRetract))
	if r.Attr("type") != "result" {
		t.Fatalf("moderation: %v", r)
	}
	isModeration := func(n xmpptest.Node) bool {
		rt := n.Child(nsRetract, "retract")
		return n.XMLName.Local == "message" && n.Attr("type") == "groupchat" && n.Attr("from") == room &&
			rt != nil && rt.Attr("id") == sid && rt.Child(nsModerate, "moderated") != nil
	}
	for _, c := range []*xmpptest.Client{alice, bob, carol} {
		n := c.Expect(t, "the moderation", isModeration)
		mod := n.Child(nsRetract, "retract").Child(nsModerate, "moderated")
		if mod.Attr("by") != room+"/Alice" || occupantID(*mod) == "" {
			t.Errorf("%s: moderated: %v", c.JID, n)
		}
		if rs := n.Child(nsRetract, "retract").Child(nsRetract, "reason"); rs == nil || rs.Text != "spam" {
			t.Errorf("%s: reason: %v", c.JID, n)
		}
		// The older form for clients of urn:xmpp:message-moderate:0.
		if at := n.Child(nsFasten, "apply-to"); at == nil || at.Attr("id") != sid || at.Child(nsModerateLegacy, "moderated") == nil {
			t.Errorf("%s: no apply-to form: %v", c.JID, n)
		}
	}

	// The room's archive: a tombstone, with the author's occupant-id, and
	// the moderation itself.
	msgs := mamQuery(t, carol, room, nil)
	m := archived(msgs, room, sid)
	if !isTombstone(m) || occupantID(*m) != author {
		t.Fatalf("room archive holds %v", m)
	}
	if mod := m.Child(nsRetract, "retracted").Child(nsModerate, "moderated"); mod == nil || mod.Attr("by") != room+"/Alice" {
		t.Errorf("tombstone without moderated: %v", m)
	}
	if fine := archived(msgs, room, stanzaID(msgs[len(msgs)-2], room)); fine == nil || fine.Child("", "body") == nil {
		t.Errorf("another message lost its body: %v", msgs)
	}
	var moderation bool
	for _, x := range msgs {
		if rt := x.Child(nsRetract, "retract"); rt != nil && rt.Attr("id") == sid {
			moderation = true
		}
	}
	if !moderation {
		t.Errorf("the moderation is not archived: %v", msgs)
	}

	// Every local account's archive (one shared record) has the tombstone.
	for _, c := range []*xmpptest.Client{alice, bob, carol} {
		own := mamQuery(t, c, "", map[string]string{"with": room, "include-groupchat": "true"})
		var found bool
		for i := range own {
			if b := own[i].Child("", "body"); b != nil && b.Text == "buy potions" {
				t.Errorf("%s: the retracted body is still archived: %v", c.JID, own[i])
			}
			if stanzaID(own[i], room) == sid {
				found = true
				if !isTombstone(&own[i]) {
					t.Errorf("%s: not a tombstone: %v", c.JID, own[i])
				}
			}
		}
		if !found {
			t.Errorf("%s: the moderated message left the account's archive: %v", c.JID, own)
		}
	}

	// A new occupant's history lacks it.
	dave := dial(t, srv, "dave", "pc")
	got := enter(t, dave, room, "Dave", "")
	for _, n := range got {
		if b := n.Child("", "body"); b != nil && b.Text == "buy potions" {
			t.Errorf("history replays a moderated message: %v", n)
		}
	}

	// The older request form (urn:xmpp:message-moderate:0 in XEP-0422
	// apply-to) works too.
	say(t, bob, room, "spam-2", "more potions")
	spam2 := alice.Expect(t, "more spam", isGroupchat("more potions"))
	sid2 := stanzaID(spam2, room)
	r = alice.IQ(t, fmt.Sprintf("<iq type='set' id='%s' to='%s'><apply-to xmlns='%s' id='%s'><moderate xmlns='%s'><retract xmlns='urn:xmpp:message-retract:0'/><reason>again</reason></moderate></apply-to></iq>",
		nextID("mod"), room, nsFasten, sid2, nsModerateLegacy))
	if r.Attr("type") != "result" {
		t.Fatalf("legacy moderation: %v", r)
	}
	carol.Expect(t, "the second moderation", func(n xmpptest.Node) bool {
		rt := n.Child(nsRetract, "retract")
		return n.Attr("from") == room && rt != nil && rt.Attr("id") == sid2
	})
	if m := archived(mamQuery(t, carol, room, nil), room, sid2); !isTombstone(m) {
		t.Errorf("legacy moderation left %v", m)
	}
}

// XEP-0424 in a room: the sender retracts its own message by the room's
// stanza-id; the room relays the retraction, the archives hold a
// tombstone; another occupant may not retract it.
func TestE2ERetractionInRoom(t *testing.T) {
	srv := startServer(t, xmpptest.WithConfig(func(c *config.Config) { c.AccountJoin.Enabled = true }))
	alice := dial(t, srv, "alice", "pc")
	bob := dial(t, srv, "bob", "pc")
	room := "retract@" + service
	createRoom(t, alice, room, "Alice")
	enter(t, bob, room, "Bob", "")

	say(t, bob, room, "oops-1", "wrong room")
	oops := alice.Expect(t, "the mistake", isGroupchat("wrong room"))
	bob.Expect(t, "the mistake", isGroupchat("wrong room"))
	sid := stanzaID(oops, room)

	retraction := func(id, target string) string {
		return fmt.Sprintf("<message type='groupchat' to='%s' id='%s'><retract xmlns='%s' id='%s'/>"+
			"<fallback xmlns='urn:xmpp:fallback:0' for='%s'/><body>/me retracted a message</body><store xmlns='urn:xmpp:hints'/></message>",
			room, id, nsRetract, target, nsRetract)
	}
	// Alice (even as the owner) may not retract bob's message as hers.
	alice.SendRaw(t, retraction("not-mine", sid))
	if n := alice.Expect(t, "refusal", isError("message", "not-mine")); condition(n) != "forbidden" {
		t.Fatalf("retracting another's message: %v", n)
	}
	bob.SendRaw(t, retraction("undo-1", sid))
	for _, c := range []*xmpptest.Client{alice, bob} {
		n := c.Expect(t, "the retraction", func(n xmpptest.Node) bool {
			rt := n.Child(nsRetract, "retract")
			return n.XMLName.Local == "message" && rt != nil && rt.Attr("id") == sid
		})
		if n.Attr("from") != room+"/Bob" || occupantID(n) != occupantID(oops) {
			t.Errorf("%s: retraction relayed as %v", c.JID, n)
		}
	}
	if m := archived(mamQuery(t, alice, room, nil), room, sid); !isTombstone(m) {
		t.Errorf("room archive holds %v", m)
	} else if rt := m.Child(nsRetract, "retracted"); rt.Attr("id") != "undo-1" || rt.Attr("stamp") == "" {
		t.Errorf("tombstone: %v", m)
	}
	for _, c := range []*xmpptest.Client{alice, bob} {
		own := mamQuery(t, c, "", map[string]string{"with": room, "include-groupchat": "true"})
		var found bool
		for i := range own {
			if stanzaID(own[i], room) == sid {
				found = isTombstone(&own[i])
			}
		}
		if !found {
			t.Errorf("%s: no tombstone in the account's archive: %v", c.JID, own)
		}
	}
}

// XEP-0424 one to one: the sender's retraction reaches the recipient and
// both archives hold a tombstone; a retraction by the other party of a
// message it did not send changes nothing.
func TestE2ERetractionChat(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "pc")
	bob := dial(t, srv, "bob", "pc")

	info := alice.IQ(t, "<iq type='get' id='"+nextID("info")+"' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	for _, f := range []string{nsRetract, nsRetract + "#tombstone"} {
		if !hasFeature(info.Child("http://jabber.org/protocol/disco#info", "query"), f) {
			t.Errorf("account lacks feature %s", f)
		}
	}

	for _, c := range []*xmpptest.Client{alice, bob} {
		c.SendRaw(t, "<presence/>")
		drain(t, c)
	}
	alice.SendRaw(t, "<message type='chat' to='bob@localhost' id='m-1'><body>for juliet</body></message>")
	bob.Expect(t, "the message", xmpptest.IsMessage("for juliet"))
	alice.SendRaw(t, "<message type='chat' to='bob@localhost' id='m-2'><body>kept</body></message>")
	bob.Expect(t, "the message", xmpptest.IsMessage("kept"))

	// Bob cannot retract alice's message.
	bob.SendRaw(t, "<message type='chat' to='alice@localhost' id='r-bob'><retract xmlns='"+nsRetract+"' id='m-2'/><body>retracted</body></message>")
	alice.Expect(t, "bob's attempt", func(n xmpptest.Node) bool { return n.Attr("id") == "r-bob" })

	alice.SendRaw(t, "<message type='chat' to='bob@localhost' id='r-1'><retract xmlns='"+nsRetract+"' id='m-1'/>"+
		"<fallback xmlns='urn:xmpp:fallback:0' for='"+nsRetract+"'/><body>/me retracted a message</body><store xmlns='urn:xmpp:hints'/></message>")
	got := bob.Expect(t, "the retraction", func(n xmpptest.Node) bool { return n.Attr("id") == "r-1" })
	if rt := got.Child(nsRetract, "retract"); rt == nil || rt.Attr("id") != "m-1" {
		t.Fatalf("retraction forwarded as %v", got)
	}

	for _, c := range []*xmpptest.Client{alice, bob} {
		msgs := mamQuery(t, c, "", nil)
		byID := map[string]*xmpptest.Node{}
		for i := range msgs {
			byID[msgs[i].Attr("id")] = &msgs[i]
		}
		if m := byID["m-1"]; !isTombstone(m) || m.Child(nsRetract, "retracted").Attr("id") != "r-1" {
			t.Errorf("%s: retracted message archived as %v", c.JID, m)
		}
		if m := byID["m-2"]; m == nil || m.Child("", "body") == nil || m.Child("", "body").Text != "kept" {
			t.Errorf("%s: another's retraction changed %v", c.JID, m)
		}
		if byID["r-1"] == nil {
			t.Errorf("%s: the retraction itself is not archived", c.JID)
		}
	}
}
