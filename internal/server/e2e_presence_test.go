package server_test

import (
	"testing"
)

// child returns the text of n's child local, and whether it exists.
func child(n Node, local string) (string, bool) {
	c := n.Child("", local)
	if c == nil {
		return "", false
	}
	return c.Text, true
}

// wantChild checks the text of a child element of n.
func wantChild(t *testing.T, n Node, local, text string) {
	t.Helper()
	if got, ok := child(n, local); !ok || got != text {
		t.Errorf("<%s/> = %q (present %v), want %q in %s", local, got, ok, text, n)
	}
}

// TestE2EPresence runs RFC 6121 section 4 across real sessions: probes
// answered at login, broadcast to subscribers only, the account's own
// resources, directed presence and its undoing when the session ends,
// unavailable on a graceful close and on a cut connection, and
// priorities deciding who gets messages to the bare JID.
func TestE2EPresence(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob", "carol"})
	a0 := goOnline(t, srv, "alice", "")
	b := goOnline(t, srv, "bob", "")
	befriend(t, a0, b)

	// 4.5.2: a stream closed without unavailable presence is
	// unavailable presence for the contacts.
	a0.Close()
	n := b.Expect(t, "unavailable on stream close", isPresence(a0.JID.String(), "unavailable"))
	wantAttrs(t, n, "to", "bob@localhost")

	c := goOnline(t, srv, "carol", "")
	b.SendRaw(t, `<presence><show>chat</show><status>here</status></presence>`)
	drain(t, b)

	// 4.2: initial presence goes to subscribers and probes the contacts
	// the account is subscribed to; bob's server answers with bob's
	// current presence.
	a := loginAs(t, srv, "alice")
	a.SendRaw(t, `<presence><priority>3</priority><status>back</status></presence>`)
	got := collect(t, a, map[string]match{
		"own":   isPresence(a.JID.String(), ""),
		"bob's": isPresence(b.JID.String(), ""),
	})
	wantChild(t, got["bob's"], "show", "chat")
	wantChild(t, got["bob's"], "status", "here")
	if to := got["bob's"].Attr("to"); to != "alice@localhost" && to != a.JID.String() {
		t.Errorf("probe answer to %q", to)
	}
	wantAttrs(t, got["own"], "to", a.JID.String())
	n = b.Expect(t, "alice's initial presence", isPresence(a.JID.String(), ""))
	wantAttrs(t, n, "to", "bob@localhost")
	wantChild(t, n, "priority", "3")
	wantChild(t, n, "status", "back")
	expectNone(t, a, c, "broadcast to a non-subscriber", isFrom(a.JID.String()))

	// 4.6: directed presence reaches a non-contact.
	a.SendRaw(t, `<presence to='carol@localhost'><status>psst</status></presence>`)
	n = c.Expect(t, "directed presence", isPresence(a.JID.String(), ""))
	wantAttrs(t, n, "to", "carol@localhost")
	wantChild(t, n, "status", "psst")
	expectNone(t, a, b, "someone else's directed presence", func(n Node) bool { _, ok := child(n, "status"); return ok && n.Attr("from") == a.JID.String() })

	// A second resource with a negative priority: the first learns of
	// it and it learns of the first (4.2.2, 4.4.2) and of bob.
	a2 := loginAs(t, srv, "alice")
	a2.SendRaw(t, `<presence><priority>-1</priority></presence>`)
	collect(t, a2, map[string]match{
		"own":     isPresence(a2.JID.String(), ""),
		"sibling": isPresence(a.JID.String(), ""),
		"bob's":   isPresence(b.JID.String(), ""),
	})
	n = a.Expect(t, "sibling's presence", isPresence(a2.JID.String(), ""))
	wantChild(t, n, "priority", "-1")
	b.Expect(t, "second resource", isPresence(a2.JID.String(), ""))

	// 8.5.2.1.1: a message to the bare JID goes to the highest
	// non-negative priority; the negative one gets nothing, except what
	// is addressed to its full JID (8.5.3.1).
	b.SendRaw(t, `<message to='alice@localhost' type='chat' id='m1'><body>to the bare JID</body></message>`)
	a.Expect(t, "message to bare JID", isBody("to the bare JID"))
	expectNone(t, b, a2, "message to bare JID on a negative priority", isBody("to the bare JID"))
	b.SendRaw(t, `<message to='`+a2.JID.String()+`' type='chat' id='m1b'><body>to the full JID</body></message>`)
	a2.Expect(t, "message to a negative priority full JID", isBody("to the full JID"))
	expectNone(t, b, a, "message to a sibling's full JID", isBody("to the full JID"))

	// 4.5.2 and 4.6.3: the cut connection's resource becomes
	// unavailable to subscribers, to the directed-presence target and
	// to the account's other resource.
	a.Kill()
	b.Expect(t, "unavailable after a cut connection", isPresence(a.JID.String(), "unavailable"))
	n = c.Expect(t, "directed unavailable", isPresence(a.JID.String(), "unavailable"))
	wantAttrs(t, n, "to", "carol@localhost")
	a2.Expect(t, "sibling unavailable", isPresence(a.JID.String(), "unavailable"))

	// Only a negative priority is left: the message is stored as if the
	// account were offline (8.5.2.1.1), and delivered when the resource
	// raises its priority (XEP-0160).
	b.SendRaw(t, `<message to='alice@localhost' type='chat' id='m2'><body>while negative</body></message>`)
	expectNone(t, b, a2, "message to bare JID on a negative priority", isBody("while negative"))
	a2.SendRaw(t, `<presence><priority>0</priority></presence>`)
	n = a2.Expect(t, "stored message", isBody("while negative"))
	if d := n.Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("from") != "localhost" {
		t.Errorf("stored message without delay from localhost: %s", n)
	}

	// 4.5.1: unavailable presence with a status reaches subscribers.
	a2.SendRaw(t, `<presence type='unavailable'><status>bye</status></presence>`)
	n = b.Expect(t, "unavailable with status", isPresence(a2.JID.String(), "unavailable"))
	wantChild(t, n, "status", "bye")
	// A resource that is no longer available gets no messages to the
	// bare JID, even though its stream is open.
	b.SendRaw(t, `<message to='alice@localhost' type='chat' id='m3'><body>after unavailable</body></message>`)
	expectNone(t, b, a2, "message to bare JID after unavailable", isBody("after unavailable"))
}

// TestE2EDirectedPresenceUndone checks RFC 6121 4.6.3: broadcast
// unavailable presence also reaches the entities the session sent
// directed presence to, and directed unavailable presence stops that.
func TestE2EDirectedPresenceUndone(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "carol", "dave"})
	a := goOnline(t, srv, "alice", "")
	c := goOnline(t, srv, "carol", "")
	d := goOnline(t, srv, "dave", "")
	a.SendRaw(t, `<presence to='carol@localhost'/>`)
	c.Expect(t, "directed presence", isPresence(a.JID.String(), ""))
	a.SendRaw(t, `<presence to='dave@localhost'/>`)
	d.Expect(t, "directed presence", isPresence(a.JID.String(), ""))
	a.SendRaw(t, `<presence to='dave@localhost' type='unavailable'/>`)
	d.Expect(t, "directed unavailable", isPresence(a.JID.String(), "unavailable"))

	a.SendRaw(t, `<presence type='unavailable'><status>gone</status></presence>`)
	n := c.Expect(t, "unavailable to the directed-presence target", isPresence(a.JID.String(), "unavailable"))
	wantAttrs(t, n, "to", "carol@localhost")
	wantChild(t, n, "status", "gone")
	expectNone(t, a, d, "a second unavailable", isPresence(a.JID.String(), "unavailable"))
	// Nothing is sent again when the session ends.
	a.Close()
	expectNone(t, d, c, "unavailable on close after unavailable", isPresence(a.JID.String(), "unavailable"))
}
