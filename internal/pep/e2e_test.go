package pep_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"minimix/internal/pep"
	"minimix/internal/storage"
	"minimix/internal/xmpptest"
)

// End-to-end tests: a real server on loopback, mellium clients, and a
// raw client that answers the server's capabilities queries.

type Node = xmpptest.Node

const (
	nsNick     = "http://jabber.org/protocol/nick"
	nsMetadata = "urn:xmpp:avatar:metadata"
	nsData     = "urn:xmpp:avatar:data"
	nsDisco    = "http://jabber.org/protocol/disco#info"
	capsNode   = "https://minimix.test/client"
)

func pw(user string) string { return user + "-secret" }

// start runs a server with the accounts, a "primer" account included.
func start(t *testing.T, users ...string) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t)
	for _, u := range append(users, "primer") {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

// befriend makes a and b subscribed to each other's presence.
func befriend(t *testing.T, srv *xmpptest.Server, a, b string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		if _, err := srv.Store().PutRosterItem(ctx, p[0], storage.RosterItem{Contact: p[1] + "@" + srv.Domain, Subscription: storage.SubBoth}); err != nil {
			t.Fatal(err)
		}
	}
}

// primeCaps teaches the server what the capabilities versions mean: a
// raw client shows each version in its presence and answers the server's
// disco#info query with the +notify features of the version's nodes.
// Clients that later show those versions are not asked again, which
// matters because mellium clients answer such queries with an error.
func primeCaps(t *testing.T, srv *xmpptest.Server, vers map[string][]string) {
	t.Helper()
	r := srv.Login(t, "primer", pw("primer"), "primer")
	for ver, nodes := range vers {
		r.Send(`<presence>` + caps(ver) + `</presence>`)
		q := r.ExpectStanza("disco#info query for "+ver, 5*time.Second, func(n Node) bool {
			c := n.Child(nsDisco, "query")
			return n.XMLName.Local == "iq" && n.Attr("type") == "get" && c != nil && c.Attr("node") == capsNode+"#"+ver
		})
		var b strings.Builder
		b.WriteString(`<iq type='result' id='` + q.Attr("id") + `' to='` + q.Attr("from") + `'><query xmlns='` + nsDisco + `' node='` + capsNode + "#" + ver + `'><identity category='client' type='pc'/>`)
		for _, n := range nodes {
			b.WriteString(`<feature var='` + n + `+notify'/>`)
		}
		b.WriteString(`</query></iq>`)
		r.Send(b.String())
	}
	// A round trip: the answers before it have been handled.
	r.Send(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	r.ExpectStanza("ping answer", 5*time.Second, func(n Node) bool { return n.Attr("id") == "sync" })
	r.Close()
}

func caps(ver string) string {
	return `<c xmlns='` + pep.NSCaps + `' hash='sha-1' node='` + capsNode + `' ver='` + ver + `'/>`
}

// client is a mellium client whose received stanzas are kept until a
// test looks for them, in whatever order they came.
type client struct {
	*xmpptest.Client
	backlog []Node
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

// none fails if a stanza match accepts was received or arrives within d.
func (c *client) none(t *testing.T, what string, d time.Duration, match func(Node) bool) {
	t.Helper()
	for _, n := range c.backlog {
		if match(n) {
			t.Fatalf("%s: unexpected %s: %s", c.JID, what, n)
		}
	}
	timeout := time.After(d)
	for {
		select {
		case n := <-c.In:
			if match(n) {
				t.Fatalf("%s: unexpected %s: %s", c.JID, what, n)
			}
			c.backlog = append(c.backlog, n)
		case <-timeout:
			return
		}
	}
}

// login logs user in without presence.
func login(t *testing.T, srv *xmpptest.Server, user string) *client {
	t.Helper()
	return &client{Client: srv.Dial(t, user, pw(user), xmpptest.DialOptions{})}
}

// online logs user in and sends presence with capabilities ver ("" for
// none), and waits for the server to reflect it.
func online(t *testing.T, srv *xmpptest.Server, user, resource, ver string) *client {
	t.Helper()
	c := login(t, srv, user)
	p := ""
	if ver != "" {
		p = caps(ver)
	}
	c.SendRaw(t, `<presence>`+p+`</presence>`)
	c.expect(t, "own presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

// isEvent matches a pubsub notification of node carrying item id (or
// "-id" for its retraction, "delete" for the node's deletion).
func isEvent(from, node, what string) func(Node) bool {
	return func(n Node) bool {
		if n.XMLName.Local != "message" || n.Attr("from") != from {
			return false
		}
		ev := n.Child(pep.NSEvent, "event")
		if ev == nil {
			return false
		}
		if what == "delete" {
			d := ev.Child(pep.NSEvent, "delete")
			return d != nil && d.Attr("node") == node
		}
		items := ev.Child(pep.NSEvent, "items")
		if items == nil || items.Attr("node") != node {
			return false
		}
		if id, ok := strings.CutPrefix(what, "-"); ok {
			r := items.Child(pep.NSEvent, "retract")
			return r != nil && r.Attr("id") == id
		}
		it := items.Child(pep.NSEvent, "item")
		return it != nil && it.Attr("id") == what
	}
}

func anyEvent(n Node) bool {
	return n.XMLName.Local == "message" && n.Child(pep.NSEvent, "event") != nil
}

func publish(node, id, payload string) string {
	return `<iq type='set' id='pub'><pubsub xmlns='` + pep.NS + `'><publish node='` + node + `'><item id='` + id + `'>` + payload + `</item></publish></pubsub></iq>`
}

func items(to, node, extra string) string {
	return `<iq type='get' id='items' to='` + to + `'><pubsub xmlns='` + pep.NS + `'><items node='` + node + `'` + extra + `</pubsub></iq>`
}

func mustResult(t *testing.T, what string, r Node) Node {
	t.Helper()
	if r.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, r)
	}
	return r
}

func mustError(t *testing.T, what string, r Node, cond, app string) {
	t.Helper()
	typ, got := r.Error()
	if typ == "" || got != cond {
		t.Fatalf("%s: want error %s, got %s", what, cond, r)
	}
	if app != "" && r.Child("", "error").Child(pep.NSErrors, app) == nil {
		t.Fatalf("%s: want <%s xmlns='%s'/>, got %s", what, app, pep.NSErrors, r)
	}
}

// itemIDs lists the item ids of an items result.
func itemIDs(r Node) []string {
	var out []string
	if it := r.Find("pubsub/items"); it != nil {
		for _, i := range it.Children(pep.NS, "item") {
			out = append(out, i.Attr("id"))
		}
	}
	return out
}

// TestPublishNotifyRetrieve: a publish reaches the owner's sessions and a
// subscribed contact that want the node, not a stranger; the contact can
// retrieve the item and the stranger cannot; retract and delete are
// notified too.
func TestPublishNotifyRetrieve(t *testing.T) {
	srv := start(t, "alice", "bob", "carol")
	befriend(t, srv, "alice", "bob")
	primeCaps(t, srv, map[string][]string{"nick": {nsNick}, "none": nil})
	a := online(t, srv, "alice", "phone", "nick")
	a2 := online(t, srv, "alice", "laptop", "none")
	b := online(t, srv, "bob", "pc", "nick")
	a.expect(t, "bob's presence", xmpptest.IsPresenceFrom(b.JID.String(), ""))
	c := online(t, srv, "carol", "pc", "")
	c.SendRaw(t, `<presence to='alice@localhost'>`+caps("nick")+`</presence>`)
	a.expect(t, "carol's directed presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))

	// XEP-0172: the user nickname.
	mustResult(t, "publish nick", a.IQ(t, publish(nsNick, "n1", `<nick xmlns='`+nsNick+`'>Alice</nick>`)))
	got := a.expect(t, "own notification", isEvent("alice@localhost", nsNick, "n1"))
	if got.Attr("type") != "headline" || got.Find("event/items/item/nick").Text != "Alice" {
		t.Errorf("notification %s", got)
	}
	got = b.expect(t, "contact's notification", isEvent("alice@localhost", nsNick, "n1"))
	if got.Find("event/items/item/nick").Text != "Alice" {
		t.Errorf("notification %s", got)
	}
	c.none(t, "a notification to a stranger", 300*time.Millisecond, anyEvent)
	a2.none(t, "a notification without +notify", 100*time.Millisecond, anyEvent)

	r := mustResult(t, "bob retrieves", b.IQ(t, items("alice@localhost", nsNick, "/>")))
	if r.Find("pubsub/items/item/nick").Text != "Alice" {
		t.Errorf("retrieved %s", r)
	}
	mustError(t, "carol retrieves", c.IQ(t, items("alice@localhost", nsNick, "/>")), "not-authorized", "presence-subscription-required")
	mustError(t, "bob publishes to alice", b.IQ(t, `<iq type='set' id='x' to='alice@localhost'><pubsub xmlns='`+pep.NS+`'><publish node='`+nsNick+`'><item><nick xmlns='`+nsNick+`'>Mallory</nick></item></publish></pubsub></iq>`), "forbidden", "")

	mustResult(t, "retract", a.IQ(t, `<iq type='set' id='r'><pubsub xmlns='`+pep.NS+`'><retract node='`+nsNick+`' notify='true'><item id='n1'/></retract></pubsub></iq>`))
	b.expect(t, "retract notification", isEvent("alice@localhost", nsNick, "-n1"))
	if ids := itemIDs(mustResult(t, "items after retract", a.IQ(t, items("alice@localhost", nsNick, "/>")))); len(ids) != 0 {
		t.Errorf("items after retract: %v", ids)
	}

	// Open access: now carol is notified and may retrieve.
	mustResult(t, "configure", a.IQ(t, `<iq type='set' id='c'><pubsub xmlns='`+pep.NSOwner+`'><configure node='`+nsNick+`'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>`+pep.FormNodeConfig+`</value></field><field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub></iq>`))
	mustResult(t, "publish again", a.IQ(t, publish(nsNick, "n2", `<nick xmlns='`+nsNick+`'>Alice A.</nick>`)))
	c.expect(t, "open node notification", isEvent("alice@localhost", nsNick, "n2"))
	mustResult(t, "carol retrieves an open node", c.IQ(t, items("alice@localhost", nsNick, "/>")))

	mustResult(t, "delete", a.IQ(t, `<iq type='set' id='d'><pubsub xmlns='`+pep.NSOwner+`'><delete node='`+nsNick+`'/></pubsub></iq>`))
	b.expect(t, "delete notification", isEvent("alice@localhost", nsNick, "delete"))
	mustError(t, "items of a deleted node", b.IQ(t, items("alice@localhost", nsNick, "/>")), "item-not-found", "")
}

// TestAvatarAndLastItem: XEP-0084 data and metadata; a contact that
// comes online later gets the last metadata item on its initial
// presence, and fetches the data by id; the owner's new session gets its
// own last items too.
func TestAvatarAndLastItem(t *testing.T) {
	srv := start(t, "alice", "bob")
	befriend(t, srv, "alice", "bob")
	primeCaps(t, srv, map[string][]string{"avatar": {nsMetadata, nsNick}})

	img := []byte("\x89PNG\r\n\x1a\n not really a png, but bytes all the same")
	sum := sha1.Sum(img)
	id := hex.EncodeToString(sum[:])
	a := online(t, srv, "alice", "phone", "")
	mustResult(t, "publish data", a.IQ(t, publish(nsData, id, `<data xmlns='`+nsData+`'>`+base64.StdEncoding.EncodeToString(img)+`</data>`)))
	mustResult(t, "publish metadata", a.IQ(t, publish(nsMetadata, id, `<metadata xmlns='`+nsMetadata+`'><info bytes='`+itoa(len(img))+`' id='`+id+`' type='image/png' width='64' height='64'/></metadata>`)))
	mustResult(t, "publish nick", a.IQ(t, publish(nsNick, "current", `<nick xmlns='`+nsNick+`'>Alice</nick>`)))
	a.Close()

	// bob's initial presence: last items of what he wants, not the data.
	b := login(t, srv, "bob")
	b.SendRaw(t, `<presence>`+caps("avatar")+`</presence>`)
	meta := b.expect(t, "last metadata item", isEvent("alice@localhost", nsMetadata, id))
	info := meta.Find("event/items/item/metadata/info")
	if info == nil || info.Attr("id") != id || info.Attr("type") != "image/png" {
		t.Errorf("metadata %s", meta)
	}
	if d := meta.Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("stamp") == "" {
		t.Errorf("last item without <delay/>: %s", meta)
	}
	b.expect(t, "last nick item", isEvent("alice@localhost", nsNick, "current"))
	b.none(t, "the data node, which bob does not want", 300*time.Millisecond, isEvent("alice@localhost", nsData, id))

	r := mustResult(t, "fetch data", b.IQ(t, items("alice@localhost", nsData, "><item id='"+id+"'/></items>")))
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Find("pubsub/items/item/data").Text))
	if err != nil || string(data) != string(img) {
		t.Errorf("avatar data %q, %v", data, err)
	}
	r = mustResult(t, "max_items=1", b.IQ(t, items("alice@localhost", nsMetadata, " max_items='1'/>")))
	if ids := itemIDs(r); len(ids) != 1 || ids[0] != id {
		t.Errorf("metadata items %v", ids)
	}

	// The owner's new session gets its own last items on initial presence.
	a = online(t, srv, "alice", "tablet", "avatar")
	a.expect(t, "own last nick", isEvent("alice@localhost", nsNick, "current"))
	a.expect(t, "own last metadata", isEvent("alice@localhost", nsMetadata, id))

	// A new avatar reaches bob at once; the node keeps only the latest.
	mustResult(t, "publish metadata 2", a.IQ(t, publish(nsMetadata, "second", `<metadata xmlns='`+nsMetadata+`'/>`)))
	b.expect(t, "new metadata", isEvent("alice@localhost", nsMetadata, "second"))
	if ids := itemIDs(mustResult(t, "metadata items", b.IQ(t, items("alice@localhost", nsMetadata, "/>")))); len(ids) != 1 || ids[0] != "second" {
		t.Errorf("metadata items %v (max_items 1 keeps the newest)", ids)
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestCapsDiscovery: a client whose capabilities the server does not
// know is asked, and gets the last items of what it wants once it
// answers.
func TestCapsDiscovery(t *testing.T) {
	srv := start(t, "alice")
	a := online(t, srv, "alice", "phone", "")
	mustResult(t, "publish nick", a.IQ(t, publish(nsNick, "current", `<nick xmlns='`+nsNick+`'>Alice</nick>`)))

	r := srv.Login(t, "alice", pw("alice"), "raw")
	r.Send(`<presence>` + caps("fresh") + `</presence>`)
	q := r.ExpectStanza("disco#info query", 5*time.Second, func(n Node) bool {
		return n.XMLName.Local == "iq" && n.Attr("type") == "get" && n.Child(nsDisco, "query") != nil
	})
	if q.Attr("from") != "alice@localhost" || q.Child(nsDisco, "query").Attr("node") != capsNode+"#fresh" {
		t.Errorf("query %s", q)
	}
	r.Send(`<iq type='result' id='` + q.Attr("id") + `' to='alice@localhost'><query xmlns='` + nsDisco + `' node='` + capsNode + `#fresh'><feature var='` + nsNick + `+notify'/></query></iq>`)
	r.ExpectStanza("last nick after the answer", 5*time.Second, func(n Node) bool {
		return isEvent("alice@localhost", nsNick, "current")(n)
	})

	// The answer is cached: another session with the version is not asked.
	b := online(t, srv, "alice", "tablet", "fresh")
	b.expect(t, "last nick, without a query", isEvent("alice@localhost", nsNick, "current"))
	b.none(t, "a disco#info query", 300*time.Millisecond, func(n Node) bool {
		return n.XMLName.Local == "iq" && n.Child(nsDisco, "query") != nil
	})
}

// TestBadInput sends malformed and oversized requests over the wire: each
// gets its XEP-0060 error and stores nothing.
func TestBadInput(t *testing.T) {
	srv := start(t, "alice")
	a := online(t, srv, "alice", "phone", "")
	mustResult(t, "setup", a.IQ(t, publish(nsNick, "ok", `<nick xmlns='`+nsNick+`'>Alice</nick>`)))
	big := strings.Repeat("A", pep.DefaultMaxPayloadBytes)
	for _, tc := range []struct {
		name, iq  string
		cond, app string
	}{
		{"payload over the size limit", publish(nsData, "big", `<data xmlns='`+nsData+`'>`+big+`</data>`), "not-acceptable", "payload-too-big"},
		{"two payloads", publish(nsNick, "two", `<nick xmlns='`+nsNick+`'>a</nick><nick xmlns='`+nsNick+`'>b</nick>`), "bad-request", "invalid-payload"},
		{"no payload", publish(nsNick, "none", ``), "bad-request", "payload-required"},
		{"no node", `<iq type='set' id='x'><pubsub xmlns='` + pep.NS + `'><publish><item/></publish></pubsub></iq>`, "bad-request", "nodeid-required"},
		{"no item", `<iq type='set' id='x'><pubsub xmlns='` + pep.NS + `'><publish node='` + nsNick + `'/></pubsub></iq>`, "bad-request", "item-required"},
		{"options that do not match", `<iq type='set' id='x'><pubsub xmlns='` + pep.NS + `'><publish node='` + nsNick + `'><item id='po'><nick xmlns='` + nsNick + `'>x</nick></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + pep.FormPublishOptions + `</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`, "conflict", "precondition-not-met"},
		{"more items than max_items allows", `<iq type='set' id='x'><pubsub xmlns='` + pep.NS + `'><publish node='many'><item id='m'><e xmlns='urn:e'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>1000000</value></field></x></publish-options></pubsub></iq>`, "policy-violation", "max-items-exceeded"},
		{"two items in one publish", `<iq type='set' id='x'><pubsub xmlns='` + pep.NS + `'><publish node='` + nsNick + `'><item id='i1'><nick xmlns='` + nsNick + `'>a</nick></item><item id='i2'><nick xmlns='` + nsNick + `'>b</nick></item></publish></pubsub></iq>`, "bad-request", "invalid-payload"},
	} {
		mustError(t, tc.name, a.IQ(t, tc.iq), tc.cond, tc.app)
	}
	if ids := itemIDs(mustResult(t, "nick items", a.IQ(t, items("alice@localhost", nsNick, "/>")))); len(ids) != 1 || ids[0] != "ok" {
		t.Errorf("nick items after the refusals: %v", ids)
	}
	for _, node := range []string{nsData, "many"} {
		mustError(t, node+" was not created", a.IQ(t, items("alice@localhost", node, "/>")), "item-not-found", "")
	}
}

// TestDisco: the account shows the pep identity and features, and lists
// the nodes a requester may see.
func TestDisco(t *testing.T) {
	srv := start(t, "alice", "bob")
	befriend(t, srv, "alice", "bob")
	a := online(t, srv, "alice", "phone", "")
	mustResult(t, "nick", a.IQ(t, publish(nsNick, "current", `<nick xmlns='`+nsNick+`'>Alice</nick>`)))
	mustResult(t, "private node", a.IQ(t, `<iq type='set' id='p'><pubsub xmlns='`+pep.NS+`'><publish node='urn:example:private'><item id='1'><e xmlns='urn:e'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`))
	b := online(t, srv, "bob", "pc", "")

	for _, c := range []*client{a, b} {
		r := mustResult(t, "disco#info", c.IQ(t, `<iq type='get' id='i' to='alice@localhost'><query xmlns='`+nsDisco+`'/></iq>`))
		q := r.Child(nsDisco, "query")
		pepID := false
		for _, id := range q.Children(nsDisco, "identity") {
			if id.Attr("category") == "pubsub" && id.Attr("type") == "pep" {
				pepID = true
			}
		}
		if !pepID {
			t.Errorf("%s: no pubsub/pep identity: %s", c.JID, r)
		}
		features := map[string]bool{}
		for _, f := range q.Children(nsDisco, "feature") {
			features[f.Attr("var")] = true
		}
		for _, f := range []string{pep.NS + "#publish", pep.NS + "#publish-options", pep.NS + "#config-node-max", pep.NS + "#access-presence", pep.NS + "#last-published", "urn:xmpp:bookmarks:1#compat", "urn:xmpp:bookmarks:1#compat-pep"} {
			if !features[f] {
				t.Errorf("%s: feature %s missing", c.JID, f)
			}
		}
	}
	listed := func(c *client) []string {
		r := mustResult(t, "disco#items", c.IQ(t, `<iq type='get' id='it' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`))
		var out []string
		for _, it := range r.Child("", "query").Children("", "item") {
			out = append(out, it.Attr("node"))
		}
		return out
	}
	if got := listed(a); len(got) != 2 {
		t.Errorf("alice sees nodes %v", got)
	}
	if got := listed(b); len(got) != 1 || got[0] != nsNick {
		t.Errorf("bob sees nodes %v", got)
	}
}

// TestPersistence: items and configuration survive a restart.
func TestPersistence(t *testing.T) {
	srv := start(t, "alice", "bob")
	befriend(t, srv, "alice", "bob")
	a := online(t, srv, "alice", "phone", "")
	mustResult(t, "nick", a.IQ(t, publish(nsNick, "current", `<nick xmlns='`+nsNick+`'>Alice</nick>`)))
	a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv = xmpptest.StartConfig(t, srv.Config)
	primeCaps(t, srv, map[string][]string{"nick": {nsNick}})
	b := online(t, srv, "bob", "pc", "nick")
	b.expect(t, "last nick after a restart", isEvent("alice@localhost", nsNick, "current"))
}
