package server_test

import (
	"testing"

	"minimix/internal/xmpptest"
)

func TestSmokeChat(t *testing.T) {
	srv := xmpptest.Start(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	a := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{Resource: "phone"})
	b := srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{Resource: "laptop"})
	b.SendRaw(t, `<presence/>`)
	a.SendRaw(t, `<presence/>`)
	a.SendRaw(t, `<message to='bob@localhost' type='chat' id='m1'><body>hello bob</body></message>`)
	got := b.Expect(t, "message from alice", xmpptest.IsMessage("hello bob"))
	if got.Attr("from") != a.JID.String() {
		t.Errorf("from = %q", got.Attr("from"))
	}
}
