package web_test

import (
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

const (
	relWS   = "urn:xmpp:alt-connections:websocket"
	relBOSH = "urn:xmpp:alt-connections:xbosh"
)

// hostMeta fetches both XEP-0156 documents from base and returns the
// links each names, by rel.
func hostMeta(t *testing.T, client *http.Client, base string) (xrd, jrd map[string]string) {
	t.Helper()
	get := func(path, wantType string) []byte {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Type"); got != wantType && got != wantType+"; charset=utf-8" {
			t.Errorf("%s: Content-Type %q, want %s", path, got, wantType)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want *", path, got)
		}
		return b
	}
	var doc struct {
		XMLName xml.Name `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"Link"`
	}
	if err := xml.Unmarshal(get("/.well-known/host-meta", "application/xrd+xml"), &doc); err != nil {
		t.Fatalf("host-meta: %v", err)
	}
	xrd = make(map[string]string)
	for _, l := range doc.Links {
		xrd[l.Rel] = l.Href
	}
	var j struct {
		Links []struct {
			Rel  string `json:"rel"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.Unmarshal(get("/.well-known/host-meta.json", "application/json"), &j); err != nil {
		t.Fatalf("host-meta.json: %v", err)
	}
	jrd = make(map[string]string)
	for _, l := range j.Links {
		jrd[l.Rel] = l.Href
	}
	return xrd, jrd
}

// TestHostMeta: XEP-0156's documents name both endpoints, with the URL
// the client came to; with an HTTPS listener, its https:// and wss://
// URLs, also when asked over plain HTTP; under public_url when set.
func TestHostMeta(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, client *http.Client, base, ws, bosh string) {
		t.Helper()
		xrd, jrd := hostMeta(t, client, base)
		for name, links := range map[string]map[string]string{"host-meta": xrd, "host-meta.json": jrd} {
			if links[relWS] != ws || links[relBOSH] != bosh || len(links) != 2 {
				t.Errorf("%s names %v, want %s and %s", name, links, ws, bosh)
			}
		}
	}
	t.Run("plain", func(t *testing.T) {
		srv := startServer(t, nil)
		a := srv.HTTPAddr().String()
		check(t, http.DefaultClient, "http://"+a, "ws://"+a+"/xmpp-websocket", "http://"+a+"/http-bind")
	})
	t.Run("tls_listen", func(t *testing.T) {
		srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
			c.HTTP.TLSListen = "127.0.0.1:0"
		}))
		a := srv.HTTPSAddr().String()
		_, port, _ := net.SplitHostPort(a)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: srv.Domain}}}
		t.Cleanup(client.CloseIdleConnections)
		check(t, client, "https://"+a, "wss://"+a+"/xmpp-websocket", "https://"+a+"/http-bind")
		// Over plain HTTP, asked as localhost: the HTTPS port on that host.
		_, hport, _ := net.SplitHostPort(srv.HTTPAddr().String())
		check(t, http.DefaultClient, "http://localhost:"+hport, "wss://localhost:"+port+"/xmpp-websocket", "https://localhost:"+port+"/http-bind")
	})
	t.Run("public_url", func(t *testing.T) {
		srv := startServer(t, nil, xmpptest.WithConfig(func(c *config.Config) {
			c.HTTP.PublicURL = "https://chat.example.org/"
		}))
		check(t, http.DefaultClient, "http://"+srv.HTTPAddr().String(), "wss://chat.example.org/xmpp-websocket", "https://chat.example.org/http-bind")
	})
}
