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
