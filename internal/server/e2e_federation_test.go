package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// Two minimix servers with their own domains federate over loopback,
// each finding the other through its static s2s table. The pair is
// started once for every subtest.
func TestE2EFederation(t *testing.T) {
	a := startServer(t, []string{"alice", "anne"}, xmpptest.WithDomain("a.test"))
	b := startServer(t, []string{"bob", "bea"}, xmpptest.WithDomain("b.test"))
	xmpptest.Federate(a, b)

	t.Run("chat", func(t *testing.T) {
		alice := goOnline(t, a, "alice", "")
		bob := goOnline(t, b, "bob", "")
		alice.SendRaw(t, `<message to='bob@b.test' type='chat' id='c1'><body>hello bob</body></message>`)
		m := bob.Expect(t, "alice's message", xmpptest.IsMessage("hello bob"))
		if m.Attr("from") != alice.JID.String() || m.Attr("to") != "bob@b.test" || m.Attr("type") != "chat" || m.Attr("id") != "c1" {
			t.Errorf("bob got %s", m)
		}
		bob.SendRaw(t, `<message to='`+alice.JID.String()+`' type='chat' id='c2'><body>hello alice</body></message>`)
		if m := alice.Expect(t, "bob's answer", xmpptest.IsMessage("hello alice")); m.Attr("from") != bob.JID.String() {
			t.Errorf("alice got %s", m)
		}
		// An account that does not exist there: the remote server's error.
		alice.SendRaw(t, `<message to='nobody@b.test' type='chat' id='c3'><body>anyone?</body></message>`)
		e := alice.Expect(t, "error from b.test", allOf(isStanza("message", "error"), func(n Node) bool { return n.Attr("id") == "c3" }))
		if _, cond := e.Error(); cond != "service-unavailable" || e.Attr("from") != "nobody@b.test" {
			t.Errorf("error: %s", e)
		}
		// A domain no one serves: our server's bounce.
		alice.SendRaw(t, `<message to='x@unreachable.invalid' type='chat' id='c4'><body>hello?</body></message>`)
		e = alice.Expect(t, "bounce", allOf(isStanza("message", "error"), func(n Node) bool { return n.Attr("id") == "c4" }))
		if _, cond := e.Error(); cond != "remote-server-not-found" {
			t.Errorf("bounce: %s", e)
		}
		alice.Close()
		bob.Close()
	})

	t.Run("iq", func(t *testing.T) {
		alice := goOnline(t, a, "alice", "")
		bob := goOnline(t, b, "bob", "")
		if r := bob.IQ(t, `<iq type='set' id='v0'><vCard xmlns='vcard-temp'><FN>Bob of b.test</FN></vCard></iq>`); r.Attr("type") != "result" {
			t.Fatalf("vCard set: %s", r)
		}
		for _, q := range []struct{ what, raw, want string }{
			{"ping b.test", `<iq type='get' to='b.test' id='i1'><ping xmlns='urn:xmpp:ping'/></iq>`, ""},
			{"version of b.test", `<iq type='get' to='b.test' id='i2'><query xmlns='jabber:iq:version'/></iq>`, "minimix"},
			{"disco of bob", `<iq type='get' to='bob@b.test' id='i3'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, "account"},
			{"vCard of bob", `<iq type='get' to='bob@b.test' id='i4'><vCard xmlns='vcard-temp'/></iq>`, "Bob of b.test"},
			{"ping bob's client", `<iq type='get' to='` + bob.JID.String() + `' id='i5'><ping xmlns='urn:xmpp:ping'/></iq>`, ""},
		} {
			r := alice.IQ(t, q.raw)
			if r.Attr("type") != "result" || !strings.Contains(r.String(), q.want) {
				t.Errorf("%s: %s", q.what, r)
			}
		}
		// And the other way.
		if r := bob.IQ(t, `<iq type='get' to='a.test' id='i6'><query xmlns='jabber:iq:version'/></iq>`); r.Attr("type") != "result" || r.Attr("from") != "a.test" {
			t.Errorf("version of a.test: %s", r)
		}
		alice.Close()
		bob.Close()
	})

	t.Run("remote occupant and ghost", func(t *testing.T) { testFederatedOccupant(t, b) })

	t.Run("subscription", func(t *testing.T) {
		anne := goOnline(t, a, "anne", "")
		bea := goOnline(t, b, "bea", "<priority>1</priority>")
		const annes, beas = "anne@a.test", "bea@b.test"
		// RFC 6121 3.1 across servers: request, approval, presence.
		anne.SendRaw(t, `<presence to='bea@b.test' type='subscribe' id='s1'/>`)
		wantSub(t, pushOf(t, anne, beas), "none", "subscribe", "")
		wantAttrs(t, bea.Expect(t, "subscribe", isPresence(annes, "subscribe")), "to", beas, "id", "s1")
		bea.SendRaw(t, `<presence to='anne@a.test' type='subscribed' id='s2'/>`)
		wantSub(t, pushOf(t, bea, annes), "from", "", "")
		got := collect(t, anne, map[string]match{
			"subscribed": isPresence(beas, "subscribed"),
			"push":       isPush(beas),
			"presence":   isPresence(bea.JID.String(), ""),
		})
		it, _ := wantPush(t, anne, got["push"])
		wantSub(t, it, "to", "", "")
		bea.SendRaw(t, `<presence><show>away</show><priority>1</priority></presence>`)
		if n := anne.Expect(t, "bea away", isPresence(bea.JID.String(), "")); n.Child("", "show") == nil {
			t.Errorf("presence without show: %s", n)
		}
		// A new session of anne's probes bea's server for her presence.
		anne2 := goOnline(t, a, "anne", "")
		anne2.Expect(t, "bea's presence, answering the probe", isPresence(bea.JID.String(), ""))
		// bea goes offline: anne's sessions hear it.
		bea.Close()
		anne.Expect(t, "bea unavailable", isPresence(bea.JID.String(), "unavailable"))
		anne.Close()
		anne2.Close()
	})

	// After the subscription: it makes anne and bea contacts both ways.
	t.Run("PEP to a remote contact", func(t *testing.T) { testFederatedPEP(t, a, b) })

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + a.HTTPAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`minimix_s2s_connections{direction="in"} `, `minimix_s2s_connections{direction="out"} `,
			`minimix_s2s_established_total{direction="out"} `, `minimix_s2s_stanzas_total{direction="in"} `,
			`minimix_s2s_stanzas_total{direction="out"} `, `minimix_s2s_dialback_failures_total{direction="in"} 0`,
			`minimix_s2s_bounces_total `,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if strings.Contains(string(body), `minimix_s2s_stanzas_total{direction="out"} 0`) {
			t.Error("no stanzas counted out")
		}
	})
}

// With s2s.enabled = false nothing listens for other servers and a
// stanza for another domain comes back as remote-server-not-found at once.
func TestE2EFederationDisabled(t *testing.T) {
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) { c.S2S.Enabled = false }))
	if srv.S2S != nil || srv.S2SAddr() != nil {
		t.Fatalf("s2s runs while disabled: %v", srv.S2SAddr())
	}
	alice := goOnline(t, srv, "alice", "")
	alice.SendRaw(t, `<message to='bob@elsewhere.test' type='chat' id='x'><body>hi</body></message>`)
	e := alice.Expect(t, "the bounce", allOf(isStanza("message", "error"), func(n Node) bool { return n.Attr("id") == "x" }))
	if _, cond := e.Error(); cond != "remote-server-not-found" {
		t.Errorf("bounce: %s", e)
	}
}
