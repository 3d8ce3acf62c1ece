package server_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// BenchmarkIdleSessions measures the memory an idle, logged-in TLS client
// session costs: n clients log in, send initial presence and go quiet;
// heap and stacks are compared before and after. The clients live in the
// same process, so the figure includes their side of each connection (a TLS
// client and a buffered reader, a few KiB) and is an upper bound for the
// server.
func BenchmarkIdleSessions(b *testing.B) {
	const n = 200
	srv := xmpptest.Start(b)
	for i := 0; i < n; i++ {
		srv.AddUser(b, fmt.Sprintf("u%d", i), "secret-pw")
	}
	b.ResetTimer()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clients := make([]*xmpptest.Raw, 0, n)
		for i := 0; i < n; i++ {
			c := srv.Login(b, fmt.Sprintf("u%d", i), "secret-pw", "idle")
			c.Send(`<presence/>`)
			clients = append(clients, c)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/n, "bytes/session")
		for _, c := range clients {
			c.Close()
		}
	}
}
