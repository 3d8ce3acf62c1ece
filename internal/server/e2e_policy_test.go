package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// TestE2EPolicyConfig: the limits that were constants are configuration
// (issue 9 item 14) and the server follows the configured values, not
// the defaults: password rules, SCRAM iterations, roster size, PEP
// bounds and archive page sizes.
func TestE2EPolicyConfig(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice-account", "bob-account"}, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.AllowRegistration = true
		c.Accounts.MinPasswordLength = 14
		c.Accounts.ScramIterations = 5000
		c.Roster.MaxItems = 2
		c.PEP.MaxNodes = 2
		c.PEP.MaxItems = 2
		c.PEP.MaxPayloadBytes = 2000
		c.MAM.DefaultPageSize = 2
		c.MAM.MaxPageSize = 3
	}))
	// pw("alice-account") is 20 characters, long enough.
	creds, err := srv.Store().GetCredentials(context.Background(), "alice-account")
	if err != nil {
		t.Fatal(err)
	}
	if creds.SHA256.Iters != 5000 || creds.SHA1.Iters != 5000 {
		t.Errorf("SCRAM iterations %d/%d, want 5000", creds.SHA256.Iters, creds.SHA1.Iters)
	}
	a := goOnline(t, srv, "alice-account", "")
	b := goOnline(t, srv, "bob-account", "")

	t.Run("password length", func(t *testing.T) {
		res := a.IQ(t, `<iq type='set' id='pw' to='localhost'><query xmlns='jabber:iq:register'><username>alice-account</username><password>13-characters</password></query></iq>`)
		wantError(t, res, "modify", "not-acceptable")
		if txt := res.Find("error/text"); txt == nil || !strings.Contains(txt.Text, "14") {
			t.Errorf("the refusal does not say the minimum: %s", res)
		}
		// In-band registration follows the same rule.
		r := srv.DialRaw(t, xmpptest.RawOptions{})
		r.Open()
		r.StartTLS()
		n := rawIQ(t, r, "reg", `<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>carol</username><password>short-secret</password></query></iq>`)
		wantError(t, n, "modify", "not-acceptable")
		n = rawIQ(t, r, "reg2", `<iq type='set' id='reg2'><query xmlns='jabber:iq:register'><username>carol</username><password>long-enough-secret</password></query></iq>`)
		wantAttrs(t, n, "type", "result")
	})

	t.Run("roster size", func(t *testing.T) {
		for i := range 3 {
			res := a.IQ(t, fmt.Sprintf(`<iq type='set' id='r%d'><query xmlns='jabber:iq:roster'><item jid='contact%d@example.org'/></query></iq>`, i, i))
			if i < 2 {
				wantAttrs(t, res, "type", "result")
			} else {
				wantError(t, res, "cancel", "resource-constraint")
			}
		}
	})

	publish := func(node, id, payload, options string) Node {
		return a.IQ(t, fmt.Sprintf(`<iq type='set' id='pub-%s-%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item id='%s'>%s</item></publish>%s</pubsub></iq>`, node, id, node, id, payload, options))
	}
	maxOpts := `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#max_items'><value>max</value></field></x></publish-options>`
	t.Run("pep", func(t *testing.T) {
		for i := range 3 {
			res := publish("urn:example:a", fmt.Sprint(i), `<p xmlns='urn:example:a'/>`, maxOpts)
			wantAttrs(t, res, "type", "result")
		}
		items := a.IQ(t, `<iq type='get' id='items'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:example:a'/></pubsub></iq>`)
		if got := len(items.Find("pubsub/items").Children("http://jabber.org/protocol/pubsub", "item")); got != 2 {
			t.Errorf("a node with max_items \"max\" keeps %d items, want pep.max_items = 2: %s", got, items)
		}
		res := publish("urn:example:b", "1", `<p xmlns='urn:example:b'>`+strings.Repeat("x", 2100)+`</p>`, "")
		wantError(t, res, "modify", "not-acceptable")
		if res.Find("error/payload-too-big") == nil {
			t.Errorf("want payload-too-big: %s", res)
		}
		wantAttrs(t, publish("urn:example:b", "1", `<p xmlns='urn:example:b'/>`, ""), "type", "result")
		res = publish("urn:example:c", "1", `<p xmlns='urn:example:c'/>`, "")
		wantError(t, res, "modify", "policy-violation")
	})

	t.Run("archive page sizes", func(t *testing.T) {
		for i := range 4 {
			a.SendRaw(t, fmt.Sprintf(`<message to='bob-account@localhost' type='chat' id='m%d'><body>page %d</body></message>`, i, i))
			b.Expect(t, "message", isBody(fmt.Sprintf("page %d", i)))
		}
		results, fin := mamQuery(t, b, "", "")
		if len(results) != 2 || fin.Attr("complete") == "true" {
			t.Errorf("a query without <max/> got %d results (complete=%q), want mam.default_page_size = 2", len(results), fin.Attr("complete"))
		}
		results, _ = mamQuery(t, b, "", `<set xmlns='http://jabber.org/protocol/rsm'><max>100</max></set>`)
		if len(results) != 3 {
			t.Errorf("a query for 100 got %d results, want mam.max_page_size = 3", len(results))
		}
	})
}
