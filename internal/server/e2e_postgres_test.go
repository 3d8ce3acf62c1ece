package server_test

import (
	"fmt"
	"testing"

	"minimix/internal/config"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/xmpptest"
)

// withPostgres runs the test server on PostgreSQL, in a new schema.
func withPostgres(t *testing.T) xmpptest.Option {
	dsn := pgtest.DSN(t)
	return xmpptest.WithConfig(func(c *config.Config) {
		c.Storage.Driver = "postgres"
		c.Storage.DSN = dsn
	})
}

// TestE2EPostgres runs a server on PostgreSQL and checks what passes
// through storage on every path a user sees: login with stored
// credentials, a chat and its archive, account-based group chat with the
// archive by reference (an interval per stay in the room, each room
// message once), and all of it again after a restart.
func TestE2EPostgres(t *testing.T) {
	srv := xmpptest.Start(t, withPostgres(t))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-secret")
	}
	e := &roomEnv{t: t, srv: srv}

	// A chat, archived on both sides.
	alice, bob := e.dial("alice"), e.dial("bob")
	for i := range 3 {
		bob.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s'><body>c%d</body></message>`, alice.JID, i))
		alice.Expect(t, "chat", xmpptest.IsMessage(fmt.Sprintf("c%d", i)))
	}
	results, fin := mamQuery(t, alice, "", mamForm(mamField("with", bare(bob))))
	wantPage(t, "alice's chat archive", results, fin, "c0 c1 c2", true, mamFlatten(results)[0].id, mamFlatten(results)[2].id, 3)

	// Account-based group chat: alice's archive has the room's messages
	// of her stays in it, once each.
	room := e.room()
	e.enter(bob, room, "bob", "")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "g1", alice)
	e.leave(alice, room, "al")
	e.say(bob, room, "g2")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "g3", alice)
	e.say(alice, room, "g4", bob)
	if got := groupchatArchive(t, alice, room); got != "g1 g3 g4" {
		t.Errorf("alice's archive with the room: %q, want \"g1 g3 g4\"", got)
	}
	if got := groupchatArchive(t, bob, room); got != "g1 g2 g3 g4" {
		t.Errorf("bob's archive with the room: %q, want \"g1 g2 g3 g4\"", got)
	}
	if got := groupchatArchive(t, alice, ""); got != "c0 c1 c2 g1 g3 g4" {
		t.Errorf("alice's whole archive: %q", got)
	}

	// After a restart: the same archive, the account back in the room
	// without a second interval or a second copy of anything, and new
	// messages archived once.
	srv.Restart(t)
	alice, bob = e.dial("alice"), e.dial("bob")
	e.enter(bob, room, "bob", "")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "g5", alice)
	if got := groupchatArchive(t, alice, ""); got != "c0 c1 c2 g1 g3 g4 g5" {
		t.Errorf("alice's archive after a restart: %q, want \"c0 c1 c2 g1 g3 g4 g5\"", got)
	}
	if got := groupchatArchive(t, bob, room); got != "g1 g2 g3 g4 g5" {
		t.Errorf("bob's archive after a restart: %q", got)
	}
	// The stanza-id a delivered room message carries pages alice's
	// archive.
	e.say(bob, room, "g6")
	n := alice.Expect(t, "g6", isGroupchatBody("g6"))
	var id string
	for _, c := range n.Children("urn:xmpp:sid:0", "stanza-id") {
		if c.Attr("by") == bare(alice) {
			id = c.Attr("id")
		}
	}
	if id == "" {
		t.Fatalf("g6 without alice's stanza-id: %s", n)
	}
	results, _ = mamQuery(t, alice, "", mamForm(mamField("include-groupchat", "true"))+rsmSet(`<max>2</max><before>`+id+`</before>`))
	if got := mamBodies(mamFlatten(results)); got != "g4 g5" {
		t.Errorf("the page before g6: %q, want \"g4 g5\"", got)
	}
	if got := groupchatArchive(t, bob, ""); got != "c0 c1 c2 g1 g2 g3 g4 g5 g6" {
		t.Errorf("bob's whole archive: %q", got)
	}
}
