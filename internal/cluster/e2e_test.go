package cluster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"minimix/internal/cluster"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/xmpptest"
)

// TestMain stops the private PostgreSQL after the tests, and fails them
// if a goroutine (an embedded NATS server's, a client's) outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

// startNodes starts n minimix processes as one cluster over one
// PostgreSQL schema (xmpptest.StartCluster). Without PostgreSQL it
// skips, or fails under MINIMIX_POSTGRES=require (pgtest.DSN).
func startNodes(t *testing.T, n int) []*xmpptest.Process {
	t.Helper()
	return startNodesWith(t, n, "")
}

// startNodesWith is startNodes with more keys of the [c2s] table; the
// tables of $MINIMIX_CLUSTER_TEST_TABLES are added too.
func startNodesWith(t *testing.T, n int, c2s string) []*xmpptest.Process {
	t.Helper()
	return xmpptest.StartCluster(t, n, xmpptest.ClusterConfig{DSN: pgtest.DSN(t), C2S: c2s, Tables: os.Getenv("MINIMIX_CLUSTER_TEST_TABLES")})
}

// waitStatus waits until p's view of the cluster satisfies ok.
func waitStatus(t *testing.T, p *xmpptest.Process, what string, ok func(cluster.Status) bool) cluster.Status {
	t.Helper()
	return p.WaitClusterStatus(t, what, ok)
}

// adminText is p's admin API's answer to GET /api/<path>, or its error,
// as text for a log.
func adminText(p *xmpptest.Process, path string) string {
	b, err := p.AdminGet(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// hasSession reports whether st lists the session full on node.
func hasSession(st cluster.Status, full, node string) bool {
	for _, s := range st.Sessions {
		if s.JID == full && s.Node == node {
			return true
		}
	}
	return false
}

// login binds user/resource on p, sends initial presence and waits until
// every node in watch sees the session available.
func login(t *testing.T, p *xmpptest.Process, node, user, resource string, watch ...*xmpptest.Process) *xmpptest.Raw {
	t.Helper()
	r := p.Login(user, "secret", resource)
	r.Send("<presence/>")
	full := user + "@localhost/" + resource
	for _, w := range watch {
		waitStatus(t, w, full+" on "+node, func(st cluster.Status) bool {
			for _, s := range st.Sessions {
				if s.JID == full && s.Node == node && s.Available {
					return true
				}
			}
			return false
		})
	}
	return r
}

func isMessage(body string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		if n.XMLName.Local != "message" {
			return false
		}
		b := n.Child("", "body")
		return b != nil && b.Text == body
	}
}

// carbonOf matches a carbon copy (direction "sent" or "received") of the
// message with body.
func carbonOf(direction, body string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		if n.XMLName.Local != "message" {
			return false
		}
		fwd := n.Find(direction + "/forwarded/message/body")
		return fwd != nil && fwd.Text == body
	}
}

// TestClusterChat: three nodes over one database; accounts with sessions
// on different nodes chat to full and bare JIDs, carbons and presence
// cross nodes, a resource bound again on another node replaces the first,
// and a node killed with SIGKILL leaves the others' registries.
func TestClusterChat(t *testing.T) {
	nodes := startNodes(t, 3)
	for _, u := range []string{"alice", "bob", "carol"} {
		nodes[0].AddUser(u, "secret")
	}
	all := nodes

	alice := login(t, nodes[0], "n1", "alice", "a1", all...)
	bob2 := login(t, nodes[1], "n2", "bob", "phone", all...)
	bob3 := login(t, nodes[2], "n3", "bob", "laptop", all...)
	for _, b := range []*xmpptest.Raw{bob2, bob3} {
		b.Send("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
		b.ExpectStanza("carbons enabled", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "c1" && n.Attr("type") == "result" })
	}
	// Every node learns the sessions' carbons from the registry, some
	// time after the change (docs/cluster.md): the messages below are
	// routed on the node they arrive at, which must know by then.
	for _, p := range all {
		waitStatus(t, p, "bob's sessions with carbons", func(st cluster.Status) bool {
			n := 0
			for _, s := range st.Sessions {
				if strings.HasPrefix(s.JID, "bob@localhost/") && s.Carbons {
					n++
				}
			}
			return n == 2
		})
	}

	// To a full JID on another node.
	alice.Send("<message type='chat' to='bob@localhost/phone' id='m1'><body>to the phone</body></message>")
	m := bob2.ExpectStanza("message from n1", 10*time.Second, isMessage("to the phone"))
	if got := m.Attr("from"); got != "alice@localhost/a1" {
		t.Errorf("from = %q, want alice@localhost/a1", got)
	}
	// The other session of bob, on a third node, gets a received carbon.
	bob3.ExpectStanza("received carbon on n3", 10*time.Second, carbonOf("received", "to the phone"))

	// Back to the full JID on n1; the sender's other session gets a sent carbon.
	bob3.Send("<message type='chat' to='alice@localhost/a1' id='m2'><body>from the laptop</body></message>")
	alice.ExpectStanza("reply from n3", 10*time.Second, isMessage("from the laptop"))
	bob2.ExpectStanza("sent carbon on n2", 10*time.Second, carbonOf("sent", "from the laptop"))

	// To the bare JID: both of bob's sessions (equal priority) get it.
	alice.Send("<message type='chat' to='bob@localhost' id='m3'><body>to the account</body></message>")
	bob2.ExpectStanza("bare JID message on n2", 10*time.Second, isMessage("to the account"))
	bob3.ExpectStanza("bare JID message on n3", 10*time.Second, isMessage("to the account"))

	// Presence: bob subscribes to alice; her broadcast presence reaches
	// both of his sessions on other nodes.
	bob2.Send("<presence type='subscribe' to='alice@localhost'/>")
	alice.ExpectStanza("subscription request", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("type") == "subscribe"
	})
	alice.Send("<presence type='subscribed' to='bob@localhost'/>")
	for _, b := range []*xmpptest.Raw{bob2, bob3} {
		b.ExpectStanza("alice's presence", 10*time.Second, func(n xmpptest.Node) bool {
			return n.XMLName.Local == "presence" && n.Attr("from") == "alice@localhost/a1" && n.Attr("type") == ""
		})
	}
	alice.Send("<presence><show>away</show></presence>")
	for _, b := range []*xmpptest.Raw{bob2, bob3} {
		b.ExpectStanza("alice away", 10*time.Second, func(n xmpptest.Node) bool {
			s := n.Child("", "show")
			return n.XMLName.Local == "presence" && n.Attr("from") == "alice@localhost/a1" && s != nil && s.Text == "away"
		})
	}

	// A full JID bound again on another node replaces the first session.
	carol1 := login(t, nodes[0], "n1", "carol", "x", all...)
	carol3 := login(t, nodes[2], "n3", "carol", "x", all...)
	carol1.ExpectStreamError("conflict")
	alice.Send("<message type='chat' to='carol@localhost/x' id='m4'><body>to the new carol</body></message>")
	carol3.ExpectStanza("message to the replacing session", 10*time.Second, isMessage("to the new carol"))

	// Stream management: <enabled/> names the node to resume at; a
	// resume sent to another node is redirected there (see-other-host),
	// and works there.
	sm := nodes[1].Login("bob", "secret", "sm")
	sm.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	en := sm.ExpectStanza("<enabled/>", 10*time.Second, func(n xmpptest.Node) bool { return n.XMLName.Local == "enabled" })
	if got := en.Attr("location"); got != nodes[1].C2S {
		t.Errorf("<enabled/> location = %q, want %q", got, nodes[1].C2S)
	}
	smID := en.Attr("id")
	sm.Kill()
	wrong := xmpptest.DialRawAddr(t, nodes[0].C2S, "localhost", nil)
	wrong.Open()
	wrong.Authenticate("bob", "secret")
	wrong.Send(fmt.Sprintf("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>", smID))
	se := wrong.ExpectStreamError("see-other-host")
	if c := se.Child(xmpptest.NSStreams, "see-other-host"); c == nil || c.Text != nodes[1].C2S {
		t.Errorf("see-other-host = %v, want %s", c, nodes[1].C2S)
	}
	right := xmpptest.DialRawAddr(t, nodes[1].C2S, "localhost", nil)
	right.Open()
	right.Authenticate("bob", "secret")
	right.Send(fmt.Sprintf("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>", smID))
	right.ExpectStanza("<resumed/>", 10*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "resumed" && n.Attr("previd") == smID
	})
	right.Close()

	// Node 3 dies: the others drop its sessions, and alice, subscribed
	// to by bob, learns that bob's laptop went away.
	nodes[2].Kill()
	// Until the others notice (node_timeout), n3's sessions are still in
	// their registries. Messages sent to them meanwhile are not lost:
	// NATS answers that nobody listens on n3's subject, and each goes
	// where it would had its session ended (RFC 6121 8.5.3.2): the
	// laptop's to bob's phone, carol's (her one session was on n3) to
	// offline storage. The pause lets n1's NATS server see its route to
	// n3 close (the kernel closed n3's sockets when it died; what was
	// published before that is lost with n3, and in MAM).
	time.Sleep(200 * time.Millisecond)
	alice.Send("<message type='chat' to='bob@localhost/laptop' id='m6'><body>to the dead laptop</body></message>")
	alice.Send("<message type='chat' to='carol@localhost/x' id='m7'><body>to carol on the dead node</body></message>")
	bob2.ExpectStanza("message for the dead laptop, on the phone", 10*time.Second, isMessage("to the dead laptop"))
	for _, p := range nodes[:2] {
		waitStatus(t, p, "n3 gone", func(st cluster.Status) bool {
			return len(st.Nodes) == 2 && !hasSession(st, "bob@localhost/laptop", "n3") && !hasSession(st, "carol@localhost/x", "n3")
		})
	}
	alice.Send("<message type='chat' to='bob@localhost' id='m5'><body>after n3</body></message>")
	bob2.ExpectStanza("bare JID message after n3 died", 10*time.Second, isMessage("after n3"))
	carol := nodes[1].Login("carol", "secret", "back")
	carol.Send("<presence/>")
	carol.ExpectStanza("offline message from the time n3 died", 10*time.Second, isMessage("to carol on the dead node"))
	carol.Close()
	alice.Close()
	bob2.Close()
}

const room = "lobby@conference.localhost"

// joinRoom joins r to the room as nick and waits for its self-presence.
func joinRoom(t *testing.T, r *xmpptest.Raw, nick string) {
	t.Helper()
	r.Send(fmt.Sprintf("<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>", room, nick))
	r.ExpectStanza("self-presence in "+room, 30*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/"+nick && n.Find("x/status") != nil && hasStatus(n, "110")
	})
}

func hasStatus(n xmpptest.Node, code string) bool {
	x := n.Child("http://jabber.org/protocol/muc#user", "x")
	if x == nil {
		return false
	}
	for _, st := range x.Children("", "status") {
		if st.Attr("code") == code {
			return true
		}
	}
	return false
}

// groupchat matches the room message with body.
func groupchat(body string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		if n.XMLName.Local != "message" || n.Attr("type") != "groupchat" {
			return false
		}
		b := n.Child("", "body")
		return b != nil && b.Text == body
	}
}

// roomBodies returns the bodies of the room's messages in the account's
// archive, asked through r, in archive order.
func roomBodies(t *testing.T, r *xmpptest.Raw, id string) []string {
	t.Helper()
	r.Send(fmt.Sprintf(`<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
<field var='with'><value>%s</value></field><field var='include-groupchat'><value>true</value></field></x>
<set xmlns='http://jabber.org/protocol/rsm'><max>500</max></set></query></iq>`, id, id, room))
	var bodies []string
	for {
		n := r.ExpectStanza("MAM results", 30*time.Second, func(n xmpptest.Node) bool {
			return (n.XMLName.Local == "message" && n.Find("result/forwarded/message/body") != nil) || (n.XMLName.Local == "iq" && n.Attr("id") == id)
		})
		if n.XMLName.Local == "iq" {
			if n.Attr("type") != "result" {
				t.Fatalf("MAM query: %s", n)
			}
			return bodies
		}
		if res := n.Child("urn:xmpp:mam:2", "result"); res != nil && res.Attr("queryid") == id {
			bodies = append(bodies, n.Find("result/forwarded/message/body").Text)
		}
	}
}

// holderOf returns the node holding the lease kind/name in st, "" if none.
func holderOf(st cluster.Status, kind, name string) string {
	for _, l := range st.Leases {
		if l.Kind == kind && l.Name == name {
			return l.Node
		}
	}
	return ""
}

// TestClusterRoomFailover: a room owned by node 1 has occupants on nodes
// 2 and 3; an account with sessions on nodes 2 and 3 is joined once, by
// node 1; node 1 is killed with SIGKILL mid-conversation, and the room and
// the account's join move to a survivor; every account's archive holds
// each room message once.
func TestClusterRoomFailover(t *testing.T) {
	roomScenario(t, true)
}

// TestClusterRooms: a room owned by node 1 has occupants on nodes 2 and
// 3; an account with sessions on nodes 2 and 3 is joined once, by node
// 1; room messages reach every joined session, and each account's
// archive holds each once.
func TestClusterRooms(t *testing.T) { roomScenario(t, false) }

func roomScenario(t *testing.T, kill bool) {
	nodes := startNodes(t, 3)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range nodes[1:] {
				t.Logf("joins on %s: %s", p.HTTP, adminText(p, "joins"))
			}
		}
	})
	for _, u := range []string{"olga", "bob", "carol"} {
		nodes[0].AddUser(u, "secret")
	}
	// olga creates the room on node 1 and makes it persistent.
	olga := login(t, nodes[0], "n1", "olga", "o", nodes[0])
	olga.Send("<presence to='" + room + "/olga'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	olga.ExpectStanza("room created", 30*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && hasStatus(n, "201")
	})
	olga.Send(`<iq type='set' id='cfg' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>
<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`)
	olga.ExpectStanza("room configured", 30*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "cfg" && n.Attr("type") == "result" })

	// carol joins first on node 1, so node 1 acts for her account; then
	// her sessions on nodes 2 and 3 join, and the one on node 1 ends.
	carol1 := login(t, nodes[0], "n1", "carol", "c1", nodes[0])
	joinRoom(t, carol1, "carol")
	carol2 := login(t, nodes[1], "n2", "carol", "c2", nodes[1])
	joinRoom(t, carol2, "carol")
	carol3 := login(t, nodes[2], "n3", "carol", "c3", nodes[2])
	joinRoom(t, carol3, "carol")
	carol1.Close()
	bob := login(t, nodes[1], "n2", "bob", "b", nodes[1])
	joinRoom(t, bob, "bob")

	for _, p := range nodes {
		waitStatus(t, p, "leases on n1", func(st cluster.Status) bool {
			return holderOf(st, "room", room) == "n1" && holderOf(st, "account", "carol@localhost") == "n1" && holderOf(st, "account", "bob@localhost") == "n2"
		})
	}

	var said []string
	say := func(body string) {
		t.Helper()
		bob.Send("<message type='groupchat' to='" + room + "'><body>" + body + "</body></message>")
		bob.ExpectStanza("reflection of "+body, 30*time.Second, groupchat(body))
		carol2.ExpectStanza(body+" on carol's node-2 session", 30*time.Second, groupchat(body))
		carol3.ExpectStanza(body+" on carol's node-3 session", 30*time.Second, groupchat(body))
		said = append(said, body)
	}
	for i := range 3 {
		say(fmt.Sprintf("before %d", i))
	}

	if !kill {
		checkArchives(t, said, bob, carol2)
		// Joined once: node 1 acts for carol's account, with both of
		// her sessions on nodes 2 and 3 joined to the room.
		checkJoinedOnce(t, nodes[0])
		return
	}
	nodes[0].Kill()
	// Said before the others notice n1 died: not lost. NATS answers
	// that nobody listens on n1's subject; the message waits until n1 is
	// taken for dead, when bob's account joins the room again at once
	// (its node ran it) and the message goes out after the join, to the
	// room's new node. (The pause lets n2's NATS server see its route to
	// n1 close.)
	time.Sleep(200 * time.Millisecond)
	bob.Send("<message type='groupchat' id='dying' to='" + room + "'><body>while n1 dies</body></message>")
	dying := bob.ExpectStanza("reflection of, or error for, what was said while n1 died", time.Minute, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && (groupchat("while n1 dies")(n) || n.Attr("type") == "error" && n.Attr("id") == "dying")
	})
	if dying.Attr("type") == "error" {
		t.Fatalf("what was said while n1 died came back as an error: %s", dying)
	}
	said = append(said, "while n1 dies")
	carol2.ExpectStanza("what was said while n1 died, on carol's node-2 session", 30*time.Second, groupchat("while n1 dies"))
	carol3.ExpectStanza("what was said while n1 died, on carol's node-3 session", 30*time.Second, groupchat("while n1 dies"))
	for _, p := range nodes[1:] {
		waitStatus(t, p, "n1 gone, leases moved", func(st cluster.Status) bool {
			h := holderOf(st, "account", "carol@localhost")
			return len(st.Nodes) == 2 && (h == "n2" || h == "n3")
		})
	}
	// The room moves when the first stanza for it arrives (carol's
	// rejoin, or bob's self-ping); once bob's account is back in, what he
	// says reaches carol's sessions, which never saw the room leave.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		body := fmt.Sprintf("probe %d", i)
		bob.Send("<message type='groupchat' to='" + room + "'><body>" + body + "</body></message>")
		n := bob.ExpectStanza("reflection or error", 30*time.Second, func(n xmpptest.Node) bool {
			return n.XMLName.Local == "message" && (groupchat(body)(n) || n.Attr("type") == "error")
		})
		if n.Attr("type") != "error" {
			said = append(said, body)
			carol2.ExpectStanza(body+" on carol's node-2 session", 30*time.Second, groupchat(body))
			carol3.ExpectStanza(body+" on carol's node-3 session", 30*time.Second, groupchat(body))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's messages are still refused after node 1 died: %s", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i := range 3 {
		say(fmt.Sprintf("after %d", i))
	}
	st := waitStatus(t, nodes[1], "room lease moved", func(st cluster.Status) bool {
		h := holderOf(st, "room", room)
		return h == "n2" || h == "n3"
	})
	t.Logf("after the failover: room on %s, carol on %s", holderOf(st, "room", room), holderOf(st, "account", "carol@localhost"))

	checkArchives(t, said, bob, carol2)
}

// checkJoinedOnce asks node p for the account joins it acts for: carol
// is in the room once, with her sessions on nodes 2 and 3 joined.
func checkJoinedOnce(t *testing.T, p *xmpptest.Process) {
	t.Helper()
	b, err := p.AdminGet("joins?account=carol@localhost")
	if err != nil {
		t.Fatal(err)
	}
	var infos []struct {
		Account  string   `json:"account"`
		Room     string   `json:"room"`
		Sessions []string `json:"sessions"`
	}
	if err := json.Unmarshal(b, &infos); err != nil {
		t.Fatalf("GET /api/joins: %v", err)
	}
	var mine int
	for _, in := range infos {
		if in.Account != "carol@localhost" {
			continue
		}
		mine++
		slices.Sort(in.Sessions)
		if in.Room != room || strings.Join(in.Sessions, " ") != "carol@localhost/c2 carol@localhost/c3" {
			t.Errorf("carol's join: %+v, want %s with sessions c2 and c3", in, room)
		}
	}
	if mine != 1 {
		t.Errorf("carol has %d joins on n1, want 1: %+v", mine, infos)
	}
}

// checkArchives checks that each account's archive (asked through the
// sessions given, bob's and carol's) holds each message of said once.
func checkArchives(t *testing.T, said []string, bob, carol *xmpptest.Raw) {
	t.Helper()
	for _, c := range []struct {
		name string
		r    *xmpptest.Raw
	}{{"bob", bob}, {"carol", carol}} {
		got := roomBodies(t, c.r, "q-"+c.name)
		count := make(map[string]int)
		for _, b := range got {
			count[b]++
		}
		for _, b := range said {
			if count[b] != 1 {
				t.Errorf("%s's archive has %q %d times; archive: %q", c.name, b, count[b], got)
			}
		}
	}
}

// TestClusterMetricsDocumented: a cluster node exports every
// minimix_cluster_* row of docs/metrics.md, and each one it exports is
// there (internal/server's TestMetricsDocumented checks the rest, on a
// server that is no cluster node).
func TestClusterMetricsDocumented(t *testing.T) {
	nodes := startNodes(t, 1)
	resp, err := http.Get("http://" + nodes[0].HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	exported := make(map[string]string) // name -> type
	for line := range strings.SplitSeq(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" && strings.HasPrefix(f[2], "minimix_cluster_") {
			exported[f[2]] = f[3]
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := make(map[string]string)
	for line := range strings.SplitSeq(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) >= 5 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`minimix_cluster_") {
			documented[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
		}
	}
	if len(exported) == 0 || len(documented) == 0 {
		t.Fatalf("exported %v, documented %v: want both non-empty", exported, documented)
	}
	for name, typ := range exported {
		if d, ok := documented[name]; !ok || d != typ {
			t.Errorf("%s (%s) exported; docs/metrics.md says %q", name, typ, d)
		}
	}
	for name := range documented {
		if _, ok := exported[name]; !ok {
			t.Errorf("docs/metrics.md documents %s, which a cluster node does not export", name)
		}
	}
}
