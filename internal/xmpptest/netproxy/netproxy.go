// Package netproxy relays TCP connections between test servers and can
// cut them all at once, as a network failure would: both ends see their
// connection reset, neither closed its stream.
package netproxy

import (
	"net"
	"sync"
	"testing"
)

// Proxy relays every connection it accepts to a target address.
type Proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	// set is signalled when a target is set or the proxy closes: a
	// proxy made without a target holds what it accepts until then.
	set    *sync.Cond
	closed bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

// New starts a proxy on 127.0.0.1 to target, stopped when t ends. With
// target "" it holds the connections it accepts until SetTarget, so that
// its address can be given out before the server behind it has one.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target}
	p.set = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is where to connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget relays new connections to target.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.set.Broadcast()
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		for p.target == "" && !p.closed {
			p.set.Wait()
		}
		target := p.target
		p.mu.Unlock()
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.relay(u, c)
		go p.relay(c, u)
	}
}

func (p *Proxy) relay(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// Cut resets every relayed connection and reports how many pairs there
// were; the proxy goes on accepting new ones.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a clean close
		}
		c.Close()
	}
	p.conns = nil
	return n
}

// Close stops the proxy and cuts what it relays.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.set.Broadcast()
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// ClosedAddr returns a loopback address nothing listens on: connecting
// to it is refused at once, as to a server that is down.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
