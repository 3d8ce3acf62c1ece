package web_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/jid"
	"minimix/internal/web"
	"minimix/internal/xmpptest"
)

func isLocal(local string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool { return n.XMLName.Local == local }
}

// TestBOSHSession: the creation answer says what XEP-0124 and XEP-0206
// want, and a session over BOSH chats with one over TCP both ways.
func TestBOSHSession(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.BOSHMaxWait.Duration = 30 * time.Second
	}))
	b := srv.NewBOSH(t)
	n := b.Create(60, 1)
	for attr, want := range map[string]string{
		"wait": "30", "hold": "1", "requests": "2", "inactivity": "60", "polling": "2",
		"maxpause": "300", "ver": "1.11", "from": "localhost", "ack": strconv.FormatUint(b.RID, 10),
	} {
		if got := n.Attr(attr); got != want {
			t.Errorf("creation answer %s = %q, want %q", attr, got, want)
		}
	}
	if n.Attr("authid") == "" {
		t.Errorf("creation answer without authid: %s", n)
	}
	if f := n.Child(xmpptest.NSStream, "features"); f == nil || f.Find("mechanisms") == nil {
		t.Fatalf("creation answer without the stream's features: %s", n)
	}

	// After the restart, the features of TCP's: bind, stream management,
	// client state indication.
	b = srv.NewBOSH(t)
	f := b.Authenticate("alice", pw("alice"))
	for _, ns := range []string{xmpptest.NSBind, xmpptest.NSSM, "urn:xmpp:csi:0"} {
		if !slices.ContainsFunc(f.Nodes, func(n xmpptest.Node) bool { return n.XMLName.Space == ns }) {
			t.Errorf("features after the restart without %s: %s", ns, f)
		}
	}

	b = srv.NewBOSH(t)
	full := b.Login("alice", pw("alice"), "web")
	// The stream has read everything: the count of what it has not read
	// (which holds a fast client back) is back to nothing.
	waitState(t, srv, b, "nothing unread", func(st web.BOSHState) bool { return st.Unread == 0 })
	bob := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	// The request that carries a message (in the body's namespace: it is
	// taken as jabber:client) is held (hold=1) until the
	// answer comes: bob's reply.
	var got xmpptest.Node
	done := make(chan struct{})
	b.RID++
	msg := b.Body(b.RID, "", `<message to='`+bob.JID.String()+`' type='chat'><body>from BOSH</body></message>`)
	go func() {
		defer close(done)
		_, out, err := b.PostRaw(msg)
		if err != nil {
			t.Errorf("post: %v", err)
			return
		}
		got = decodeBody(t, out)
	}()
	if m := bob.Expect(t, "message from BOSH", isMessage("from BOSH")); m.Attr("from") != full {
		t.Errorf("from %q, want %q", m.Attr("from"), full)
	}
	waitHeld(t, srv, b, 1)
	bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>to BOSH</body></message>`)
	<-done
	if len(got.Nodes) != 1 || !isMessage("to BOSH")(got.Nodes[0]) {
		t.Errorf("the held request's answer: %s", got)
	}
}

func decodeBody(t *testing.T, out []byte) xmpptest.Node {
	t.Helper()
	var n xmpptest.Node
	if err := xmlUnmarshal(out, &n); err != nil {
		t.Errorf("answer %q: %v", out, err)
	}
	return n
}

// TestBOSHRidOrder: requests are taken in rid order whatever order they
// arrive in; an answered rid sent again gets the same answer; a rid
// beyond the window ends the session.
func TestBOSHRidOrder(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	b := srv.NewBOSH(t)
	b.Login("alice", pw("alice"), "web")

	// Hold two requests, so that the two that follow are answered with
	// no wait for the client's own traffic.
	first, second := b.RID+1, b.RID+2
	var wg sync.WaitGroup
	answers := make(map[uint64]xmpptest.Node)
	raw := make(map[uint64][]byte)
	var mu sync.Mutex
	post := func(rid uint64, payload string) {
		defer wg.Done()
		_, out, err := b.PostRaw(b.Body(rid, "", payload))
		if err != nil {
			t.Errorf("rid %d: %v", rid, err)
			return
		}
		mu.Lock()
		answers[rid] = decodeBody(t, out)
		raw[rid] = out
		mu.Unlock()
	}
	// The second arrives first: it waits for the first.
	wg.Add(1)
	go post(second, `<iq xmlns='jabber:client' type='get' id='two' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	waitEarly(t, srv, b)
	wg.Add(1)
	go post(first, `<iq xmlns='jabber:client' type='get' id='one' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	wg.Wait()
	b.RID = second
	// Both pings are answered, 'one' before 'two': collect the results in
	// the order the answers carry them.
	var ids []string
	for _, rid := range []uint64{first, second} {
		for _, c := range answers[rid].Nodes {
			if c.XMLName.Local == "iq" {
				ids = append(ids, c.Attr("id"))
			}
		}
	}
	for len(ids) < 2 {
		for _, c := range b.Send("").Nodes {
			if c.XMLName.Local == "iq" {
				ids = append(ids, c.Attr("id"))
			}
		}
	}
	if strings.Join(ids, ",") != "one,two" {
		t.Errorf("ping results in order %v, want one,two", ids)
	}

	// Sent again: the same answer, byte for byte.
	_, again, err := b.PostRaw(b.Body(second, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if b.RID == second && string(again) != string(raw[second]) {
		t.Errorf("retransmission answered %q, first answer %q", again, raw[second])
	}
	if len(again) == 0 || strings.Contains(string(again), "terminate") {
		t.Errorf("retransmission answered %q", again)
	}

	// Beyond the window (requests = 2).
	n := b.Post(b.Body(b.RID+5, "", ""))
	if n.Attr("type") != "terminate" || n.Attr("condition") != "item-not-found" {
		t.Fatalf("rid beyond the window: %s", n)
	}
	n = b.Send("")
	if n.Attr("type") != "terminate" || n.Attr("condition") != "item-not-found" {
		t.Fatalf("request after the session ended: %s", n)
	}
}

// waitEarly waits until the server holds an early request of b's
// session.
func waitEarly(t *testing.T, srv *xmpptest.Server, b *xmpptest.BOSH) {
	t.Helper()
	waitState(t, srv, b, "an early request", func(st web.BOSHState) bool { return st.Early > 0 })
}

// waitHeld waits until the server holds n requests of b's session.
func waitHeld(t *testing.T, srv *xmpptest.Server, b *xmpptest.BOSH, n int) {
	t.Helper()
	waitState(t, srv, b, strconv.Itoa(n)+" held requests", func(st web.BOSHState) bool { return st.Held == n })
}

func waitState(t *testing.T, srv *xmpptest.Server, b *xmpptest.BOSH, what string, ok func(web.BOSHState) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, found := srv.Web().BOSHState(b.SID)
		if found && ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bosh session %s: no %s (state %+v, found %v)", b.SID, what, st, found)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBOSHHoldAndWait: a request with nothing to carry is answered
// empty after wait; with hold=1 a second request answers the first;
// a pause answers every held request at once; a polling client (hold=0)
// gets its answers at once, after the creation answer with the features.
// The sessions' waits are long (600 s): a request answered only after
// its wait makes the client (2 minutes) give up and the test fail.
func TestBOSHHoldAndWait(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.BOSHMaxWait.Duration = 10 * time.Minute
	}))
	b := srv.NewBOSH(t)
	n := b.Create(1, 1)
	if n.Attr("wait") != "1" {
		t.Fatalf("wait %q, want the client's 1", n.Attr("wait"))
	}
	// Nothing to send: answered empty after the wait.
	if n := b.Send(""); len(n.Nodes) != 0 || n.Attr("type") != "" {
		t.Errorf("empty request answered with %s", n)
	}

	b = srv.NewBOSH(t)
	if n := b.Create(600, 1); n.Attr("wait") != "600" {
		t.Fatalf("wait %q, want 600", n.Attr("wait"))
	}
	b.RID++
	held := make(chan xmpptest.Node, 1)
	first := b.Body(b.RID, "", "")
	go func() {
		defer close(held)
		_, out, err := b.PostRaw(first)
		if err != nil {
			t.Errorf("held request: %v", err)
			return
		}
		held <- decodeBody(t, out)
	}()
	waitHeld(t, srv, b, 1)
	// A second request: the first is answered now, and the second is
	// held in its place.
	b.RID++
	second := make(chan xmpptest.Node, 1)
	secondBody := b.Body(b.RID, "", "")
	go func() {
		defer close(second)
		_, out, err := b.PostRaw(secondBody)
		if err != nil {
			t.Errorf("second request: %v", err)
			return
		}
		second <- decodeBody(t, out)
	}()
	if n, ok := <-held; !ok || len(n.Nodes) != 0 || n.Attr("type") != "" {
		t.Errorf("first held request: %v %s", ok, n)
	}
	waitHeld(t, srv, b, 1)
	// A pause answers the held request and itself.
	n = b.Post(b.Body(b.RID+1, "pause='10'", ""))
	b.RID++
	if len(n.Nodes) != 0 || n.Attr("type") != "" {
		t.Errorf("pausing request answered with %s", n)
	}
	if n, ok := <-second; !ok || len(n.Nodes) != 0 {
		t.Errorf("request held before the pause: %v %s", ok, n)
	}
	// The session goes on after the pause.
	if _, ok := srv.Web().BOSHState(b.SID); !ok {
		t.Fatalf("the session is gone after the pause")
	}

	// Polling: hold=0.
	b = srv.NewBOSH(t)
	n = b.Create(600, 0)
	if n.Attr("hold") != "0" || n.Child(xmpptest.NSStream, "features") == nil {
		t.Fatalf("creation answer of a polling session: %s", n)
	}
	if n := b.Send(""); len(n.Nodes) != 0 || n.Attr("type") != "" {
		t.Errorf("poll answered with %s", n)
	}
}

// TestBOSHInactivity: a session with no request for its inactivity is
// gone; its stream, with stream management and resumption, hibernates
// and resumes over another BOSH session (XEP-0198 over XEP-0206).
func TestBOSHInactivity(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.BOSHInactivity.Duration = time.Second
	}))
	b := srv.NewBOSH(t)
	full := b.Login("alice", pw("alice"), "web")
	n := b.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	en := b.Find(n, "enabled", 10*time.Second, isLocal("enabled"))
	id := en.Attr("id")
	// Every request is answered and none follows: after its inactivity
	// the session is gone.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := srv.Web().BOSHState(b.SID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session still there long after its inactivity")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.Send(""); n.Attr("type") != "terminate" || n.Attr("condition") != "item-not-found" {
		t.Errorf("request to an inactive session: %s", n)
	}
	bob := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>while inactive</body></message>`)
	// A new BOSH session resumes the stream and gets what came meanwhile.
	b2 := srv.NewBOSH(t)
	b2.Authenticate("alice", pw("alice"))
	ans := b2.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + id + `' h='0'/>`)
	// The message comes with <resumed/> or after it.
	for deadline := time.Now().Add(30 * time.Second); !slices.ContainsFunc(ans.Nodes, isLocal("resumed")); {
		if slices.ContainsFunc(ans.Nodes, isLocal("failed")) || ans.Attr("type") == "terminate" || time.Now().After(deadline) {
			t.Fatalf("resume over BOSH: %s", ans)
		}
		ans = b2.Send("")
	}
	b2.Find(ans, "the message sent while inactive", 10*time.Second, isMessage("while inactive"))
	// The resumed session is the old one: bob's next message reaches it.
	bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>after resuming</body></message>`)
	b2.Find(xmpptest.Node{}, "a message after resuming", 10*time.Second, isMessage("after resuming"))
}

// TestBOSHRetransmitUnanswered: a request whose client went away before
// its answer, sent again, waits in its place and gets what arrives; no
// stanza is lost with the broken connection.
func TestBOSHRetransmitUnanswered(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	b := srv.NewBOSH(t)
	full := b.Login("alice", pw("alice"), "web")
	b.RID++
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan struct{})
	body := b.Body(b.RID, "", "")
	go func() {
		defer close(gone)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, strings.NewReader(body))
		if resp, err := b.Client.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("the request whose client went away was answered")
		}
	}()
	waitHeld(t, srv, b, 1)
	cancel()
	<-gone
	waitHeld(t, srv, b, 0)
	bob := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>after the break</body></message>`)
	// The same rid again: it gets the message.
	n := b.Post(b.Body(b.RID, "", ""))
	b.Find(n, "the message sent after the break", 10*time.Second, isMessage("after the break"))
}

// TestBOSHMaxConnections: BOSH sessions count against
// c2s.max_connections like TCP connections.
func TestBOSHMaxConnections(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.MaxConnections = 1
	}))
	b := srv.NewBOSH(t)
	b.Login("alice", pw("alice"), "web")
	b2 := srv.NewBOSH(t)
	b2.RID++
	n := b2.Post(b2.Body(b2.RID, "to='localhost' wait='60' hold='1' xmpp:version='1.0'", ""))
	if n.Attr("type") != "terminate" || n.Attr("condition") != "remote-connection-failed" {
		t.Fatalf("session over the limit: %s", n)
	}
}

// TestBOSHTerminate: a terminate with a last stanza sends it, closes the
// stream and ends the session.
func TestBOSHTerminate(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	bob := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	b := srv.NewBOSH(t)
	b.Login("alice", pw("alice"), "web")
	b.RID++
	n := b.Post(b.Body(b.RID, "type='terminate'", `<message xmlns='jabber:client' to='`+bob.JID.String()+`'><body>bye</body></message>`))
	if n.Attr("type") != "terminate" || n.Attr("condition") != "" {
		t.Fatalf("answer to terminate: %s", n)
	}
	bob.Expect(t, "the last message", isMessage("bye"))
	if n := b.Send(""); n.Attr("condition") != "item-not-found" {
		t.Fatalf("request after terminate: %s", n)
	}
}

// TestBOSHBadInput: what is not a body, an unknown session, a body too
// big, bad XML in a stanza, another host.
func TestBOSHBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		c.Limits.MaxStanzaBytes = 10000
	}))
	b := srv.NewBOSH(t)
	for _, tc := range []struct{ name, body, cond string }{
		{"not a body", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`, "bad-request"},
		{"not XML", `<body xmlns='` + xmpptest.NSBOSH + `' rid='1'`, "bad-request"},
		{"no rid", `<body xmlns='` + xmpptest.NSBOSH + `' to='localhost'/>`, "bad-request"},
		{"unknown session", `<body xmlns='` + xmpptest.NSBOSH + `' rid='5' sid='nope'/>`, "item-not-found"},
		{"other host", `<body xmlns='` + xmpptest.NSBOSH + `' rid='5' to='elsewhere.example' wait='60' hold='1' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>`, "host-unknown"},
		{"too big", `<body xmlns='` + xmpptest.NSBOSH + `' rid='5' sid='x'>` + strings.Repeat("<a/>", 5000) + `</body>`, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := b.Post(tc.body)
			if n.Attr("type") != "terminate" || n.Attr("condition") != tc.cond {
				t.Fatalf("answer %s, want terminate %s", n, tc.cond)
			}
		})
	}
	t.Run("stream error", func(t *testing.T) {
		b := srv.NewBOSH(t)
		b.Login("alice", pw("alice"), "")
		n := b.Send(`<message xmlns='jabber:client' from='mallory@localhost'><body>x</body></message>`)
		n = b.Find(n, "the stream error", 10*time.Second, func(c xmpptest.Node) bool { return c.XMLName.Local == "error" })
		if n.Child(xmpptest.NSStreams, "invalid-from") == nil {
			t.Fatalf("stream error %s, want invalid-from", n)
		}
	})
}

// TestBOSHCORS: pages of allowed origins get CORS headers (and their
// preflights answered); others are refused.
func TestBOSHCORS(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.AllowedOrigins = []string{"https://chat.example.org"}
	}))
	req, _ := http.NewRequest(http.MethodOptions, srv.BOSHURL(), nil)
	req.Header.Set("Origin", "https://chat.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://chat.example.org" {
		t.Errorf("preflight Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(got), "content-type") {
		t.Errorf("preflight Allow-Headers %q", got)
	}
	b := srv.NewBOSH(t)
	b.Origin = "https://chat.example.org"
	b.Create(60, 1)
	b.Origin = "https://evil.example.com"
	resp, _, err = b.PostRaw(b.Body(b.RID+1, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: status %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestBOSHShutdown: a request held when the server shuts down is
// answered with a terminate (system-shutdown), and the shutdown does not
// wait out its wait (the HTTP server's shutdown waits for every request:
// with the request still held it would fail at its deadline).
func TestBOSHShutdown(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.BOSHMaxWait.Duration = 10 * time.Minute
	}))
	b := srv.NewBOSH(t)
	b.Login("alice", pw("alice"), "web")
	b.RID++
	body := b.Body(b.RID, "", "")
	answer := make(chan xmpptest.Node, 1)
	go func() {
		defer close(answer)
		_, out, err := b.PostRaw(body)
		if err != nil {
			t.Errorf("held request: %v", err)
			return
		}
		answer <- decodeBody(t, out)
	}()
	waitHeld(t, srv, b, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n, ok := <-answer; !ok || n.Attr("type") != "terminate" || n.Attr("condition") != "system-shutdown" {
		t.Errorf("held request at shutdown answered with %v %s", ok, n)
	}
}

// TestBOSHOrdinarySession: a session over BOSH is an ordinary session:
// what it sends is carbon-copied to the account's other session and
// archived, and its MAM query over BOSH finds it.
func TestBOSHOrdinarySession(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	phone := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "phone"})
	phone.IQ(t, `<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	bob := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{})
	b := srv.NewBOSH(t)
	b.Login("alice", pw("alice"), "web")
	b.RID++
	msg := b.Body(b.RID, "", `<message xmlns='jabber:client' to='`+bob.JID.String()+`' type='chat' id='m1'><body>archived over BOSH</body></message>`)
	sent := make(chan xmpptest.Node, 1)
	go func() {
		defer close(sent)
		_, out, err := b.PostRaw(msg)
		if err != nil {
			t.Errorf("post: %v", err)
			return
		}
		sent <- decodeBody(t, out)
	}()
	bob.Expect(t, "the message", isMessage("archived over BOSH"))
	phone.Expect(t, "the sent carbon", func(n xmpptest.Node) bool {
		s := n.Child("urn:xmpp:carbons:2", "sent")
		return s != nil && strings.Contains(s.String(), "archived over BOSH")
	})
	// Release the held request.
	bob.SendRaw(t, `<message to='`+b.JID+`' type='chat'><body>thanks</body></message>`)
	n, ok := <-sent
	if !ok {
		t.FailNow()
	}
	b.Find(n, "bob's answer", 10*time.Second, isMessage("thanks"))
	q := b.Send(`<iq xmlns='jabber:client' type='set' id='mam1'><query xmlns='urn:xmpp:mam:2' queryid='f1'/></iq>`)
	b.Find(q, "the archived message", 10*time.Second, func(n xmpptest.Node) bool {
		r := n.Child("urn:xmpp:mam:2", "result")
		return n.XMLName.Local == "message" && r != nil && r.Attr("queryid") == "f1" && strings.Contains(r.String(), "archived over BOSH")
	})
}

// TestSessionTransports: the operators' view of sessions (the admin
// page's) names the transport of each.
func TestSessionTransports(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{})
	srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{WebSocket: true})
	b := srv.NewBOSH(t)
	b.Login("alice", pw("alice"), "bosh")
	got := map[string]int{}
	for _, in := range srv.C2S.SessionInfos(jid.MustParse("alice@localhost")) {
		got[in.Transport]++
	}
	want := map[string]int{"starttls": 1, "websocket": 1, "bosh": 1}
	if !maps.Equal(got, want) {
		t.Errorf("transports %v, want %v", got, want)
	}
}
