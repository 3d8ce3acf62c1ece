package s2s

import (
	"net"
	"sync"
	"testing"
	"time"

	"minimix/internal/xmpperr"
	"minimix/internal/xmpptest/netproxy"
	"minimix/internal/xmpptest/testca"
)

// lostLinks records what LinkLost is told.
type lostLinks struct {
	mu   sync.Mutex
	seen []string
}

func (l *lostLinks) add(remote string) {
	l.mu.Lock()
	l.seen = append(l.seen, remote)
	l.mu.Unlock()
}

func (l *lostLinks) count(remote string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.seen {
		if r == remote {
			n++
		}
	}
	return n
}

// An idle stream is closed with the closing handshake, by both ends,
// and that is no lost link; the next stanza opens a new stream.
func TestIdleClose(t *testing.T) {
	var lostA, lostB lostLinks
	idle := func(lost *lostLinks) peerOpt {
		return func(c *Config) { c.IdleTimeout = 300 * time.Millisecond; c.LinkLost = lost.add }
	}
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil, idle(&lostA))
	b := newPeer(t, "b.test", selfSigned(t, "b.test"), nil, idle(&lostB))
	a.knows(b)
	b.knows(a)
	a.send("alice@a.test/phone", "bob@b.test", "before")
	eventually(t, "b gets it", func() bool { return len(b.r.got("before")) == 1 })
	eventually(t, "every stream closed for idleness", func() bool { return len(a.srv.List()) == 0 && len(b.srv.List()) == 0 })
	if !logged(a, `msg="s2s connection closed"`, "reason=idle") && !logged(b, `msg="s2s connection closed"`, "reason=idle") {
		t.Errorf("no log line for the idle close:\n%s\n%s", a.log, b.log)
	}
	if lostA.count("b.test")+lostB.count("a.test") != 0 {
		t.Errorf("an idle close was taken for a lost link")
	}
	a.send("alice@a.test/phone", "bob@b.test", "after")
	eventually(t, "b gets it on a new stream", func() bool { return len(b.r.got("after")) == 1 })
}

// A cut link is a lost link on both sides; stanzas sent afterwards take
// a new stream.
func TestLinkLost(t *testing.T) {
	var lostA, lostB lostLinks
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil, func(c *Config) { c.LinkLost = lostA.add })
	b := newPeer(t, "b.test", selfSigned(t, "b.test"), nil, func(c *Config) { c.LinkLost = lostB.add })
	ab, ba := netproxy.New(t, b.addr), netproxy.New(t, a.addr)
	a.srv.SetHost("b.test", ab.Addr())
	b.srv.SetHost("a.test", ba.Addr())
	a.send("alice@a.test/phone", "bob@b.test", "one")
	eventually(t, "b gets one", func() bool { return len(b.r.got("one")) == 1 })
	ab.Cut()
	ba.Cut()
	eventually(t, "both sides see the link lost", func() bool { return lostA.count("b.test") > 0 && lostB.count("a.test") > 0 })
	a.send("alice@a.test/phone", "bob@b.test", "two")
	eventually(t, "b gets two", func() bool { return len(b.r.got("two")) == 1 })
	if n := len(b.r.got("one")); n != 1 {
		t.Errorf("b got one %d times", n)
	}
}

// A stream that breaks before it is established bounces what waited for
// it; once the peer is reachable, stanzas go through.
func TestFailedAttemptThenReachable(t *testing.T) {
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil)
	b := newPeer(t, "b.test", selfSigned(t, "b.test"), nil)
	b.knows(a)
	// The first attempt reaches something that accepts TCP and closes
	// at once; the next reaches b.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	a.srv.SetHost("b.test", ln.Addr().String())
	a.send("alice@a.test/phone", "bob@b.test", "q")
	eventually(t, "the failed attempt bounces it", func() bool { return len(a.r.bounces("q")) == 1 })
	if c := a.r.bounces("q")[0].cond; c != xmpperr.RemoteServerNotFound && c != xmpperr.RemoteServerTimeout {
		t.Errorf("bounced with %s", c)
	}
	// SetHost ends the backoff; b is reachable now.
	a.srv.SetHost("b.test", b.addr)
	a.send("alice@a.test/phone", "bob@b.test", "r")
	eventually(t, "b gets r", func() bool { return len(b.r.got("r")) == 1 })
}

// require_valid_certs refuses a peer whose certificate does not verify,
// both ways; a valid one is taken.
func TestRequireValidCerts(t *testing.T) {
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	strict := func(c *Config) { c.RequireValidCerts = true }
	certA, _ := ca.TLSCertificate("a.test")
	a := newPeer(t, "a.test", certA, ca.Pool(), strict)
	bad := newPeer(t, "b.test", selfSigned(t, "b.test"), ca.Pool())
	a.knows(bad)
	bad.knows(a)
	a.send("alice@a.test/phone", "bob@b.test", "to a bad certificate")
	eventually(t, "bounced", func() bool { return len(a.r.bounces("to a bad certificate")) == 1 })
	if !logged(a, `msg="s2s connection failed"`, "remote=b.test", "require_valid_certs") {
		t.Errorf("log:\n%s", a.log)
	}
	bad.send("bob@b.test/x", "alice@a.test", "from a bad certificate")
	eventually(t, "bounced by b", func() bool { return len(bad.r.bounces("from a bad certificate")) == 1 })
	if len(a.r.got("from a bad certificate")) != 0 {
		t.Error("a took a stanza from a peer whose certificate does not verify")
	}
}

// Shutdown bounces what could not be sent and closes every stream with
// system-shutdown, which the peer takes for a lost link.
func TestShutdown(t *testing.T) {
	var lostB lostLinks
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil)
	b := newPeer(t, "b.test", selfSigned(t, "b.test"), nil, func(c *Config) { c.LinkLost = lostB.add })
	a.knows(b)
	b.knows(a)
	a.send("alice@a.test/phone", "bob@b.test", "x")
	eventually(t, "b gets x", func() bool { return len(b.r.got("x")) == 1 })
	ctxShutdown(t, a)
	eventually(t, "b sees a go", func() bool { return lostB.count("a.test") > 0 })
	a.send("alice@a.test/phone", "bob@b.test", "late")
	if bs := a.r.bounces("late"); len(bs) != 1 {
		t.Errorf("a stanza after shutdown: %+v", bs)
	}
}
