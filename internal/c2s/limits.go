package c2s

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"minimix/internal/sasl"
)

// The per-session read rate (issue 10 item 12): every client connection
// is read at most ReadRate bytes per second with a burst of ReadBurst,
// as Prosody's mod_limits and ejabberd's shapers do. A client that sends
// faster is not cut off and nothing it sent is dropped: its connection
// is simply read later, so its data waits in the kernel's buffers and TCP
// flow control holds the client back (backpressure). The limit applies
// from the first byte, negotiation included, and is lifted when an
// account that Config.Unlimited names (the server's admins)
// authenticates. The server's own components (the MUC service, account
// joins) do not come in through client connections and are never
// limited.

// Clock is the time the read limiter uses; tests give a fake one.
type Clock interface {
	Now() time.Time
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SetClock replaces the read limiter's clock. Call it before Serve.
func (s *Server) SetClock(c Clock) { s.clock.Store(&c) }

func (s *Server) now() Clock {
	if c := s.clock.Load(); c != nil {
		return *c
	}
	return realClock{}
}

// readThrottle holds a connection's reads to a rate: a read of n bytes
// waits until the rate has paid for them. TCP connections read through
// it (throttledConn); framed ones (WebSocket, BOSH) wait in it after each
// element, which holds their transport back the same way.
type readThrottle struct {
	clock Clock
	lim   atomic.Pointer[rate.Limiter] // nil: unlimited
	// throttled is set the first time a read had to wait, for the log.
	throttled atomic.Bool
	onWait    func() // called the first time a read waits

	closeOnce sync.Once
	closed    chan struct{}
}

func newReadThrottle(bytesPerSecond float64, burst int, clock Clock, onWait func()) *readThrottle {
	t := &readThrottle{clock: clock, onWait: onWait, closed: make(chan struct{})}
	if bytesPerSecond > 0 {
		l := rate.NewLimiter(rate.Limit(bytesPerSecond), burst)
		// A new connection starts with a full burst.
		t.lim.Store(l)
	}
	return t
}

// unlimit lifts the limit (an admin authenticated).
func (t *readThrottle) unlimit() { t.lim.Store(nil) }

// close ends every wait, now and later.
func (t *readThrottle) close() { t.closeOnce.Do(func() { close(t.closed) }) }

// wait pays for n bytes read, waiting as long as the rate says. A close
// or ctx ends the wait.
func (t *readThrottle) wait(ctx context.Context, n int) error {
	l := t.lim.Load()
	if l == nil || n <= 0 {
		return nil
	}
	now := t.clock.Now()
	r := l.ReserveN(now, min(n, l.Burst()))
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if !t.throttled.Swap(true) && t.onWait != nil {
		t.onWait()
	}
	select {
	case <-t.clock.After(d):
		return nil
	case <-t.closed:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// throttledConn is a client's TCP connection whose reads are limited to a
// rate. It is the connection's raw conn: TLS reads through it, deadlines
// and Close pass through to the socket.
type throttledConn struct {
	net.Conn
	*readThrottle
}

func newThrottledConn(nc net.Conn, bytesPerSecond float64, burst int, clock Clock, onWait func()) *throttledConn {
	return &throttledConn{Conn: nc, readThrottle: newReadThrottle(bytesPerSecond, burst, clock, onWait)}
}

func (t *throttledConn) Read(p []byte) (int, error) {
	l := t.lim.Load()
	if l == nil {
		return t.Conn.Read(p)
	}
	// Never take more than a burst at once, so that what was read can
	// always be paid for.
	if b := l.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := t.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	// The bytes are handed over only after the wait: until then the
	// reader does not come back for more, and the client is held back
	// by TCP. A close ends the wait.
	if werr := t.wait(context.Background(), n); werr != nil {
		return 0, werr
	}
	return n, err
}

// SyscallConn gives the socket to what waits on it without reading: the
// idle poller (idle_linux.go).
func (t *throttledConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := t.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (t *throttledConn) Close() error {
	t.close()
	return t.Conn.Close()
}

// authenticated runs when the connection's client has authenticated: the
// accounts the operator exempts (the server's admins) are no longer
// limited.
func (c *conn) authenticated() {
	if u := c.srv.cfg.Unlimited; u != nil && u(c.authUser) {
		if tc, ok := c.raw.(*throttledConn); ok {
			tc.unlimit()
		}
		if c.throttle != nil {
			c.throttle.unlimit()
		}
		c.limiter = nil
	}
}

// timedOut logs a connection cut because its client sent nothing in
// time, and why.
func (c *conn) timedOut(stage string) {
	c.srv.Stats.TimedOut.Add(1)
	args := append(c.log(), "stage", stage)
	if stage != "session" {
		args = append(args, "timeout", c.srv.cfg.NegotiateTimeout)
	}
	if c.authUser != "" {
		args = append(args, "user", c.authUser)
	}
	c.srv.logs.Info("connection cut: the client sent nothing in time", args...)
}

// failedUser returns the account a failed login tried, for the log.
func failedUser(err error) string {
	var f *sasl.Failure
	if errors.As(err, &f) {
		return f.User
	}
	return ""
}
