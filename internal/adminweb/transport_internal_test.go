package adminweb

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"minimix/internal/jid"
)

// fakeBackend knows one admin, root with password pw.
type fakeBackend struct{ Backend }

func (fakeBackend) CheckPassword(_ context.Context, user, password string) (string, bool, error) {
	return user, user == "root" && password == "pw", nil
}
func (fakeBackend) Status() Status { return Status{AccountJoins: -1, Rooms: -1, S2S: -1} }
func (fakeBackend) MetricValues(...string) (map[string]float64, error) {
	return map[string]float64{}, nil
}
func (fakeBackend) Sessions(jid.JID) []Session { return nil }
func (fakeBackend) Joins(jid.JID) []Join       { return nil }

func newFake() *Handler {
	return New(Config{Backend: fakeBackend{}, Domain: "example.org", Admins: []string{"root@example.org"}})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Over plain HTTP, a client not on loopback gets no login form and its
// posted password is not checked.
func TestNoPasswordOverPlainHTTPFromAfar(t *testing.T) {
	h := newFake()
	for _, method := range []string{"GET", "POST"} {
		req := httptest.NewRequest(method, "/admin/login", strings.NewReader(url.Values{"user": {"root"}, "password": {"pw"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "192.0.2.7:4242"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), `name="password"`) || len(w.Result().Cookies()) != 0 {
			t.Errorf("%s from afar over HTTP = %d, cookies %v:\n%s", method, w.Code, w.Result().Cookies(), w.Body)
		}
	}
}

// Over TLS, from anywhere, the login works and its cookies are Secure.
func TestCookieSecureOverTLS(t *testing.T) {
	h := newFake()
	get := httptest.NewRequest("GET", "https://example.org/admin/login", nil)
	get.RemoteAddr = "192.0.2.7:4242"
	get.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, get)
	if w.Code != http.StatusOK {
		t.Fatalf("GET over TLS = %d", w.Code)
	}
	m := csrfField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no form:\n%s", w.Body)
	}
	login := w.Result().Cookies()
	for _, c := range login {
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("login form cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
		}
	}
	post := httptest.NewRequest("POST", "https://example.org/admin/login", strings.NewReader(url.Values{"user": {"root"}, "password": {"pw"}, "csrf": {m[1]}}.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.RemoteAddr = get.RemoteAddr
	post.TLS = get.TLS
	for _, c := range login {
		post.AddCookie(c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, post)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login over TLS = %d:\n%s", w.Code, w.Body)
	}
	var found bool
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			found = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
			}
		}
	}
	if !found {
		t.Error("no session cookie")
	}
	if w.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS header over TLS")
	}
}

// manyAccounts has more accounts than a page shows.
type manyAccounts struct{ fakeBackend }

func (manyAccounts) Accounts(context.Context) ([]string, error) {
	out := make([]string, maxRows+100)
	for i := range out {
		out[i] = fmt.Sprintf("user%04d", i)
	}
	return out, nil
}

// A long list shows its first maxRows rows and says how many more there
// are; a search finds the others.
func TestLongListsAreCut(t *testing.T) {
	h := New(Config{Backend: manyAccounts{}, Domain: "example.org", Admins: []string{"root@example.org"}})
	se := h.sessions.create("root")
	get := func(path string) string {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:1"
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: se.id})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", path, w.Code)
		}
		return w.Body.String()
	}
	page := get("/admin/accounts")
	if n := strings.Count(page, `<tr data-account=`); n != maxRows || !strings.Contains(page, "100 more not shown") {
		t.Errorf("accounts page: %d rows, more note %v", n, strings.Contains(page, "100 more not shown"))
	}
	page = get("/admin/accounts?q=user0599")
	if !strings.Contains(page, `<tr data-account="user0599"`) || strings.Contains(page, "more not shown") {
		t.Error("search does not find an account past the first page")
	}
}
