package stream

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A flood of one message leaves a readable log: a burst of lines, then a
// few a second, each saying how many were left out since the last.
func TestRateLog(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRateLog(slog.New(slog.NewTextHandler(&buf, nil)))
	r.now = func() time.Time { return now }
	for range 1000 {
		r.Info("login failed", "remote", "192.0.2.1")
	}
	r.Info("another message")
	if got := strings.Count(buf.String(), `msg="login failed"`); got != rateLogBurst {
		t.Errorf("%d lines of a flood at once, want %d", got, rateLogBurst)
	}
	if !strings.Contains(buf.String(), `msg="another message"`) {
		t.Errorf("another message was held back by the flood of one")
	}
	buf.Reset()
	now = now.Add(time.Second)
	for range 1000 {
		r.Info("login failed", "remote", "192.0.2.1")
	}
	out := buf.String()
	if got := strings.Count(out, `msg="login failed"`); got != rateLogRate {
		t.Errorf("%d lines a second later, want %d:\n%s", got, rateLogRate, out)
	}
	if !strings.Contains(out, "suppressed_since_last=990") {
		t.Errorf("the first line after the pause does not count what was left out:\n%s", out)
	}
}
