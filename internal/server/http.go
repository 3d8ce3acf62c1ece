package server

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"minimix/internal/adminweb"
)

// Timeouts of the HTTP listener. Its clients are health checks, metrics
// scrapers and the command line: small requests and answers, so that a
// client that sends or reads slowly is cut off rather than holding a
// connection.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 64 << 10
)

func (s *Server) newHTTPServer() *http.Server { return s.newHTTPServerFor(s.httpHandler()) }

func (s *Server) newHTTPServerFor(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slogErrorLog(s.log.With("component", "http")),
	}
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	// /healthz: the process is alive and serves HTTP (a liveness
	// probe); /readyz: it can serve clients, its storage answers and its
	// listeners are open (a readiness probe, a load balancer's check).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		problems, report := s.ready(r.Context())
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready\n%s", report)
			return
		}
		_, _ = fmt.Fprintf(w, "ready\n%s", report)
	})
	mux.Handle("GET /metrics", s.metricsGuard(s.Metrics.Handler()))
	s.registerAdmin(mux)
	if s.adminPage != nil {
		mux.Handle(adminweb.Prefix, s.adminPage)
	}
	s.web.Register(mux)
	if s.features != nil && s.features.upload != nil {
		s.features.upload.Mount(mux)
	}
	return s.certs.httpHandler(mux)
}

// metricsAccess is who may read /metrics: clients from allow (every
// client when allow is empty) that carry token (when set).
type metricsAccess struct {
	allow []netip.Prefix
	token string
}

// loadMetricsAccess reads [http] metrics_allow and metrics_token_file.
func loadMetricsAccess(allow []string, tokenFile string) (metricsAccess, error) {
	var m metricsAccess
	for _, a := range allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return m, fmt.Errorf("http.metrics_allow: %w", err)
		}
		m.allow = append(m.allow, p.Masked())
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return m, fmt.Errorf("http.metrics_token_file: %w", err)
		}
		m.token = strings.TrimSpace(string(b))
		if m.token == "" {
			return m, fmt.Errorf("http.metrics_token_file %s is empty", tokenFile)
		}
	}
	return m, nil
}

// allowed reports whether a client at addr may scrape.
func (m metricsAccess) allowed(addr netip.Addr) bool {
	if len(m.allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range m.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// metricsGuard applies [http] metrics_allow and metrics_token_file.
func (s *Server) metricsGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		addr, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !s.metrics.allowed(addr) {
			http.Error(w, "metrics are not served to this address (http.metrics_allow)", http.StatusForbidden)
			return
		}
		if s.metrics.token != "" {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.metrics.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="minimix metrics"`)
				http.Error(w, "metrics need the bearer token (http.metrics_token_file)", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// warnExposedHTTP logs a warning when the HTTP listener is reachable from
// other hosts, saying what it serves to them.
func (s *Server) warnExposedHTTP(ln net.Listener) {
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil || ap.Addr().Unmap().IsLoopback() {
		return
	}
	metrics := "to every client"
	if len(s.metrics.allow) > 0 {
		metrics = fmt.Sprintf("to %v", s.cfg.HTTP.MetricsAllow)
	}
	if s.metrics.token != "" {
		metrics += " with the bearer token"
	} else {
		metrics += " without a token"
	}
	s.log.Warn("the HTTP listener is not on loopback: other hosts can reach it",
		"http", ln.Addr().String(),
		"healthz", "to every client",
		"metrics", metrics,
		"admin_api", "loopback clients with the token only",
		"admin_page", s.adminPageExposure(),
		"hint", "set http.listen to 127.0.0.1:PORT, or restrict http.metrics_allow and set http.metrics_token_file")
}

// adminPageExposure says to whom the admin page is served.
func (s *Server) adminPageExposure() string {
	if s.adminPage == nil {
		return "off"
	}
	return "login form to every client; passwords only from loopback clients or over HTTPS"
}
