package server_test

import (
	"fmt"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// BenchmarkE2EReadRateLimit measures what the default per-connection read
// rate ([limits] c2s_bytes_per_second = 10240, c2s_burst_bytes = 65536)
// lets one client push at another: b.N chat messages of a realistic size
// sent as fast as the sender can write, one op per message delivered.
// Run it with a fixed count, e.g. -benchtime 2000x (the rate is the
// point: each op costs about len(message)/10240 s once the burst is
// spent).
func BenchmarkE2EReadRateLimit(b *testing.B) {
	d := config.Default()
	srv := xmpptest.Start(b, xmpptest.WithConfig(func(c *config.Config) {
		c.Limits.C2SBytesPerSecond = d.Limits.C2SBytesPerSecond
		c.Limits.C2SBurstBytes = d.Limits.C2SBurstBytes
	}))
	srv.AddUser(b, "alice", "alice-secret")
	srv.AddUser(b, "bob", "bob-secret")
	alice := srv.Login(b, "alice", "alice-secret", "flood")
	bob := srv.Login(b, "bob", "bob-secret", "phone")
	// What a client such as Conversations sends: ids, a receipt request,
	// a chat marker, and a short text.
	msg := func(i int) string {
		return fmt.Sprintf(`<message to='%s' type='chat' id='msg-%08d-4f1c2a'><body>hello bob, this is message %d of a flood</body><request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/><origin-id xmlns='urn:xmpp:sid:0' id='9d6c1b1e-8f7a-4c1e-a3d2-%012d'/></message>`, bob.JID, i, i, i)
	}
	size := len(msg(0))
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := range b.N {
			if alice.TrySend(msg(i)) != nil {
				return
			}
		}
	}()
	for got := 0; got < b.N; {
		n, err := bob.Next(5 * time.Minute)
		if err != nil {
			b.Fatalf("after %d of %d messages: %v", got, b.N, err)
		}
		if n.XMLName.Local == "message" {
			got++
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(size), "bytes/msg")
}
