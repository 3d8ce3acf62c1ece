package server_test

import (
	"testing"

	"minimix/internal/xmpptest"
)

const nsCarbons = "urn:xmpp:carbons:2"

// isCarbon matches a carbon copy (XEP-0280) of direction "received" or
// "sent" wrapping a message with body.
func isCarbon(direction, body string) match {
	return func(n Node) bool {
		if n.XMLName.Local != "message" {
			return false
		}
		w := n.Child(nsCarbons, direction)
		if w == nil {
			return false
		}
		m := w.Find("forwarded/message")
		return m != nil && isBody(body)(*m)
	}
}

// isAnyCarbon matches any carbon copy.
func isAnyCarbon(n Node) bool {
	return n.XMLName.Local == "message" && (n.Child(nsCarbons, "received") != nil || n.Child(nsCarbons, "sent") != nil)
}

// wantCarbon checks the envelope of a carbon copy to c (XEP-0280 section
// 6 and 11: from the account's bare JID, to the copy's session) and
// returns the forwarded message.
func wantCarbon(t *testing.T, c *xmpptest.Client, n Node, direction string) Node {
	t.Helper()
	wantAttrs(t, n, "from", bare(c), "to", c.JID.String(), "type", "chat")
	fwd := n.Child(nsCarbons, direction).Child("urn:xmpp:forward:0", "forwarded")
	if fwd == nil {
		t.Fatalf("carbon without <forwarded xmlns='urn:xmpp:forward:0'/>: %s", n)
	}
	m := fwd.Child("jabber:client", "message")
	if m == nil {
		t.Fatalf("forwarded message not in jabber:client: %s", n)
	}
	return *m
}

// TestE2ECarbons checks XEP-0280: enabling, received and sent copies
// only to the other enabled sessions, no copies of private messages or of
// messages the session got anyway, and disabling.
func TestE2ECarbons(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a1 := goOnline(t, srv, "alice", "<priority>1</priority>")
	a2 := goOnline(t, srv, "alice", "<priority>0</priority>")
	plain := goOnline(t, srv, "alice", "<priority>0</priority>") // never enables carbons
	b := goOnline(t, srv, "bob", "")
	for _, c := range []*xmpptest.Client{a1, a2, plain} {
		drain(t, c)
	}

	r := a1.IQ(t, `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !hasFeature(r, nsCarbons) {
		t.Errorf("server does not advertise %s: %s", nsCarbons, r)
	}
	for _, c := range []*xmpptest.Client{a1, a2} {
		r := c.IQ(t, `<iq type='set' id='on'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
		wantAttrs(t, r, "type", "result", "id", "on")
	}

	// 6: a message to one resource is copied to the other enabled one.
	b.SendRaw(t, `<message to='`+a1.JID.String()+`' type='chat' id='r1'><body>to a1</body></message>`)
	a1.Expect(t, "original", isBody("to a1"))
	n := a2.Expect(t, "received carbon", isCarbon("received", "to a1"))
	m := wantCarbon(t, a2, n, "received")
	wantAttrs(t, m, "from", b.JID.String(), "to", a1.JID.String(), "type", "chat", "id", "r1")
	expectNone(t, b, plain, "carbon to a session that did not enable them", isAnyCarbon)
	expectNone(t, b, a1, "carbon of a message a1 received itself", isAnyCarbon)

	// 7: a message a1 sends is copied to a2 as sent.
	a1.SendRaw(t, `<message to='bob@localhost' type='chat' id='s1'><body>from a1</body></message>`)
	b.Expect(t, "original", isBody("from a1"))
	n = a2.Expect(t, "sent carbon", isCarbon("sent", "from a1"))
	m = wantCarbon(t, a2, n, "sent")
	wantAttrs(t, m, "from", a1.JID.String(), "to", "bob@localhost", "type", "chat", "id", "s1")
	expectNone(t, a1, a1, "carbon of its own message", isAnyCarbon)
	expectNone(t, a1, plain, "sent carbon to a session without carbons", isAnyCarbon)

	// A message to the bare JID reaches a1 only (highest priority) and
	// is copied to a2.
	b.SendRaw(t, `<message to='alice@localhost' type='chat' id='r2'><body>to alice</body></message>`)
	a1.Expect(t, "original", isBody("to alice"))
	a2.Expect(t, "received carbon of a bare JID message", isCarbon("received", "to alice"))

	// 9: <private/> (and the no-copy hint) keep a message out of carbons
	// both ways.
	for _, marker := range []string{`<private xmlns='urn:xmpp:carbons:2'/>`, `<no-copy xmlns='urn:xmpp:hints'/>`} {
		b.SendRaw(t, `<message to='`+a1.JID.String()+`' type='chat'><body>private in</body>`+marker+`</message>`)
		a1.Expect(t, "private original", isBody("private in"))
		a1.SendRaw(t, `<message to='bob@localhost' type='chat'><body>private out</body>`+marker+`</message>`)
		b.Expect(t, "private original", isBody("private out"))
		expectNone(t, b, a2, "carbon of a private message", isAnyCarbon)
		expectNone(t, a1, a2, "carbon of a private message", isAnyCarbon)
	}

	// Only chat (and normal with a body) are copied, not headline.
	b.SendRaw(t, `<message to='`+a1.JID.String()+`' type='headline'><body>news</body></message>`)
	a1.Expect(t, "headline", isBody("news"))
	expectNone(t, b, a2, "carbon of a headline", isAnyCarbon)

	// 5: disabling stops the copies to that session only.
	r = a2.IQ(t, `<iq type='set' id='off'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
	wantAttrs(t, r, "type", "result", "id", "off")
	b.SendRaw(t, `<message to='`+a1.JID.String()+`' type='chat'><body>after disable</body></message>`)
	a1.Expect(t, "original", isBody("after disable"))
	expectNone(t, b, a2, "carbon after disable", isAnyCarbon)
	a2.SendRaw(t, `<message to='bob@localhost' type='chat'><body>from a2</body></message>`)
	a1.Expect(t, "a2's sent carbon still reaches a1", isCarbon("sent", "from a2"))
}

// hasFeature reports whether a disco#info result lists feature var.
func hasFeature(n Node, v string) bool {
	q := n.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		return false
	}
	for _, f := range q.Children("http://jabber.org/protocol/disco#info", "feature") {
		if f.Attr("var") == v {
			return true
		}
	}
	return false
}
