package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/cluster"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/xmpptest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }

// freeAddr returns a loopback address whose port was free a moment ago:
// each NATS server's routes must name the others' cluster ports before
// any of them starts, so the kernel cannot pick them at listen time.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNodes starts n minimix processes as one cluster over one
// PostgreSQL schema, with embedded NATS servers routed to each other,
// and waits until each sees all of them.
func startNodes(t *testing.T, n int) []*xmpptest.Process {
	t.Helper()
	dsn := pgtest.DSN(t)
	routes := make([]string, n)
	for i := range routes {
		routes[i] = freeAddr(t)
	}
	var quoted []string
	for _, r := range routes {
		quoted = append(quoted, fmt.Sprintf("%q", "nats://"+r))
	}
	nodes := make([]*xmpptest.Process, n)
	for i := range nodes {
		tables := fmt.Sprintf("[storage]\ndriver = \"postgres\"\ndsn = %q\n[cluster]\nenabled = true\nnode_id = \"n%d\"\nnode_timeout = \"3s\"\n[cluster.nats]\nlisten = \"\"\ncluster_listen = %q\nroutes = [%s]\n",
			dsn, i+1, routes[i], strings.Join(quoted, ", "))
		nodes[i] = xmpptest.PrepareProcess(t, xmpptest.ProcessConfig{Tables: tables, S2S: "enabled = false\n"})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range nodes {
				p.Kill()
				t.Logf("node n%d's log:\n%s", i+1, p.Output())
			}
		}
	})
	for _, p := range nodes {
		p.Launch()
	}
	for _, p := range nodes {
		p.WaitListening(2 * time.Minute)
	}
	for _, p := range nodes {
		waitStatus(t, p, fmt.Sprintf("%d nodes", n), func(st cluster.Status) bool { return len(st.Nodes) == n })
	}
	return nodes
}

// status asks a node's admin API for the cluster's status.
func status(t *testing.T, p *xmpptest.Process) (cluster.Status, error) {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(p.DataDir, "admin.token"))
	if err != nil {
		return cluster.Status{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.HTTP+"/api/cluster", nil)
	if err != nil {
		return cluster.Status{}, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return cluster.Status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cluster.Status{}, fmt.Errorf("GET /api/cluster: %s", resp.Status)
	}
	var st cluster.Status
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitStatus waits until p's view of the cluster satisfies ok.
func waitStatus(t *testing.T, p *xmpptest.Process, what string, ok func(cluster.Status) bool) cluster.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := status(t, p)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: waiting for %s: last status %+v, err %v", p.HTTP, what, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	if err := pgtest.Available(); err != nil {
		t.Skip(err)
	}
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

	// Node 3 dies: the others drop its sessions, and alice, subscribed
	// to by bob, learns that bob's laptop went away.
	nodes[2].Kill()
	for _, p := range nodes[:2] {
		waitStatus(t, p, "n3 gone", func(st cluster.Status) bool {
			return len(st.Nodes) == 2 && !hasSession(st, "bob@localhost/laptop", "n3") && !hasSession(st, "carol@localhost/x", "n3")
		})
	}
	alice.Send("<message type='chat' to='bob@localhost' id='m5'><body>after n3</body></message>")
	bob2.ExpectStanza("bare JID message after n3 died", 10*time.Second, isMessage("after n3"))
	alice.Close()
	bob2.Close()
}
