package server_test

import (
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/storage"
	"minimix/internal/xmpptest"
	"minimix/internal/xmpptest/netproxy"
)

// isGroupchatFrom matches a groupchat message from from with body.
func isGroupchatFrom(from, body string) match {
	return allOf(isStanza("message", "groupchat"), isFrom(from), xmpptest.IsMessage(body))
}

// testFederatedOccupant: a room on b.test takes an occupant of c.test (a
// server without account joins: the occupant is the client's own full
// JID); when c.test can no longer be reached, the room's traffic to it is
// bounced and the room removes the ghost with status 333.
func testFederatedOccupant(t *testing.T, b *xmpptest.Server) {
	c := startServer(t, []string{"carol"}, xmpptest.WithDomain("c.test"),
		xmpptest.WithConfig(func(cfg *config.Config) { cfg.AccountJoin.Enabled = false }))
	toC := netproxy.New(t, c.S2SAddr().String())
	xmpptest.Federate(b, c)
	b.S2S.SetHost("c.test", toC.Addr())

	const room = "lounge@conference.b.test"
	rooms := &roomEnv{t: t, srv: b}
	bob := goOnline(t, b, "bob", "")
	rooms.enter(bob, room, "bob", "")
	carol := goOnline(t, c, "carol", "")
	rooms.enter(carol, room, "carol", "")
	if p := bob.Expect(t, "carol joins", isPresence(room+"/carol", "")); !strings.Contains(p.String(), "carol@c.test/") {
		t.Errorf("the room does not show carol's full JID to its owner: %s", p)
	}

	bob.SendRaw(t, `<message to='`+room+`' type='groupchat' id='g1'><body>hello carol</body></message>`)
	carol.Expect(t, "bob's message", isGroupchatFrom(room+"/bob", "hello carol"))
	carol.SendRaw(t, `<message to='`+room+`' type='groupchat' id='g2'><body>hello bob</body></message>`)
	bob.Expect(t, "carol's message", isGroupchatFrom(room+"/carol", "hello bob"))
	carol.Expect(t, "her reflection", isGroupchatFrom(room+"/carol", "hello bob"))
	carol.SendRaw(t, `<message to='`+room+`/bob' type='chat' id='p1'><body>psst</body></message>`)
	if pm := bob.Expect(t, "a private message", xmpptest.IsMessage("psst")); pm.Attr("from") != room+"/carol" {
		t.Errorf("private message: %s", pm)
	}

	// c.test drops off the network: its stream is cut and it cannot be
	// reached again. The room's next message to carol comes back as
	// remote-server-not-found, and the room removes her (333).
	b.S2S.SetHost("c.test", netproxy.ClosedAddr(t))
	toC.Cut()
	bob.SendRaw(t, `<message to='`+room+`' type='groupchat' id='g3'><body>anyone there?</body></message>`)
	gone := bob.Expect(t, "carol removed as a ghost", isPresence(room+"/carol", "unavailable"))
	if !hasMUCStatus(gone, "333") {
		t.Errorf("carol's removal without 333: %s", gone)
	}
}

// testFederatedPEP: a remote contact whose client shows +notify for a
// node in its capabilities gets an account's PEP notifications; the
// capabilities are learnt by asking the remote client over s2s.
func testFederatedPEP(t *testing.T, a, b *xmpptest.Server) {
	const nick, nsCaps = "http://jabber.org/protocol/nick", "http://jabber.org/protocol/caps"
	ctx := t.Context()
	for _, r := range []struct {
		srv            *xmpptest.Server
		owner, contact string
	}{{a, "anne", "bea@b.test"}, {b, "bea", "anne@a.test"}} {
		if _, err := r.srv.Store().PutRosterItem(ctx, r.owner, storage.RosterItem{Contact: r.contact, Subscription: storage.SubBoth}); err != nil {
			t.Fatal(err)
		}
	}
	anne := goOnline(t, a, "anne", "")
	bea := b.Login(t, "bea", pw("bea"), "pep")
	bea.Send(`<presence><c xmlns='` + nsCaps + `' hash='sha-1' node='https://minimix.test/fed' ver='fedpep'/></presence>`)
	// Both servers ask bea's client what its capabilities mean: her own
	// (for her PEP) and anne's, over s2s.
	for asked := false; !asked; {
		q := bea.ExpectStanza("disco#info query from a.test", 10*time.Second, func(n Node) bool {
			return n.XMLName.Local == "iq" && n.Attr("type") == "get" && n.Child("http://jabber.org/protocol/disco#info", "query") != nil
		})
		asked = strings.HasSuffix(q.Attr("from"), "@a.test")
		bea.Send(`<iq type='result' id='` + q.Attr("id") + `' to='` + q.Attr("from") + `'><query xmlns='http://jabber.org/protocol/disco#info' node='https://minimix.test/fed#fedpep'><identity category='client' type='pc'/><feature var='` + nick + `+notify'/></query></iq>`)
	}
	// A round trip through a.test: the answer was handled before it.
	bea.Send(`<iq type='get' id='sync' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>`)
	bea.ExpectStanza("a.test's pong", 10*time.Second, func(n Node) bool { return n.Attr("id") == "sync" })

	pub := anne.IQ(t, `<iq type='set' id='pub'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='`+nick+`'><item id='current'><nick xmlns='`+nick+`'>Anne of a.test</nick></item></publish></pubsub></iq>`)
	if pub.Attr("type") != "result" {
		t.Fatalf("publish: %s", pub)
	}
	ev := bea.ExpectStanza("the notification", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "message" && strings.Contains(n.String(), "Anne of a.test")
	})
	if ev.Attr("from") != "anne@a.test" {
		t.Errorf("notification: %s", ev)
	}
	bea.Close()
	anne.Close()
}
