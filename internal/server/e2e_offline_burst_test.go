package server_test

import (
	"fmt"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// More stored messages than the send queue holds all arrive at login: the
// flush waits for the client to read instead of looking like a flood.
func TestE2EOfflineMoreThanSendQueue(t *testing.T) {
	t.Parallel()
	const n = 60
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) { c.C2S.SendQueue = 16 }))
	a := goOnline(t, srv, "alice", "")
	for i := 0; i < n; i++ {
		a.SendRaw(t, fmt.Sprintf(`<message to='bob@localhost' type='chat' id='b%d'><body>burst %d</body></message>`, i, i))
	}
	expectNone(t, a, a, "error for an offline message", isStanza("message", "error"))
	b := loginAs(t, srv, "bob")
	b.SendRaw(t, `<presence/>`)
	for i := 0; i < n; i++ {
		b.Expect(t, fmt.Sprintf("offline message %d", i), isBody(fmt.Sprintf("burst %d", i)))
	}
	select {
	case <-b.Closed():
		t.Fatal("bob was disconnected by his own offline messages")
	default:
	}
}
