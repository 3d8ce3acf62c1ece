package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/jid"
	"minimix/internal/xmpptest"
)

// TestNegotiateTimeoutFromConfig checks that c2s.negotiate_timeout bounds
// how long a stream may sit in negotiation: a client that opens a stream
// and says nothing more gets <connection-timeout/>.
func TestNegotiateTimeoutFromConfig(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.NegotiateTimeout = config.Duration{Duration: 300 * time.Millisecond}
	}))
	idle := srv.DialRaw(t, xmpptest.RawOptions{})
	idle.Open()
	idle.ExpectStreamError("connection-timeout")
}

// TestWriteTimeoutFromConfig checks that c2s.write_timeout bounds how long
// the server waits on a client that stopped reading: the connection is
// given up and the session ends, long before the queue would overflow.
func TestWriteTimeoutFromConfig(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.WriteTimeout = config.Duration{Duration: 500 * time.Millisecond}
	}))
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	stuck := srv.DialRaw(t, xmpptest.RawOptions{ReadBuffer: 4096})
	stuck.Open()
	stuck.StartTLS()
	stuck.Authenticate("alice", "alice-secret")
	stuck.Bind("stuck")
	bob := srv.Login(t, "bob", "bob-secret", "")
	// Far more than the socket buffers hold, far less than the queue.
	pad := strings.Repeat("x", 60<<10)
	for i := range 100 {
		bob.Send(fmt.Sprintf("<message to='alice@localhost/stuck' type='chat'><body>%d %s</body></message>", i, pad))
	}
	rawPing(t, bob)
	waitFor(t, "the stuck session to end", func() bool {
		return srv.Registry.Get(jid.MustParse("alice@localhost/stuck")) == nil
	})
	if n := srv.C2S.Stats.Overflows.Load(); n != 0 {
		t.Errorf("%d overflows; the session should have ended on the write timeout", n)
	}
}
