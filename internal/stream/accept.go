package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Listeners are the listeners a server accepts connections on, closed
// together when it shuts down. The zero value is ready to use.
type Listeners struct {
	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	closed bool
}

// Serve accepts connections on ln and hands each to serve, until ln
// fails for good or Close is called (then it returns closed). Failures
// that pass (out of file descriptors or buffers, a connection aborted
// before it was accepted) are retried after a pause that doubles up to a
// second, as net/http does, instead of spinning or giving up the
// listener. serve must not block; it returns false when the server began
// shutting down meanwhile, which ends Serve with closed too.
func (l *Listeners) Serve(ln net.Listener, closed error, log *slog.Logger, serve func(net.Conn) bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return closed
	}
	if l.lns == nil {
		l.lns = make(map[net.Listener]struct{})
	}
	l.lns[ln] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.lns, ln)
		l.mu.Unlock()
	}()
	return accept(ln, l.Closed, closed, log, serve)
}

// Close closes every listener; Serve returns.
func (l *Listeners) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for ln := range l.lns {
		_ = ln.Close()
	}
}

// Closed reports whether Close was called.
func (l *Listeners) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func accept(ln net.Listener, closing func() bool, closed error, log *slog.Logger, serve func(net.Conn) bool) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if closing() {
				return closed
			}
			if temporaryAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn("accept failed; retrying", "addr", ln.Addr().String(), "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		if !serve(nc) {
			return closed
		}
	}
}

// temporaryAcceptError reports whether an accept failure may pass.
func temporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
