package web

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
)

// XEP-0156: a web client that knows only the domain finds the
// endpoints at /.well-known/host-meta (XRD) or host-meta.json (JRD).

const (
	relWebSocket = "urn:xmpp:alt-connections:websocket"
	relBOSH      = "urn:xmpp:alt-connections:xbosh"
)

// links returns the endpoints' rel and URL, for r: under the public
// URL if one is configured; otherwise on the host r asked for, over
// HTTPS when there is an HTTPS listener (browsers refuse ws:// from an
// https:// page, and XEP-0156 wants TLS), else as r came.
func (h *Handler) links(r *http.Request) [][2]string {
	base := strings.TrimSuffix(h.cfg.PublicURL, "/")
	if base == "" {
		base = h.baseURL(r)
	}
	var out [][2]string
	if h.cfg.WebSocket {
		ws := "ws" + strings.TrimPrefix(base, "http") + WebSocketPath
		out = append(out, [2]string{relWebSocket, ws})
	}
	if h.cfg.BOSH {
		out = append(out, [2]string{relBOSH, base + BOSHPath})
	}
	return out
}

func (h *Handler) baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	if h.cfg.HTTPSAddr != nil {
		if a := h.cfg.HTTPSAddr(); a != nil {
			host := r.Host
			if hh, _, err := net.SplitHostPort(r.Host); err == nil {
				host = hh
			}
			if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
				host = "[" + host + "]"
			}
			_, port, err := net.SplitHostPort(a.String())
			if err == nil {
				if port == "443" {
					return "https://" + host
				}
				return "https://" + host + ":" + port
			}
		}
	}
	return "http://" + r.Host
}

// hostMetaCORS lets every page read the discovery documents: they say
// nothing that is not public, and web clients on other origins need them.
func hostMetaCORS(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

func (h *Handler) serveHostMeta(w http.ResponseWriter, r *http.Request) {
	hostMetaCORS(w)
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	var b strings.Builder
	b.WriteString("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n")
	for _, l := range h.links(r) {
		b.WriteString("  <Link rel='" + l[0] + "' href='" + xmlAttr(l[1]) + "'/>\n")
	}
	b.WriteString("</XRD>\n")
	_, _ = w.Write([]byte(b.String()))
}

func (h *Handler) serveHostMetaJSON(w http.ResponseWriter, r *http.Request) {
	hostMetaCORS(w)
	w.Header().Set("Content-Type", "application/json")
	type link struct {
		Rel  string `json:"rel"`
		Href string `json:"href"`
	}
	doc := struct {
		Links []link `json:"links"`
	}{Links: []link{}}
	for _, l := range h.links(r) {
		doc.Links = append(doc.Links, link{Rel: l[0], Href: l[1]})
	}
	_ = json.NewEncoder(w).Encode(doc)
}

func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}
