package logctx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx := WithSession(context.Background(), "abc123")
	log.InfoContext(ctx, "with")
	log.InfoContext(ctx, "explicit", Key, "abc123")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.Contains(lines[0], `"session":"abc123"`) || !strings.Contains(lines[0], `"component":"test"`) {
		t.Errorf("line with a session context: %s", lines[0])
	}
	if strings.Count(lines[1], `"session"`) != 1 {
		t.Errorf("session given twice: %s", lines[1])
	}
	if strings.Contains(lines[2], "session") {
		t.Errorf("line without a session context: %s", lines[2])
	}
	if a, b := NewID(), NewID(); a == b || len(a) != 16 {
		t.Errorf("NewID: %q %q", a, b)
	}
}
