package upload

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// Unit tests of the service with a fake clock and a FileStore in a
// temporary directory, driven through RouteStanza and the HTTP handlers.

type fakeRouter struct {
	mu  sync.Mutex
	out []*xml.Element
}

func (r *fakeRouter) Route(ctx context.Context, el *xml.Element, from, to jid.JID) {
	r.mu.Lock()
	r.out = append(r.out, el)
	r.mu.Unlock()
}

func (r *fakeRouter) last(t *testing.T) *xml.Element {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.out) == 0 {
		t.Fatal("no answer")
	}
	return r.out[len(r.out)-1]
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *Service
	r     *fakeRouter
	clock *clock
	http  *httptest.Server
	store *FileStore
}

func newEnv(t *testing.T, quota int64, expire time.Duration) *env {
	t.Helper()
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{r: &fakeRouter{}, clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, store: st}
	e.svc = New(Config{
		Domain: "upload.example", ServerDomain: "example", MaxFileBytes: 1000, QuotaBytes: quota,
		ExpireAfter: expire, Secret: []byte("0123456789abcdef0123456789abcdef"), Store: st, Router: e.r, Now: e.clock.Now,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err := e.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.svc.Shutdown(context.Background()) })
	mux := http.NewServeMux()
	e.svc.Mount(mux)
	e.http = httptest.NewServer(mux)
	t.Cleanup(e.http.Close)
	e.svc.SetBaseURL(e.http.URL)
	return e
}

// request asks for a slot as from and returns the answer.
func (e *env) request(t *testing.T, from, attrs string) *xml.Element {
	t.Helper()
	raw := "<iq xmlns='jabber:client' type='get' id='s1' from='" + from + "' to='upload.example'><request xmlns='urn:xmpp:http:upload:0' " + attrs + "/></iq>"
	el, err := xml.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.RouteStanza(context.Background(), el, jid.MustParse(from), jid.MustParse("upload.example"))
	return e.r.last(t)
}

func slotURLs(t *testing.T, r *xml.Element) (put, get string) {
	t.Helper()
	s := r.Child(NS, "slot")
	if r.Attr("type") != "result" || s == nil {
		t.Fatalf("no slot: %s", r)
	}
	return s.Child(NS, "put").Attr("url"), s.Child(NS, "get").Attr("url")
}

func do(t *testing.T, method, u, ctype string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func errorCondition(r *xml.Element) string {
	e := r.Child("", "error")
	if e == nil {
		for _, c := range r.Elements() {
			if c.Local == "error" {
				e = c
			}
		}
	}
	if e == nil {
		return ""
	}
	for _, c := range e.Elements() {
		if c.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.Local != "text" {
			return e.Attr("type") + "/" + c.Local
		}
	}
	return ""
}

func TestSlotPutGet(t *testing.T) {
	e := newEnv(t, 0, 0)
	body := []byte("hello, upload")
	put, get := slotURLs(t, e.request(t, "alice@example/phone", "filename='ma photo.jpg' size='13' content-type='image/jpeg'"))
	if !strings.HasPrefix(put, get+"?token=") || !strings.HasPrefix(get, e.http.URL+"/upload/") || !strings.HasSuffix(get, "/ma%20photo.jpg") {
		t.Fatalf("put %s get %s", put, get)
	}
	if resp := do(t, "GET", get, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET before PUT: %s", resp.Status)
	}
	if resp := do(t, "PUT", put, "image/jpeg", body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	resp := do(t, "GET", get, "", nil)
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("GET: %s %q", resp.Status, got)
	}
	for k, want := range map[string]string{
		"Content-Type":                "image/jpeg",
		"Content-Disposition":         `inline; filename="ma photo.jpg"; filename*=UTF-8''ma%20photo.jpg`,
		"X-Content-Type-Options":      "nosniff",
		"Access-Control-Allow-Origin": "*",
		"Content-Length":              "13",
	} {
		if v := resp.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	// A second PUT to the same slot is refused; the file stays.
	if resp := do(t, "PUT", put, "image/jpeg", []byte("something else")); resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("second PUT: %s", resp.Status)
	}
	if resp := do(t, "PUT", put, "image/jpeg", []byte("HELLO, UPLOAD")); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second PUT of the same size: %s", resp.Status)
	}
	// Another name on the same key is not the file.
	if resp := do(t, "GET", strings.TrimSuffix(get, "ma%20photo.jpg")+"other.jpg", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET under another name: %s", resp.Status)
	}
	if got := e.svc.Usage("alice@example"); got != 13 {
		t.Errorf("usage %d, want 13", got)
	}
}

func TestSlotErrors(t *testing.T) {
	e := newEnv(t, 0, 0)
	for _, tc := range []struct {
		from, attrs, want string
	}{
		{"alice@example/phone", "filename='a' size='1001'", "modify/not-acceptable"},
		{"alice@example/phone", "filename='' size='1'", "modify/bad-request"},
		{"alice@example/phone", "filename='../../etc/passwd' size='1'", "modify/bad-request"},
		{"alice@example/phone", "filename='a\\b' size='1'", "modify/bad-request"},
		{"alice@example/phone", "filename='..' size='1'", "modify/bad-request"},
		{"alice@example/phone", "filename='a' size='-1'", "modify/bad-request"},
		{"alice@example/phone", "filename='a' size='x'", "modify/bad-request"},
		{"alice@example/phone", "filename='a' size='1' content-type='not a type'", "modify/bad-request"},
		{"mallory@elsewhere/x", "filename='a' size='1'", "cancel/forbidden"},
		{"example", "filename='a' size='1'", "cancel/forbidden"},
	} {
		r := e.request(t, tc.from, tc.attrs)
		if got := errorCondition(r); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.from, tc.attrs, r, tc.want)
		}
	}
	r := e.request(t, "alice@example/phone", "filename='a' size='1001'")
	big := r.Child("", "error")
	for _, c := range r.Elements() {
		if c.Local == "error" {
			big = c
		}
	}
	if ftl := big.Child(NS, "file-too-large"); ftl == nil || ftl.ChildText(NS, "max-file-size") != "1000" {
		t.Errorf("file-too-large: %s", r)
	}
}

func TestPutChecks(t *testing.T) {
	e := newEnv(t, 0, 0)
	put, _ := slotURLs(t, e.request(t, "alice@example/phone", "filename='a.txt' size='5' content-type='text/plain'"))
	u, _ := url.Parse(put)
	q := u.Query()
	tok := q.Get("token")
	for _, tc := range []struct {
		name, url, ctype string
		body             string
		want             int
	}{
		{"no token", strings.Split(put, "?")[0], "text/plain", "12345", http.StatusForbidden},
		{"tampered token", strings.Replace(put, tok, tok[:len(tok)-2]+"xx", 1), "text/plain", "12345", http.StatusForbidden},
		{"other name", strings.Replace(put, "/a.txt?", "/b.txt?", 1), "text/plain", "12345", http.StatusForbidden},
		{"too long", put, "text/plain", "123456", http.StatusRequestEntityTooLarge},
		{"too short", put, "text/plain", "1234", http.StatusBadRequest},
		{"other type", put, "image/png", "12345", http.StatusBadRequest},
	} {
		if resp := do(t, "PUT", tc.url, tc.ctype, []byte(tc.body)); resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
	if e.svc.Usage("alice@example") != 0 {
		t.Errorf("refused PUTs count against the quota: %d", e.svc.Usage("alice@example"))
	}
	e.clock.add(SlotLifetime + time.Second)
	if resp := do(t, "PUT", put, "text/plain", []byte("12345")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired slot: %s", resp.Status)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, 1500, 0)
	put, _ := slotURLs(t, e.request(t, "alice@example/phone", "filename='a' size='1000'"))
	// A slot is granted while the quota has room; the PUT that would go
	// beyond it is refused.
	put2, _ := slotURLs(t, e.request(t, "alice@example/laptop", "filename='b' size='1000'"))
	if resp := do(t, "PUT", put, "", make([]byte, 1000)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	if resp := do(t, "PUT", put2, "", make([]byte, 1000)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("PUT beyond the quota: %s", resp.Status)
	}
	if r := e.request(t, "alice@example/phone", "filename='c' size='501'"); errorCondition(r) != "wait/resource-constraint" {
		t.Fatalf("slot beyond the quota: %s", r)
	}
	slotURLs(t, e.request(t, "alice@example/phone", "filename='c' size='500'"))
	slotURLs(t, e.request(t, "bob@example/phone", "filename='c' size='1000'"))
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, 1000, time.Hour)
	put, get := slotURLs(t, e.request(t, "alice@example/phone", "filename='a' size='600'"))
	if resp := do(t, "PUT", put, "", make([]byte, 600)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	e.clock.add(59 * time.Minute)
	if n, err := e.svc.Expire(context.Background()); n != 0 || err != nil {
		t.Fatalf("expired %d early (%v)", n, err)
	}
	if resp := do(t, "GET", get, "", nil); resp.StatusCode != 200 {
		t.Fatalf("GET: %s", resp.Status)
	}
	e.clock.add(2 * time.Minute)
	// Past expiry the file is gone for readers even before cleanup.
	if resp := do(t, "GET", get, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET after expiry: %s", resp.Status)
	}
	if n, err := e.svc.Expire(context.Background()); n != 1 || err != nil {
		t.Fatalf("expired %d (%v), want 1", n, err)
	}
	if u := e.svc.Usage("alice@example"); u != 0 {
		t.Fatalf("usage after expiry: %d", u)
	}
	n := 0
	_ = e.store.List(context.Background(), func(Object) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d objects left", n)
	}
	// The quota has room again.
	slotURLs(t, e.request(t, "alice@example/phone", "filename='b' size='1000'"))
}

// A restarted service counts what the store holds against the quota.
func TestUsageSurvivesRestart(t *testing.T) {
	e := newEnv(t, 1000, 0)
	put, _ := slotURLs(t, e.request(t, "alice@example/phone", "filename='a' size='700'"))
	if resp := do(t, "PUT", put, "", make([]byte, 700)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	svc := New(Config{Domain: "upload.example", ServerDomain: "example", MaxFileBytes: 1000, QuotaBytes: 1000, Secret: []byte("x"), Store: e.store, Router: e.r})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u := svc.Usage("alice@example"); u != 700 {
		t.Fatalf("usage after restart: %d", u)
	}
}

func TestTraversal(t *testing.T) {
	e := newEnv(t, 0, 0)
	for _, p := range []string{
		"/upload/../../etc/passwd",
		"/upload/%2e%2e/%2e%2e/etc/passwd",
		"/upload/..%2f..%2fetc/passwd",
		"/upload/0123456789abcdef0123456789abcdef/..%2f..%2f..%2fetc%2fpasswd",
		"/upload/ZZ23456789abcdef0123456789abcdef/x",
	} {
		resp := do(t, "GET", e.http.URL+p, "", nil)
		if resp.StatusCode == 200 {
			t.Errorf("GET %s: %s", p, resp.Status)
		}
	}
	if _, _, err := e.store.Open(context.Background(), "../../x"); err != ErrNotFound {
		t.Errorf("Open of a bad key: %v", err)
	}
	if err := e.store.Put(context.Background(), Object{Key: "../x", Size: 1}, strings.NewReader("x")); err == nil {
		t.Errorf("Put of a bad key succeeded")
	}
}

func TestDisposition(t *testing.T) {
	for _, tc := range []struct{ ctype, name, want string }{
		{"image/png", "a.png", `inline; filename="a.png"; filename*=UTF-8''a.png`},
		{"image/svg+xml", "a.svg", `attachment; filename="a.svg"; filename*=UTF-8''a.svg`},
		{"text/html", "x\".html", `attachment; filename="x_.html"; filename*=UTF-8''x%22.html`},
		{"application/pdf", "résumé.pdf", `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`},
	} {
		if got := disposition(tc.ctype, tc.name); got != tc.want {
			t.Errorf("disposition(%s, %s) = %s, want %s", tc.ctype, tc.name, got, tc.want)
		}
	}
}
