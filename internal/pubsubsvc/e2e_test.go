package pubsubsvc_test

import (
	"context"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mjid "mellium.im/xmpp/jid"
	mpubsub "mellium.im/xmpp/pubsub"
	"mellium.im/xmpp/stanza"

	"minimix/internal/config"
	"minimix/internal/pubsub"
	"minimix/internal/xmpptest"
)

// End-to-end tests: a real server on loopback with its pubsub service at
// pubsub.localhost, mellium clients (its pubsub package for the common
// flow, raw iqs for the rest).

type Node = xmpptest.Node

const (
	service  = "pubsub.localhost"
	nsDisco  = "http://jabber.org/protocol/disco#info"
	nsItems  = "http://jabber.org/protocol/disco#items"
	nsData   = "jabber:x:data"
	nsStanza = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

func pw(user string) string { return user + "-secret" }

func start(t *testing.T, users []string, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, opts...)
	for _, u := range users {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

// client keeps what it received until a test looks for it.
type client struct {
	*xmpptest.Client
	backlog []Node
}

// login logs user in and sends initial presence: notifications to a bare
// JID go to its available sessions (RFC 6121 section 8.5.2.1).
func login(t *testing.T, srv *xmpptest.Server, user string) *client {
	t.Helper()
	c := &client{Client: srv.Dial(t, user, pw(user), xmpptest.DialOptions{})}
	c.SendRaw(t, `<presence/>`)
	c.expect(t, "own presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

// expect returns the first received stanza match accepts, waiting for it.
func (c *client) expect(t *testing.T, what string, match func(Node) bool) Node {
	t.Helper()
	for i, n := range c.backlog {
		if match(n) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			return n
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-c.In:
			if match(n) {
				return n
			}
			c.backlog = append(c.backlog, n)
		case <-timeout:
			t.Fatalf("%s: timed out waiting for %s", c.JID, what)
		}
	}
}

// none fails if c received a stanza match accepts. A notification is
// routed before the request that caused it is answered, so after a round
// trip of c's own everything caused before is in c.In.
func (c *client) none(t *testing.T, what string, match func(Node) bool) {
	t.Helper()
	c.iq(t, `<iq type='get' to='`+service+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		select {
		case n := <-c.In:
			c.backlog = append(c.backlog, n)
			continue
		default:
		}
		break
	}
	for _, n := range c.backlog {
		if match(n) {
			t.Fatalf("%s: unexpected %s: %s", c.JID, what, n)
		}
	}
}

var ids atomic.Int64

// iq sends an iq, giving it an id, and returns the answer.
func (c *client) iq(t *testing.T, raw string) Node {
	t.Helper()
	return c.IQ(t, strings.Replace(raw, "<iq ", "<iq id='q"+strconv.FormatInt(ids.Add(1), 10)+"' ", 1))
}

// ps sends a pubsub request (namespace ns) of type typ to the service.
func (c *client) ps(t *testing.T, typ, ns, inner string) Node {
	t.Helper()
	return c.iq(t, `<iq type='`+typ+`' to='`+service+`'><pubsub xmlns='`+ns+`'>`+inner+`</pubsub></iq>`)
}

func mustResult(t *testing.T, what string, r Node) Node {
	t.Helper()
	if r.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, r)
	}
	return r
}

// wantError checks the stanza condition and the pubsub#errors condition
// ("" for none) of an error.
func wantError(t *testing.T, what string, r Node, cond, app string) {
	t.Helper()
	var gotCond, gotApp string
	if e := r.Child("", "error"); r.Attr("type") == "error" && e != nil {
		for _, c := range e.Nodes {
			switch {
			case c.XMLName.Space == nsStanza && c.XMLName.Local != "text":
				gotCond = c.XMLName.Local
			case c.XMLName.Space == pubsub.NSErrors:
				gotApp = c.XMLName.Local
			}
		}
	}
	if gotCond != cond || gotApp != app {
		t.Fatalf("%s: error %q/%q, want %q/%q: %s", what, gotCond, gotApp, cond, app, r)
	}
}

// isEvent matches a notification from the service about node: "item:ID"
// (with payload "+" or without "-" appended: "item:ID+"), "retract:ID",
// "delete" or "purge".
func isEvent(node, what string) func(Node) bool {
	return func(n Node) bool {
		if n.XMLName.Local != "message" || n.Attr("from") != service {
			return false
		}
		ev := n.Child(pubsub.NSEvent, "event")
		if ev == nil {
			return false
		}
		switch what {
		case "delete", "purge":
			e := ev.Child(pubsub.NSEvent, what)
			return e != nil && e.Attr("node") == node
		}
		items := ev.Child(pubsub.NSEvent, "items")
		if items == nil || items.Attr("node") != node {
			return false
		}
		if id, ok := strings.CutPrefix(what, "retract:"); ok {
			r := items.Child(pubsub.NSEvent, "retract")
			return r != nil && r.Attr("id") == id
		}
		id, _ := strings.CutPrefix(what, "item:")
		payload := ""
		if p, ok := strings.CutSuffix(id, "+"); ok {
			id, payload = p, "+"
		} else if p, ok := strings.CutSuffix(id, "-"); ok {
			id, payload = p, "-"
		}
		it := items.Child(pubsub.NSEvent, "item")
		if it == nil || it.Attr("id") != id {
			return false
		}
		switch payload {
		case "+":
			return len(it.Nodes) == 1
		case "-":
			return len(it.Nodes) == 0
		}
		return true
	}
}

func anyEvent(n Node) bool {
	return n.XMLName.Local == "message" && n.Child(pubsub.NSEvent, "event") != nil
}

func entry(text string) string {
	return `<entry xmlns='http://www.w3.org/2005/Atom'><title>` + text + `</title></entry>`
}

func publishXML(node, id, payload string) string {
	item := `<item>`
	if id != "" {
		item = `<item id='` + id + `'>`
	}
	return `<publish node='` + node + `'>` + item + payload + `</item></publish>`
}

func subscribeXML(node, j string) string { return `<subscribe node='` + node + `' jid='` + j + `'/>` }

// itemIDs returns the ids of the items of a retrieval result.
func itemIDs(r Node) []string {
	var out []string
	if items := r.Find("pubsub/items"); items != nil {
		for _, it := range items.Children(pubsub.NS, "item") {
			out = append(out, it.Attr("id"))
		}
	}
	return out
}

func configForm(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + pubsub.FormNodeConfig + `</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(`<field var='` + fields[i] + `'><value>` + fields[i+1] + `</value></field>`)
	}
	b.WriteString(`</x>`)
	return b.String()
}

func hasFeature(r Node, v string) bool {
	if q := r.Child(nsDisco, "query"); q != nil {
		for _, f := range q.Children(nsDisco, "feature") {
			if f.Attr("var") == v {
				return true
			}
		}
	}
	return false
}

// TestE2EDiscovery finds the service as clients do: among the server's
// items, with the pubsub/service identity and the features aioxmpp and
// others choose a service by.
func TestE2EDiscovery(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")

	r := mustResult(t, "server items", alice.iq(t, `<iq type='get' to='localhost'><query xmlns='`+nsItems+`'/></iq>`))
	found := false
	for _, it := range r.Child(nsItems, "query").Children(nsItems, "item") {
		if it.Attr("jid") == service && it.Attr("name") == "Publish-Subscribe" {
			found = true
		}
	}
	if !found {
		t.Errorf("the server's items do not list %s: %s", service, r)
	}
	r = mustResult(t, "service info", alice.iq(t, `<iq type='get' to='`+service+`'><query xmlns='`+nsDisco+`'/></iq>`))
	id := r.Find("query/identity")
	if id == nil || id.Attr("category") != "pubsub" || id.Attr("type") != "service" {
		t.Errorf("service identity: %s", r)
	}
	for _, f := range []string{"create-nodes", "delete-nodes", "publish", "purge-nodes", "modify-affiliations",
		"publisher-affiliation", "subscribe", "retrieve-items", "persistent-items", "access-whitelist", "instant-nodes"} {
		if !hasFeature(r, pubsub.NS+"#"+f) {
			t.Errorf("service lacks feature %s", f)
		}
	}
	// The service is a better pubsub choice than the server's own JID
	// (which lists PEP's features): aioxmpp's tests pick the entity with
	// the most of the features they want.
	sr := mustResult(t, "server info", alice.iq(t, `<iq type='get' to='localhost'><query xmlns='`+nsDisco+`'/></iq>`))
	if hasFeature(sr, pubsub.NS+"#publisher-affiliation") {
		t.Errorf("the server lists publisher-affiliation, which PEP does not offer")
	}

	mustResult(t, "create open", alice.ps(t, "set", pubsub.NS, `<create node='open'/>`))
	mustResult(t, "create closed", alice.ps(t, "set", pubsub.NS, `<create node='closed'/><configure>`+configForm("pubsub#access_model", "whitelist", "pubsub#title", "Secret")+`</configure>`))
	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("open", "i1", entry("one"))))

	nodes := func(c *client) []string {
		r := mustResult(t, "service items", c.iq(t, `<iq type='get' to='`+service+`'><query xmlns='`+nsItems+`'/></iq>`))
		var out []string
		for _, it := range r.Child(nsItems, "query").Children(nsItems, "item") {
			if it.Attr("jid") != service {
				t.Errorf("item of another JID: %s", r)
			}
			out = append(out, it.Attr("node"))
		}
		return out
	}
	if got := nodes(alice); !slices.Equal(got, []string{"closed", "open"}) {
		t.Errorf("alice sees nodes %v", got)
	}
	if got := nodes(bob); !slices.Equal(got, []string{"open"}) {
		t.Errorf("bob sees nodes %v, want the open one only", got)
	}
	r = mustResult(t, "node info", bob.iq(t, `<iq type='get' to='`+service+`'><query xmlns='`+nsDisco+`' node='open'/></iq>`))
	if id := r.Find("query/identity"); id == nil || id.Attr("type") != "leaf" || r.Child(nsDisco, "query").Attr("node") != "open" {
		t.Errorf("node info: %s", r)
	}
	x := r.Find("query/x")
	if x == nil || x.Attr("type") != "result" || !strings.Contains(x.String(), pubsub.FormMetaData) || !strings.Contains(x.String(), "alice@localhost") {
		t.Errorf("node meta-data: %s", r)
	}
	wantError(t, "closed node info for bob", bob.iq(t, `<iq type='get' to='`+service+`'><query xmlns='`+nsDisco+`' node='closed'/></iq>`), "item-not-found", "")
	r = mustResult(t, "node items", bob.iq(t, `<iq type='get' to='`+service+`'><query xmlns='`+nsItems+`' node='open'/></iq>`))
	if its := r.Child(nsItems, "query").Children(nsItems, "item"); len(its) != 1 || its[0].Attr("name") != "i1" {
		t.Errorf("node items: %s", r)
	}
	mustResult(t, "ping the service", bob.iq(t, `<iq type='get' to='`+service+`'><ping xmlns='urn:xmpp:ping'/></iq>`))
}

// TestE2EPublishSubscribe is the common flow with mellium's pubsub
// client: create, subscribe, publish (with and without an id), fetch
// (all, newest, by id), retract, unsubscribe.
func TestE2EPublishSubscribe(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	to := stanza.IQ{To: mjid.MustParse(service)}

	if err := mpubsub.CreateNodeIQ(ctx, alice.Session, to, "news", nil); err != nil {
		t.Fatalf("create: %v", err)
	}
	r := mustResult(t, "bob subscribes", bob.ps(t, "set", pubsub.NS, subscribeXML("news", bob.JID.String())))
	if sub := r.Find("pubsub/subscription"); sub == nil || sub.Attr("subscription") != "subscribed" || sub.Attr("jid") != bob.JID.String() || sub.Attr("node") != "news" {
		t.Errorf("subscription: %s", r)
	}
	mustResult(t, "carol subscribes her bare JID", carol.ps(t, "set", pubsub.NS, subscribeXML("news", "carol@localhost")))

	payload := func(text string) xml.TokenReader {
		return xml.NewDecoder(strings.NewReader(entry(text)))
	}
	id, err := mpubsub.PublishIQ(ctx, alice.Session, to, "news", "first", payload("one"))
	if err != nil || id != "first" {
		t.Fatalf("publish: %q, %v", id, err)
	}
	n := bob.expect(t, "notification of first", isEvent("news", "item:first+"))
	if n.Attr("to") != bob.JID.String() || n.Attr("type") != "headline" || !strings.Contains(n.String(), "one") {
		t.Errorf("notification: %s", n)
	}
	carol.expect(t, "notification to the bare JID", isEvent("news", "item:first+"))
	second, err := mpubsub.PublishIQ(ctx, alice.Session, to, "news", "", payload("two"))
	if err != nil || second == "" || second == "first" {
		t.Fatalf("publish without id: %q, %v", second, err)
	}
	bob.expect(t, "notification of the second", isEvent("news", "item:"+second+"+"))

	fetch := func(q mpubsub.Query) []string {
		iter := mpubsub.FetchIQ(ctx, to, bob.Session, q)
		var got []string
		for iter.Next() {
			id, _ := iter.Item()
			got = append(got, id)
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("fetch %+v: %v", q, err)
		}
		iter.Close()
		return got
	}
	if got := fetch(mpubsub.Query{Node: "news"}); !slices.Equal(got, []string{"first", second}) {
		t.Errorf("items %v, want [first %s]", got, second)
	}
	if got := fetch(mpubsub.Query{Node: "news", MaxItems: 1}); !slices.Equal(got, []string{second}) {
		t.Errorf("newest item %v, want [%s]", got, second)
	}
	// By id (mellium asks with an item attribute of its own, not the
	// <item id/> of XEP-0060 section 6.5.8).
	if got := itemIDs(mustResult(t, "by id", bob.ps(t, "get", pubsub.NS, `<items node='news'><item id='first'/><item id='missing'/></items>`))); !slices.Equal(got, []string{"first"}) {
		t.Errorf("item by id %v", got)
	}
	// Republishing an id replaces the item and makes it the newest.
	if _, err := mpubsub.PublishIQ(ctx, alice.Session, to, "news", "first", payload("one again")); err != nil {
		t.Fatal(err)
	}
	bob.expect(t, "republished", isEvent("news", "item:first+"))
	if got := fetch(mpubsub.Query{Node: "news"}); !slices.Equal(got, []string{second, "first"}) {
		t.Errorf("items after republishing %v", got)
	}

	if err := mpubsub.DeleteIQ(ctx, alice.Session, to, "news", second, true); err != nil {
		t.Fatalf("retract: %v", err)
	}
	bob.expect(t, "retraction", isEvent("news", "retract:"+second))
	wantError(t, "retract a missing item", alice.ps(t, "set", pubsub.NS, `<retract node='news'><item id='`+second+`'/></retract>`), "item-not-found", "")

	mustResult(t, "bob unsubscribes", bob.ps(t, "set", pubsub.NS, `<unsubscribe node='news' jid='`+bob.JID.String()+`'/>`))
	wantError(t, "unsubscribe again", bob.ps(t, "set", pubsub.NS, `<unsubscribe node='news' jid='`+bob.JID.String()+`'/>`), "unexpected-request", "not-subscribed")
	if _, err := mpubsub.PublishIQ(ctx, alice.Session, to, "news", "third", payload("three")); err != nil {
		t.Fatal(err)
	}
	carol.expect(t, "carol still subscribed", isEvent("news", "item:third+"))
	bob.none(t, "notification after unsubscribing", isEvent("news", "item:third"))

	// Others may not publish, subscribe for someone else, or own.
	wantError(t, "bob publishes", bob.ps(t, "set", pubsub.NS, publishXML("news", "x", entry("x"))), "forbidden", "")
	wantError(t, "subscribe another JID", bob.ps(t, "set", pubsub.NS, subscribeXML("news", "carol@localhost")), "bad-request", "invalid-jid")
	wantError(t, "bob deletes", bob.ps(t, "set", pubsub.NSOwner, `<delete node='news'/>`), "forbidden", "")
	wantError(t, "a missing node", bob.ps(t, "get", pubsub.NS, `<items node='nope'/>`), "item-not-found", "")
	wantError(t, "create an existing node", bob.ps(t, "set", pubsub.NS, `<create node='news'/>`), "conflict", "")
	wantError(t, "an item without payload", alice.ps(t, "set", pubsub.NS, `<publish node='news'><item id='e'/></publish>`), "bad-request", "payload-required")

	// The subscriber's own view.
	r = mustResult(t, "carol's subscriptions", carol.ps(t, "get", pubsub.NS, `<subscriptions/>`))
	if subs := r.Find("pubsub/subscriptions"); subs == nil || len(subs.Children(pubsub.NS, "subscription")) != 1 ||
		subs.Children(pubsub.NS, "subscription")[0].Attr("jid") != "carol@localhost" {
		t.Errorf("carol's subscriptions: %s", r)
	}
	r = mustResult(t, "alice's affiliations", alice.ps(t, "get", pubsub.NS, `<affiliations/>`))
	if a := r.Find("pubsub/affiliations/affiliation"); a == nil || a.Attr("node") != "news" || a.Attr("affiliation") != "owner" {
		t.Errorf("alice's affiliations: %s", r)
	}
}

// TestE2EPayloadsAndOptions checks notifications without payloads
// (pubsub#deliver_payloads), subscription options (pubsub#deliver) and
// the last item sent on subscription (send_last_published_item on_sub).
func TestE2EPayloadsAndOptions(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")
	mustResult(t, "create", alice.ps(t, "set", pubsub.NS, `<create node='n'/><configure>`+configForm("pubsub#deliver_payloads", "0", "pubsub#send_last_published_item", "on_sub")+`</configure>`))
	mustResult(t, "publish before anyone subscribed", alice.ps(t, "set", pubsub.NS, publishXML("n", "early", entry("early"))))

	mustResult(t, "bob subscribes", bob.ps(t, "set", pubsub.NS, subscribeXML("n", bob.JID.String())))
	last := bob.expect(t, "the last item on subscribing", isEvent("n", "item:early-"))
	if last.Child("urn:xmpp:delay", "delay") == nil {
		t.Errorf("the last item carries no delay: %s", last)
	}
	// Subscribe with options: no delivery for now.
	opts := `<options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + pubsub.FormSubscribeOptions + `</value></field><field var='pubsub#deliver'><value>0</value></field></x></options>`
	mustResult(t, "carol subscribes with options", carol.ps(t, "set", pubsub.NS, subscribeXML("n", carol.JID.String())+opts))
	carol.none(t, "last item despite pubsub#deliver=0", anyEvent)

	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("n", "p1", entry("one"))))
	n := bob.expect(t, "notification without payload", isEvent("n", "item:p1-"))
	if strings.Contains(n.String(), "one") {
		t.Errorf("payload delivered: %s", n)
	}
	carol.none(t, "notification with pubsub#deliver=0", anyEvent)

	r := mustResult(t, "carol's options", carol.ps(t, "get", pubsub.NS, `<options node='n' jid='`+carol.JID.String()+`'/>`))
	if !strings.Contains(r.String(), pubsub.FormSubscribeOptions) || !strings.Contains(r.String(), "pubsub#deliver") {
		t.Errorf("options form: %s", r)
	}
	mustResult(t, "carol turns delivery on", carol.ps(t, "set", pubsub.NS, `<options node='n' jid='`+carol.JID.String()+`'>`+
		strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(opts, "<options>"), "</options>"), "<value>0</value>", "<value>1</value>")+`</options>`))
	mustResult(t, "payloads on", alice.ps(t, "set", pubsub.NSOwner, `<configure node='n'>`+configForm("pubsub#deliver_payloads", "1")+`</configure>`))
	mustResult(t, "publish again", alice.ps(t, "set", pubsub.NS, publishXML("n", "p2", entry("two"))))
	carol.expect(t, "notification with payload", isEvent("n", "item:p2+"))
	bob.expect(t, "notification with payload", isEvent("n", "item:p2+"))
	wantError(t, "options of no subscription", alice.ps(t, "get", pubsub.NS, `<options node='n' jid='alice@localhost'/>`), "unexpected-request", "not-subscribed")
	r = mustResult(t, "default subscription options", bob.ps(t, "get", pubsub.NS, `<default/>`))
	if !strings.Contains(r.String(), pubsub.FormSubscribeOptions) {
		t.Errorf("default options: %s", r)
	}
}

// TestE2EWhitelist checks the whitelist access model with member and
// outcast affiliations, and a publisher.
func TestE2EWhitelist(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol", "dave"})
	alice, bob, carol, dave := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol"), login(t, srv, "dave")
	mustResult(t, "create", alice.ps(t, "set", pubsub.NS, `<create node='club'/><configure>`+configForm("pubsub#access_model", "whitelist")+`</configure>`))
	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("club", "a", entry("a"))))
	wantError(t, "bob subscribes", bob.ps(t, "set", pubsub.NS, subscribeXML("club", "bob@localhost")), "not-allowed", "closed-node")
	wantError(t, "bob retrieves", bob.ps(t, "get", pubsub.NS, `<items node='club'/>`), "not-allowed", "closed-node")

	mustResult(t, "affiliations", alice.ps(t, "set", pubsub.NSOwner, `<affiliations node='club'>`+
		`<affiliation jid='bob@localhost' affiliation='member'/>`+
		`<affiliation jid='carol@localhost/any' affiliation='outcast'/>`+
		`<affiliation jid='dave@localhost' affiliation='publisher'/></affiliations>`))
	r := mustResult(t, "get affiliations", alice.ps(t, "get", pubsub.NSOwner, `<affiliations node='club'/>`))
	var got []string
	for _, a := range r.Find("pubsub/affiliations").Children(pubsub.NSOwner, "affiliation") {
		got = append(got, a.Attr("jid")+"="+a.Attr("affiliation"))
	}
	if want := []string{"alice@localhost=owner", "bob@localhost=member", "carol@localhost=outcast", "dave@localhost=publisher"}; !slices.Equal(got, want) {
		t.Errorf("affiliations %v, want %v", got, want)
	}
	mustResult(t, "member subscribes", bob.ps(t, "set", pubsub.NS, subscribeXML("club", "bob@localhost")))
	if ids := itemIDs(mustResult(t, "member retrieves", bob.ps(t, "get", pubsub.NS, `<items node='club'/>`))); !slices.Equal(ids, []string{"a"}) {
		t.Errorf("member retrieves %v", ids)
	}
	wantError(t, "outcast retrieves", carol.ps(t, "get", pubsub.NS, `<items node='club'/>`), "forbidden", "")
	wantError(t, "member publishes", bob.ps(t, "set", pubsub.NS, publishXML("club", "b", entry("b"))), "forbidden", "")
	mustResult(t, "publisher publishes", dave.ps(t, "set", pubsub.NS, publishXML("club", "d", entry("d"))))
	bob.expect(t, "the publisher's item", isEvent("club", "item:d+"))
	wantError(t, "publisher retracts the owner's item", dave.ps(t, "set", pubsub.NS, `<retract node='club'><item id='a'/></retract>`), "forbidden", "")
	mustResult(t, "publisher retracts its own", dave.ps(t, "set", pubsub.NS, `<retract node='club' notify='1'><item id='d'/></retract>`))
	bob.expect(t, "retraction", isEvent("club", "retract:d"))
	wantError(t, "publisher configures", dave.ps(t, "get", pubsub.NSOwner, `<configure node='club'/>`), "forbidden", "")
	// An outcast loses its subscription.
	mustResult(t, "bob becomes an outcast", alice.ps(t, "set", pubsub.NSOwner, `<affiliations node='club'><affiliation jid='bob@localhost' affiliation='outcast'/></affiliations>`))
	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("club", "e", entry("e"))))
	bob.none(t, "notification to an outcast", isEvent("club", "item:e"))
	wantError(t, "the last owner stays", alice.ps(t, "set", pubsub.NSOwner, `<affiliations node='club'><affiliation jid='alice@localhost' affiliation='none'/></affiliations>`), "not-acceptable", "")
}

// TestE2EOwner covers configuration, subscriptions management, purge and
// deletion with their notifications, and the owner's limits.
func TestE2EOwner(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) {
		c.PubSub.MaxNodesPerOwner = 3
		c.PubSub.MaxItems = 5
	}))
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	mustResult(t, "create", alice.ps(t, "set", pubsub.NS, `<create node='n'/>`))
	r := mustResult(t, "configuration form", alice.ps(t, "get", pubsub.NSOwner, `<configure node='n'/>`))
	if x := r.Find("pubsub/configure/x"); x == nil || x.Attr("type") != "form" || !strings.Contains(x.String(), "pubsub#access_model") {
		t.Fatalf("configuration form: %s", r)
	}
	r = mustResult(t, "default configuration", alice.ps(t, "get", pubsub.NSOwner, `<default/>`))
	if r.Find("pubsub/default/x") == nil {
		t.Errorf("default form: %s", r)
	}
	wantError(t, "max_items above the service's", alice.ps(t, "set", pubsub.NSOwner, `<configure node='n'>`+configForm("pubsub#max_items", "6")+`</configure>`), "policy-violation", "max-items-exceeded")
	wantError(t, "an access model not offered", alice.ps(t, "set", pubsub.NSOwner, `<configure node='n'>`+configForm("pubsub#access_model", "presence")+`</configure>`), "not-acceptable", "unsupported-access-model")
	mustResult(t, "max_items 2", alice.ps(t, "set", pubsub.NSOwner, `<configure node='n'>`+configForm("pubsub#max_items", "2")+`</configure>`))
	for _, id := range []string{"a", "b", "c"} {
		mustResult(t, "publish "+id, alice.ps(t, "set", pubsub.NS, publishXML("n", id, entry(id))))
	}
	if ids := itemIDs(mustResult(t, "items", bob.ps(t, "get", pubsub.NS, `<items node='n'/>`))); !slices.Equal(ids, []string{"b", "c"}) {
		t.Errorf("items %v, want the 2 newest", ids)
	}
	wantError(t, "publish options not met", alice.ps(t, "set", pubsub.NS, publishXML("n", "d", entry("d"))+
		`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>`+pubsub.FormPublishOptions+`</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>`),
		"conflict", "precondition-not-met")

	// The owner subscribes bob, and sees the subscription.
	mustResult(t, "owner subscribes bob", alice.ps(t, "set", pubsub.NSOwner, `<subscriptions node='n'><subscription jid='bob@localhost' subscription='subscribed'/></subscriptions>`))
	r = mustResult(t, "subscriptions", alice.ps(t, "get", pubsub.NSOwner, `<subscriptions node='n'/>`))
	if s := r.Find("pubsub/subscriptions/subscription"); s == nil || s.Attr("jid") != "bob@localhost" || s.Attr("subscription") != "subscribed" {
		t.Errorf("subscriptions: %s", r)
	}
	wantError(t, "bob lists the subscriptions", bob.ps(t, "get", pubsub.NSOwner, `<subscriptions node='n'/>`), "forbidden", "")
	mustResult(t, "purge", alice.ps(t, "set", pubsub.NSOwner, `<purge node='n'/>`))
	bob.expect(t, "purge notification", isEvent("n", "purge"))
	if ids := itemIDs(mustResult(t, "items after purge", bob.ps(t, "get", pubsub.NS, `<items node='n'/>`))); len(ids) != 0 {
		t.Errorf("items after purge %v", ids)
	}
	mustResult(t, "delete", alice.ps(t, "set", pubsub.NSOwner, `<delete node='n'/>`))
	bob.expect(t, "delete notification", isEvent("n", "delete"))
	wantError(t, "a deleted node", bob.ps(t, "get", pubsub.NS, `<items node='n'/>`), "item-not-found", "")

	// Instant nodes, and the bound on the nodes one account owns.
	r = mustResult(t, "instant node", alice.ps(t, "set", pubsub.NS, `<create/>`))
	instant := r.Find("pubsub/create")
	if instant == nil || instant.Attr("node") == "" {
		t.Fatalf("instant node: %s", r)
	}
	mustResult(t, "second", alice.ps(t, "set", pubsub.NS, `<create node='two'/>`))
	// Publishing to a missing node creates it (auto-create).
	mustResult(t, "auto-create", alice.ps(t, "set", pubsub.NS, publishXML("three", "x", entry("x"))))
	wantError(t, "a fourth node", alice.ps(t, "set", pubsub.NS, `<create node='four'/>`), "policy-violation", "max-nodes-exceeded")
	mustResult(t, "bob has his own", bob.ps(t, "set", pubsub.NS, `<create node='four'/>`))
}

// TestE2ECreationPolicy checks restrict_node_creation = "admins".
func TestE2ECreationPolicy(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) {
		c.Admins = []string{"alice@localhost"}
		c.PubSub.RestrictNodeCreation = "admins"
	}))
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	wantError(t, "a user creates", bob.ps(t, "set", pubsub.NS, `<create node='mine'/>`), "forbidden", "")
	wantError(t, "a user's publish does not auto-create", bob.ps(t, "set", pubsub.NS, publishXML("mine", "x", entry("x"))), "item-not-found", "")
	mustResult(t, "the admin creates", alice.ps(t, "set", pubsub.NS, `<create node='mine'/>`))
	mustResult(t, "the admin makes bob an owner", alice.ps(t, "set", pubsub.NSOwner, `<affiliations node='mine'><affiliation jid='bob@localhost' affiliation='owner'/></affiliations>`))
	mustResult(t, "bob publishes as owner", bob.ps(t, "set", pubsub.NS, publishXML("mine", "x", entry("x"))))
	mustResult(t, "bob creates nothing, but configures", bob.ps(t, "get", pubsub.NSOwner, `<configure node='mine'/>`))
}

// TestE2EPersistence restarts the server: nodes, their configuration,
// affiliations, subscriptions and items come back.
func TestE2EPersistence(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	mustResult(t, "create", alice.ps(t, "set", pubsub.NS, `<create node='kept'/><configure>`+configForm("pubsub#access_model", "whitelist", "pubsub#title", "Kept")+`</configure>`))
	mustResult(t, "member", alice.ps(t, "set", pubsub.NSOwner, `<affiliations node='kept'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>`))
	mustResult(t, "subscribe", bob.ps(t, "set", pubsub.NS, subscribeXML("kept", "bob@localhost")))
	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("kept", "k1", entry("k1"))))
	bob.expect(t, "notification", isEvent("kept", "item:k1+"))
	alice.Close()
	bob.Close()

	srv.Restart(t)
	alice, bob = login(t, srv, "alice"), login(t, srv, "bob")
	if ids := itemIDs(mustResult(t, "items after restart", bob.ps(t, "get", pubsub.NS, `<items node='kept'/>`))); !slices.Equal(ids, []string{"k1"}) {
		t.Errorf("items after restart %v", ids)
	}
	mustResult(t, "publish after restart", alice.ps(t, "set", pubsub.NS, publishXML("kept", "k2", entry("k2"))))
	bob.expect(t, "notification after restart", isEvent("kept", "item:k2+"))
	r := mustResult(t, "configuration after restart", alice.ps(t, "get", pubsub.NSOwner, `<configure node='kept'/>`))
	if !strings.Contains(r.String(), "Kept") || !strings.Contains(r.String(), "whitelist") {
		t.Errorf("configuration after restart: %s", r)
	}
}

// TestE2EAuthorize checks the authorize access model (XEP-0060 sections
// 6.1.2 and 8.6): a subscription is pending until an owner answers the
// form the service sends; approved, the subscriber is told and gets items
// and notifications; denied, it is told and has none.
func TestE2EAuthorize(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")
	mustResult(t, "create", alice.ps(t, "set", pubsub.NS, `<create node='ask'/><configure>`+configForm("pubsub#access_model", "authorize")+`</configure>`))
	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("ask", "a1", entry("a1"))))
	// An authorize node shows itself, so that one can ask.
	mustResult(t, "node info", bob.iq(t, `<iq type='get' to='`+service+`'><query xmlns='`+nsDisco+`' node='ask'/></iq>`))
	wantError(t, "items before asking", bob.ps(t, "get", pubsub.NS, `<items node='ask'/>`), "not-authorized", "not-subscribed")

	r := mustResult(t, "bob asks", bob.ps(t, "set", pubsub.NS, subscribeXML("ask", "bob@localhost")))
	if sub := r.Find("pubsub/subscription"); sub == nil || sub.Attr("subscription") != "pending" {
		t.Fatalf("subscription: %s", r)
	}
	isRequest := func(who string) func(Node) bool {
		return func(n Node) bool {
			x := n.Child(nsData, "x")
			return n.XMLName.Local == "message" && n.Attr("from") == service && x != nil &&
				strings.Contains(x.String(), "subscribe_authorization") && strings.Contains(x.String(), who)
		}
	}
	req := alice.expect(t, "the authorization request", isRequest("bob@localhost"))
	if x := req.Child(nsData, "x"); x.Attr("type") != "form" || !strings.Contains(x.String(), "pubsub#allow") {
		t.Errorf("request form: %s", req)
	}
	wantError(t, "items while pending", bob.ps(t, "get", pubsub.NS, `<items node='ask'/>`), "not-authorized", "pending-subscription")
	mustResult(t, "publish while pending", alice.ps(t, "set", pubsub.NS, publishXML("ask", "a2", entry("a2"))))
	bob.none(t, "a notification while pending", anyEvent)

	answer := func(who, allow string) string {
		return `<message to='` + service + `'><x xmlns='jabber:x:data' type='submit'>` +
			`<field var='FORM_TYPE' type='hidden'><value>` + pubsub.NS + `#subscribe_authorization</value></field>` +
			`<field var='pubsub#node'><value>ask</value></field>` +
			`<field var='pubsub#subscriber_jid'><value>` + who + `</value></field>` +
			`<field var='pubsub#allow'><value>` + allow + `</value></field></x></message>`
	}
	isState := func(state string) func(Node) bool {
		return func(n Node) bool {
			ev := n.Child(pubsub.NSEvent, "event")
			if n.XMLName.Local != "message" || n.Attr("from") != service || ev == nil {
				return false
			}
			s := ev.Child(pubsub.NSEvent, "subscription")
			return s != nil && s.Attr("node") == "ask" && s.Attr("subscription") == state
		}
	}
	// Only an owner answers.
	carol.SendRaw(t, answer("bob@localhost", "1"))
	carol.expect(t, "the refusal of carol's answer", func(n Node) bool {
		return n.XMLName.Local == "message" && n.Attr("type") == "error" && strings.Contains(n.String(), "forbidden")
	})
	alice.SendRaw(t, answer("bob@localhost", "1"))
	bob.expect(t, "approval", isState("subscribed"))
	if ids := itemIDs(mustResult(t, "items once approved", bob.ps(t, "get", pubsub.NS, `<items node='ask'/>`))); !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Errorf("items %v", ids)
	}
	mustResult(t, "publish", alice.ps(t, "set", pubsub.NS, publishXML("ask", "a3", entry("a3"))))
	bob.expect(t, "notification once approved", isEvent("ask", "item:a3+"))

	mustResult(t, "carol asks", carol.ps(t, "set", pubsub.NS, subscribeXML("ask", carol.JID.String())))
	alice.expect(t, "carol's request", isRequest(carol.JID.String()))
	r = mustResult(t, "the owner sees it pending", alice.ps(t, "get", pubsub.NSOwner, `<subscriptions node='ask'/>`))
	if !strings.Contains(r.String(), `subscription="pending"`) {
		t.Errorf("owner's list: %s", r)
	}
	alice.SendRaw(t, answer(carol.JID.String(), "0"))
	carol.expect(t, "denial", isState("none"))
	wantError(t, "items once denied", carol.ps(t, "get", pubsub.NS, `<items node='ask'/>`), "not-authorized", "not-subscribed")
}
