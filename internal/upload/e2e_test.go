package upload_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end: a real server with [http] tls_listen; a mellium client
// finds the upload service the way Conversations does (disco#items of
// the server, then disco#info of each item), asks for a slot and uploads
// and downloads over HTTPS with the server's certificate.

const ns = "urn:xmpp:http:upload:0"

func TestE2EUploadHTTPS(t *testing.T) {
	t.Parallel()
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.TLSListen = "127.0.0.1:0"
		c.Upload.MaxFileBytes = 5000
		c.Upload.QuotaBytes = 8000
	}))
	srv.AddUser(t, "alice", "alice-secret")
	a := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})

	items := a.IQ(t, `<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	found := false
	for _, it := range items.Child("http://jabber.org/protocol/disco#items", "query").Children("http://jabber.org/protocol/disco#items", "item") {
		if it.Attr("jid") == "upload.localhost" {
			found = true
		}
	}
	if !found {
		t.Fatalf("upload.localhost is not in the server's items: %s", items)
	}
	info := a.IQ(t, `<iq type='get' id='d' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	q := info.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		t.Fatalf("disco#info: %s", info)
	}
	if id := q.Child("http://jabber.org/protocol/disco#info", "identity"); id == nil || id.Attr("category") != "store" || id.Attr("type") != "file" {
		t.Errorf("identity: %s", info)
	}
	feature := false
	for _, f := range q.Children("http://jabber.org/protocol/disco#info", "feature") {
		feature = feature || f.Attr("var") == ns
	}
	if !feature {
		t.Errorf("feature %s missing: %s", ns, info)
	}
	if !strings.Contains(info.String(), "max-file-size") || !strings.Contains(info.String(), "5000") {
		t.Errorf("no max-file-size form: %s", info)
	}

	body := bytes.Repeat([]byte("minimix "), 500) // 4000 bytes
	slot := a.IQ(t, `<iq type='get' id='s' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='notes.txt' size='4000' content-type='text/plain'/></iq>`)
	s := slot.Child(ns, "slot")
	if s == nil {
		t.Fatalf("slot: %s", slot)
	}
	put, get := s.Child(ns, "put").Attr("url"), s.Child(ns, "get").Attr("url")
	_, port, _ := strings.Cut(srv.HTTPSAddr().String(), ":")
	if want := "https://localhost:" + port + "/upload/"; !strings.HasPrefix(get, want) || !strings.HasPrefix(put, want) {
		t.Fatalf("slot URLs %s and %s are not under %s", put, get, want)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.RootCAs}}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest("PUT", put, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	resp, err = hc.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "text/plain" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="notes.txt"`) {
		t.Fatalf("GET: %s %d bytes %v", resp.Status, len(got), resp.Header)
	}

	// The quota (8000) leaves room for 4000 more, not 4001.
	r := a.IQ(t, `<iq type='get' id='q' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='b' size='4001'/></iq>`)
	if typ, cond := r.Error(); typ != "wait" || cond != "resource-constraint" {
		t.Errorf("beyond the quota: %s", r)
	}
	r = a.IQ(t, `<iq type='get' id='l' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='b' size='5001'/></iq>`)
	if typ, cond := r.Error(); typ != "modify" || cond != "not-acceptable" || !strings.Contains(r.String(), "file-too-large") {
		t.Errorf("too large: %s", r)
	}

	// The file and the quota's count survive a restart.
	srv.Restart(t)
	_, port, _ = strings.Cut(srv.HTTPSAddr().String(), ":")
	get = "https://localhost:" + port + get[strings.Index(get, "/upload/"):]
	resp, err = hc.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("GET after restart: %s", resp.Status)
	}
	a = srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	r = a.IQ(t, `<iq type='get' id='q2' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='b' size='4001'/></iq>`)
	if typ, cond := r.Error(); typ != "wait" || cond != "resource-constraint" {
		t.Errorf("beyond the quota after restart: %s", r)
	}
}

// Without tls_listen the slot is on the plain HTTP listener, and an
// operator's upload.url is used as given.
func TestE2EUploadURL(t *testing.T) {
	t.Parallel()
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) { c.Upload.URL = "https://files.example.org" }))
	srv.AddUser(t, "alice", "alice-secret")
	a := srv.Dial(t, "alice", "alice-secret", xmpptest.DialOptions{})
	slot := a.IQ(t, `<iq type='get' id='s' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='a.png' size='10'/></iq>`)
	s := slot.Child(ns, "slot")
	if s == nil || !strings.HasPrefix(s.Child(ns, "get").Attr("url"), "https://files.example.org/upload/") {
		t.Fatalf("slot: %s", slot)
	}
}
