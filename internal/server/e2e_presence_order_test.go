package server_test

import (
	"fmt"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// TestE2EProbeAnswerNotStale: a contact that logs in while the user
// changes presence ends with the user's newest presence, whatever the
// order in which the server handles the contact's probe (answered on the
// contact's connection) and the user's updates (broadcast on the
// user's). The probe's answer, a copy of the user's presence read before
// the last update, could arrive after it and stay the last one the
// contact's client saw (RFC 6121 4.4.2). The presence package's tests
// force that interleaving with hooks; this one checks the property with
// real clients, many times (the window is microseconds wide: against
// the old order it passed 200 rounds on an idle machine; the property is
// what it guards).
func TestE2EProbeAnswerNotStale(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a := goOnline(t, srv, "alice", "")
	b := goOnline(t, srv, "bob", "")
	befriend(t, a, b)
	b.Close()
	const rounds, updates = 10, 20
	for round := range rounds {
		b := loginAs(t, srv, "bob")
		// Sent in this order, handled side by side: each connection has
		// a reader of its own.
		for i := range updates {
			if i == updates/2 {
				b.SendRaw(t, `<presence/>`) // probes alice
			}
			a.SendRaw(t, fmt.Sprintf(`<presence><status>%d-%d</status></presence>`, round, i))
		}
		want := fmt.Sprintf("%d-%d", round, updates-1)
		// Barriers: alice's headline comes after her broadcasts, bob's own
		// after the answer to his probe.
		fromAlice, fromBob := fmt.Sprintf("barrier-a-%d", round), fmt.Sprintf("barrier-b-%d", round)
		a.SendRaw(t, `<message type='headline' to='`+b.JID.String()+`'><body>`+fromAlice+`</body></message>`)
		b.SendRaw(t, `<message type='headline' to='`+b.JID.String()+`'><body>`+fromBob+`</body></message>`)
		last, seen := "", 0
		timeout := time.After(10 * time.Second)
		for seen < 2 {
			select {
			case n := <-b.In:
				switch {
				case xmpptest.IsMessage(fromAlice)(n), xmpptest.IsMessage(fromBob)(n):
					seen++
				case isPresence(a.JID.String(), "")(n):
					last, _ = child(n, "status")
				}
			case <-timeout:
				t.Fatalf("round %d: the barriers did not arrive", round)
			}
		}
		if last != want {
			t.Fatalf("round %d: bob's last presence from alice has status %q, want %q (her newest)", round, last, want)
		}
		b.Close()
	}
}
