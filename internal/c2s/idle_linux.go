package c2s

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// On Linux an idle connection has no goroutine at all: its reader parks
// it in the server's idlePoller, an epoll set watched by one goroutine,
// and ends. When the socket becomes readable, or the server closes the
// connection, a new reader goroutine starts where the old one stopped.
// A goroutine waiting in a read costs a stack of at least 2 KiB and its
// runtime record; a parked connection costs a map entry.
//
// The epoll set is itself waited on through the Go runtime's poller (an
// epoll descriptor is readable when it has events), so the loop's
// goroutine is woken by the scheduler like any network read, rather than
// holding a thread in epoll_wait that must then queue for a processor.

// idlePoller watches parked connections for input.
type idlePoller struct {
	mu     sync.Mutex
	epfd   int      // -1 until the first park
	file   *os.File // epfd, for the runtime's poller
	parked map[uint64]*conn
	nextID uint64
	done   chan struct{}
	closed bool
}

func newIdlePoller() *idlePoller {
	return &idlePoller{epfd: -1, parked: make(map[uint64]*conn)}
}

// epollID puts a park's id in an event; ids, not descriptors, name the
// connection, since a closed connection's successor may reuse its
// descriptor.
func epollID(ev *syscall.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// startLocked creates the epoll set and starts the loop.
func (p *idlePoller) startLocked() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return err
	}
	f := os.NewFile(uintptr(epfd), "c2s idle connections")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	p.epfd, p.file = epfd, f
	p.done = make(chan struct{})
	go p.loop(rc)
	return nil
}

// park hands c's wait for input to the poller and reports whether it
// took it; if not, the caller waits itself. After a successful park the
// caller's reader must end at once without touching c: the next reader
// starts when input arrives (see wake).
func (p *idlePoller) park(c *conn) bool {
	rc := c.rawConn()
	if rc == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.epfd < 0 {
		if err := p.startLocked(); err != nil {
			p.closed = true // no epoll here: readers wait themselves
			return false
		}
	}
	p.nextID++ // ids start at 1; 0 means not parked
	id := p.nextID
	// Recorded before the socket is armed, so that an event that comes at
	// once finds it.
	p.parked[id] = c
	c.parkID = id
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	epollID(&ev, id)
	var ctlErr error
	cerr := rc.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD // re-arm: a one-shot event disarms
		if !c.polled {
			op = syscall.EPOLL_CTL_ADD
		}
		ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		if errors.Is(ctlErr, syscall.ENOENT) {
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if cerr != nil || ctlErr != nil {
		delete(p.parked, id)
		c.parkID = 0
		return false
	}
	c.polled = true
	return true
}

// wake starts a reader for c if it is parked. The loop calls it when c's
// socket is readable; closing c calls it too, since a closed descriptor
// leaves the epoll set without an event.
func (p *idlePoller) wake(c *conn) {
	p.mu.Lock()
	id := c.parkID
	if id == 0 || p.parked[id] != c {
		p.mu.Unlock()
		return
	}
	delete(p.parked, id)
	c.parkID = 0
	p.mu.Unlock()
	c.srv.workers.run(func() {
		ctx := c.ctx
		defer c.recoverPanic(ctx)
		c.read(ctx, true)
	})
}

// loop waits for parked connections to become readable, until stop
// closes the epoll set.
func (p *idlePoller) loop(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	n := 0
	var werr error
	ready := func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		if errors.Is(werr, syscall.EINTR) {
			n, werr = 0, nil
		}
		// Nothing ready: wait for the set to become readable. The set
		// was drained, so the runtime's edge-triggered wait sees the
		// next event.
		return n > 0 || werr != nil
	}
	for {
		if err := rc.Read(ready); err != nil || werr != nil {
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			p.mu.Lock()
			c := p.parked[id]
			p.mu.Unlock()
			if c != nil {
				p.wake(c)
			}
		}
	}
}

// stop ends the loop; later parks are refused. Connections still parked
// (the server closes them all first) get readers that wait themselves.
func (p *idlePoller) stop() {
	p.mu.Lock()
	if p.closed && p.file == nil {
		p.mu.Unlock()
		return
	}
	p.closed = true
	f, done := p.file, p.done
	p.file, p.epfd = nil, -1
	var left []*conn
	for _, c := range p.parked {
		left = append(left, c)
	}
	p.mu.Unlock()
	for _, c := range left {
		p.wake(c)
	}
	if f == nil {
		return
	}
	f.Close() // ends the loop's wait
	<-done
}

// socketHasInput reports whether the socket has something to read now
// (data, end of stream or an error), without reading it: a client that
// keeps sending is read on at once instead of being parked and woken.
func (c *conn) socketHasInput() bool {
	rc := c.rawConn()
	if rc == nil {
		return false
	}
	has := false
	var b [1]byte
	if err := rc.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		has = !errors.Is(err, syscall.EAGAIN)
	}); err != nil {
		return true
	}
	return has
}

// waitReadable blocks until the socket has data or an error to read,
// without reading it, on a shallow stack: an idle TLS reader that could
// not park waits here rather than deep in a TLS read (see idle.go). It
// returns at once if the socket cannot be waited on this way.
func (c *conn) waitReadable() {
	rc := c.rawConn()
	if rc == nil {
		return
	}
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR)
	})
}

// rawConn returns the socket's syscall.RawConn, nil if it has none. It is
// kept: each SyscallConn call makes a new one.
func (c *conn) rawConn() syscall.RawConn {
	if c.rc == nil {
		sc, ok := c.raw.(syscall.Conn)
		if !ok {
			return nil
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return nil
		}
		c.rc = rc
	}
	return c.rc
}
