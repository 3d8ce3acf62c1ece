package server

import (
	"log"
	"log/slog"
	"strings"
)

// slogErrorLog adapts a structured logger to the *log.Logger that
// net/http reports connection-level problems to (TLS handshakes, bad
// requests, timeouts), so they reach the server's log at warn level.
func slogErrorLog(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}
