package bookmarks_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"minimix/internal/bookmarks"
	"minimix/internal/pep"
	"minimix/internal/storage"
	"minimix/internal/xmpptest"
)

type Node = xmpptest.Node

const (
	nsDisco   = "http://jabber.org/protocol/disco#info"
	nsPrivate = "jabber:iq:private"
	capsNode  = "https://minimix.test/client"
	room1     = "room1@conference.localhost"
	room2     = "room2@conference.localhost"
)

func pw(user string) string { return user + "-secret" }

// client keeps what it receives until a test looks for it.
type client struct {
	*xmpptest.Client
	backlog []Node
}

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

// events returns the bookmark notifications received within d, as
// "node id" ("node -id" for retractions), and keeps the rest.
func (c *client) events(d time.Duration) []string {
	var out []string
	take := func(n Node) bool {
		ev := n.Child(pep.NSEvent, "event")
		if n.XMLName.Local != "message" || ev == nil {
			return false
		}
		items := ev.Child(pep.NSEvent, "items")
		for _, it := range items.Nodes {
			id := it.Attr("id")
			if it.XMLName.Local == "retract" {
				id = "-" + id
			}
			out = append(out, items.Attr("node")+" "+id)
		}
		return true
	}
	kept := c.backlog[:0]
	for _, n := range c.backlog {
		if !take(n) {
			kept = append(kept, n)
		}
	}
	c.backlog = kept
	timeout := time.After(d)
	for {
		select {
		case n := <-c.In:
			if !take(n) {
				c.backlog = append(c.backlog, n)
			}
		case <-timeout:
			return out
		}
	}
}

// primeCaps: see the pep package's end-to-end tests.
func primeCaps(t *testing.T, srv *xmpptest.Server, vers map[string][]string) {
	t.Helper()
	r := srv.Login(t, "primer", pw("primer"), "primer")
	for ver, nodes := range vers {
		r.Send(`<presence>` + caps(ver) + `</presence>`)
		q := r.ExpectStanza("disco#info query", 5*time.Second, func(n Node) bool {
			return n.XMLName.Local == "iq" && n.Attr("type") == "get" && n.Child(nsDisco, "query") != nil
		})
		var b strings.Builder
		b.WriteString(`<iq type='result' id='` + q.Attr("id") + `' to='` + q.Attr("from") + `'><query xmlns='` + nsDisco + `'>`)
		for _, n := range nodes {
			b.WriteString(`<feature var='` + n + `+notify'/>`)
		}
		b.WriteString(`</query></iq>`)
		r.Send(b.String())
	}
	r.Send(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	r.ExpectStanza("ping answer", 5*time.Second, func(n Node) bool { return n.Attr("id") == "sync" })
	r.Close()
}

func caps(ver string) string {
	return `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='` + capsNode + `' ver='` + ver + `'/>`
}

func online(t *testing.T, srv *xmpptest.Server, user, ver string) *client {
	t.Helper()
	c := &client{Client: srv.Dial(t, user, pw(user), xmpptest.DialOptions{})}
	c.SendRaw(t, `<presence>`+caps(ver)+`</presence>`)
	c.expect(t, "own presence", xmpptest.IsPresenceFrom(c.JID.String(), ""))
	return c
}

func result(t *testing.T, what string, r Node) Node {
	t.Helper()
	if r.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, r)
	}
	return r
}

func publishNative(room, conf string) string {
	return `<iq type='set' id='pub'><pubsub xmlns='` + pep.NS + `'><publish node='` + bookmarks.NS + `'><item id='` + room + `'>` + conf + `</item></publish>` +
		`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + pep.FormPublishOptions + `</value></field>` +
		`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>` +
		`<field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`
}

const getPrivate = `<iq type='get' id='pg'><query xmlns='` + nsPrivate + `'><storage xmlns='` + bookmarks.NSLegacy + `'/></query></iq>`

func setPrivate(doc string) string {
	return `<iq type='set' id='ps'><query xmlns='` + nsPrivate + `'>` + doc + `</query></iq>`
}

// conferences lists the rooms (jid=name) of a legacy <storage/>.
func conferences(storage *Node) []string {
	if storage == nil {
		return nil
	}
	var out []string
	for _, c := range storage.Children(bookmarks.NSLegacy, "conference") {
		out = append(out, c.Attr("jid")+"="+c.Attr("name"))
	}
	slices.Sort(out)
	return out
}

// views returns the bookmarks as XEP-0049, the XEP-0048 PEP node and
// XEP-0402 show them, each as sorted jid=name.
func views(t *testing.T, c *client) (private, legacyPEP, native []string) {
	t.Helper()
	r := result(t, "private get", c.IQ(t, getPrivate))
	private = conferences(r.Find("query/storage"))
	r = result(t, "legacy items", c.IQ(t, `<iq type='get' id='li'><pubsub xmlns='`+pep.NS+`'><items node='`+bookmarks.NSLegacy+`'/></pubsub></iq>`))
	legacyPEP = conferences(r.Find("pubsub/items/item/storage"))
	r = result(t, "native items", c.IQ(t, `<iq type='get' id='ni'><pubsub xmlns='`+pep.NS+`'><items node='`+bookmarks.NS+`'/></pubsub></iq>`))
	if items := r.Find("pubsub/items"); items != nil {
		for _, it := range items.Children(pep.NS, "item") {
			native = append(native, it.Attr("id")+"="+it.Child(bookmarks.NS, "conference").Attr("name"))
		}
	}
	slices.Sort(native)
	return private, legacyPEP, native
}

func same(t *testing.T, what string, c *client, want ...string) {
	t.Helper()
	p, l, n := views(t, c)
	for _, v := range []struct {
		name string
		got  []string
	}{{"XEP-0049", p}, {"XEP-0048 PEP", l}, {"XEP-0402", n}} {
		if !slices.Equal(v.got, want) {
			t.Errorf("%s: %s shows %v, want %v", what, v.name, v.got, want)
		}
	}
}

func eqEvents(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s got notifications %v, want %v", who, got, want)
	}
}

// TestThreePaths changes the bookmarks through XEP-0402, XEP-0049 and
// XEP-0048 over PEP in turn, from clients of each kind, and checks each
// change through the other two, with item-level notifications, and after
// a restart.
func TestThreePaths(t *testing.T) {
	srv := xmpptest.Start(t)
	for _, u := range []string{"alice", "bob", "primer"} {
		srv.AddUser(t, u, pw(u))
	}
	ctx := context.Background()
	for _, p := range [][2]string{{"alice", "bob@localhost"}, {"bob", "alice@localhost"}} {
		if _, err := srv.Store().PutRosterItem(ctx, p[0], storage.RosterItem{Contact: p[1], Subscription: storage.SubBoth}); err != nil {
			t.Fatal(err)
		}
	}
	primeCaps(t, srv, map[string][]string{"modern": {bookmarks.NS}, "legacy": {bookmarks.NSLegacy}})
	modern := online(t, srv, "alice", "modern")
	legacy := online(t, srv, "alice", "legacy")

	// XEP-0402 publish, with an extension the legacy forms do not know.
	result(t, "native publish", modern.IQ(t, publishNative(room1,
		`<conference xmlns='`+bookmarks.NS+`' name='Room One' autojoin='true'><nick>alice</nick><extensions><state xmlns='urn:example:state'>folded</state></extensions></conference>`)))
	eqEvents(t, "modern", modern.events(300*time.Millisecond), bookmarks.NS+" "+room1)
	eqEvents(t, "legacy", legacy.events(100*time.Millisecond), bookmarks.NSLegacy+" current")
	same(t, "after the XEP-0402 publish", legacy, room1+"=Room One")

	// XEP-0049 set from the legacy client: room1 renamed (its unknown
	// extension dropped, as legacy clients do), room2 added.
	result(t, "private set", legacy.IQ(t, setPrivate(`<storage xmlns='`+bookmarks.NSLegacy+`'>`+
		`<conference jid='`+room1+`' name='Room 1' autojoin='true'><nick>alice</nick></conference>`+
		`<conference jid='`+room2+`' name='Room Two'><nick>al</nick></conference></storage>`)))
	eqEvents(t, "modern", modern.events(300*time.Millisecond), bookmarks.NS+" "+room1, bookmarks.NS+" "+room2)
	eqEvents(t, "legacy", legacy.events(100*time.Millisecond), bookmarks.NSLegacy+" current")
	same(t, "after the XEP-0049 set", modern, room1+"=Room 1", room2+"=Room Two")
	r := result(t, "room1", modern.IQ(t, `<iq type='get' id='r1'><pubsub xmlns='`+pep.NS+`'><items node='`+bookmarks.NS+`'><item id='`+room1+`'/></items></pubsub></iq>`))
	if st := r.Find("pubsub/items/item/conference/extensions/state"); st == nil || st.Text != "folded" {
		t.Errorf("the unknown extension was not kept: %s", r)
	}

	// XEP-0048 over PEP: the legacy client drops room2.
	result(t, "legacy PEP publish", legacy.IQ(t, `<iq type='set' id='lp'><pubsub xmlns='`+pep.NS+`'><publish node='`+bookmarks.NSLegacy+`'><item id='current'>`+
		`<storage xmlns='`+bookmarks.NSLegacy+`'><conference jid='`+room1+`' name='Room 1' autojoin='true'><nick>alice</nick></conference></storage>`+
		`</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>`+pep.FormPublishOptions+`</value></field>`+
		`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`))
	eqEvents(t, "modern (only the removal)", modern.events(300*time.Millisecond), bookmarks.NS+" -"+room2)
	eqEvents(t, "legacy", legacy.events(100*time.Millisecond), bookmarks.NSLegacy+" current")
	same(t, "after the XEP-0048 publish", modern, room1+"=Room 1")

	// Bookmarks are private.
	bob := &client{Client: srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})}
	for _, node := range []string{bookmarks.NS, bookmarks.NSLegacy} {
		r := bob.IQ(t, `<iq type='get' id='b' to='alice@localhost'><pubsub xmlns='`+pep.NS+`'><items node='`+node+`'/></pubsub></iq>`)
		if _, cond := r.Error(); cond != "not-allowed" {
			t.Errorf("bob reads %s: %s", node, r)
		}
	}

	// Bad input changes nothing.
	r = legacy.IQ(t, setPrivate(`<storage xmlns='`+bookmarks.NSLegacy+`'><conference jid='not a jid@@' name='x'/></storage>`))
	if _, cond := r.Error(); cond != "bad-request" {
		t.Errorf("bad private set: %s", r)
	}
	same(t, "after bad input", modern, room1+"=Room 1")

	// A restart keeps them all.
	modern.Close()
	legacy.Close()
	bob.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	srv = xmpptest.StartConfig(t, srv.Config)
	c := &client{Client: srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{})}
	same(t, "after a restart", c, room1+"=Room 1")
}
