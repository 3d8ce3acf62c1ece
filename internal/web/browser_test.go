package web_test

// TestBrowser runs a real web client, Converse.js 14 in Debian's chromium
// driven by playwright-core (browsertest/driver.js), against a server on
// loopback: over WebSocket and over BOSH, on the plain HTTP listener and
// on the HTTPS one (http.tls_listen, the generated certificate, with
// nothing but TLS counting as encrypted), and with the endpoint found
// through XEP-0156 host-meta, it logs in, joins a room, sends and
// receives; a second session of the same account over TCP joins
// the room too and is an account join (no new occupant). It needs
// /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` run in
// browsertest/; without them it skips, unless MINIMIX_BROWSER is set (as
// .ci/run does), which makes their absence a failure. The browser starts
// once per run of the package's tests and stops in TestMain.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

const browserDir = "browsertest"

// browserDriver is the one browser of the run.
var browserDriver struct {
	once sync.Once
	d    *driver
	err  error
}

// driver talks to driver.js.
type driver struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // stdout, a line at a time
	stderr *syncBuffer

	mu  sync.Mutex
	seq int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// since returns what was written after offset n, at most its last max
// bytes.
func (s *syncBuffer) since(n, max int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()[n:]
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// browser returns the run's browser, starting it the first time, or
// skips the test (fails it under MINIMIX_BROWSER) when what it needs is
// not installed.
func browser(t *testing.T) *driver {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	missing := ""
	if _, err := os.Stat(chromium); err != nil {
		missing = chromium + " is not installed (apt-get install chromium)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed (apt-get install nodejs npm)"
	} else {
		for _, m := range []string{"playwright-core/package.json", "converse.js/dist/converse.min.js"} {
			if _, err := os.Stat(filepath.Join(browserDir, "node_modules", m)); err != nil {
				missing = "internal/web/browsertest/node_modules has no " + m + " (run npm ci there)"
				break
			}
		}
	}
	if missing != "" {
		if os.Getenv("MINIMIX_BROWSER") != "" {
			t.Fatalf("MINIMIX_BROWSER is set, but %s", missing)
		}
		t.Skipf("no browser test: %s; set MINIMIX_BROWSER=1 to make this a failure", missing)
	}
	browserDriver.once.Do(func() {
		browserDriver.d, browserDriver.err = startDriver(chromium)
	})
	if browserDriver.err != nil {
		t.Fatalf("starting the browser: %v", browserDriver.err)
	}
	return browserDriver.d
}

func startDriver(chromium string) (*driver, error) {
	cmd := exec.Command("node", "driver.js")
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	d := &driver{cmd: cmd, lines: make(chan []byte, 16), stderr: &syncBuffer{}}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node driver.js: %w", err)
	}
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			d.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	// The driver says it is ready with the browser's version (id 0).
	if _, err := d.read(0, 2*time.Minute); err != nil {
		d.stop()
		return nil, fmt.Errorf("driver.js did not start: %w\n%s", err, d.stderr.since(0, 4000))
	}
	return d, nil
}

// stopBrowser ends the run's browser, if it started (TestMain).
func stopBrowser() {
	if d := browserDriver.d; d != nil {
		d.stop()
	}
}

func (d *driver) stop() {
	_, _ = io.WriteString(d.stdin, `{"op":"quit"}`+"\n")
	_ = d.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = d.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	for range d.lines {
	}
}

type driverReply struct {
	ID     int             `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

func (d *driver) read(id int, timeout time.Duration) (json.RawMessage, error) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				return nil, errors.New("driver.js exited")
			}
			var r driverReply
			if err := json.Unmarshal(line, &r); err != nil {
				return nil, fmt.Errorf("driver.js said %q: %w", line, err)
			}
			if r.ID != id {
				continue
			}
			if !r.OK {
				return nil, errors.New(r.Error)
			}
			return r.Result, nil
		case <-deadline:
			return nil, fmt.Errorf("no answer from driver.js in %v", timeout)
		}
	}
}

// call runs one command; the driver's own waits are at most 30 s.
func (d *driver) call(op string, args map[string]any) (json.RawMessage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	cmd := map[string]any{"id": d.seq, "op": op}
	for k, v := range args {
		cmd[k] = v
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("driver.js: %w", err)
	}
	return d.read(d.seq, 2*time.Minute)
}

// page is one page of the browser, in a context of its own.
type page struct {
	t    *testing.T
	d    *driver
	name string
}

func (p *page) do(op string, args map[string]any) json.RawMessage {
	p.t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	args["page"] = p.name
	r, err := p.d.call(op, args)
	if err != nil {
		p.t.Fatalf("browser %s %s %v: %v", p.name, op, args, err)
	}
	return r
}

// waitFor waits for an element that selector finds, with text in it if
// text is not "".
func (p *page) waitFor(selector, text string) {
	p.t.Helper()
	p.do("waitFor", map[string]any{"selector": selector, "text": text})
}

func (p *page) count(selector string) int {
	p.t.Helper()
	var n int
	if err := json.Unmarshal(p.do("count", map[string]any{"selector": selector}), &n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

// testPage serves Converse.js from browsertest/node_modules and a page
// that starts it with the settings of its query: ws or bosh (the
// endpoint's URL), jid, password, room, nick.
func testPage(t *testing.T) *httptest.Server {
	t.Helper()
	dist := filepath.Join(browserDir, "node_modules", "converse.js", "dist")
	tmpl := template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>minimix browser test</title>
<link rel="stylesheet" href="/dist/converse.min.css">
<script type="module" src="/dist/converse.min.js"></script>
</head><body class="converse-fullscreen">
<script type="module">window.converse.initialize({{.}});</script>
</body></html>`))
	mux := http.NewServeMux()
	mux.Handle("/dist/", http.StripPrefix("/dist/", http.FileServer(http.Dir(dist))))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		settings := map[string]any{
			"assets_path":                 "/dist/",
			"auto_login":                  true,
			"jid":                         q.Get("jid"),
			"password":                    q.Get("password"),
			"discover_connection_methods": q.Get("discover") != "",
			"view_mode":                   "fullscreen",
			"loglevel":                    "info",
			"play_sounds":                 false,
			"show_desktop_notifications":  false,
			"auto_join_rooms":             []map[string]string{{"jid": q.Get("room"), "nick": q.Get("nick")}},
			"blacklisted_plugins":         []string{"converse-omemo"},
		}
		if u := q.Get("ws"); u != "" {
			settings["websocket_url"] = u
		}
		if u := q.Get("bosh"); u != "" {
			settings["bosh_service_url"] = u
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := tmpl.Execute(w, settings); err != nil {
			t.Errorf("test page: %v", err)
		}
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestBrowser(t *testing.T) {
	d := browser(t)
	for _, transport := range []string{"websocket", "bosh", "wss", "bosh-https", "host-meta"} {
		t.Run(transport, func(t *testing.T) { browserScenario(t, d, transport) })
	}
}

const mucNS = "http://jabber.org/protocol/muc#user"

func hasStatus(n xmpptest.Node, code string) bool {
	x := n.Child(mucNS, "x")
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

func isGroupchat(from, body string) func(xmpptest.Node) bool {
	return func(n xmpptest.Node) bool {
		b := n.Child("", "body")
		return n.XMLName.Local == "message" && n.Attr("type") == "groupchat" && n.Attr("from") == from && b != nil && b.Text == body
	}
}

// browserScenario: Converse.js logs alice in over transport, joins a room
// bob made, sends and receives; alice's second session, over TCP, joins
// the same room: an account join, so bob sees no new occupant, and each of
// alice's sessions gets what the other sends and what bob sends.
func browserScenario(t *testing.T, d *driver, transport string) {
	mark := d.stderr.Len()
	t.Cleanup(func() {
		// Converse keeps the room as a bookmark (XEP-0402, with
		// publish-options); the server must take it.
		if console := d.stderr.since(mark, 1<<20); strings.Contains(console, "Error while trying to update bookmarks") {
			t.Errorf("Converse could not store its bookmark")
		}
		if t.Failed() {
			t.Logf("the browser's console:\n%s", d.stderr.since(mark, 20000))
		}
	})
	ts := testPage(t)
	tls := transport == "wss" || transport == "bosh-https" || transport == "host-meta"
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(func(c *config.Config) {
		// The test page is another origin than the server's.
		c.HTTP.AllowedOrigins = []string{ts.URL}
		if tls {
			// HTTPS with the generated certificate, and nothing but
			// TLS counts as encrypted.
			c.HTTP.TLSListen = "127.0.0.1:0"
			c.HTTP.SecureNetworks = nil
		}
	}))
	room := "lobby@" + srv.Config.MUC.Domain

	bob := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{Resource: "tcp"})
	bob.SendRaw(t, `<presence to='`+room+`/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	self := bob.Expect(t, "bob's self-presence", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/bob" && hasStatus(n, "110")
	})
	if hasStatus(self, "201") {
		res := bob.IQ(t, `<iq type='set' to='`+room+`' id='inst'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
		if res.Attr("type") != "result" {
			t.Fatalf("instant room: %s", res)
		}
	}

	q := map[string]string{"jid": "alice@" + srv.Domain, "password": pw("alice"), "room": room, "nick": "alice"}
	open := map[string]any{"ignoreHTTPSErrors": tls}
	switch transport {
	case "websocket":
		q["ws"] = "ws://" + srv.HTTPAddr().String() + "/xmpp-websocket"
	case "bosh":
		q["bosh"] = srv.BOSHURL()
	case "wss":
		q["ws"] = "wss://" + srv.HTTPSAddr().String() + "/xmpp-websocket"
	case "bosh-https":
		q["bosh"] = "https://" + srv.HTTPSAddr().String() + "/http-bind"
	case "host-meta":
		// No URL: Converse finds the endpoints through XEP-0156 at
		// https://localhost/.well-known/host-meta, which the browser
		// fetches from the server's HTTPS listener (it names its wss://
		// and https:// URLs).
		q["discover"] = "1"
		open["routes"] = []map[string]string{{
			"from": "https://" + srv.Domain + "/.well-known/host-meta*",
			"to":   "https://" + srv.HTTPSAddr().String() + "/.well-known/host-meta",
		}}
	}
	var qs []string
	for k, v := range q {
		qs = append(qs, k+"="+template.URLQueryEscaper(v))
	}
	p := &page{t: t, d: d, name: transport}
	t.Cleanup(func() { _, _ = d.call("close", map[string]any{"page": p.name}) })
	open["url"] = ts.URL + "/?" + strings.Join(qs, "&")
	p.do("open", open)

	// Converse logs in and joins: bob sees alice come in, as her account
	// (the server joined for it: the occupant's real JID, which bob as
	// the room's owner sees, is the bare JID).
	in := bob.Expect(t, "alice joining", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && n.Attr("type") == ""
	})
	if item := in.Find("x/item"); item == nil || item.Attr("jid") != "alice@"+srv.Domain {
		t.Errorf("alice's presence in the room is not her account's: %s", in)
	}
	p.waitFor("converse-muc textarea.chat-textarea", "")

	// Converse registers its nick with a room that offers registration
	// (its auto_register_muc_nickname defaults to true), which makes
	// alice a member: the room tells its occupants (XEP-0045 7.10, 9.3).
	// That presence may come at any point until the registration is
	// done, so bob notes it on the way and waits for it before the check
	// below that the second session's join adds no presence.
	sawMember := false
	noting := func(match func(xmpptest.Node) bool) func(xmpptest.Node) bool {
		return func(n xmpptest.Node) bool {
			if n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && n.Attr("type") == "" {
				if item := n.Find("x/item"); item != nil && item.Attr("affiliation") == "member" {
					sawMember = true
				}
			}
			return match(n)
		}
	}

	// Send from the browser, receive at bob.
	p.do("type", map[string]any{"selector": "converse-muc textarea.chat-textarea", "text": "hello from " + transport})
	bob.Expect(t, "the browser's message", noting(isGroupchat(room+"/alice", "hello from "+transport)))
	// Send from bob, receive in the browser.
	bob.SendRaw(t, `<message to='`+room+`' type='groupchat'><body>hello browser</body></message>`)
	p.waitFor("converse-muc .chat-msg__text", "hello browser")
	if !sawMember {
		bob.Expect(t, "alice a member after Converse registered her nick", noting(func(xmpptest.Node) bool { return sawMember }))
	}

	// Alice's second session, over TCP, joins the same room under the
	// same nick: the account is already in the room, so nothing goes to
	// the room and bob sees no new occupant.
	alice := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "tcp"})
	alice.SendRaw(t, `<presence to='`+room+`/alice' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	alice.Expect(t, "the TCP session's self-presence", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == room+"/alice" && hasStatus(n, "110")
	})
	alice.Expect(t, "the subject", func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && n.Attr("from") == room && n.Child("", "subject") != nil
	})
	// The room's traffic reaches bob in order: a presence from the room
	// before bob's next message comes back would be a new occupant.
	bob.SendRaw(t, `<message to='`+room+`' type='groupchat'><body>after the second join</body></message>`)
	for {
		n := bob.Expect(t, "bob's message back", func(xmpptest.Node) bool { return true })
		if n.XMLName.Local == "presence" && strings.HasPrefix(n.Attr("from"), room+"/") {
			t.Fatalf("bob saw an occupant's presence after the second session joined: %s", n)
		}
		if isGroupchat(room+"/bob", "after the second join")(n) {
			break
		}
	}
	// Both of alice's sessions get it.
	alice.Expect(t, "bob's message at the TCP session", isGroupchat(room+"/bob", "after the second join"))
	p.waitFor("converse-muc .chat-msg__text", "after the second join")
	// The browser still lists two occupants.
	if n := p.count("converse-muc .occupant-list li.occupant"); n != 2 {
		t.Errorf("the browser lists %d occupants, want 2 (bob and alice)", n)
	}
	// What the TCP session sends reaches bob as alice's, and the browser.
	alice.SendRaw(t, `<message to='`+room+`' type='groupchat'><body>from alice's TCP session</body></message>`)
	bob.Expect(t, "the TCP session's message", isGroupchat(room+"/alice", "from alice's TCP session"))
	p.waitFor("converse-muc .chat-msg__text", "from alice's TCP session")
}
