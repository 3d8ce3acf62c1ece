package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"minimix/internal/config"
	"minimix/internal/server"
)

// TestStartFailureStopsFeatures: when a listener cannot be opened, Start
// fails and leaves nothing running that it started (issue 9 item 13):
// the account-join sweeper, the MUC service, the listeners opened before.
// Not parallel: it compares the goroutines before and after.
func TestStartFailureStopsFeatures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	cfg.C2S.DirectTLSListen = []string{busy.Addr().String()}
	cfg.HTTP.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Start with a busy port = %v", err)
	}
	if srv.C2SAddr() != nil || srv.HTTPAddr() != nil {
		t.Errorf("listeners left open after a failed start: c2s %v http %v", srv.C2SAddr(), srv.HTTPAddr())
	}
	if err := srv.Store().Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}
