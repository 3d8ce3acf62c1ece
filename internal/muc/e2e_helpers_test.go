package muc_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// The end-to-end tests run a whole server on loopback sockets and talk to
// it with mellium.im/xmpp clients. Account-based group chat is off unless
// a test says otherwise, so that the room sees each client's own full JID
// and the tests observe XEP-0045 itself.

const (
	service = "conference.localhost"
	nsMUC   = "http://jabber.org/protocol/muc"
	nsUser  = nsMUC + "#user"
	nsAdmin = nsMUC + "#admin"
	nsOwner = nsMUC + "#owner"
	nsData  = "jabber:x:data"
)

var users = []string{"alice", "bob", "carol", "dave"}

func password(u string) string { return u + "-secret" }

// startServer starts a server with the test users and account joins off.
func startServer(t *testing.T, opts ...xmpptest.Option) *xmpptest.Server {
	t.Helper()
	opts = append([]xmpptest.Option{xmpptest.WithConfig(func(c *config.Config) { c.AccountJoin.Enabled = false })}, opts...)
	srv := xmpptest.Start(t, opts...)
	for _, u := range users {
		srv.AddUser(t, u, password(u))
	}
	return srv
}

func dial(t *testing.T, srv *xmpptest.Server, user, resource string) *xmpptest.Client {
	t.Helper()
	return srv.Dial(t, user, password(user), xmpptest.DialOptions{Resource: resource})
}

var ids atomic.Int64

func nextID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, ids.Add(1)) }

// next returns the next stanza c receives, failing after a timeout.
func next(t *testing.T, c *xmpptest.Client, what string) xmpptest.Node {
	t.Helper()
	select {
	case n := <-c.In:
		return n
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: timed out waiting for %s", c.JID, what)
	}
	return xmpptest.Node{}
}

// quiet fails if c receives anything matching within a short time.
func quiet(t *testing.T, c *xmpptest.Client, what string, match func(xmpptest.Node) bool) {
	t.Helper()
	c.ExpectNone(t, what, 300*time.Millisecond, match)
}

// drain forgets what c has received so far (after a round trip).
func drain(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	c.IQ(t, "<iq type='get' id='"+nextID("ping")+"' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		select {
		case <-c.In:
		default:
			return
		}
	}
}

// joinRoom sends a join to room/nick with extra inside <x/> and returns
// everything received up to and including the subject, or the error.
func joinRoom(t *testing.T, c *xmpptest.Client, room, nick, extra string) []xmpptest.Node {
	t.Helper()
	id := nextID("join")
	c.SendRaw(t, fmt.Sprintf("<presence to='%s/%s' id='%s'><x xmlns='%s'>%s</x></presence>", room, nick, id, nsMUC, extra))
	var got []xmpptest.Node
	for {
		n := next(t, c, "the join sequence of "+room)
		got = append(got, n)
		if n.XMLName.Local == "presence" && n.Attr("type") == "error" {
			return got
		}
		if n.XMLName.Local == "message" && n.Child("", "subject") != nil && n.Child("", "body") == nil {
			return got
		}
	}
}

// enter joins and fails unless the join succeeds.
func enter(t *testing.T, c *xmpptest.Client, room, nick, extra string) []xmpptest.Node {
	t.Helper()
	got := joinRoom(t, c, room, nick, extra)
	if p := selfPresence(got); p == nil {
		t.Fatalf("%s: join of %s as %s failed: %v", c.JID, room, nick, got)
	}
	return got
}

// createRoom makes room as an instant room owned by c.
func createRoom(t *testing.T, c *xmpptest.Client, room, nick string) {
	t.Helper()
	got := enter(t, c, room, nick, "")
	if !hasCode(*selfPresence(got), "201") {
		t.Fatalf("%s: room %s not created: %v", c.JID, room, got)
	}
	r := c.IQ(t, fmt.Sprintf("<iq type='set' id='%s' to='%s'><query xmlns='%s'><x xmlns='%s' type='submit'/></query></iq>", nextID("cfg"), room, nsOwner, nsData))
	if r.Attr("type") != "result" {
		t.Fatalf("instant room %s: %v", room, r)
	}
}

// configure submits the configuration form with fields.
func configure(t *testing.T, c *xmpptest.Client, room string, fields map[string]string) xmpptest.Node {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "<iq type='set' id='%s' to='%s'><query xmlns='%s'><x xmlns='%s' type='submit'>", nextID("cfg"), room, nsOwner, nsData)
	fmt.Fprintf(&b, "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>", nsMUC)
	for k, v := range fields {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", k, v)
	}
	b.WriteString("</x></query></iq>")
	return c.IQ(t, b.String())
}

// admin sends a muc#admin set with items and returns the reply.
func admin(t *testing.T, c *xmpptest.Client, room, items string) xmpptest.Node {
	t.Helper()
	return c.IQ(t, fmt.Sprintf("<iq type='set' id='%s' to='%s'><query xmlns='%s'>%s</query></iq>", nextID("admin"), room, nsAdmin, items))
}

func selfPresence(got []xmpptest.Node) *xmpptest.Node {
	for i := range got {
		if got[i].XMLName.Local == "presence" && hasCode(got[i], "110") {
			return &got[i]
		}
	}
	return nil
}

// codes returns the muc#user status codes of n.
func codes(n xmpptest.Node) []string {
	x := n.Child(nsUser, "x")
	if x == nil {
		return nil
	}
	var out []string
	for _, s := range x.Children(nsUser, "status") {
		out = append(out, s.Attr("code"))
	}
	return out
}

func hasCode(n xmpptest.Node, code string) bool {
	for _, c := range codes(n) {
		if c == code {
			return true
		}
	}
	return false
}

// userItem returns the muc#user item of a presence, or an empty node.
func userItem(n xmpptest.Node) xmpptest.Node {
	if x := n.Child(nsUser, "x"); x != nil {
		if it := x.Child(nsUser, "item"); it != nil {
			return *it
		}
	}
	return xmpptest.Node{}
}

func condition(n xmpptest.Node) string {
	_, c := n.Error()
	return c
}

// isPresence matches a presence from from with type typ and, if code is
// set, that status code.
func isPresence(from, typ, code string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == from && n.Attr("type") == typ && (code == "" || hasCode(n, code))
	}
}

func isGroupchat(body string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		b := n.Child("", "body")
		return n.XMLName.Local == "message" && n.Attr("type") == "groupchat" && b != nil && b.Text == body
	}
}

func isError(local, id string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		return n.XMLName.Local == local && n.Attr("type") == "error" && n.Attr("id") == id
	}
}

func stanzaID(n xmpptest.Node, by string) string {
	for _, c := range n.Children("urn:xmpp:sid:0", "stanza-id") {
		if c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}

func occupantID(n xmpptest.Node) string {
	if c := n.Child("urn:xmpp:occupant-id:0", "occupant-id"); c != nil {
		return c.Attr("id")
	}
	return ""
}

func say(t *testing.T, c *xmpptest.Client, room, id, body string) {
	t.Helper()
	c.SendRaw(t, fmt.Sprintf("<message to='%s' type='groupchat' id='%s'><body>%s</body></message>", room, id, body))
}
