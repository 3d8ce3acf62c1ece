package adminweb_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// Before login, every page redirects to the login form and every asset,
// JSON endpoint and POST answers 401, and none shows server data.
func TestNothingReadableBeforeLogin(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/admin/", "/admin/accounts", "/admin/accounts?q=alice", "/admin/sessions", "/admin/joins",
		"/admin/rooms", "/admin/charts", "/admin/no-such-page", "/admin/static/"} {
		res, body := e.do(e.c, "GET", p, nil, nil)
		if p == "/admin/static/" {
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s = %d, want 401", p, res.StatusCode)
			}
		} else if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/login" {
			t.Errorf("GET %s = %d to %q, want 303 to /admin/login", p, res.StatusCode, res.Header.Get("Location"))
		}
		if strings.Contains(body, "alice") || strings.Contains(body, "127.0.0.1") {
			t.Errorf("GET %s shows server data before login:\n%s", p, body)
		}
	}
	for _, p := range []string{"/admin/static/admin.js", "/admin/static/admin.css", "/admin/metrics.json"} {
		res, body := e.do(e.c, "GET", p, nil, nil)
		if res.StatusCode != http.StatusUnauthorized || strings.Contains(body, "function") || strings.Contains(body, "samples") {
			t.Errorf("GET %s = %d, want 401 and nothing of it:\n%s", p, res.StatusCode, body)
		}
	}
	for _, p := range []string{"/admin/accounts/create", "/admin/accounts/delete", "/admin/sessions/end", "/admin/joins/leave", "/admin/rooms/destroy", "/admin/logout"} {
		res, _ := e.do(e.c, "POST", p, url.Values{"name": {"mallory"}, "password": {"mallory-pw"}}, nil)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s = %d, want 401", p, res.StatusCode)
		}
	}
	if ok, _ := e.srv.Store().AccountExists(t.Context(), "mallory"); ok {
		t.Error("an account was created without login")
	}
	// The login form itself is readable, and carries no data.
	res, body := e.do(e.c, "GET", "/admin/login", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) || strings.Contains(body, "alice") {
		t.Errorf("GET /admin/login = %d:\n%s", res.StatusCode, body)
	}
	// A made-up session cookie is no login.
	u, _ := url.Parse(e.base + "/admin/")
	e.c.Jar.SetCookies(u, []*http.Cookie{{Name: "minimix_admin", Value: "forged", Path: "/admin/"}})
	if res, _ := e.do(e.c, "GET", "/admin/accounts", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET with a forged cookie = %d, want 303", res.StatusCode)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	e := newEnv(t)
	for _, user := range []string{admin, admin + "@localhost", "nobody", "not a name@@"} {
		res, body := e.tryLogin(e.c, user, "wrong-password")
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong name or password") {
			t.Errorf("login %q with a wrong password = %d:\n%s", user, res.StatusCode, body)
		}
		for _, c := range res.Cookies() {
			if c.Name == "minimix_admin" && c.Value != "" {
				t.Errorf("a failed login set a session cookie: %v", c)
			}
		}
	}
	if res, _ := e.do(e.c, "GET", "/admin/", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /admin/ after failed logins = %d, want 303 to the login form", res.StatusCode)
	}
	// The bare JID works as well as the localpart.
	res, _ := e.tryLogin(e.c, admin+"@localhost", adminPW)
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("login as %s@localhost = %d, want 303", admin, res.StatusCode)
	}
	// Warnings reach the status page's list of recent errors.
	if page := e.page("/admin/"); !strings.Contains(page, "admin page: failed login") {
		t.Errorf("status page does not list the failed logins:\n%s", page)
	}
}

// An account that is not in admins does not get in with its right
// password.
func TestLoginNonAdmin(t *testing.T) {
	e := newEnv(t)
	res, body := e.tryLogin(e.c, "alice", "alice-secret")
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "not an administrator") {
		t.Fatalf("login as alice = %d:\n%s", res.StatusCode, body)
	}
	if res, _ := e.do(e.c, "GET", "/admin/accounts", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /admin/accounts as a non-admin = %d, want 303", res.StatusCode)
	}
}

// Failed logins are limited per account (from any address) and per
// address (over all accounts): past the limit even the right password is
// refused with 429.
func TestLoginRateLimit(t *testing.T) {
	t.Run("account", func(t *testing.T) {
		e := newEnv(t, xmpptest.WithConfig(func(c *config.Config) {
			c.AdminPage.LoginFailuresPerMinute = 3
			c.AdminPage.AddressLoginFailuresPerMinute = 100
		}))
		for i := range 3 {
			if res, _ := e.tryLogin(e.c, admin, "wrong"); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d, want 401", i+1, res.StatusCode)
			}
		}
		res, body := e.tryLogin(e.c, admin, adminPW)
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed logins") {
			t.Fatalf("right password after 3 failures = %d (Retry-After %q):\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
		}
		// Another account from the same address is not blocked by it.
		if res, _ := e.tryLogin(e.c, "alice", "wrong"); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("another account = %d, want 401 (checked, not limited)", res.StatusCode)
		}
	})
	t.Run("address", func(t *testing.T) {
		e := newEnv(t, xmpptest.WithConfig(func(c *config.Config) {
			c.AdminPage.LoginFailuresPerMinute = 100
			c.AdminPage.AddressLoginFailuresPerMinute = 4
		}))
		for i, u := range []string{"alice", "bob", "carol", "dave"} {
			if res, _ := e.tryLogin(e.c, u, "wrong"); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d, want 401", i+1, res.StatusCode)
			}
		}
		if res, _ := e.tryLogin(e.c, admin, adminPW); res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("admin login from a blocked address = %d, want 429", res.StatusCode)
		}
	})
}

// Every POST needs the session's CSRF token and must not come from
// another origin; the login form has its own token.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	// Login without the form's token, or with a token not matching the
	// cookie.
	res, _ := e.do(e.c, "POST", "/admin/login", url.Values{"user": {admin}, "password": {adminPW}}, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("login without a CSRF token = %d, want 403", res.StatusCode)
	}
	e.do(e.c, "GET", "/admin/login", nil, nil)
	res, _ = e.do(e.c, "POST", "/admin/login", url.Values{"user": {admin}, "password": {adminPW}, "csrf": {"guessed"}}, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("login with a wrong CSRF token = %d, want 403", res.StatusCode)
	}
	e.login()
	token := csrfOf(t, e.page("/admin/accounts"))
	create := func(name string, csrf string, hdr map[string]string) int {
		f := url.Values{"name": {name}, "password": {"password-1"}}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		res, _ := e.do(e.c, "POST", "/admin/accounts/create", f, hdr)
		return res.StatusCode
	}
	for _, tc := range []struct {
		name, csrf string
		hdr        map[string]string
	}{
		{"nocsrf", "", nil},
		{"badcsrf", "x" + token, nil},
		{"crossorigin", token, map[string]string{"Origin": "http://evil.example"}},
		{"crosssite", token, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		if code := create(tc.name, tc.csrf, tc.hdr); code != http.StatusForbidden {
			t.Errorf("%s: POST = %d, want 403", tc.name, code)
		}
		if ok, _ := e.srv.Store().AccountExists(t.Context(), tc.name); ok {
			t.Errorf("%s: the account was created", tc.name)
		}
	}
	// The same form with the token, from the page itself, works.
	if code := create("goodcsrf", token, map[string]string{"Origin": e.base}); code != http.StatusSeeOther {
		t.Errorf("POST with the token = %d, want 303", code)
	}
	if ok, _ := e.srv.Store().AccountExists(t.Context(), "goodcsrf"); !ok {
		t.Error("the account was not created with the right token")
	}
	// A token is the session's: another admin login's token fails.
	other := newClient(t)
	if res, _ := e.tryLogin(other, admin, adminPW); res.StatusCode != http.StatusSeeOther {
		t.Fatal("second login failed")
	}
	res, _ = e.do(other, "POST", "/admin/accounts/create", url.Values{"name": {"swapped"}, "password": {"password-1"}, "csrf": {token}}, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST with another session's token = %d, want 403", res.StatusCode)
	}
}

// The session cookie is HttpOnly, SameSite=Strict and scoped to /admin/
// (Secure over TLS: TestCookieSecureOverTLS); logout ends the session.
func TestCookieFlagsAndLogout(t *testing.T) {
	e := newEnv(t)
	res, _ := e.tryLogin(e.c, admin, adminPW)
	var sess *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "minimix_admin" {
			sess = c
		}
	}
	if sess == nil {
		t.Fatalf("no session cookie in %v", res.Header["Set-Cookie"])
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/admin/" || sess.Secure || len(sess.Value) < 40 {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Strict, Path=/admin/, not Secure over plain HTTP, a long random value", sess)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if res.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	page := e.page("/admin/")
	stolen := newClient(t)
	u, _ := url.Parse(e.base + "/admin/")
	stolen.Jar.SetCookies(u, []*http.Cookie{{Name: "minimix_admin", Value: sess.Value, Path: "/admin/"}})
	res, _ = e.do(e.c, "POST", "/admin/logout", url.Values{"csrf": {csrfOf(t, page)}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", res.StatusCode)
	}
	// The old session id is dead on the server, not only in this jar.
	if res, _ := e.do(stolen, "GET", "/admin/", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET with the logged-out session id = %d, want 303", res.StatusCode)
	}
}

// An admin's logins end when another admin resets the password, and
// when the account is deleted, by whatever path.
func TestLoginEndsWithTheAccount(t *testing.T) {
	e := newEnv(t, xmpptest.WithConfig(func(c *config.Config) {
		c.Admins = append(c.Admins, "alice@localhost")
	}))
	e.login()
	aliceWeb := newClient(t)
	if res, _ := e.tryLogin(aliceWeb, "alice", "alice-secret"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's login = %d", res.StatusCode)
	}
	// A reset of her password by another admin logs her out.
	e.post("/admin/accounts/password", url.Values{"name": {"alice"}, "password": {"alice-secret-2"}})
	if res, _ := e.do(aliceWeb, "GET", "/admin/", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's login after her password was reset: GET /admin/ = %d, want 303", res.StatusCode)
	}
	if res, _ := e.tryLogin(aliceWeb, "alice", "alice-secret-2"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's login with the new password = %d", res.StatusCode)
	}
	if err := e.srv.Accounts.Delete(t.Context(), "alice"); err != nil { // as minimix user del does
		t.Fatal(err)
	}
	if res, _ := e.do(aliceWeb, "GET", "/admin/", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's login after her account was deleted: GET /admin/ = %d, want 303", res.StatusCode)
	}
	e.page("/admin/") // root's login is untouched
}
