package adminweb_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// Each page shows what the running server holds: the status its
// listeners and sessions, the accounts, alice's session with its
// transport, address, client and CSI state, her account join, the room
// with its occupants, and the charts' samples.
func TestPagesShowRealData(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	joinRoom(t, bob, room, "bobby")
	alice := e.srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	alice.SendRaw(t, fmt.Sprintf(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' ver='x'/></presence>`, caps))
	joinRoom(t, alice, room, "ally")
	alice.SendRaw(t, `<inactive xmlns='urn:xmpp:csi:0'/>`)
	// A round trip after it: the server has handled the CSI nonza.
	alice.IQ(t, `<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	e.login()

	status := e.page("/admin/")
	for _, want := range []string{`id="version">0.`, `id="sessions">2<`, e.srv.C2SAddr().String(), e.srv.HTTPAddr().String(), "c2s direct TLS", `id="account-joins">2<`, `id="rooms">1<`, `id="archive-queue">`} {
		if !strings.Contains(status, want) {
			t.Errorf("status page lacks %q:\n%s", want, status)
		}
	}

	accounts := e.page("/admin/accounts")
	for _, u := range []string{admin, "alice", "bob"} {
		row(t, accounts, "data-account", u)
	}
	if r := row(t, accounts, "data-account", admin); !strings.Contains(r, "admin") {
		t.Errorf("root not marked admin: %s", r)
	}
	if r := row(t, accounts, "data-account", "alice"); !strings.Contains(r, `account=alice">1</a>`) {
		t.Errorf("alice's row lacks her session and join counts: %s", r)
	}
	search := e.page("/admin/accounts?q=LIC")
	if !strings.Contains(search, `data-account="alice"`) || strings.Contains(search, `data-account="bob"`) {
		t.Errorf("search for LIC should list alice only:\n%s", search)
	}

	sessions := e.page("/admin/sessions?account=alice")
	r := row(t, sessions, "data-jid", alice.JID.String())
	for _, want := range []string{alice.JID.Resourcepart(), "starttls", "127.0.0.1", caps, "inactive"} {
		if !strings.Contains(r, want) {
			t.Errorf("alice's session row lacks %q: %s", want, r)
		}
	}
	if strings.Contains(sessions, bob.JID.String()) {
		t.Error("sessions?account=alice lists bob's session")
	}
	if all := e.page("/admin/sessions"); !strings.Contains(all, bob.JID.String()) {
		t.Errorf("all sessions lack bob's:\n%s", all)
	}

	joins := e.page("/admin/joins?account=alice")
	r = row(t, joins, "data-account", "alice@localhost")
	for _, want := range []string{room, "ally", alice.JID.String(), "session", "joined"} {
		if !strings.Contains(r, want) {
			t.Errorf("alice's join row lacks %q: %s", want, r)
		}
	}
	if strings.Contains(joins, `data-account="bob@localhost"`) {
		t.Error("joins?account=alice lists bob's join")
	}

	// One account's page: its sessions and its joins, not others'.
	one := e.page("/admin/accounts/alice")
	row(t, one, "data-jid", alice.JID.String())
	if r := row(t, one, "data-account", "alice@localhost"); !strings.Contains(r, room) || !strings.Contains(r, "ally") {
		t.Errorf("alice's page lacks her join: %s", r)
	}
	if strings.Contains(one, bob.JID.String()) {
		t.Error("alice's page shows bob's session")
	}
	if res, _ := e.do(e.c, "GET", "/admin/accounts/nobody", nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /admin/accounts/nobody = %d, want 404", res.StatusCode)
	}

	rooms := e.page("/admin/rooms")
	r = row(t, rooms, "data-room", room)
	for _, want := range []string{"ally", "bobby", "alice@localhost", "bob@localhost", "owner", "participant", "archived"} {
		if !strings.Contains(r, want) {
			t.Errorf("room row lacks %q: %s", want, r)
		}
	}

	if charts := e.page("/admin/charts"); !strings.Contains(charts, `data-chart="deliveries"`) || !strings.Contains(charts, `data-chart="memory"`) {
		t.Errorf("charts page lacks its charts:\n%s", charts)
	}
	if js, _ := e.do(e.c, "GET", "/admin/static/admin.js", nil, nil); js.StatusCode != http.StatusOK {
		t.Errorf("admin.js = %d after login", js.StatusCode)
	}
	// Two polls make a sample with rates; both gauges are real.
	var got struct {
		Samples []struct {
			T          time.Time `json:"t"`
			Deliveries float64   `json:"deliveries"`
			Sessions   float64   `json:"sessions"`
			Memory     float64   `json:"memory"`
		} `json:"samples"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(got.Samples) == 0 && time.Now().Before(deadline) {
		res, body := e.do(e.c, "GET", "/admin/metrics.json", nil, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("metrics.json = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("metrics.json: %v: %s", err, body)
		}
		if len(got.Samples) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(got.Samples) == 0 {
		t.Fatal("metrics.json has no samples")
	}
	last := got.Samples[len(got.Samples)-1]
	if last.Sessions != 2 || last.Memory <= 0 {
		t.Errorf("last sample = %+v, want 2 sessions and some memory", last)
	}
}

// Accounts created on the page log in; a reset password replaces the
// old one; a deleted account is gone and its session disconnected.
func TestAccountActions(t *testing.T) {
	e := newEnv(t)
	e.login()
	page := e.post("/admin/accounts/create", url.Values{"name": {"dave"}, "password": {"dave-pw-1"}})
	if f := flash(page); f != "ok: Account dave created." {
		t.Errorf("flash = %q", f)
	}
	row(t, page, "data-account", "dave")
	e.srv.Dial(t, "dave", "dave-pw-1", xmpptest.DialOptions{}).Close()

	if f := flash(e.post("/admin/accounts/create", url.Values{"name": {"dave"}, "password": {"other-pw"}})); !strings.HasPrefix(f, "error: ") {
		t.Errorf("creating dave again: flash = %q, want an error", f)
	}
	if f := flash(e.post("/admin/accounts/create", url.Values{"name": {"erin"}, "password": {"x"}})); !strings.Contains(f, "password too short") {
		t.Errorf("short password: flash = %q", f)
	}

	if f := flash(e.post("/admin/accounts/password", url.Values{"name": {"dave"}, "password": {"dave-pw-2"}})); f != "ok: Password of dave reset." {
		t.Errorf("reset flash = %q", f)
	}
	if _, err := e.srv.TryDial(t, "dave", "dave-pw-1", xmpptest.DialOptions{}); err == nil {
		t.Error("the old password still works")
	}
	dave := e.srv.Dial(t, "dave", "dave-pw-2", xmpptest.DialOptions{})
	if f := flash(e.post("/admin/accounts/password", url.Values{"name": {"nobody"}, "password": {"whatever-1"}})); !strings.HasPrefix(f, "error: ") {
		t.Errorf("reset of a missing account: flash = %q", f)
	}
	if ok, _ := e.srv.Store().AccountExists(t.Context(), "nobody"); ok {
		t.Error("resetting a missing account's password created it")
	}

	page = e.post("/admin/accounts/delete", url.Values{"name": {"dave"}})
	if f := flash(page); f != "ok: Account dave deleted." {
		t.Errorf("delete flash = %q", f)
	}
	if strings.Contains(page, `data-account="dave"`) {
		t.Error("dave still listed")
	}
	select {
	case <-dave.Closed():
	case <-time.After(10 * time.Second):
		t.Error("dave's session was not disconnected")
	}
	if ok, _ := e.srv.Store().AccountExists(t.Context(), "dave"); ok {
		t.Error("dave still exists")
	}
}

// Force-disconnect ends exactly that session, with a stream error the
// client sees.
func TestForceDisconnect(t *testing.T) {
	e := newEnv(t)
	phone := e.srv.Login(t, "alice", "alice-secret", "phone")
	laptop := e.srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	e.login()
	page := e.post("/admin/sessions/end", url.Values{"jid": {"alice@localhost/phone"}, "account": {"alice"}})
	if f := flash(page); f != "ok: Session alice@localhost/phone disconnected." {
		t.Errorf("flash = %q", f)
	}
	for {
		n, err := phone.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("phone: waiting for the stream error: %v", err)
		}
		if n.XMLName.Local == "error" {
			if n.Child(policyNS, "policy-violation") == nil {
				t.Errorf("stream error = %s, want policy-violation", n)
			}
			break
		}
	}
	if strings.Contains(page, `data-jid="alice@localhost/phone"`) {
		t.Error("the ended session is still listed")
	}
	row(t, page, "data-jid", laptop.JID.String())
	laptop.IQ(t, `<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`) // still there
	if f := flash(e.post("/admin/sessions/end", url.Values{"jid": {"alice@localhost/phone"}})); !strings.HasPrefix(f, "error: ") {
		t.Errorf("ending it again: flash = %q", f)
	}
	// A form returns to the page it names, never to another site.
	for back, want := range map[string]string{
		"/admin/accounts/alice": "/admin/accounts/alice",
		"https://evil.example/": "/admin/sessions",
		"//evil.example/admin/": "/admin/sessions",
		"/admin/\\evil.example": "/admin/sessions",
	} {
		f := url.Values{"jid": {"alice@localhost/none"}, "back": {back}, "csrf": {csrfOf(t, e.page("/admin/"))}}
		res, _ := e.do(e.c, "POST", "/admin/sessions/end", f, nil)
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("back=%q: redirected to %q, want %q", back, got, want)
		}
	}
}

// Force-leave makes the account leave the room: every joined session
// gets its unavailable presence with status 110 (account-join rules),
// the room sees the account go, and the join is no longer listed.
func TestForceLeave(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	joinRoom(t, bob, room, "bobby")
	c1 := e.srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	c2 := e.srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	joinRoom(t, c1, room, "ally")
	joinRoom(t, c2, room, "ally")
	e.login()
	r := row(t, e.page("/admin/joins"), "data-account", "alice@localhost")
	if !strings.Contains(r, room) || !strings.Contains(r, c1.JID.String()) || !strings.Contains(r, c2.JID.String()) {
		t.Fatalf("join row lacks the two sessions: %s", r)
	}
	page := e.post("/admin/joins/leave", url.Values{"account": {"alice@localhost"}, "room": {room}, "filter": {"alice"}})
	if f := flash(page); f != fmt.Sprintf("ok: alice@localhost left %s.", room) {
		t.Errorf("flash = %q", f)
	}
	for _, c := range []*xmpptest.Client{c1, c2} {
		p := c.Expect(t, "unavailable presence with 110", xmpptest.IsPresenceFrom(room+"/ally", "unavailable"))
		if !hasStatus(p, "110") {
			t.Errorf("%s got %s, want status 110", c.JID, p)
		}
	}
	bob.Expect(t, "alice leaving the room", xmpptest.IsPresenceFrom(room+"/ally", "unavailable"))
	if strings.Contains(page, `data-account="alice@localhost"`) {
		t.Errorf("the join is still listed:\n%s", page)
	}
	if f := flash(e.post("/admin/joins/leave", url.Values{"account": {"alice@localhost"}, "room": {room}})); !strings.HasPrefix(f, "error: ") {
		t.Errorf("leaving again: flash = %q", f)
	}
}

// Destroying a room tells its occupants, with the reason, and removes it.
func TestDestroyRoom(t *testing.T) {
	e := newEnv(t)
	room := freshRoom()
	bob := e.srv.Dial(t, "bob", "bob-secret", xmpptest.DialOptions{})
	joinRoom(t, bob, room, "bobby")
	e.login()
	page := e.post("/admin/rooms/destroy", url.Values{"room": {room}, "reason": {"spring cleaning"}})
	if f := flash(page); f != fmt.Sprintf("ok: Room %s destroyed.", room) {
		t.Errorf("flash = %q", f)
	}
	p := bob.Expect(t, "the room's destruction", xmpptest.IsPresenceFrom(room+"/bobby", "unavailable"))
	d := p.Find("x/destroy/reason")
	if d == nil || d.Text != "spring cleaning" {
		t.Errorf("bob got %s, want a destroy with the reason", p)
	}
	if strings.Contains(page, fmt.Sprintf(`data-room="%s"`, room)) {
		t.Error("the room is still listed")
	}
}
