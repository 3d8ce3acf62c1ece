package adminweb_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// browserEnv is set by .ci/run: there, a missing chromium or node_modules
// is a failure, not a skip.
const browserEnv = "MINIMIX_BROWSER"

// screenshotsEnv names a directory for the screenshots the browser test
// takes (docs/admin when they are to be committed); unset, they go to a
// temporary directory.
const screenshotsEnv = "MINIMIX_ADMIN_SCREENSHOTS"

// browserTools finds chromium, node and the test folder's playwright-core,
// or says what is missing.
func browserTools(t *testing.T) (chromium, node, dir string) {
	t.Helper()
	dir, err := filepath.Abs("browsertest")
	if err != nil {
		t.Fatal(err)
	}
	chromium = os.Getenv("MINIMIX_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	node, err = exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (npm ci in internal/adminweb/browsertest)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ")
		if os.Getenv(browserEnv) == "1" {
			t.Fatalf("%s; %s=1 makes that a failure", msg, browserEnv)
		}
		t.Skip(msg + "; set " + browserEnv + "=1 to make this a failure")
	}
	return chromium, node, dir
}

// TestBrowserAdminPage drives the admin page in a real browser (Debian's
// chromium through playwright-core): log in, create an account, watch an
// account join appear when that account's client joins a room, force it
// to leave and see the client get its unavailable presence with 110. It
// screenshots every page on the way (docs/admin in the README).
func TestBrowserAdminPage(t *testing.T) {
	chromium, node, dir := browserTools(t)
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	room := freshRoom()
	// Some life on the server for the pages to show: bob made the room,
	// alice is in it too, from two sessions.
	bob := e.srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	joinRoom(t, bob, room, "bob")
	for i, node := range []string{"https://conversations.im", "https://gajim.org"} {
		c := e.srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
		c.SendRaw(t, fmt.Sprintf(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' ver='v'/></presence>`, node))
		joinRoom(t, c, room, "alice")
		if i == 0 {
			c.SendRaw(t, `<inactive xmlns='urn:xmpp:csi:0'/>`) // a phone in a pocket
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "admin.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"BASE_URL="+e.base, "ADMIN_USER="+admin, "ADMIN_PASSWORD="+adminPW,
		"NEW_USER=dave", "NEW_PASSWORD=dave-secret-1", "ROOM="+room,
		"SCREENSHOTS="+shots, "CHROMIUM="+chromium)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := make(chan string)
	go func() {
		defer close(steps)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "STEP "); ok {
				steps <- s
			} else {
				t.Logf("browser: %s", sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	wait := func() error {
		for range steps {
		}
		return cmd.Wait()
	}
	next := func(want string) {
		t.Helper()
		got, ok := <-steps
		if !ok || got != want {
			_ = stdin.Close()
			err := wait()
			t.Fatalf("browser: want step %q, got %q (exit: %v); its output:\n%s", want, got, err, stderr.String())
		}
	}
	reply := func(s string) { fmt.Fprintln(stdin, s) }

	next("created")
	// The account the page created logs in.
	dave := e.srv.Dial(t, "dave", "dave-secret-1", xmpptest.DialOptions{})
	reply("go")
	next("watching")
	joinRoom(t, dave, room, "dave")
	reply("go")
	next("left")
	p := dave.Expect(t, "unavailable presence after the forced leave", xmpptest.IsPresenceFrom(room+"/dave", "unavailable"))
	if !hasStatus(p, "110") {
		reply("no status 110 on " + p.String())
		t.Fatalf("dave got %s, want status 110", p)
	}
	bob.Expect(t, "dave leaving", xmpptest.IsPresenceFrom(room+"/dave", "unavailable"))
	// Traffic for the charts while the browser looks at them.
	for i := range 5 {
		bob.SendRaw(t, fmt.Sprintf(`<message type='groupchat' to='%s' id='m%d'><body>hello %d</body></message>`, room, i, i))
	}
	reply("go")
	next("done")
	reply("go")
	_ = stdin.Close()
	if err := wait(); err != nil {
		t.Fatalf("browser: %v; its output:\n%s", err, stderr.String())
	}
	for _, f := range []string{"login", "accounts", "account", "joins", "status", "sessions", "rooms", "charts"} {
		if fi, err := os.Stat(filepath.Join(shots, f+".png")); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s.png: %v", f, err)
		}
	}
}
