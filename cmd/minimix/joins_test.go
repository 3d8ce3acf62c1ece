package main

import (
	"fmt"
	"strings"
	"testing"

	"minimix/internal/xmpptest"
)

// The joins commands talk to a running server's loopback admin API.
func TestJoinsCommands(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	c := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	room := "cli@conference.localhost"
	c.SendRaw(t, fmt.Sprintf(`<presence to='%s/al' id='j'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room))
	c.Expect(t, "self-presence", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && strings.HasPrefix(n.Attr("from"), room+"/")
	})
	// The command reads the admin token from the server's data_dir.
	cfg := writeConfig(t, fmt.Sprintf("data_dir = %q\n[http]\nlisten = %q\n", srv.Config.DataDir, srv.HTTPAddr().String()))

	code, out, errOut := runCmd(t, "", "joins", "list", "-config", cfg)
	if code != 0 || !strings.Contains(out, "alice@localhost") || !strings.Contains(out, room) || !strings.Contains(out, "session") {
		t.Fatalf("joins list: code %d out %q err %q", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "", "joins", "list", "bob@localhost", "-config", cfg); code != 0 || strings.Contains(out, room) {
		t.Errorf("joins list bob: code %d out %q", code, out)
	}
	if code, _, errOut := runCmd(t, "", "joins", "leave", "alice@localhost", room, "-config", cfg); code != 0 {
		t.Fatalf("joins leave: code %d err %q", code, errOut)
	}
	c.Expect(t, "unavailable after the forced leave", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "unavailable" && strings.HasPrefix(n.Attr("from"), room+"/")
	})
	if code, _, errOut := runCmd(t, "", "joins", "leave", "alice@localhost", room, "-config", cfg); code == 0 || !strings.Contains(errOut, "no such join") {
		t.Errorf("second leave: code %d err %q", code, errOut)
	}
}

// Without the server's token file (another data_dir: another user, or a
// wrong config) the joins commands are refused and say why.
func TestJoinsCommandsNeedToken(t *testing.T) {
	srv := xmpptest.Start(t)
	cfg := writeConfig(t, fmt.Sprintf("data_dir = \"DATA\"\n[http]\nlisten = %q\n", srv.HTTPAddr().String()))
	code, _, errOut := runCmd(t, "", "joins", "list", "-config", cfg)
	if code == 0 || !strings.Contains(errOut, "admin token") {
		t.Errorf("joins list without the token file: code %d err %q", code, errOut)
	}
}

// Issue 10 item 8: `minimix user del` next to a running server makes the
// account leave every room at once (through the admin API), not after
// idle_leave_after.
func TestUserDelLeavesRooms(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	room := "gone@conference.localhost"
	bob := srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	bob.SendRaw(t, fmt.Sprintf(`<presence to='%s/bob' id='j'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room))
	bob.Expect(t, "bob's self-presence", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/bob"
	})
	bob.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='inst'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, room))
	c := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	c.SendRaw(t, fmt.Sprintf(`<presence to='%s/al' id='j'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room))
	bob.Expect(t, "alice joins", xmpptest.IsPresenceFrom(room+"/al", ""))
	c.Kill() // the account stays in the room (rule 15)

	cfg := writeConfig(t, fmt.Sprintf("data_dir = %q\n[http]\nlisten = %q\n", srv.Config.DataDir, srv.HTTPAddr().String()))
	if code, out, errOut := runCmd(t, "", "user", "del", "alice", "-config", cfg); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("user del: code %d out %q err %q", code, out, errOut)
	}
	bob.Expect(t, "alice leaving", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
}
