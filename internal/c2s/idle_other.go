//go:build !linux

package c2s

// idlePoller is Linux's way to keep idle connections without a goroutine
// (idle_linux.go); elsewhere every reader waits itself.
type idlePoller struct{}

func newIdlePoller() *idlePoller        { return &idlePoller{} }
func (p *idlePoller) park(c *conn) bool { return false }
func (p *idlePoller) wake(c *conn)      {}
func (p *idlePoller) stop()             {}

// socketHasInput cannot tell here; the reader hands its wait over.
func (c *conn) socketHasInput() bool { return false }

// waitReadable does nothing where peeking at a socket is not wired up:
// the read that follows waits instead, on a larger stack.
func (c *conn) waitReadable() {}
