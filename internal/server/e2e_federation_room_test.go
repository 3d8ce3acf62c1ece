package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
	"minimix/internal/xmpptest/netproxy"
)

// TestE2EFederationRemoteRoom: an account of a.test with two sessions is
// in a room of b.test through account-based group chat. The link between
// the servers is cut, then b.test is killed (SIGKILL, so that its room
// says goodbye to nobody) and started again; the account is back in the
// room without its sessions noticing, each message reaches each session
// once, and the account's archive has each once.
func TestE2EFederationRemoteRoom(t *testing.T) {
	var logs syncBuffer
	a := xmpptest.StartWithLog(t, &logs, xmpptest.WithDomain("a.test"), xmpptest.WithConfig(func(c *config.Config) {
		c.AccountJoin.SelfPingAfter = config.Duration{Duration: 200 * time.Millisecond}
		c.S2S.RetryInitial = config.Duration{Duration: 100 * time.Millisecond}
		c.S2S.RetryMax = config.Duration{Duration: time.Second}
	}))
	a.AddUser(t, "alice", pw("alice"))
	toA := netproxy.New(t, a.S2SAddr().String())
	b := xmpptest.StartProcess(t, xmpptest.ProcessConfig{
		Domain: "b.test",
		S2S:    fmt.Sprintf("hosts = { %q = %q }\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n", "a.test", toA.Addr()),
	})
	b.AddUser("bob", pw("bob"))
	toB := netproxy.New(t, b.S2S)
	a.S2S.SetHost("b.test", toB.Addr()) // conference.b.test too: a parent's entry covers it

	const room = "fed@conference.b.test"
	bob := createPersistentRoom(t, b, room)
	rooms := &roomEnv{t: t, srv: a}
	phone := a.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "phone"})
	laptop := a.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "laptop"})
	rooms.enter(phone, room, "alice", "")
	rooms.enter(laptop, room, "alice", "")
	bob.ExpectStanza("alice enters", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && n.Attr("type") == ""
	})

	sessions := []*xmpptest.Client{phone, laptop}
	bobSays := func(body string) {
		t.Helper()
		bob.Send(`<message type='groupchat' to='` + room + `'><body>` + body + `</body></message>`)
		for _, c := range sessions {
			c.Expect(t, body, isGroupchatBody(body))
		}
	}
	bobSays("m1")
	rooms.say(phone, room, "m2", laptop)
	bob.ExpectStanza("m2", 10*time.Second, func(n Node) bool { return strings.Contains(n.String(), ">m2<") })

	// The network drops the link, both ways. The account checks the room
	// and finds itself in it; nothing else happens.
	toA.Cut()
	toB.Cut()
	waitLog(t, &logs, "self-ping: the account is still in the room")
	bobSays("m3")

	// b.test dies and comes back: its room forgot the account, and the
	// account's server finds out by its self-ping and joins again, with
	// the history since m3. bob, back first, says m4 meanwhile.
	b.Kill()
	b.Start()
	bob = b.Login("bob", pw("bob"), "desk")
	bob.Send(`<presence to='` + room + `/bob'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`)
	bob.ExpectStanza("bob back in the room", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/bob" && strings.Contains(n.String(), "110")
	})
	bob.Send(`<message type='groupchat' to='` + room + `'><body>m4</body></message>`)
	for _, c := range sessions {
		c.Expect(t, "m4", isGroupchatBody("m4"))
	}
	waitLog(t, &logs, "self-ping: the room no longer has the account; joining again")
	bob.ExpectStanza("alice back in the room", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && n.Attr("type") == ""
	})
	bobSays("m5")

	// Each session saw each message once and was never told it left.
	for _, c := range sessions {
		expectNone(t, phone, c, "a repeated message or a removal", func(n Node) bool {
			b := n.Child("", "body")
			return b != nil && strings.HasPrefix(b.Text, "m") && n.Attr("type") == "groupchat" ||
				n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && n.Attr("type") == "unavailable"
		})
	}
	if got := groupchatArchive(t, phone, room); got != "m1 m2 m3 m4 m5" {
		t.Errorf("alice's archive of the room: %q, want each message once", got)
	}
}

// createPersistentRoom logs bob in on b and makes room, persistent, with
// bob its owner.
func createPersistentRoom(t *testing.T, b *xmpptest.Process, room string) *xmpptest.Raw {
	t.Helper()
	bob := b.Login("bob", pw("bob"), "desk")
	bob.Send(`<presence to='` + room + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.ExpectStanza("the room's creation", 10*time.Second, func(n Node) bool {
		return n.XMLName.Local == "presence" && hasMUCStatus(n, "201")
	})
	bob.Send(`<iq type='set' id='cfg' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>` +
		`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
		`<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`)
	if r := bob.ExpectStanza("configuration", 10*time.Second, func(n Node) bool { return n.Attr("id") == "cfg" }); r.Attr("type") != "result" {
		t.Fatalf("room configuration: %s", r)
	}
	return bob
}

// waitLog waits until the server logged a line containing s.
func waitLog(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(logs.String(), s); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not log %q:\n%s", s, logs.String())
		}
	}
}
