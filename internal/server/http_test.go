package server

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"minimix/internal/config"
)

// The HTTP listener bounds every phase of a request, not only the
// headers (issue 9 item 13): a client that trickles a body, reads an
// answer slowly or idles between requests is cut off.
func TestHTTPServerTimeouts(t *testing.T) {
	s := &Server{cfg: config.Default(), log: slog.New(slog.DiscardHandler)}
	srv := s.newHTTPServerFor(nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("http.Server timeouts: header %v read %v write %v idle %v max header %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

type addrListener struct {
	net.Listener
	addr string
}

func (l addrListener) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", l.addr)
	return a
}

// A listener that other hosts can reach is logged as a warning that says
// what they get (issue 10 item 14); a loopback one is not.
func TestWarnExposedHTTP(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		allow []string
		want  string // "" for no warning
	}{
		{"127.0.0.1:5280", nil, ""},
		{"[::1]:5280", nil, ""},
		{"0.0.0.0:5280", []string{"127.0.0.0/8", "::1/128"}, `metrics="to [127.0.0.0/8 ::1/128] without a token"`},
		{"[::]:5280", nil, `metrics="to every client without a token"`},
		{"192.0.2.1:5280", []string{"10.0.0.0/8"}, `metrics="to [10.0.0.0/8] without a token"`},
	} {
		var buf bytes.Buffer
		cfg := config.Default()
		cfg.HTTP.MetricsAllow = tc.allow
		m, err := loadMetricsAccess(tc.allow, "")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{cfg: cfg, log: slog.New(slog.NewTextHandler(&buf, nil)), metrics: m}
		s.warnExposedHTTP(addrListener{addr: tc.addr})
		got := buf.String()
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: unexpected log %q", tc.addr, got)
		case tc.want != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, tc.want)):
			t.Errorf("%s: log %q lacks a warning with %s", tc.addr, got, tc.want)
		}
	}
}
