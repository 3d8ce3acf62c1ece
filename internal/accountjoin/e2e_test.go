package accountjoin_test

// End-to-end tests of account-based group chat: a real server with its own
// MUC service on loopback sockets, driven by mellium.im/xmpp clients. Each
// test names the rule of docs/account-join.md it checks.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/jid"
	"minimix/internal/xmpptest"
)

const muc = "conference.localhost"

var roomSeq atomic.Int64

// freshRoom returns a room JID not used by any other test.
func freshRoom() string {
	return fmt.Sprintf("room%d@%s", roomSeq.Add(1), muc)
}

type env struct {
	t   *testing.T
	srv *xmpptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := xmpptest.Start(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-secret")
	}
	return &env{t: t, srv: srv}
}

func (e *env) dial(user string) *xmpptest.Client {
	e.t.Helper()
	return e.srv.Dial(e.t, user, user+"-secret", xmpptest.DialOptions{})
}

func hasStatus(n xmpptest.Node, code string) bool {
	x := n.Child("http://jabber.org/protocol/muc#user", "x")
	if x == nil {
		return false
	}
	for _, s := range x.Children("", "status") {
		if s.Attr("code") == code {
			return true
		}
	}
	return false
}

func isSelfPresence(room string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && strings.HasPrefix(n.Attr("from"), room+"/") && hasStatus(n, "110")
	}
}

func isSubject(room string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && n.Attr("from") == room && n.Child("", "subject") != nil && n.Child("", "body") == nil
	}
}

func isGroupchat(room, body string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		b := n.Child("", "body")
		return n.XMLName.Local == "message" && n.Attr("type") == "groupchat" && strings.HasPrefix(n.Attr("from"), room) && b != nil && b.Text == body
	}
}

func joinRaw(room, nick, id, inner string) string {
	return fmt.Sprintf(`<presence to='%s/%s' id='%s'><x xmlns='http://jabber.org/protocol/muc'>%s</x></presence>`, room, nick, id, inner)
}

// create makes c's account create room as an instant room and waits for
// the whole join sequence.
func (e *env) create(c *xmpptest.Client, room, nick string) {
	e.t.Helper()
	c.SendRaw(e.t, joinRaw(room, nick, "create", ""))
	self := c.Expect(e.t, "self-presence on create", isSelfPresence(room))
	if hasStatus(self, "201") {
		res := c.IQ(e.t, fmt.Sprintf(`<iq type='set' to='%s' id='inst'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, room))
		if res.Attr("type") != "result" {
			e.t.Fatalf("instant room config: %s", res)
		}
	}
	c.Expect(e.t, "subject after create", isSubject(room))
}

// join joins c and waits for its self-presence and the subject.
func (e *env) join(c *xmpptest.Client, room, nick, id string) xmpptest.Node {
	e.t.Helper()
	c.SendRaw(e.t, joinRaw(room, nick, id, ""))
	self := c.Expect(e.t, "self-presence", isSelfPresence(room))
	c.Expect(e.t, "subject", isSubject(room))
	return self
}

// drain waits a moment and discards what arrived.
func drain(c *xmpptest.Client, d time.Duration) {
	deadline := time.After(d)
	for {
		select {
		case <-c.In:
		case <-deadline:
			return
		}
	}
}

// Rule 1: the first session's join goes to the room once, as the account;
// the answers go to that session with its item jid rewritten.
func TestE2EFirstJoin(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c1.SendRaw(t, joinRaw(room, "al", "j1", ""))
	occ := c1.Expect(t, "bob's presence", xmpptest.IsPresenceFrom(room+"/bob", ""))
	if occ.Attr("to") != c1.JID.String() {
		t.Errorf("occupant presence to = %q, want %q", occ.Attr("to"), c1.JID)
	}
	self := c1.Expect(t, "self-presence", isSelfPresence(room))
	if self.Attr("id") != "j1" {
		t.Errorf("self-presence id = %q, want j1", self.Attr("id"))
	}
	if it := self.Find("x/item"); it != nil && it.Attr("jid") != "" && it.Attr("jid") != c1.JID.String() {
		t.Errorf("item jid = %q, want the session's full JID %s", it.Attr("jid"), c1.JID)
	}
	c1.Expect(t, "subject", isSubject(room))
	// The room sees the account, not the session.
	p := bob.Expect(t, "alice's join", xmpptest.IsPresenceFrom(room+"/al", ""))
	if it := p.Find("x/item"); it != nil && it.Attr("jid") != "" && it.Attr("jid") != "alice@localhost" {
		t.Errorf("room shows alice as %q, want the bare JID", it.Attr("jid"))
	}
}

// Rules 2 and 4: a second session's join is answered locally: occupants,
// its own presence (110, its id, 210 for another nick), history from the
// account archive, subject; the room sees nothing.
func TestE2ESecondSessionSynthesised(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	bob.Expect(t, "alice's join", xmpptest.IsPresenceFrom(room+"/al", ""))
	bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='h1'><body>before c2</body></message>`, room))
	c1.Expect(t, "history-to-be", isGroupchat(room, "before c2"))

	c2 := e.dial("alice")
	c2.SendRaw(t, joinRaw(room, "other", "j2", ""))
	var seen []string
	var self xmpptest.Node
	deadline := time.After(10 * time.Second)
loop:
	for {
		select {
		case n := <-c2.In:
			switch {
			case n.XMLName.Local == "presence" && hasStatus(n, "110"):
				self = n
				seen = append(seen, "self")
			case n.XMLName.Local == "presence":
				seen = append(seen, "presence:"+n.Attr("from"))
			case isGroupchat(room, "before c2")(n):
				if n.Child("urn:xmpp:delay", "delay") == nil || n.Child("urn:xmpp:delay", "delay").Attr("from") != room {
					t.Errorf("history without <delay from=room>: %s", n)
				}
				seen = append(seen, "history")
			case isSubject(room)(n):
				seen = append(seen, "subject")
				break loop
			}
		case <-deadline:
			t.Fatalf("synthesised join incomplete: %v", seen)
		}
	}
	want := []string{"presence:" + room + "/bob", "self", "history", "subject"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("sequence = %v, want %v", seen, want)
	}
	if self.Attr("id") != "j2" || !hasStatus(self, "210") || self.Attr("from") != room+"/al" {
		t.Errorf("self-presence = %s, want id j2, 210, nick al", self)
	}
	bob.ExpectNone(t, "a presence caused by the second session", 500*time.Millisecond, xmpptest.IsPresenceFrom(room+"/al", ""))
}

// Rule 2 with maxchars='0': no history.
func TestE2ESynthesisedNoHistory(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	c1 := e.dial("alice")
	e.create(c1, room, "al")
	c1.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='h1'><body>old</body></message>`, room))
	c1.Expect(t, "reflection", isGroupchat(room, "old"))
	c2 := e.dial("alice")
	c2.SendRaw(t, joinRaw(room, "al", "j2", "<history maxchars='0'/>"))
	c2.Expect(t, "self", isSelfPresence(room))
	for {
		n := c2.Expect(t, "subject", func(xmpptest.Node) bool { return true })
		if isGroupchat(room, "old")(n) {
			t.Fatalf("history sent despite maxchars='0'")
		}
		if isSubject(room)(n) {
			break
		}
	}
}

// Rule 5: a join error reaches the session with its id, and no state stays.
func TestE2EJoinErrorNickConflict(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "taken")
	c1 := e.dial("alice")
	c1.SendRaw(t, joinRaw(room, "taken", "jx", ""))
	n := c1.Expect(t, "join error", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "error"
	})
	if typ, cond := n.Error(); cond != "conflict" || typ != "cancel" || n.Attr("id") != "jx" {
		t.Errorf("error = %s %s id %q: %s", typ, cond, n.Attr("id"), n)
	}
	// No state: a new join goes to the room (and succeeds).
	e.join(c1, room, "free", "jy")
}

// Rules 7 and 8: traffic reaches joined sessions once, and not others;
// a session's message goes out as the account; a non-joined session's
// groupchat is refused.
func TestE2ETraffic(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	c3 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")

	bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='b1'><body>from bob</body><origin-id xmlns='urn:xmpp:sid:0' id='ob1'/></message>`, room))
	for _, c := range []*xmpptest.Client{c1, c2} {
		m := c.Expect(t, "bob's message", isGroupchat(room, "from bob"))
		var byRoom, byAccount int
		for _, sid := range m.Children("urn:xmpp:sid:0", "stanza-id") {
			switch sid.Attr("by") {
			case room:
				byRoom++
			case "alice@localhost":
				byAccount++
			}
		}
		if byRoom != 1 || byAccount != 1 {
			t.Errorf("stanza-ids by room %d, by account %d: %s", byRoom, byAccount, m)
		}
		if m.Child("urn:xmpp:occupant-id:0", "occupant-id") == nil {
			t.Errorf("occupant-id missing: %s", m)
		}
		c.ExpectNone(t, "a second copy", 300*time.Millisecond, isGroupchat(room, "from bob"))
	}
	c3.ExpectNone(t, "room traffic on a session that did not join", 300*time.Millisecond, isGroupchat(room, "from bob"))

	c1.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='a1'><body>from alice</body><origin-id xmlns='urn:xmpp:sid:0' id='oa1'/></message>`, room))
	got := bob.Expect(t, "alice's message", isGroupchat(room, "from alice"))
	if got.Attr("from") != room+"/al" {
		t.Errorf("from = %q", got.Attr("from"))
	}
	for _, c := range []*xmpptest.Client{c1, c2} {
		r := c.Expect(t, "reflection", isGroupchat(room, "from alice"))
		if r.Attr("id") != "a1" {
			t.Errorf("reflection id = %q, want a1", r.Attr("id"))
		}
	}
	c3.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='c3'><body>not joined</body></message>`, room))
	n := c3.Expect(t, "refusal", func(n xmpptest.Node) bool { return n.Attr("type") == "error" && n.Attr("id") == "c3" })
	if _, cond := n.Error(); cond != "not-acceptable" {
		t.Errorf("refusal condition = %q", cond)
	}
	bob.ExpectNone(t, "a non-joined session's message", 300*time.Millisecond, isGroupchat(room, "not joined"))
}

// Rule 9: private messages and iqs.
func TestE2EPrivateMessagesAndIQs(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")

	bob.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s/al' id='pm1'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, room))
	c1.Expect(t, "PM", xmpptest.IsMessage("psst"))
	c2.Expect(t, "PM", xmpptest.IsMessage("psst"))

	c1.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s/bob' id='pm2'><body>hi bob</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, room))
	got := bob.Expect(t, "PM from alice", xmpptest.IsMessage("hi bob"))
	if got.Attr("from") != room+"/al" {
		t.Errorf("PM from = %q", got.Attr("from"))
	}
	c2.Expect(t, "sent copy", func(n xmpptest.Node) bool {
		fw := n.Find("sent/forwarded/message/body")
		return fw != nil && fw.Text == "hi bob"
	})

	res := c2.IQ(t, fmt.Sprintf(`<iq type='get' to='%s' id='disco1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, room))
	if res.Attr("type") != "result" || res.Attr("id") != "disco1" {
		t.Errorf("disco#info via the account = %s", res)
	}
	res = c1.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='mam1'><query xmlns='urn:xmpp:mam:2' queryid='qq'/></iq>`, room))
	if res.Attr("type") != "result" || res.Child("urn:xmpp:mam:2", "fin") == nil {
		t.Errorf("MAM query to the room = %s", res)
	}
}

// Rule 10: self-ping.
func TestE2ESelfPing(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.create(c1, room, "al")
	res := c1.IQ(t, fmt.Sprintf(`<iq type='get' to='%s/al' id='sp1'><ping xmlns='urn:xmpp:ping'/></iq>`, room))
	if res.Attr("type") != "result" {
		t.Errorf("joined self-ping = %s", res)
	}
	res = c2.IQ(t, fmt.Sprintf(`<iq type='get' to='%s/al' id='sp2'><ping xmlns='urn:xmpp:ping'/></iq>`, room))
	if _, cond := res.Error(); res.Attr("type") != "error" || cond != "not-acceptable" {
		t.Errorf("non-joined self-ping = %s", res)
	}
}

// Rules 11, 13, 14, 15: presence aggregation, leaving, disconnecting.
func TestE2ELeaveAndDisconnect(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	bob.Expect(t, "alice joins", xmpptest.IsPresenceFrom(room+"/al", ""))

	// C2 leaves: answered at once; the room sees nothing.
	c2.SendRaw(t, fmt.Sprintf(`<presence to='%s/al' type='unavailable' id='l2'/>`, room))
	n := c2.Expect(t, "leave answer", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
	if !hasStatus(n, "110") || n.Attr("id") != "l2" {
		t.Errorf("leave answer = %s", n)
	}
	bob.ExpectNone(t, "alice leaving", 500*time.Millisecond, xmpptest.IsPresenceFrom(room+"/al", "unavailable"))

	// C1's connection drops: the account stays, shown as xa.
	c1.Kill()
	p := bob.Expect(t, "alice's offline show", xmpptest.IsPresenceFrom(room+"/al", ""))
	if s := p.Child("", "show"); s == nil || s.Text != "xa" {
		t.Errorf("offline presence = %s, want show xa", p)
	}
	bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='m'><body>while away</body></message>`, room))
	bob.ExpectNone(t, "alice leaving", 500*time.Millisecond, xmpptest.IsPresenceFrom(room+"/al", "unavailable"))

	// A new session joins: synthesised, and it finds the message in the
	// history from the account's archive.
	c3 := e.dial("alice")
	c3.SendRaw(t, joinRaw(room, "al", "j3", ""))
	c3.Expect(t, "history kept while no session was joined", isGroupchat(room, "while away"))
	c3.Expect(t, "subject", isSubject(room))

	// The last session leaves: the account leaves for real.
	c3.SendRaw(t, fmt.Sprintf(`<presence to='%s/al' type='unavailable' id='l3'/>`, room))
	n = c3.Expect(t, "room's leave answer", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
	if n.Attr("id") != "l3" || !hasStatus(n, "110") {
		t.Errorf("leave answer = %s", n)
	}
	bob.Expect(t, "alice leaving", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
}

// Rules 12 and 16: nick change reaches all sessions; other occupants'
// joins and leaves reach every joined session.
func TestE2ENickChangeAndOccupants(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")

	c2.SendRaw(t, fmt.Sprintf(`<presence to='%s/alice2' id='n1'/>`, room))
	for _, c := range []*xmpptest.Client{c1, c2} {
		u := c.Expect(t, "303", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
		if !hasStatus(u, "303") {
			t.Errorf("nick change unavailable = %s", u)
		}
		c.Expect(t, "new presence", xmpptest.IsPresenceFrom(room+"/alice2", ""))
	}
	carol := e.dial("carol")
	e.join(carol, room, "carol", "jc")
	for _, c := range []*xmpptest.Client{c1, c2} {
		c.Expect(t, "carol joins", xmpptest.IsPresenceFrom(room+"/carol", ""))
	}
	carol.SendRaw(t, fmt.Sprintf(`<presence to='%s/carol' type='unavailable'/>`, room))
	for _, c := range []*xmpptest.Client{c1, c2} {
		c.Expect(t, "carol leaves", xmpptest.IsPresenceFrom(room+"/carol", "unavailable"))
	}
	// A third session sees the cache as it is now: bob, not carol.
	c3 := e.dial("alice")
	c3.SendRaw(t, joinRaw(room, "alice2", "j3", ""))
	var occupants []string
	for {
		n := c3.Expect(t, "join sequence", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" })
		if hasStatus(n, "110") {
			if n.Attr("from") != room+"/alice2" {
				t.Errorf("self after nick change = %s", n.Attr("from"))
			}
			break
		}
		occupants = append(occupants, n.Attr("from"))
	}
	if strings.Join(occupants, ",") != room+"/bob" {
		t.Errorf("cached occupants = %v, want only bob", occupants)
	}
}

// Rule 17: a kick reaches every joined session, and a new join goes to
// the room again.
func TestE2EKick(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	res := bob.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='kick'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='al' role='none'><reason>out</reason></item></query></iq>`, room))
	if res.Attr("type") != "result" {
		t.Fatalf("kick = %s", res)
	}
	for _, c := range []*xmpptest.Client{c1, c2} {
		n := c.Expect(t, "kick", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
		if !hasStatus(n, "307") || !hasStatus(n, "110") {
			t.Errorf("kick presence = %s", n)
		}
		if r := n.Find("x/item/reason"); r == nil || r.Text != "out" {
			t.Errorf("reason lost: %s", n)
		}
	}
	// State cleared: joining again goes to the room.
	e.join(c1, room, "al", "again")
	bob.Expect(t, "alice rejoins", xmpptest.IsPresenceFrom(room+"/al", ""))
}

// Rule 20: each room message once in the account's archive.
func TestE2EArchivedOnce(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	for i := 0; i < 3; i++ {
		bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>n%d</body></message>`, room, i))
	}
	c1.Expect(t, "last", isGroupchat(room, "n2"))
	c2.Expect(t, "last", isGroupchat(room, "n2"))
	res := c1.IQ(t, fmt.Sprintf(`<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='g'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>%s</value></field><field var='include-groupchat'><value>true</value></field></x></query></iq>`, room))
	if res.Attr("type") != "result" {
		t.Fatalf("MAM = %s", res)
	}
	counts := map[string]int{}
	drainUntil := time.After(500 * time.Millisecond)
collect:
	for {
		select {
		case n := <-c1.In:
			if b := n.Find("result/forwarded/message/body"); b != nil {
				counts[b.Text]++
			}
		case <-drainUntil:
			break collect
		}
	}
	for i := 0; i < 3; i++ {
		if k := fmt.Sprintf("n%d", i); counts[k] != 1 {
			t.Errorf("%s archived %d times, want once (all: %v)", k, counts[k], counts)
		}
	}
	// Discovery advertises the feature.
	info := c1.IQ(t, `<iq type='get' to='alice@localhost' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	var feats []string
	for _, f := range info.Find("query").Children("", "feature") {
		feats = append(feats, f.Attr("var"))
	}
	for _, want := range []string{"urn:minimix:account-join:0", "urn:xmpp:mam:2#groupchat-field", "urn:xmpp:mam:2#groupchat-available"} {
		if !strings.Contains(strings.Join(feats, " "), want) {
			t.Errorf("disco#info lacks %s: %v", want, feats)
		}
	}
}

// Rules 21 and 22: memberships survive a restart and operators can list
// them.
func TestE2ERestartRejoins(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	c1 := e.dial("alice")
	e.create(c1, room, "al")
	res := c1.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='persist'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`, room))
	if res.Attr("type") != "result" {
		t.Fatalf("make room persistent: %s", res)
	}
	c1.Kill()

	e.srv.Restart(t)
	// The account is back in the room with no session online: bob sees it.
	bob := e.dial("bob")
	bob.SendRaw(t, joinRaw(room, "bob", "jb", ""))
	bob.Expect(t, "alice in the room after restart", xmpptest.IsPresenceFrom(room+"/al", ""))
	bob.Expect(t, "subject", isSubject(room))
	bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>after restart</body></message>`, room))
	bob.Expect(t, "reflection", isGroupchat(room, "after restart"))

	c2 := e.dial("alice")
	c2.SendRaw(t, joinRaw(room, "al", "j2", ""))
	c2.Expect(t, "message archived while no session was online", isGroupchat(room, "after restart"))

	code, body := e.srv.Admin(t, http.MethodGet, "joins", nil)
	if code != http.StatusOK {
		t.Fatalf("admin API joins: %d %s", code, body)
	}
	var infos []struct {
		Account, Room, Nick, State, Source string
		Sessions                           []string
	}
	if err := json.Unmarshal(body, &infos); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range infos {
		if in.Account == "alice@localhost" && in.Room == room {
			found = true
			if in.Nick != "al" || in.State != "joined" || in.Source != "session" {
				t.Errorf("join info = %+v", in)
			}
		}
	}
	if !found {
		t.Errorf("joins list lacks alice in %s: %+v", room, infos)
	}
}

func bookmarkIQ(room, nick string, autojoin bool) string {
	return fmt.Sprintf(`<iq type='set' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='%s'><conference xmlns='urn:xmpp:bookmarks:1' name='Test' autojoin='%v'><nick>%s</nick></conference></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`, room, autojoin, nick)
}

func (e *env) persistentRoom(c *xmpptest.Client, room, nick string) {
	e.t.Helper()
	e.create(c, room, nick)
	res := c.IQ(e.t, fmt.Sprintf(`<iq type='set' to='%s' id='persist'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`, room))
	if res.Attr("type") != "result" {
		e.t.Fatalf("make room persistent: %s", res)
	}
}

// Issue 5, point 3: an autojoin bookmark makes the account join with no
// session online, keeps it there across a restart, archives the room's
// traffic once, and switching autojoin off makes the account leave.
func TestE2EAutojoinBookmark(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.persistentRoom(bob, room, "bob")

	c1 := e.dial("alice")
	if res := c1.IQ(t, bookmarkIQ(room, "al", true)); res.Attr("type") != "result" {
		t.Fatalf("publish bookmark: %s", res)
	}
	c1.Close()
	bob.Expect(t, "alice joined by bookmark", xmpptest.IsPresenceFrom(room+"/al", ""))
	bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>before restart</body></message>`, room))
	bob.Expect(t, "reflection", isGroupchat(room, "before restart"))

	e.srv.Restart(t)
	bob = e.dial("bob")
	bob.SendRaw(t, joinRaw(room, "bob", "jb", "<history maxchars='0'/>"))
	bob.Expect(t, "alice in the room after restart", xmpptest.IsPresenceFrom(room+"/al", ""))
	bob.Expect(t, "subject", isSubject(room))
	bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>after restart</body></message>`, room))
	bob.Expect(t, "reflection", isGroupchat(room, "after restart"))

	// A new session finds both messages in the account archive.
	c2 := e.dial("alice")
	res := c2.IQ(t, fmt.Sprintf(`<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='g'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>%s</value></field><field var='include-groupchat'><value>true</value></field></x></query></iq>`, room))
	if res.Attr("type") != "result" {
		t.Fatalf("MAM = %s", res)
	}
	counts := map[string]int{}
	deadline := time.After(500 * time.Millisecond)
collect:
	for {
		select {
		case n := <-c2.In:
			if b := n.Find("result/forwarded/message/body"); b != nil {
				counts[b.Text]++
			}
		case <-deadline:
			break collect
		}
	}
	if counts["before restart"] != 1 || counts["after restart"] != 1 {
		t.Errorf("archive = %v, want each message once", counts)
	}

	// A session joining and leaving a bookmarked room leaves the account in.
	e.join(c2, room, "al", "j2")
	c2.SendRaw(t, fmt.Sprintf(`<presence to='%s/al' type='unavailable' id='l2'/>`, room))
	c2.Expect(t, "leave answer", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
	bob.ExpectNone(t, "alice leaving", 500*time.Millisecond, xmpptest.IsPresenceFrom(room+"/al", "unavailable"))

	// Autojoin off: the account leaves.
	if res := c2.IQ(t, bookmarkIQ(room, "al", false)); res.Attr("type") != "result" {
		t.Fatalf("publish bookmark: %s", res)
	}
	bob.Expect(t, "alice leaving", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
}

// Issue 10 item 5 (rule 24): a temporary room that is gone after a
// restart is not brought back by its members' rejoins: the membership
// ends, and the room's next visitor creates it as its owner.
func TestE2ERestartDoesNotRecreateTemporaryRoom(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	c1 := e.dial("alice")
	e.create(c1, room, "al")
	c1.Kill()
	e.srv.Restart(t)
	bob := e.dial("bob")
	bob.SendRaw(t, joinRaw(room, "bob", "jb", ""))
	self := bob.Expect(t, "bob's own presence", isSelfPresence(room))
	if !hasStatus(self, "201") {
		t.Errorf("bob found the room existing (alice's rejoin re-created it): %s", self)
	}
	if it := self.Find("x/item"); it == nil || it.Attr("affiliation") != "owner" {
		t.Errorf("bob's affiliation = %s, want owner", self)
	}
	// The membership ends when the room's answer is in (it may still be
	// on its way).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		recs, err := e.srv.Store().ListJoins(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, r := range recs {
			if r.Account == "alice@localhost" {
				left = append(left, r.Room)
			}
		}
		if len(left) == 0 && len(e.srv.AccountJoins().List(jid.MustParse("alice@localhost"))) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's membership of the vanished room is kept: stored %v, in memory %+v", left, e.srv.AccountJoins().List(jid.MustParse("alice@localhost")))
		}
	}
}

// Issue 10 item 6 (rule 17): the room's destruction reaches every joined
// session with the <destroy/> (alternate venue, reason) and ends the
// membership: the next join goes to the service again instead of being
// answered from the dead room's state.
func TestE2EDestroyEndsMembership(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	res := bob.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='d'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='elsewhere@%s'><reason>moving</reason></destroy></query></iq>`, room, muc))
	if res.Attr("type") != "result" {
		t.Fatalf("destroy = %s", res)
	}
	for _, c := range []*xmpptest.Client{c1, c2} {
		n := c.Expect(t, "destroy", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
		d := n.Find("x/destroy")
		if d == nil || d.Attr("jid") != "elsewhere@"+muc || n.Find("x/destroy/reason") == nil || n.Find("x/destroy/reason").Text != "moving" || !hasStatus(n, "110") {
			t.Errorf("destroy presence = %s", n)
		}
	}
	// The membership is over: a new join goes to the service, which
	// creates a new room (201), with no trace of the old one.
	c1.SendRaw(t, joinRaw(room, "al", "j3", ""))
	self := c1.Expect(t, "self-presence of the new room", isSelfPresence(room))
	if !hasStatus(self, "201") || self.Attr("id") != "j3" {
		t.Errorf("join after destroy = %s, want the service's answer creating the room (201)", self)
	}
}

// Issue 10 item 3 (rule 12): a nick change sent with <x xmlns=muc/>, as
// mcabber sends it, is a nick change that every joined session and the
// other occupants see, not a re-join.
func TestE2ENickChangeWithMUCElement(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	bob.Expect(t, "alice joins", xmpptest.IsPresenceFrom(room+"/al", ""))
	c2.SendRaw(t, joinRaw(room, "alice2", "n1", ""))
	for _, c := range []*xmpptest.Client{c1, c2, bob} {
		u := c.Expect(t, "303", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
		if !hasStatus(u, "303") {
			t.Errorf("nick change unavailable = %s", u)
		}
		c.Expect(t, "new presence", xmpptest.IsPresenceFrom(room+"/alice2", ""))
	}
	c2.ExpectNone(t, "a replayed join (subject)", 300*time.Millisecond, isSubject(room))
}

// Issue 10 item 4 (rule 2): a session joining after the account created
// the room is not told that the room was just created (201, which clients
// read as "locked, configure it") nor that its nick was changed (210).
func TestE2ESynthesisedJoinHasNoEventCodes(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	c1 := e.dial("alice")
	e.create(c1, room, "al")
	c2 := e.dial("alice")
	self := e.join(c2, room, "al", "j2")
	if hasStatus(self, "201") || hasStatus(self, "210") || !hasStatus(self, "110") {
		t.Errorf("synthesised self-presence = %s, want 110 without 201 or 210", self)
	}
}

// Issue 10 item 7 (rule 8): the room's error for one session's stanza
// reaches that session only.
func TestE2ERoomErrorReachesOnlyTheSender(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	c1.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s/nobody' id='pm-x'><body>anyone?</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, room))
	n := c1.Expect(t, "the error for its private message", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && n.Attr("type") == "error" && n.Attr("id") == "pm-x"
	})
	if _, cond := n.Error(); cond != "item-not-found" {
		t.Errorf("error = %s", n)
	}
	c2.ExpectNone(t, "another session's error", 500*time.Millisecond, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && n.Attr("type") == "error"
	})
	// A nick change refused by the room goes to the session that asked.
	c2.SendRaw(t, fmt.Sprintf(`<presence to='%s/bob' id='nick-x'/>`, room))
	n = c2.Expect(t, "the nick change's error", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "error" && n.Attr("id") == "nick-x"
	})
	if _, cond := n.Error(); cond != "conflict" {
		t.Errorf("nick change error = %s", n)
	}
	c1.ExpectNone(t, "another session's nick change error", 500*time.Millisecond, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "error"
	})
}

// Issue 10 item 2 (rule 23): an occupant's iq to the account's occupant
// JID reaches a joined session, whose answer comes back to the asker from
// the account's occupant JID; with no session joined the answer is
// service-unavailable; vCards are still answered by the server.
func TestE2EOccupantIQReachesASession(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	// A raw client, which (unlike mellium) answers nothing by itself.
	c1 := e.srv.Login(t, "alice", "alice-secret", "phone")
	c1.Send(`<presence/>`)
	c1.Send(joinRaw(room, "al", "j1", ""))
	c1.ExpectStanza("the subject", 5*time.Second, isSubject(room))
	if res := (func() xmpptest.Node {
		c1.Send(`<iq type='set' id='vcs'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`)
		return c1.ExpectStanza("vCard stored", 5*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "vcs" })
	})(); res.Attr("type") != "result" {
		t.Fatalf("store vCard: %s", res)
	}

	bob.SendRaw(t, fmt.Sprintf(`<iq type='get' to='%s/al' id='ver1'><query xmlns='jabber:iq:version'/></iq>`, room))
	req := c1.ExpectStanza("bob's version request", 5*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "iq" && n.Attr("type") == "get" && n.Child("jabber:iq:version", "query") != nil
	})
	if req.Attr("from") != room+"/bob" {
		t.Errorf("request from = %q, want bob's occupant JID", req.Attr("from"))
	}
	c1.Send(fmt.Sprintf(`<iq type='result' to='%s' id='%s'><query xmlns='jabber:iq:version'><name>phone client</name><version>1</version></query></iq>`, req.Attr("from"), req.Attr("id")))
	res := bob.Expect(t, "the answer", func(n xmpptest.Node) bool { return n.XMLName.Local == "iq" && n.Attr("id") == "ver1" })
	if res.Attr("type") != "result" || res.Attr("from") != room+"/al" || res.Find("query/name") == nil || res.Find("query/name").Text != "phone client" {
		t.Errorf("answer = %s, want the session's result from room/al", res)
	}

	res = bob.IQ(t, fmt.Sprintf(`<iq type='get' to='%s/al' id='vc1'><vCard xmlns='vcard-temp'/></iq>`, room))
	if fn := res.Find("vCard/FN"); res.Attr("type") != "result" || fn == nil || fn.Text != "Alice" {
		t.Errorf("vCard via the room = %s, want the server's answer with alice's vCard", res)
	}

	c1.Kill()
	bob.Expect(t, "alice's offline show", xmpptest.IsPresenceFrom(room+"/al", ""))
	res = bob.IQ(t, fmt.Sprintf(`<iq type='get' to='%s/al' id='ver2'><query xmlns='jabber:iq:version'/></iq>`, room))
	if _, cond := res.Error(); res.Attr("type") != "error" || cond != "service-unavailable" {
		t.Errorf("no session joined: %s, want service-unavailable", res)
	}
}

// Issue 9 item 3: a session that leaves and joins again at once (one
// write, so the join arrives while the account's leave is in flight) ends
// up in the room, and the room's traffic reaches it.
func TestE2ELeaveThenJoinAtOnce(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.srv.Login(t, "alice", "alice-secret", "phone")
	c1.Send(`<presence/>`)
	c1.Send(joinRaw(room, "al", "j0", ""))
	c1.ExpectStanza("the subject", 5*time.Second, isSubject(room))
	for i := 1; i <= 10; i++ {
		join := fmt.Sprintf("j%d", i)
		c1.Send(fmt.Sprintf(`<presence to='%s/al' type='unavailable' id='l%d'/>`, room, i) + joinRaw(room, "al", join, ""))
		self := c1.ExpectStanza("the new join's self-presence", 5*time.Second, func(n xmpptest.Node) bool {
			return n.XMLName.Local == "presence" && n.Attr("id") == join
		})
		if self.Attr("type") != "" || !hasStatus(self, "110") {
			t.Fatalf("round %d: answer to the join = %s", i, self)
		}
		c1.ExpectStanza("the subject", 5*time.Second, isSubject(room))
		body := fmt.Sprintf("round %d", i)
		bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>%s</body></message>`, room, body))
		c1.ExpectStanza(body, 5*time.Second, func(n xmpptest.Node) bool {
			if n.XMLName.Local == "presence" && n.Attr("type") == "unavailable" && strings.HasPrefix(n.Attr("id"), "j") {
				t.Fatalf("round %d: the new membership ended: %s", i, n)
			}
			return isGroupchat(room, body)(n)
		})
	}
}

// Issue 9 item 4: a restart (the MUC tells the account 332 as it stops)
// leaves the stored membership as it was, LastActive included, so the
// idle sweep does not take the room for idle since ever.
func TestE2ERestartKeepsLastActive(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	stored := func() time.Time {
		t.Helper()
		recs, err := e.srv.Store().ListJoins(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Account == "alice@localhost" && r.Room == room {
				return r.LastActive
			}
		}
		t.Fatalf("no stored membership of alice in %s: %+v", room, recs)
		return time.Time{}
	}
	c1 := e.dial("alice")
	e.persistentRoom(c1, room, "al")
	joined := stored()
	c1.Close()
	// The session's end is stored (LastActive) once the server notes it.
	before := stored()
	for deadline := time.Now().Add(5 * time.Second); before.Equal(joined); before = stored() {
		if time.Now().After(deadline) {
			t.Fatal("the session's end was not stored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.srv.Restart(t)
	bob := e.dial("bob")
	bob.SendRaw(t, joinRaw(room, "bob", "jb", ""))
	bob.Expect(t, "alice in the room after restart", xmpptest.IsPresenceFrom(room+"/al", ""))
	if after := stored(); !after.Equal(before) {
		t.Errorf("LastActive after the restart = %v, want %v as before it", after, before)
	}
}

// Issue 9 item 5: an account in more local rooms than the MUC lets a
// stranger enter at once rejoins every one of them after a restart: the
// server's own rejoins are not rate-limited, and none is forgotten.
func TestE2ERestartRejoinsManyRooms(t *testing.T) {
	const burst = 5 // [muc] join_burst
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.MUC.JoinBurst, c.MUC.JoinInterval = burst, config.Duration{Duration: 100 * time.Millisecond}
	}))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-secret")
	}
	e := &env{t: t, srv: srv}
	const rooms = burst + 1
	var names []string
	maker := e.dial("bob")
	for len(names) < rooms {
		room := freshRoom()
		e.persistentRoom(maker, room, "bob")
		names = append(names, room)
	}
	maker.Close()
	c1 := e.dial("alice")
	for _, room := range names {
		for {
			c1.SendRaw(t, joinRaw(room, "al", "j", ""))
			n := c1.Expect(t, "join answer", func(n xmpptest.Node) bool {
				return n.XMLName.Local == "presence" && n.Attr("id") == "j"
			})
			if n.Attr("type") != "error" {
				c1.Expect(t, "subject", isSubject(room))
				break
			}
			if _, cond := n.Error(); cond != "resource-constraint" {
				t.Fatalf("join %s: %s", room, n)
			}
			time.Sleep(150 * time.Millisecond) // a session's joins are limited
		}
	}
	c1.Close()
	// Every membership, bob's too, as the service holds them (storage is
	// written behind it; the restart's shutdown completes the writes).
	all := e.srv.AccountJoins().List(jid.JID{})
	e.srv.Restart(t)
	aj := e.srv.AccountJoins()
	deadline := time.Now().Add(10 * time.Second)
	for {
		joined := 0
		for _, in := range aj.List(jid.MustParse("alice@localhost")) {
			if in.State == "joined" {
				joined++
			}
		}
		recs, err := e.srv.Store().ListJoins(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, r := range recs {
			if r.Account == "alice@localhost" {
				stored++
			}
		}
		if joined == rooms && stored == rooms {
			// At once: no rejoin had to wait for the MUC's join limit.
			if n := aj.Stats.Rejoins.Load(); n != uint64(len(all)) {
				t.Errorf("%d rejoin attempts for %d memberships, want one each", n, len(all))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d of %d rooms joined, %d memberships stored", joined, rooms, stored)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 9 item 13: [account_join] history_max bounds the history a
// synthesised join replays from the account's archive (rule 2).
func TestE2EHistoryMaxFromConfig(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) { c.AccountJoin.HistoryMax = 2 }))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-secret")
	}
	e := &env{t: t, srv: srv}
	room := freshRoom()
	c1 := e.dial("alice")
	e.create(c1, room, "al")
	for i := 0; i < 4; i++ {
		c1.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>m%d</body></message>`, room, i))
		c1.Expect(t, "reflection", isGroupchat(room, fmt.Sprintf("m%d", i)))
	}
	c2 := e.dial("alice")
	c2.SendRaw(t, joinRaw(room, "al", "j2", ""))
	c2.Expect(t, "self", isSelfPresence(room))
	var history []string
	for {
		n := c2.Expect(t, "history or subject", func(n xmpptest.Node) bool { return n.XMLName.Local == "message" })
		if isSubject(room)(n) {
			break
		}
		history = append(history, n.Find("body").Text)
	}
	if strings.Join(history, ",") != "m2,m3" {
		t.Errorf("history = %v, want the newest 2 (history_max = 2)", history)
	}
}

// Issue 10 item 8: deleting an account (here in-band, XEP-0077) leaves
// every room at once; its nick is free for others.
func TestE2EAccountDeletionLeavesRooms(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	e.join(c1, room, "al", "j1")
	bob.Expect(t, "alice joins", xmpptest.IsPresenceFrom(room+"/al", ""))
	res := c1.IQ(t, `<iq type='set' id='unreg'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	if res.Attr("type") != "result" {
		t.Fatalf("account removal = %s", res)
	}
	bob.Expect(t, "alice leaving", xmpptest.IsPresenceFrom(room+"/al", "unavailable"))
	carol := e.dial("carol")
	e.join(carol, room, "al", "jc") // the nick is free
	recs, err := e.srv.Store().ListJoins(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Account == "alice@localhost" {
			t.Errorf("membership of the deleted account stored: %+v", r)
		}
	}
}

// Rule 27: carbons of private messages. A private message from an
// occupant reaches every joined session once and no session that did not
// join, carbons enabled or not; one a joined session sends is copied, as
// a <sent/> carbon marked as a MUC private message, to the other joined
// sessions and to the sessions with carbons enabled, once each.
func TestE2EPrivateMessageCarbons(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	c3 := e.dial("alice") // carbons on, not in the room
	for _, c := range []*xmpptest.Client{c1, c2, c3} {
		if r := c.IQ(t, `<iq type='set' id='carbons'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); r.Attr("type") != "result" {
			t.Fatalf("enable carbons: %s", r)
		}
		c.SendRaw(t, `<presence/>`)
	}
	e.join(c1, room, "al", "j1")
	e.join(c2, room, "al", "j2")
	drain(c3, 200*time.Millisecond)

	isPM := func(body string) func(xmpptest.Node) bool {
		return func(n xmpptest.Node) bool {
			b := n.Child("", "body")
			return n.XMLName.Local == "message" && b != nil && b.Text == body
		}
	}
	isCarbon := func(n xmpptest.Node) bool {
		return n.Find("received/forwarded/message") != nil || n.Find("sent/forwarded/message") != nil
	}
	bob.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s/al' id='pm1'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, room))
	c1.Expect(t, "PM", isPM("psst"))
	c2.Expect(t, "PM", isPM("psst"))

	// The sender left out <x/>: the copy has it.
	c1.SendRaw(t, fmt.Sprintf(`<message type='chat' to='%s/bob' id='pm2'><body>hi bob</body></message>`, room))
	bob.Expect(t, "PM from alice", xmpptest.IsMessage("hi bob"))
	sent := c2.Expect(t, "sent copy", func(n xmpptest.Node) bool {
		fw := n.Find("sent/forwarded/message/body")
		return fw != nil && fw.Text == "hi bob"
	})
	if sent.Find("sent/forwarded/message").Child("http://jabber.org/protocol/muc#user", "x") == nil {
		t.Errorf("sent carbon lacks muc#user x: %s", sent)
	}
	c1.ExpectNone(t, "a copy of its own message or of the received one", 300*time.Millisecond, isCarbon)
	c2.ExpectNone(t, "a second copy", 300*time.Millisecond, func(n xmpptest.Node) bool {
		return isPM("psst")(n) || isCarbon(n)
	})
	// c3 did not join: it gets alice's sent message (carbons are on),
	// first of anything, since the received one is not copied to it.
	got := c3.Expect(t, "a message", func(n xmpptest.Node) bool { return n.XMLName.Local == "message" })
	if fw := got.Find("sent/forwarded/message/body"); fw == nil || fw.Text != "hi bob" {
		t.Fatalf("c3's first message is not the sent carbon: %s", got)
	}
	c3.ExpectNone(t, "another message", 300*time.Millisecond, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message"
	})
}

// Registration (XEP-0045 7.10) with account-based group chat: a session
// registers the account's nick, discovers it (7.12) from another
// session, and another account's join under it is refused with conflict
// and reaches that session.
func TestE2EReservedNick(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.dial("bob")
	e.create(bob, room, "bob")
	c1 := e.dial("alice")
	c2 := e.dial("alice")
	r := c1.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='reg'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>`+
		`<field var='muc#register_roomnick'><value>al</value></field></x></query></iq>`, room))
	if r.Attr("type") != "result" {
		t.Fatalf("registration: %s", r)
	}
	r = c2.IQ(t, fmt.Sprintf(`<iq type='get' to='%s' id='nick'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>`, room))
	if id := r.Find("query/identity"); id == nil || id.Attr("name") != "al" {
		t.Fatalf("reserved nick seen from another session: %s", r)
	}
	carol := e.dial("carol")
	carol.SendRaw(t, joinRaw(room, "AL", "jc", ""))
	n := carol.Expect(t, "the refusal", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" && n.Attr("type") == "error" })
	if _, c := n.Error(); c != "conflict" {
		t.Fatalf("carol's join under alice's nick: %s", n)
	}
	self := e.join(c2, room, "al", "j2")
	if it := self.Find("x/item"); it == nil || it.Attr("affiliation") != "member" {
		t.Errorf("alice's self-presence: %s", self)
	}
}
