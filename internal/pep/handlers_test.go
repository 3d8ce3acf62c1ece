package pep

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"minimix/internal/storage"
	"minimix/internal/xml"
)

const (
	alice     = "alice@example.net/phone"
	bob       = "bob@example.net/pc"
	carol     = "carol@example.net/pc"
	aliceBare = "alice@example.net"
	nick      = "http://jabber.org/protocol/nick"
)

func publishXML(node, id, payload string) string {
	idAttr := ""
	if id != "" {
		idAttr = ` id='` + id + `'`
	}
	return `<pubsub xmlns='` + NS + `'><publish node='` + node + `'><item` + idAttr + `>` + payload + `</item></publish></pubsub>`
}

func optionsXML(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + FormPublishOptions + `</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(`<field var='` + fields[i] + `'><value>` + fields[i+1] + `</value></field>`)
	}
	b.WriteString(`</x></publish-options>`)
	return b.String()
}

func publishWithOptions(node, id, payload string, fields ...string) string {
	return `<pubsub xmlns='` + NS + `'><publish node='` + node + `'><item id='` + id + `'>` + payload + `</item></publish>` +
		optionsXML(fields...) + `</pubsub>`
}

func configXML(node string, fields ...string) string {
	var b strings.Builder
	b.WriteString(`<pubsub xmlns='` + NSOwner + `'><configure node='` + node + `'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + FormNodeConfig + `</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(`<field var='` + fields[i] + `'><value>` + fields[i+1] + `</value></field>`)
	}
	b.WriteString(`</x></configure></pubsub>`)
	return b.String()
}

func itemsXML(node, extra string) string {
	return `<pubsub xmlns='` + NS + `'><items node='` + node + `'` + extra + `</pubsub>`
}

func nickPayload(n string) string { return `<nick xmlns='` + nick + `'>` + n + `</nick>` }

// itemIDs returns the ids in an items result.
func itemIDs(reply *xml.Element) []string {
	var out []string
	if ps := reply.Child(NS, "pubsub"); ps != nil {
		if items := ps.Child(NS, "items"); items != nil {
			for _, it := range items.Elements() {
				out = append(out, it.Attr("id"))
			}
		}
	}
	return out
}

// TestRequests runs its steps in order against one service: every
// request of the XEP-0060 subset, and each bad input with the error
// XEP-0060 gives it.
func TestRequests(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxItems = 10
		c.MaxNodes = 4
		c.MaxPayloadBytes = 300
	})
	e.roster("alice", "bob@example.net", storage.SubBoth)
	e.roster("alice", "carol@example.net", storage.SubTo) // carol is not subscribed to alice

	ids := func(want ...string) func(t *testing.T, r *xml.Element) {
		return func(t *testing.T, r *xml.Element) {
			t.Helper()
			if got := itemIDs(r); !slices.Equal(got, want) {
				t.Errorf("items %v, want %v: %s", got, want, r)
			}
		}
	}
	for _, st := range []struct {
		name      string
		from, to  string
		typ, xml  string
		cond, app string
		check     func(t *testing.T, r *xml.Element)
	}{
		{name: "items of a missing node", from: alice, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), cond: "item-not-found"},
		{name: "items without node", from: alice, to: aliceBare, typ: "get", xml: `<pubsub xmlns='` + NS + `'><items/></pubsub>`, cond: "bad-request", app: "nodeid-required"},
		{name: "publish without node", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><publish><item>` + nickPayload("a") + `</item></publish></pubsub>`, cond: "bad-request", app: "nodeid-required"},
		{name: "publish without item", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><publish node='` + nick + `'/></pubsub>`, cond: "bad-request", app: "item-required"},
		{name: "publish two items", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><publish node='` + nick + `'><item id='1'>` + nickPayload("a") + `</item><item id='2'>` + nickPayload("b") + `</item></publish></pubsub>`, cond: "bad-request", app: "invalid-payload"},
		{name: "item with two payloads", from: alice, to: aliceBare, typ: "set", xml: publishXML(nick, "x", nickPayload("a")+nickPayload("b")), cond: "bad-request", app: "invalid-payload"},
		{name: "item with text", from: alice, to: aliceBare, typ: "set", xml: publishXML(nick, "x", "just text"), cond: "bad-request", app: "invalid-payload"},
		{name: "item without payload", from: alice, to: aliceBare, typ: "set", xml: publishXML(nick, "x", ""), cond: "bad-request", app: "payload-required"},
		{name: "payload too big", from: alice, to: aliceBare, typ: "set", xml: publishXML(nick, "x", nickPayload(strings.Repeat("n", 300))), cond: "not-acceptable", app: "payload-too-big"},
		{name: "max_items above the maximum", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "x", nickPayload("a"), "pubsub#max_items", "11"), cond: "policy-violation", app: "max-items-exceeded"},
		{name: "unknown publish option", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "x", nickPayload("a"), "pubsub#frobnicate", "1"), cond: "conflict", app: "precondition-not-met"},
		{name: "bad publish option value", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "x", nickPayload("a"), "pubsub#persist_items", "maybe"), cond: "not-acceptable"},
		{name: "unsupported access model", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "x", nickPayload("a"), "pubsub#access_model", "roster"), cond: "not-acceptable", app: "unsupported-access-model"},
		{name: "nothing was stored by the refusals", from: alice, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), cond: "item-not-found"},
		{name: "publish (auto-create with options)", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "n1", nickPayload("Alice"), "pubsub#access_model", "presence"),
			check: func(t *testing.T, r *xml.Element) {
				it := r.Child(NS, "pubsub").Child(NS, "publish").Child(NS, "item")
				if it.Attr("id") != "n1" {
					t.Errorf("published item id %q", it.Attr("id"))
				}
			}},
		{name: "publish options that do not match", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "n2", nickPayload("A"), "pubsub#access_model", "open"), cond: "conflict", app: "precondition-not-met"},
		{name: "max_items max does not match 1", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "n2", nickPayload("A"), "pubsub#max_items", "max"), cond: "conflict", app: "precondition-not-met"},
		{name: "the refused publish stored nothing", from: alice, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), check: ids("n1")},
		{name: "matching options publish", from: alice, to: aliceBare, typ: "set", xml: publishWithOptions(nick, "n2", nickPayload("Al"), "pubsub#access_model", "presence", "pubsub#max_items", "1", "pubsub#persist_items", "true")},
		{name: "max_items 1 keeps the newest", from: alice, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), check: ids("n2")},
		{name: "a subscribed contact retrieves", from: bob, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), check: ids("n2")},
		{name: "a stranger may not", from: carol, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), cond: "not-authorized", app: "presence-subscription-required"},
		{name: "another account may not publish", from: bob, to: aliceBare, typ: "set", xml: publishXML(nick, "b", nickPayload("Bob")), cond: "forbidden"},
		{name: "nor retract", from: bob, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><retract node='` + nick + `'><item id='n2'/></retract></pubsub>`, cond: "forbidden"},
		{name: "nor configure", from: bob, to: aliceBare, typ: "get", xml: `<pubsub xmlns='` + NSOwner + `'><configure node='` + nick + `'/></pubsub>`, cond: "forbidden"},
		{name: "publish with a get", from: alice, to: aliceBare, typ: "get", xml: publishXML(nick, "x", nickPayload("a")), cond: "bad-request"},
		{name: "create an existing node", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><create node='` + nick + `'/></pubsub>`, cond: "conflict"},
		{name: "create without node", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><create/></pubsub>`, cond: "not-acceptable", app: "nodeid-required"},
		{name: "create and configure", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><create node='list'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>3</value></field><field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub>`},
		{name: "configure form", from: alice, to: aliceBare, typ: "get", xml: `<pubsub xmlns='` + NSOwner + `'><configure node='list'/></pubsub>`,
			check: func(t *testing.T, r *xml.Element) {
				x := r.Child(NSOwner, "pubsub").Child(NSOwner, "configure").Child("jabber:x:data", "x")
				got := map[string]string{}
				for _, f := range x.Elements() {
					got[f.Attr("var")] = f.ChildText("jabber:x:data", "value")
				}
				for k, v := range map[string]string{"FORM_TYPE": FormNodeConfig, "pubsub#max_items": "3", "pubsub#access_model": "open", "pubsub#persist_items": "1", "pubsub#send_last_published_item": "on_sub_and_presence"} {
					if got[k] != v {
						t.Errorf("%s = %q, want %q", k, got[k], v)
					}
				}
			}},
		{name: "publish l1", from: alice, to: aliceBare, typ: "set", xml: publishXML("list", "l1", `<e xmlns='urn:e'/>`)},
		{name: "publish l2", from: alice, to: aliceBare, typ: "set", xml: publishXML("list", "l2", `<e xmlns='urn:e'/>`)},
		{name: "publish l3", from: alice, to: aliceBare, typ: "set", xml: publishXML("list", "l3", `<e xmlns='urn:e'/>`)},
		{name: "publish l4", from: alice, to: aliceBare, typ: "set", xml: publishXML("list", "l4", `<e xmlns='urn:e'/>`)},
		{name: "republish l2", from: alice, to: aliceBare, typ: "set", xml: publishXML("list", "l2", `<e xmlns='urn:e'>again</e>`)},
		{name: "max_items 3 keeps the three newest", from: alice, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"), check: ids("l3", "l4", "l2")},
		{name: "open access: a stranger retrieves", from: carol, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"), check: ids("l3", "l4", "l2")},
		{name: "max_items in the request", from: alice, to: aliceBare, typ: "get", xml: itemsXML("list", " max_items='2'/>"), check: ids("l4", "l2")},
		{name: "bad max_items in the request", from: alice, to: aliceBare, typ: "get", xml: itemsXML("list", " max_items='none'/>"), cond: "bad-request"},
		{name: "items by id", from: alice, to: aliceBare, typ: "get", xml: itemsXML("list", "><item id='l2'/><item id='l1'/><item id='l3'/></items>"), check: ids("l3", "l2")},
		{name: "generated item id", from: alice, to: aliceBare, typ: "set", xml: publishXML("list", "", `<e xmlns='urn:e'/>`),
			check: func(t *testing.T, r *xml.Element) {
				if id := r.Child(NS, "pubsub").Child(NS, "publish").Child(NS, "item").Attr("id"); id == "" {
					t.Error("no id generated")
				}
			}},
		{name: "configure max_items to 1 trims", from: alice, to: aliceBare, typ: "set", xml: configXML("list", "pubsub#max_items", "1")},
		{name: "one item left", from: alice, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"),
			check: func(t *testing.T, r *xml.Element) {
				if n := len(itemIDs(r)); n != 1 {
					t.Errorf("%d items after trimming to 1", n)
				}
			}},
		{name: "configure max_items beyond the maximum", from: alice, to: aliceBare, typ: "set", xml: configXML("list", "pubsub#max_items", "1000"), cond: "policy-violation", app: "max-items-exceeded"},
		{name: "configure a bad value", from: alice, to: aliceBare, typ: "set", xml: configXML("list", "pubsub#send_last_published_item", "sometimes"), cond: "not-acceptable"},
		{name: "configure a missing node", from: alice, to: aliceBare, typ: "set", xml: configXML("nope", "pubsub#max_items", "2"), cond: "item-not-found"},
		{name: "configure max_items max", from: alice, to: aliceBare, typ: "set", xml: configXML("list", "pubsub#max_items", "max", "pubsub#access_model", "whitelist")},
		{name: "whitelist: a contact may not", from: bob, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"), cond: "not-allowed", app: "closed-node"},
		{name: "whitelist a member", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NSOwner + `'><affiliations node='list'><affiliation jid='bob@example.net' affiliation='member'/><affiliation jid='carol@example.net' affiliation='outcast'/></affiliations></pubsub>`},
		{name: "affiliations", from: alice, to: aliceBare, typ: "get", xml: `<pubsub xmlns='` + NSOwner + `'><affiliations node='list'/></pubsub>`,
			check: func(t *testing.T, r *xml.Element) {
				var got []string
				for _, a := range r.Child(NSOwner, "pubsub").Child(NSOwner, "affiliations").Elements() {
					got = append(got, a.Attr("jid")+"="+a.Attr("affiliation"))
				}
				want := []string{"alice@example.net=owner", "bob@example.net=member", "carol@example.net=outcast"}
				if !slices.Equal(got, want) {
					t.Errorf("affiliations %v, want %v", got, want)
				}
			}},
		{name: "a member retrieves", from: bob, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"),
			check: func(t *testing.T, r *xml.Element) {
				if len(itemIDs(r)) != 1 {
					t.Errorf("member got %s", r)
				}
			}},
		{name: "an outcast is forbidden", from: carol, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"), cond: "forbidden"},
		{name: "retract without item", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><retract node='` + nick + `'/></pubsub>`, cond: "bad-request", app: "item-required"},
		{name: "retract without node", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><retract><item id='n2'/></retract></pubsub>`, cond: "bad-request", app: "nodeid-required"},
		{name: "retract a missing item", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><retract node='` + nick + `'><item id='n1'/></retract></pubsub>`, cond: "item-not-found"},
		{name: "retract with one missing item retracts nothing", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><retract node='` + nick + `'><item id='n2'/><item id='n1'/></retract></pubsub>`, cond: "item-not-found"},
		{name: "n2 still there", from: alice, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), check: ids("n2")},
		{name: "retract", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><retract node='` + nick + `' notify='true'><item id='n2'/></retract></pubsub>`},
		{name: "retracted", from: alice, to: aliceBare, typ: "get", xml: itemsXML(nick, "/>"), check: ids()},
		{name: "default configuration", from: alice, to: aliceBare, typ: "get", xml: `<pubsub xmlns='` + NSOwner + `'><default/></pubsub>`,
			check: func(t *testing.T, r *xml.Element) {
				if r.Child(NSOwner, "pubsub").Child(NSOwner, "default").Child("jabber:x:data", "x") == nil {
					t.Errorf("no default form: %s", r)
				}
			}},
		{name: "subscribe is not offered", from: bob, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NS + `'><subscribe node='` + nick + `' jid='bob@example.net'/></pubsub>`, cond: "feature-not-implemented", app: "unsupported"},
		{name: "purge", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NSOwner + `'><purge node='list'/></pubsub>`},
		{name: "purged", from: alice, to: aliceBare, typ: "get", xml: itemsXML("list", "/>"), check: ids()},
		{name: "third node", from: alice, to: aliceBare, typ: "set", xml: publishXML("third", "t", `<e xmlns='urn:e'/>`)},
		{name: "fourth node", from: alice, to: aliceBare, typ: "set", xml: publishXML("fourth", "t", `<e xmlns='urn:e'/>`)},
		{name: "too many nodes", from: alice, to: aliceBare, typ: "set", xml: publishXML("fifth", "t", `<e xmlns='urn:e'/>`), cond: "policy-violation", app: "max-nodes-exceeded"},
		{name: "delete a missing node", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NSOwner + `'><delete node='fifth'/></pubsub>`, cond: "item-not-found"},
		{name: "delete", from: alice, to: aliceBare, typ: "set", xml: `<pubsub xmlns='` + NSOwner + `'><delete node='fourth'/></pubsub>`},
		{name: "deleted", from: alice, to: aliceBare, typ: "get", xml: itemsXML("fourth", "/>"), cond: "item-not-found"},
		{name: "room for a new node again", from: alice, to: aliceBare, typ: "set", xml: publishXML("fifth", "t", `<e xmlns='urn:e'/>`)},
	} {
		r := e.iq(st.from, st.to, st.typ, st.xml)
		cond, app := stanzaError(r)
		if cond != st.cond || app != st.app {
			t.Fatalf("%s: error %q/%q, want %q/%q: %s", st.name, cond, app, st.cond, st.app, r)
		}
		if st.check != nil {
			t.Run(st.name, func(t *testing.T) { st.check(t, r) })
		}
	}
}

func TestConfigOptions(t *testing.T) {
	const max = 1000
	for _, tc := range []struct {
		field, value string
		cond, app    string
		check        func(c NodeConfig) bool
	}{
		{"pubsub#access_model", "open", "", "", func(c NodeConfig) bool { return c.AccessModel == AccessOpen }},
		{"pubsub#access_model", "authorize", "not-acceptable", "unsupported-access-model", nil},
		{"pubsub#max_items", "max", "", "", func(c NodeConfig) bool { return c.MaxItems == MaxItemsMax && c.EffectiveMax(max) == max }},
		{"pubsub#max_items", "1000", "", "", func(c NodeConfig) bool { return c.MaxItems == 1000 }},
		{"pubsub#max_items", "1001", "policy-violation", "max-items-exceeded", nil},
		{"pubsub#max_items", "0", "not-acceptable", "", nil},
		{"pubsub#max_items", "-3", "not-acceptable", "", nil},
		{"pubsub#persist_items", "0", "", "", func(c NodeConfig) bool { return !c.PersistItems }},
		{"pubsub#persist_items", "yes", "not-acceptable", "", nil},
		{"pubsub#send_last_published_item", "never", "", "", func(c NodeConfig) bool { return c.SendLastPublishedItem == SendLastNever }},
		{"pubsub#notification_type", "normal", "", "", func(c NodeConfig) bool { return c.NotificationType == "normal" }},
		{"pubsub#publish_model", "open", "not-acceptable", "", nil},
		{"pubsub#title", strings.Repeat("t", 2000), "not-acceptable", "", nil},
	} {
		t.Run(tc.field+"="+tc.value[:min(len(tc.value), 10)], func(t *testing.T) {
			x := parse(t, `<x xmlns='jabber:x:data' type='submit'><field var='`+tc.field+`'><value>`+tc.value+`</value></field></x>`)
			form, err := parseOptionsForm(x, FormNodeConfig)
			if err != nil {
				t.Fatal(err)
			}
			c := DefaultNodeConfig()
			se := apply(&c, form, max, false)
			var cond, app string
			if se != nil {
				cond = string(se.Condition)
				if se.App != nil {
					app = se.App.Local
				}
			}
			if cond != tc.cond || app != tc.app {
				t.Fatalf("error %q/%q, want %q/%q", cond, app, tc.cond, tc.app)
			}
			if tc.check != nil && !tc.check(c) {
				t.Errorf("config %+v", c)
			}
			if se == nil {
				// A node configured so matches the same option.
				if se := check(&c, form, max); se != nil {
					t.Errorf("check after apply: %v", se)
				}
				// The stored form reads back the same.
				back, err := unmarshalConfig(c.Marshal())
				if err != nil || fmt.Sprint(back) != fmt.Sprint(c) {
					t.Errorf("stored config %+v, err %v", back, err)
				}
			}
		})
	}
}
