package c2s_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"minimix/internal/c2s"
	"minimix/internal/router"
)

// flakyListener fails its first accepts with errs, then blocks until
// closed.
type flakyListener struct {
	errs    []error
	calls   atomic.Int32
	accepts chan int // the number of each Accept call
	closed  chan struct{}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	n := int(l.calls.Add(1)) - 1
	l.accepts <- n + 1
	if n < len(l.errs) {
		return nil, l.errs[n]
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *flakyListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestServeSurvivesDescriptorExhaustion checks that running out of file
// descriptors (EMFILE, ENFILE) does not end the listener: accepting backs
// off and goes on, as net/http's does.
func TestServeSurvivesDescriptorExhaustion(t *testing.T) {
	accept := func(errno syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
	}
	ln := &flakyListener{
		errs:    []error{accept(syscall.EMFILE), accept(syscall.ENFILE), accept(syscall.EMFILE)},
		accepts: make(chan int, 10),
		closed:  make(chan struct{}),
	}
	srv := c2s.New(c2s.Config{Domain: testDomain, Router: router.New(router.Config{Domain: testDomain, Registry: router.NewRegistry()})})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, false) }()
	for {
		select {
		case n := <-ln.accepts:
			if n <= len(ln.errs) {
				continue
			}
		case err := <-served:
			t.Fatalf("Serve ended after an accept error: %v", err)
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, c2s.ErrServerClosed) {
		t.Fatalf("Serve returned %v after Shutdown, want ErrServerClosed", err)
	}
}
