package c2s

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/router"
	"minimix/internal/sasl"
	"minimix/internal/storage"
)

// A connection whose client sends nothing in time is cut with
// <connection-timeout/>, and the log says so and why (issue 10 item 13):
// here a client that connects and never opens its stream.
func TestIdleCutLogged(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	srv := New(Config{
		Domain: "localhost",
		Router: router.New(router.Config{Domain: "localhost", Registry: router.NewRegistry(), Logger: log}),
		SASL: sasl.NewServer(func(context.Context, string) (storage.Credentials, error) {
			return storage.Credentials{}, storage.ErrNotFound
		}, nil),
		NegotiateTimeout: 50 * time.Millisecond,
		Logger:           log,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, false) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-served
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("reading until the server closes: %v (got %q)", err, got)
	}
	if !strings.Contains(string(got), "<connection-timeout") {
		t.Errorf("the server closed without <connection-timeout/>: %q", got)
	}
	if srv.Stats.TimedOut.Load() != 1 {
		t.Errorf("%d timeouts counted", srv.Stats.TimedOut.Load())
	}
	out := buf.String()
	for _, want := range []string{`msg="connection cut: the client sent nothing in time"`, "remote=127.0.0.1", "stage=negotiation", "timeout=50ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
