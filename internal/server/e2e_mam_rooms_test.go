package server_test

import (
	"fmt"
	"strings"
	"testing"

	"minimix/internal/xmpptest"
)

// The archive by reference, end to end: room messages reach an account's
// personal archive (XEP-0313 with include-groupchat) through account-based
// group chat, once each, and only for the time the account was in the
// room. These tests drive a real server with mellium clients and read the
// archive the way a client does.

const nsMUC = "http://jabber.org/protocol/muc"

var mucRoomSeq int

// roomEnv is a server with alice, bob and carol.
type roomEnv struct {
	t   *testing.T
	srv *xmpptest.Server
}

func newRoomEnv(t *testing.T) *roomEnv {
	srv := xmpptest.Start(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-secret")
	}
	return &roomEnv{t: t, srv: srv}
}

func (e *roomEnv) dial(user string) *xmpptest.Client {
	e.t.Helper()
	return e.srv.Dial(e.t, user, user+"-secret", xmpptest.DialOptions{})
}

func (e *roomEnv) room() string {
	mucRoomSeq++
	return fmt.Sprintf("arch%d@%s", mucRoomSeq, e.srv.Config.MUC.Domain)
}

func isSelf(room string) func(Node) bool {
	return func(n Node) bool {
		return n.XMLName.Local == "presence" && strings.HasPrefix(n.Attr("from"), room+"/") && hasMUCStatus(n, "110") && n.Attr("type") == ""
	}
}

// hasMUCStatus reports whether n carries the muc#user status code.
func hasMUCStatus(n Node, code string) bool {
	x := n.Child("http://jabber.org/protocol/muc#user", "x")
	if x == nil {
		return false
	}
	for _, s := range x.Children("http://jabber.org/protocol/muc#user", "status") {
		if s.Attr("code") == code {
			return true
		}
	}
	return false
}

func isRoomSubject(room string) func(Node) bool {
	return func(n Node) bool {
		return n.XMLName.Local == "message" && n.Attr("from") == room && n.Child("", "subject") != nil && n.Child("", "body") == nil
	}
}

// enter joins c to room as nick and waits for the join to complete;
// config, if not empty, is the owner's configuration form fields for a
// new room. It returns the bodies of the history the room sent.
func (e *roomEnv) enter(c *xmpptest.Client, room, nick, config string) []string {
	e.t.Helper()
	c.SendRaw(e.t, fmt.Sprintf(`<presence to='%s/%s'><x xmlns='%s'/></presence>`, room, nick, nsMUC))
	self := c.Expect(e.t, "self-presence", isSelf(room))
	if hasMUCStatus(self, "201") {
		form := `<x xmlns='jabber:x:data' type='submit'>` + config + `</x>`
		if config != "" {
			form = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` + config + `</x>`
		}
		res := c.IQ(e.t, fmt.Sprintf(`<iq type='set' to='%s' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`, room, form))
		if res.Attr("type") != "result" {
			e.t.Fatalf("room configuration: %s", res)
		}
	}
	var history []string
	for {
		n := c.Expect(e.t, "history or subject", func(n Node) bool {
			return n.XMLName.Local == "message" && n.Attr("type") == "groupchat"
		})
		if isRoomSubject(room)(n) {
			return history
		}
		if b := n.Child("", "body"); b != nil {
			history = append(history, b.Text)
		}
	}
}

// say sends a groupchat message and waits until each of the watchers
// received it.
func (e *roomEnv) say(from *xmpptest.Client, room, body string, watchers ...*xmpptest.Client) {
	e.t.Helper()
	from.SendRaw(e.t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>%s</body></message>`, room, body))
	for _, w := range append(watchers, from) {
		w.Expect(e.t, "groupchat "+body, func(n Node) bool {
			b := n.Child("", "body")
			return n.XMLName.Local == "message" && n.Attr("type") == "groupchat" && b != nil && b.Text == body
		})
	}
}

// leave makes c leave room and waits for the room's answer.
func (e *roomEnv) leave(c *xmpptest.Client, room, nick string) {
	e.t.Helper()
	c.SendRaw(e.t, fmt.Sprintf(`<presence to='%s/%s' type='unavailable'/>`, room, nick))
	c.Expect(e.t, "leave", xmpptest.IsPresenceFrom(room+"/"+nick, "unavailable"))
}

// groupchatArchive returns the bodies of c's personal archive with the
// room, groupchat included, oldest first.
func groupchatArchive(t *testing.T, c *xmpptest.Client, with string) string {
	t.Helper()
	fields := mamField("include-groupchat", "true")
	if with != "" {
		fields += mamField("with", with)
	}
	results, fin := mamQuery(t, c, "", mamForm(fields)+rsmSet(`<max>100</max>`))
	if fin.Attr("complete") != "true" {
		t.Fatalf("archive query not complete: %s", fin)
	}
	return mamBodies(mamFlatten(results))
}

// TestE2EArchiveIntervals: an account's archive has the room's messages of
// the times it was in the room, each once; what was said while it was
// away is not its, even though a rejoin shows it as history (issue 10,
// item 1: a rejoin shows the room's history).
func TestE2EArchiveIntervals(t *testing.T) {
	e := newRoomEnv(t)
	room := e.room()
	bob := e.dial("bob")
	e.enter(bob, room, "bob", "")
	alice := e.dial("alice")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "a1", alice)
	e.leave(alice, room, "al")
	e.say(bob, room, "a2")
	history := e.enter(alice, room, "al", "")
	if strings.Join(history, " ") != "a1 a2" {
		t.Errorf("history on rejoin = %q, want a1 a2", history)
	}
	e.say(bob, room, "a3", alice)
	e.say(alice, room, "a4", bob)

	if got := groupchatArchive(t, alice, room); got != "a1 a3 a4" {
		t.Errorf("alice's archive with the room: %q, want \"a1 a3 a4\"", got)
	}
	if got := groupchatArchive(t, bob, room); got != "a1 a2 a3 a4" {
		t.Errorf("bob's archive with the room: %q, want \"a1 a2 a3 a4\"", got)
	}
	carol := e.dial("carol")
	if got := groupchatArchive(t, carol, ""); got != "" {
		t.Errorf("carol, never in the room, has %q", got)
	}
	// A second session's join is answered from the account's archive:
	// its history is the account's, without what it missed.
	alice2 := e.dial("alice")
	if h := e.enter(alice2, room, "al", ""); strings.Join(h, " ") != "a1 a3 a4" {
		t.Errorf("second session's history = %q, want a1 a3 a4", h)
	}
}

// TestE2EArchiveKick: after a kick the room's messages are not the
// account's until it joins again.
func TestE2EArchiveKick(t *testing.T) {
	e := newRoomEnv(t)
	room := e.room()
	bob := e.dial("bob")
	e.enter(bob, room, "bob", "")
	alice := e.dial("alice")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "k1", alice)
	res := bob.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='kick'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='al' role='none'/></query></iq>`, room))
	if res.Attr("type") != "result" {
		t.Fatalf("kick: %s", res)
	}
	alice.Expect(t, "kick", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
	e.say(bob, room, "k2")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "k3", alice)
	if got := groupchatArchive(t, alice, room); got != "k1 k3" {
		t.Errorf("alice's archive: %q, want \"k1 k3\"", got)
	}
}

// TestE2EArchiveNonLoggedRoom: a room that keeps no public log still
// reaches its members' own archives.
func TestE2EArchiveNonLoggedRoom(t *testing.T) {
	e := newRoomEnv(t)
	room := e.room()
	bob := e.dial("bob")
	e.enter(bob, room, "bob", `<field var='muc#roomconfig_enablelogging'><value>0</value></field>`)
	alice := e.dial("alice")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "secret1", alice)
	if got := groupchatArchive(t, alice, room); got != "secret1" {
		t.Errorf("alice's archive: %q, want secret1", got)
	}
	results, fin := mamQuery(t, alice, room, mamForm(""))
	if len(results) != 0 && fin.XMLName.Local == "fin" {
		t.Errorf("the room's own archive lists %d messages though logging is off", len(results))
	}
}

// TestE2EArchivePaging: one-to-one and room messages page together in
// one order, and ids taken from delivered room messages page the archive.
func TestE2EArchivePaging(t *testing.T) {
	e := newRoomEnv(t)
	room := e.room()
	bob := e.dial("bob")
	e.enter(bob, room, "bob", "")
	alice := e.dial("alice")
	carol := e.dial("carol")
	e.enter(alice, room, "al", "")
	for i := range 3 {
		e.say(bob, room, fmt.Sprintf("g%d", i), alice)
		carol.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s'><body>c%d</body></message>`, alice.JID, i))
		alice.Expect(t, "chat", xmpptest.IsMessage(fmt.Sprintf("c%d", i)))
	}
	if got := groupchatArchive(t, alice, ""); got != "g0 c0 g1 c1 g2 c2" {
		t.Errorf("alice's archive: %q", got)
	}
	page := func(set string) ([]Node, Node) {
		return mamQuery(t, alice, "", mamForm(mamField("include-groupchat", "true"))+rsmSet(set))
	}
	r1, fin1 := page(`<max>2</max>`)
	wantPage(t, "first page", r1, fin1, "g0 c0", false, mamFlatten(r1)[0].id, mamFlatten(r1)[1].id, 6)
	r2, fin2 := page(`<max>2</max><after>` + mamFlatten(r1)[1].id + `</after>`)
	recs := mamFlatten(r2)
	wantPage(t, "second page", r2, fin2, "g1 c1", false, recs[0].id, recs[1].id, 6)
	r3, fin3 := page(`<max>10</max><after>` + recs[1].id + `</after>`)
	if got := mamBodies(mamFlatten(r3)); got != "g2 c2" || fin3.Attr("complete") != "true" {
		t.Errorf("last page: %q, %s", got, fin3)
	}
	// Without include-groupchat a personal query is one-to-one only.
	results, _ := mamQuery(t, alice, "", "")
	if got := mamBodies(mamFlatten(results)); got != "c0 c1 c2" {
		t.Errorf("default query: %q, want c0 c1 c2", got)
	}
	// The stanza-id on a delivered room message is its archive id.
	e.say(bob, room, "g9")
	n := alice.Expect(t, "g9", isGroupchatBody("g9"))
	var id string
	for _, c := range n.Children("urn:xmpp:sid:0", "stanza-id") {
		if c.Attr("by") == alice.JID.Bare().String() {
			id = c.Attr("id")
		}
	}
	results, _ = mamQuery(t, alice, "", mamForm(mamField("include-groupchat", "true")+mamField("ids", id)))
	if got := mamBodies(mamFlatten(results)); id == "" || got != "g9" {
		t.Errorf("stanza-id %q selects %q, want g9", id, got)
	}
}

func isGroupchatBody(body string) func(Node) bool {
	return func(n Node) bool {
		b := n.Child("", "body")
		return n.XMLName.Local == "message" && n.Attr("type") == "groupchat" && b != nil && b.Text == body
	}
}

// TestE2EArchivePrefs: a room the account's preferences exclude is not
// archived for it, from the moment they change.
func TestE2EArchivePrefs(t *testing.T) {
	e := newRoomEnv(t)
	room := e.room()
	bob := e.dial("bob")
	e.enter(bob, room, "bob", "")
	alice := e.dial("alice")
	e.enter(alice, room, "al", "")
	e.say(bob, room, "p1", alice)
	res := alice.IQ(t, `<iq type='set' id='prefs'><prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never><jid>`+room+`</jid></never></prefs></iq>`)
	if res.Attr("type") != "result" {
		t.Fatalf("prefs: %s", res)
	}
	e.say(bob, room, "p2", alice)
	res = alice.IQ(t, `<iq type='set' id='prefs2'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>`)
	if res.Attr("type") != "result" {
		t.Fatalf("prefs: %s", res)
	}
	e.say(bob, room, "p3", alice)
	if got := groupchatArchive(t, alice, room); got != "p1 p3" {
		t.Errorf("alice's archive: %q, want \"p1 p3\"", got)
	}
}
