package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/server"
	"minimix/internal/xmpptest"
)

// TestE2EAdminAPIAuth checks who may use the operator API (issue 9 item
// 11): a loopback source is not enough. Without the token of
// data_dir/admin.token (a local user, a same-host proxy, a web page
// posting to 127.0.0.1 as in CSRF) or with a Host that is not loopback
// (DNS rebinding), nothing is listed and nobody is made to leave.
func TestE2EAdminAPIAuth(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"})
	a := loginAs(t, srv, "alice")
	room := "adminauth@conference.localhost"
	a.SendRaw(t, fmt.Sprintf(`<presence to='%s/al'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, room))
	a.Expect(t, "self-presence", isPresence(room+"/al", ""))

	fi, err := os.Stat(server.AdminTokenPath(srv.Config.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	token, err := server.ReadAdminToken(srv.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.HTTPAddr().String()
	do := func(method, path, auth, host string, form url.Values, header ...string) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if host != "" {
			req.Host = host
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		// Redirects are not followed: the admin page's answer to the
		// token is its redirect to the login form.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	leave := url.Values{"account": {"alice@localhost"}, "room": {room}}

	for _, tc := range []struct {
		name, method, path, auth, host string
		form                           url.Values
		header                         []string
		want                           int
	}{
		{"no token", "GET", "/api/joins", "", "", nil, nil, http.StatusUnauthorized},
		{"wrong token", "GET", "/api/joins", "Bearer " + strings.Repeat("0", len(token)), "", nil, nil, http.StatusUnauthorized},
		{"token as basic auth", "GET", "/api/joins", "Basic " + token, "", nil, nil, http.StatusUnauthorized},
		{"token in the query", "GET", "/api/joins?token=" + token, "", "", nil, nil, http.StatusUnauthorized},
		{"CSRF form post", "POST", "/api/joins/leave", "", "", leave, []string{"Origin", "http://evil.example", "Cookie", "a=b"}, http.StatusUnauthorized},
		{"DNS rebinding", "GET", "/api/joins", "Bearer " + token, "evil.example:5280", nil, nil, http.StatusForbidden},
		{"rebinding a loopback-looking name", "GET", "/api/joins", "Bearer " + token, "127.0.0.1.evil.example", nil, nil, http.StatusForbidden},
		// /admin/ is the web admin page now: the API's token is no login
		// there.
		{"old path", "GET", "/admin/joins", "Bearer " + token, "", nil, nil, http.StatusSeeOther},
		{"old path post", "POST", "/admin/joins/leave", "Bearer " + token, "", leave, nil, http.StatusUnauthorized},
	} {
		if code, body := do(tc.method, tc.path, tc.auth, tc.host, tc.form, tc.header...); code != tc.want {
			t.Errorf("%s: %s %s = %d %q, want %d", tc.name, tc.method, tc.path, code, body, tc.want)
		}
	}
	// Nothing above made alice leave.
	if code, body := srv.Admin(t, "GET", "joins", nil); code != http.StatusOK || !strings.Contains(string(body), room) {
		t.Fatalf("joins with the token: %d %s", code, body)
	}
	// The loopback names a client may use are accepted.
	for _, host := range []string{"localhost:1", "[::1]:5280", "127.0.0.1"} {
		if code, body := do("GET", "/api/joins", "Bearer "+token, host, nil); code != http.StatusOK {
			t.Errorf("Host %s: %d %q", host, code, body)
		}
	}
	if code, body := srv.Admin(t, "POST", "joins/leave", leave); code != http.StatusNoContent {
		t.Fatalf("leave with the token: %d %s", code, body)
	}
	a.Expect(t, "unavailable after the forced leave", isPresence(room+"/al", "unavailable"))
}

// A token file that others may read is replaced at start: the old token
// may have leaked.
func TestE2EAdminTokenReplacedWhenReadable(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	path := server.AdminTokenPath(srv.Config.DataDir)
	old, err := server.ReadAdminToken(srv.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	if again, _ := server.ReadAdminToken(srv.Config.DataDir); again != old {
		t.Errorf("a private token changed across a restart")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v after restart, want 0600", fi.Mode().Perm())
	}
	if now, _ := server.ReadAdminToken(srv.Config.DataDir); now == old {
		t.Errorf("a token that others could read was kept")
	}
	if code, body := srv.Admin(t, "GET", "joins", nil); code != http.StatusOK {
		t.Errorf("joins with the new token: %d %s", code, body)
	}
}

// /metrics follows [http] metrics_allow and metrics_token_file (issue 10
// item 14); /healthz stays open to load balancers.
func TestE2EMetricsAccess(t *testing.T) {
	t.Parallel()
	get := func(srv *xmpptest.Server, path, auth string) int {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+srv.HTTPAddr().String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Loopback is not in the allowed networks: refused.
	srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) { c.HTTP.MetricsAllow = []string{"10.0.0.0/8"} }))
	if code := get(srv, "/metrics", ""); code != http.StatusForbidden {
		t.Errorf("/metrics from outside metrics_allow: %d", code)
	}
	if code := get(srv, "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	// A token is wanted as well.
	tokenFile := filepath.Join(t.TempDir(), "metrics.token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-scrape\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) { c.HTTP.MetricsTokenFile = tokenFile }))
	for auth, want := range map[string]int{
		"":                     http.StatusUnauthorized,
		"Bearer wrong":         http.StatusUnauthorized,
		"Bearer s3cret-scrape": http.StatusOK,
	} {
		if code := get(srv, "/metrics", auth); code != want {
			t.Errorf("/metrics with Authorization %q: %d, want %d", auth, code, want)
		}
	}
	// metrics_allow = [] lets every client that reaches the listener in.
	srv = startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) { c.HTTP.MetricsAllow = []string{} }))
	if code := get(srv, "/metrics", ""); code != http.StatusOK {
		t.Errorf("/metrics with metrics_allow = []: %d", code)
	}
}

// The running server's profiles are behind the admin API's guard.
func TestE2EAdminProfiles(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	if code, body := srv.Admin(t, "GET", "debug/pprof/", nil); code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("profile index with the token: %d %.200s", code, body)
	}
	if code, body := srv.Admin(t, "GET", "debug/pprof/heap?debug=1", nil); code != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Errorf("heap profile with the token: %d %.200s", code, body)
	}
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + server.AdminAPIPrefix + "debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("heap profile without the token: %d, want 401", resp.StatusCode)
	}
}
