package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/storage"
)

// failingStore is a backend whose database stopped answering.
type failingStore struct{ storage.Store }

func (failingStore) Ping(context.Context) error { return errors.New("database is locked") }

// TestHealthAndReady (issue 13 item 6): /healthz answers while the
// process lives; /readyz answers 200 only when the listeners are open and
// the storage answers a query, and 503 naming what is wrong otherwise
// (before Start, storage failing, shutting down).
func TestHealthAndReady(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.C2S.Listen, cfg.C2S.DirectTLSListen = []string{"127.0.0.1:0"}, nil
	cfg.S2S.Enabled = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Components.Listen = nil
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := s.httpHandler()
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, w.Body.String()
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "listeners: not open") {
		t.Errorf("/readyz before Start: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz before Start: %d", code)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "storage: ok (sqlite)") {
		t.Errorf("/readyz when serving: %d %q", code, body)
	}
	real := s.store
	s.store = failingStore{real}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "storage: database is locked") {
		t.Errorf("/readyz with storage failing: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with storage failing: %d (alive all the same)", code)
	}
	s.store = real
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz after Shutdown: %d %q", code, body)
	}
}
