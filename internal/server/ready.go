package server

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// readyTimeout bounds the storage check of /readyz.
const readyTimeout = 2 * time.Second

// pinger is a storage backend that can say whether it answers.
type pinger interface{ Ping(context.Context) error }

// ready checks what /readyz reports: the listeners are open and not
// shutting down, and the storage answers a query. It returns the
// problems and a line per check.
func (s *Server) ready(ctx context.Context) (problems []string, report string) {
	var b strings.Builder
	s.mu.Lock()
	started, stopped, n := s.started, s.stopped, len(s.listeners)
	s.mu.Unlock()
	switch {
	case stopped:
		problems = append(problems, "listeners")
		b.WriteString("listeners: shutting down\n")
	case !started || n == 0:
		problems = append(problems, "listeners")
		b.WriteString("listeners: not open\n")
	default:
		fmt.Fprintf(&b, "listeners: %d open\n", n)
	}
	if p, ok := s.store.(pinger); ok {
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			problems = append(problems, "storage")
			fmt.Fprintf(&b, "storage: %v\n", err)
			s.log.Warn("/readyz: storage does not answer", "err", err)
		} else {
			fmt.Fprintf(&b, "storage: ok (%s)\n", s.cfg.Storage.Driver)
		}
	} else {
		fmt.Fprintf(&b, "storage: ok (%s, not checked)\n", s.cfg.Storage.Driver)
	}
	return problems, b.String()
}
