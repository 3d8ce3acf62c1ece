package muc

import (
	"testing"

	"minimix/internal/jid"
)

func TestGhostRemoval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     string // the error stanza bob's real JID sends to the room
		removed bool
	}{
		{"bounce of a groupchat", "", true},
		{"recipient-unavailable", "<message type='error' to='" + roomJID + "/Alice'><error type='wait'><recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>", true},
		{"remote-server-not-found", "<presence type='error' to='" + roomJID + "/Bob'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>", true},
		{"gone iq", "<iq type='error' id='x' to='" + roomJID + "'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", true},
		{"bad-request", "<message type='error' to='" + roomJID + "'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>", false},
		{"no error element", "<message type='error' to='" + roomJID + "'/>", false},
		// A presence error removes the occupant whatever it carries.
		{"presence error without <error/>", "<presence type='error' to='" + roomJID + "/Bob'/>", true},
		{"presence error to the room", "<presence type='error' to='" + roomJID + "'/>", true},
		{"presence error bad-request", "<presence type='error' to='" + roomJID + "/Bob'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(alice, roomJID, "Alice")
			h.join(bob, roomJID, "Bob")
			h.drop()
			if tc.err == "" {
				h.r.mu.Lock()
				h.r.gone[jid.MustParse(bob)] = true
				h.r.mu.Unlock()
				h.send(alice, "<message to='"+roomJID+"' type='groupchat'><body>hello</body></message>")
			} else {
				h.send(bob, tc.err)
			}
			var gone bool
			for _, p := range only(h.take(alice), "presence") {
				if p.Attr("from") == roomJID+"/Bob" && p.Attr("type") == "unavailable" && hasStatus(p, "333") {
					gone = true
				}
			}
			if gone != tc.removed {
				t.Errorf("removed %v, want %v", gone, tc.removed)
			}
		})
	}
}

func TestGhostSessionOfMany(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.join(alice2, roomJID, "Alice")
	h.drop()
	h.r.mu.Lock()
	h.r.gone[jid.MustParse(alice2)] = true
	h.r.mu.Unlock()
	h.send(bob, "<message to='"+roomJID+"' type='groupchat'><body>hello</body></message>")
	if got := only(h.take(bob), "presence"); len(got) != 0 {
		t.Errorf("others were told of one session's end: %s", dump(got))
	}
	h.send(bob, "<message to='"+roomJID+"' type='groupchat'><body>again</body></message>")
	if got := only(h.take(alice), "message"); len(got) != 2 {
		t.Errorf("the remaining session: %s", dump(got))
	}
}
