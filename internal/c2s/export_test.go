package c2s

import "minimix/internal/router"

// TestHooks are the points where a test may stop the server; see testHooks.
type TestHooks struct {
	ReadEnded   func(s router.Session)
	WriteFailed func()
}

// WithTestHooks makes a server built from cfg call h.
func WithTestHooks(cfg *Config, h TestHooks) {
	cfg.test = &testHooks{readEnded: h.ReadEnded, writeFailed: h.WriteFailed}
}
