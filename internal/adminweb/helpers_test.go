package adminweb_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

const (
	admin    = "root"
	adminPW  = "root-secret"
	mucHost  = "conference.localhost"
	caps     = "https://example.org/testclient"
	policyNS = "urn:ietf:params:xml:ns:xmpp-streams"
)

var roomSeq atomic.Int64

func freshRoom() string { return fmt.Sprintf("adminroom%d@%s", roomSeq.Add(1), mucHost) }

// env is a running server with an admin (root) and two users, and a
// browser-like HTTP client that keeps cookies and does not follow
// redirects (so tests see them).
type env struct {
	t    *testing.T
	srv  *xmpptest.Server
	base string
	c    *http.Client
}

func newEnv(t *testing.T, opts ...xmpptest.Option) *env {
	t.Helper()
	opts = append([]xmpptest.Option{xmpptest.WithConfig(func(c *config.Config) {
		c.Admins = []string{admin + "@localhost"}
	})}, opts...)
	srv := xmpptest.Start(t, opts...)
	srv.AddUser(t, admin, adminPW)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	return &env{t: t, srv: srv, base: "http://" + srv.HTTPAddr().String(), c: newClient(t)}
}

func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends a request and returns the response with its body read.
func (e *env) do(c *http.Client, method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return res, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token in a page's forms.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// tryLogin fetches the login form with c and posts user and password.
func (e *env) tryLogin(c *http.Client, user, password string) (*http.Response, string) {
	e.t.Helper()
	res, page := e.do(c, "GET", "/admin/login", nil, nil)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /admin/login = %d", res.StatusCode)
	}
	return e.do(c, "POST", "/admin/login", url.Values{"user": {user}, "password": {password}, "csrf": {csrfOf(e.t, page)}}, nil)
}

// login logs the env's client in as the admin.
func (e *env) login() {
	e.t.Helper()
	res, body := e.tryLogin(e.c, admin, adminPW)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/" {
		e.t.Fatalf("login = %d %s:\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
}

// page GETs a page as the logged-in admin and fails unless it is 200.
func (e *env) page(path string) string {
	e.t.Helper()
	res, body := e.do(e.c, "GET", path, nil, nil)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s = %d:\n%s", path, res.StatusCode, body)
	}
	return body
}

// post submits a form as the logged-in admin with the session's CSRF
// token and returns the page it redirects to.
func (e *env) post(path string, form url.Values) string {
	e.t.Helper()
	form.Set("csrf", csrfOf(e.t, e.page("/admin/")))
	res, body := e.do(e.c, "POST", path, form, nil)
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("POST %s = %d:\n%s", path, res.StatusCode, body)
	}
	return e.page(res.Header.Get("Location"))
}

// flash returns the outcome message on a page.
func flash(page string) string {
	m := regexp.MustCompile(`<p class="flash (ok|error)" role="status">([^<]*)</p>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1] + ": " + html.UnescapeString(m[2])
}

// row returns the table row whose data attribute attr is value.
func row(t *testing.T, page, attr, value string) string {
	t.Helper()
	at := strings.Index(page, fmt.Sprintf(` %s="%s"`, attr, html.EscapeString(value)))
	start := strings.LastIndex(page[:max(at, 0)], "<tr")
	if at < 0 || start < 0 {
		t.Fatalf("no row with %s=%q in:\n%s", attr, value, page)
	}
	end := strings.Index(page[start:], "</tr>")
	return page[start : start+end]
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
		return n.XMLName.Local == "presence" && n.Attr("type") == "" && strings.HasPrefix(n.Attr("from"), room+"/") && hasStatus(n, "110")
	}
}

// joinRoom makes c join room as nick and waits for its self-presence and
// the subject; the first join creates the room (an instant room).
func joinRoom(t *testing.T, c *xmpptest.Client, room, nick string) {
	t.Helper()
	c.SendRaw(t, fmt.Sprintf(`<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room, nick))
	self := c.Expect(t, "self-presence in "+room, isSelfPresence(room))
	if hasStatus(self, "201") {
		res := c.IQ(t, fmt.Sprintf(`<iq type='set' to='%s' id='inst'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, room))
		if res.Attr("type") != "result" {
			t.Fatalf("instant room: %s", res)
		}
	}
	c.Expect(t, "subject of "+room, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "message" && n.Attr("from") == room && n.Child("", "subject") != nil
	})
}
