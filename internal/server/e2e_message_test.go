package server_test

import (
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// TestE2EMessageRouting applies RFC 6121 section 8.5 to messages between
// real sessions: bob writes to alice, who has two resources at priority
// 5 and one at priority 1.
func TestE2EMessageRouting(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	hi1 := goOnline(t, srv, "alice", "<priority>5</priority>")
	hi2 := goOnline(t, srv, "alice", "<priority>5</priority>")
	lo := goOnline(t, srv, "alice", "<priority>1</priority>")
	b := goOnline(t, srv, "bob", "")
	for _, c := range []*xmpptest.Client{hi1, hi2, lo} {
		drain(t, c)
	}
	alice := []*xmpptest.Client{hi1, hi2, lo}

	for i, tc := range []struct {
		name, to, typ string
		// gets lists which of hi1, hi2, lo receive the message.
		gets [3]bool
		// cond is the error condition bob receives, "" for none.
		cond string
	}{
		// 8.5.2.1.1: chat and normal to the bare JID go to the
		// resources of highest priority (here both).
		{"chat to bare JID", "alice@localhost", "chat", [3]bool{true, true, false}, ""},
		{"normal to bare JID", "alice@localhost", "", [3]bool{true, true, false}, ""},
		// 8.5.2.1.2: headline to every non-negative resource.
		{"headline to bare JID", "alice@localhost", "headline", [3]bool{true, true, true}, ""},
		// 8.5.2.1.3: groupchat to a bare JID is an error.
		{"groupchat to bare JID", "alice@localhost", "groupchat", [3]bool{}, "service-unavailable"},
		// 8.5.3.1: a full JID gets it whatever its priority.
		{"chat to full JID", lo.JID.String(), "chat", [3]bool{false, false, true}, ""},
		{"groupchat to full JID", lo.JID.String(), "groupchat", [3]bool{false, false, true}, ""},
		// 8.5.3.2.1: an unknown resource of an online account: chat,
		// normal and headline as if to the bare JID, groupchat an error.
		{"chat to unknown resource", "alice@localhost/gone", "chat", [3]bool{true, true, false}, ""},
		{"normal to unknown resource", "alice@localhost/gone", "normal", [3]bool{true, true, false}, ""},
		{"headline to unknown resource", "alice@localhost/gone", "headline", [3]bool{true, true, true}, ""},
		{"groupchat to unknown resource", "alice@localhost/gone", "groupchat", [3]bool{}, "service-unavailable"},
		// 8.5.1: no such account.
		{"chat to missing account", "nobody@localhost", "chat", [3]bool{}, "service-unavailable"},
		{"normal to missing account's resource", "nobody@localhost/x", "normal", [3]bool{}, "service-unavailable"},
		// 8.5.1: headlines to nobody vanish silently.
		{"headline to missing account", "nobody@localhost", "headline", [3]bool{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "message " + tc.name
			id := "m" + string(rune('a'+i))
			typAttr := ""
			if tc.typ != "" {
				typAttr = ` type='` + tc.typ + `'`
			}
			b.SendRaw(t, `<message to='`+tc.to+`' id='`+id+`'`+typAttr+`><body>`+body+`</body><thread>th1</thread></message>`)
			for k, c := range alice {
				if !tc.gets[k] {
					expectNone(t, b, c, "message", isBody(body))
					continue
				}
				n := c.Expect(t, "message", isBody(body))
				wantAttrs(t, n, "from", b.JID.String(), "to", tc.to, "id", id, "type", tc.typ)
				wantChild(t, n, "thread", "th1")
			}
			if tc.cond == "" {
				expectNone(t, b, b, "error", isStanza("message", "error"))
				return
			}
			n := b.Expect(t, "error", isStanza("message", "error"))
			// RFC 6120 8.3.1: from the addressee, to the sender, same id.
			wantAttrs(t, n, "from", tc.to, "to", b.JID.String(), "id", id)
			wantError(t, n, "cancel", tc.cond)
		})
	}
}

// TestE2EMessageNoDisclosure checks that a message to an account that
// does not exist and one to an existing account whose offline store is
// full get the same error (RFC 6121 8.5.1 and 8.5.2.2.1): the reply must
// not tell a stranger which accounts exist.
func TestE2EMessageNoDisclosure(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"bob", "carol"}, xmpptest.WithConfig(func(c *config.Config) { c.C2S.OfflineMax = 1 }))
	b := goOnline(t, srv, "bob", "")

	b.SendRaw(t, `<message to='carol@localhost' type='chat' id='first'><body>fits</body></message>`)
	expectNone(t, b, b, "error for the first offline message", isStanza("message", "error"))

	errorFor := func(to, id string) Node {
		t.Helper()
		b.SendRaw(t, `<message to='`+to+`' type='chat' id='`+id+`'><body>one too many</body></message>`)
		return b.Expect(t, "error "+id, allOf(isStanza("message", "error"), func(n Node) bool { return n.Attr("id") == id }))
	}
	full := errorFor("carol@localhost", "full")
	missing := errorFor("nobody@localhost", "missing")
	for _, n := range []Node{full, missing} {
		wantError(t, n, "cancel", "service-unavailable")
		wantAttrs(t, n, "to", b.JID.String())
	}
	// Apart from the addresses and ids, the two replies are the same.
	norm := func(n Node, from, id string) string {
		s := n.String()
		s = strings.ReplaceAll(s, from, "X")
		return strings.ReplaceAll(s, `"`+id+`"`, `"ID"`)
	}
	if f, m := norm(full, "carol@localhost", "full"), norm(missing, "nobody@localhost", "missing"); f != m {
		t.Errorf("replies differ:\nfull store: %s\nno account: %s", f, m)
	}

	// Carol gets the one that fitted, only.
	c := loginAs(t, srv, "carol")
	c.SendRaw(t, `<presence/>`)
	c.Expect(t, "stored message", isBody("fits"))
	expectNone(t, c, c, "message refused for a full store", isBody("one too many"))
}

// TestE2EOffline checks XEP-0160: a message to an account with no
// available resource is kept, handed over at the next initial presence
// (not before) with a delay from the server, and not delivered twice;
// what is not worth keeping is not kept.
func TestE2EOffline(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "carol"})
	a := goOnline(t, srv, "alice", "")
	before := time.Now().Add(-time.Second)
	a.SendRaw(t, `<message to='carol@localhost' type='chat' id='o1'><body>while you were out</body></message>`)
	a.SendRaw(t, `<message to='carol@localhost' id='o2'><subject>s</subject><body>normal one</body></message>`)
	a.SendRaw(t, `<message to='carol@localhost' type='headline' id='o3'><body>headline</body></message>`)
	a.SendRaw(t, `<message to='carol@localhost' type='chat' id='o4'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	a.SendRaw(t, `<message to='carol@localhost' type='chat' id='o5'><body>not stored</body><no-store xmlns='urn:xmpp:hints'/></message>`)
	expectNone(t, a, a, "error for an offline message", isStanza("message", "error"))

	c := loginAs(t, srv, "carol")
	// Binding is not enough: messages wait for initial presence.
	expectNone(t, a, c, "offline message before initial presence", isStanza("message", "chat"))
	c.SendRaw(t, `<presence/>`)
	var sids []string
	for _, m := range []struct{ id, typ, body string }{{"o1", "chat", "while you were out"}, {"o2", "", "normal one"}} {
		n := c.Expect(t, "offline message "+m.id, isBody(m.body))
		wantAttrs(t, n, "from", a.JID.String(), "to", "carol@localhost", "id", m.id, "type", m.typ)
		d := n.Child("urn:xmpp:delay", "delay")
		if d == nil {
			t.Fatalf("offline message without <delay xmlns='urn:xmpp:delay'/>: %s", n)
		}
		wantAttrs(t, *d, "from", "localhost")
		stamp, err := time.Parse(time.RFC3339, d.Attr("stamp"))
		if err != nil || stamp.Before(before) || stamp.After(time.Now().Add(time.Second)) {
			t.Errorf("delay stamp %q (%v), want about now", d.Attr("stamp"), err)
		}
		sid := n.Child("urn:xmpp:sid:0", "stanza-id")
		if sid == nil || sid.Attr("by") != "carol@localhost" {
			t.Fatalf("offline message without stanza-id by carol: %s", n)
		}
		sids = append(sids, sid.Attr("id"))
	}
	expectNone(t, c, c, "message not worth storing", func(n Node) bool {
		return n.XMLName.Local == "message" && n.Attr("id") != "" && strings.Contains("o3 o4 o5", n.Attr("id"))
	})
	// Carol's archive has what she got offline, under the same ids.
	results, _ := mamQuery(t, c, "", "")
	recs := mamFlatten(results)
	if got := mamBodies(recs); got != "while you were out normal one" {
		t.Fatalf("carol's archive: %q", got)
	}
	for i, r := range recs {
		if r.id != sids[i] {
			t.Errorf("%q: delivered with stanza-id %q, archived as %q", r.body, sids[i], r.id)
		}
	}

	// Delivered once: the next session gets nothing.
	c.Close()
	c = loginAs(t, srv, "carol")
	c.SendRaw(t, `<presence/>`)
	expectNone(t, c, c, "offline message delivered twice", func(n Node) bool { return n.Child("urn:xmpp:delay", "delay") != nil })
}

// TestE2EOfflineDisabled checks offline_max = 0, documented as keeping
// no offline messages: a message to an offline account is refused like
// one to a full store, nothing is delivered later, and the server does
// not advertise msgoffline (XEP-0160 section 3).
func TestE2EOfflineDisabled(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "carol"}, xmpptest.WithConfig(func(c *config.Config) { c.C2S.OfflineMax = 0 }))
	a := goOnline(t, srv, "alice", "")
	r := a.IQ(t, `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if hasFeature(r, "msgoffline") {
		t.Errorf("msgoffline advertised with offline storage disabled")
	}
	a.SendRaw(t, `<message to='carol@localhost' type='chat' id='o1'><body>nobody keeps this</body></message>`)
	n := a.Expect(t, "error", isStanza("message", "error"))
	wantAttrs(t, n, "id", "o1", "from", "carol@localhost")
	wantError(t, n, "cancel", "service-unavailable")
	c := loginAs(t, srv, "carol")
	c.SendRaw(t, `<presence/>`)
	expectNone(t, c, c, "a message stored although offline storage is off", isBody("nobody keeps this"))
}
