package server

import (
	"crypto/tls"
	"net/http"
	"net/netip"

	"minimix/internal/web"
	"minimix/internal/xml"
)

// buildWeb makes the browsers' ways in (WebSocket, BOSH, host-meta) of
// [http].
func (s *Server) buildWeb() *web.Handler {
	h := s.cfg.HTTP
	var secure []netip.Prefix
	for _, c := range h.SecureNetworks {
		if p, err := netip.ParsePrefix(c); err == nil { // validated
			secure = append(secure, p.Masked())
		}
	}
	return web.New(web.Config{
		Domain: s.cfg.Domain,
		C2S:    s.C2S,
		Limits: xml.Limits{
			MaxStanzaBytes: s.cfg.Limits.MaxStanzaBytes,
			MaxDepth:       s.cfg.Limits.MaxDepth,
			MaxHeaderBytes: s.cfg.Limits.MaxHeaderBytes,
		},
		WebSocket:      h.WebSocket,
		BOSH:           h.BOSH,
		AllowedOrigins: h.AllowedOrigins,
		SecureNetworks: secure,
		PublicURL:      h.PublicURL,
		HTTPSAddr:      s.HTTPSAddr,
		PingInterval:   h.WebSocketPingInterval.Duration,
		WriteTimeout:   s.cfg.C2S.WriteTimeout.Duration,
		BOSHConfig: web.BOSHConfig{
			MaxWait:    h.BOSHMaxWait.Duration,
			Inactivity: h.BOSHInactivity.Duration,
			MaxPause:   h.BOSHMaxPause.Duration,
			MaxHold:    h.BOSHMaxHold,
		},
		Logger: s.log,
	})
}

// httpsConfig is the TLS of [http] tls_listen: the server's certificate,
// HTTP/1.1 only (WebSocket runs over HTTP/1.1).
func httpsConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.NextProtos = []string{"http/1.1"}
	return c
}

// newHTTPSServer serves the HTTP listener's handler over TLS.
func (s *Server) newHTTPSServer(h http.Handler) *http.Server {
	srv := s.newHTTPServerFor(h)
	srv.TLSConfig = httpsConfig(s.tlsConfig)
	// No HTTP/2: an empty map, not nil, keeps net/http from adding it.
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	return srv
}

// Web returns the handler of the browsers' ways in.
func (s *Server) Web() *web.Handler { return s.web }
