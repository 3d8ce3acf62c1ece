package muc_test

import (
	"fmt"
	"testing"
)

// TestE2EErrorPresenceRemovesOccupant (issue 10 item 11, aioxmpp's
// test_kick_due_to_error): an occupant that sends the room a presence of
// type error, with an <error/> child or without one, is removed with
// status 333, and the others see it go.
func TestE2EErrorPresenceRemovesOccupant(t *testing.T) {
	srv := startServer(t)
	alice := dial(t, srv, "alice", "phone")
	for i, errPresence := range []string{
		"<presence type='error' to='%s/Bob'/>",
		"<presence type='error' to='%s/Bob'><error type='cancel'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
	} {
		room := fmt.Sprintf("errpres%d@%s", i, service)
		createRoom(t, alice, room, "Alice")
		bob := dial(t, srv, "bob", fmt.Sprintf("pc%d", i))
		enter(t, bob, room, "Bob", "")
		alice.Expect(t, "bob's arrival", isPresence(room+"/Bob", "", ""))
		bob.SendRaw(t, fmt.Sprintf(errPresence, room))
		alice.Expect(t, "bob removed with 333", isPresence(room+"/Bob", "unavailable", "333"))
		bob.Expect(t, "bob's own removal with 333", isPresence(room+"/Bob", "unavailable", "333"))
		// He is gone: his groupchat message is refused.
		say(t, bob, room, "after", "still here?")
		bob.Expect(t, "refusal of a non-occupant's message", isError("message", "after"))
	}
}
