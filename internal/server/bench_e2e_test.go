package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// BenchmarkE2EChat measures chat messages between two local accounts
// through the whole server over real loopback TLS connections: the
// sender's stream is parsed, the message stamped, archived (twice: sender
// and recipient) unless marked no-store, routed and written to the
// recipient, whose client only counts what arrives. One op is one message
// delivered; msgs/s is the server's sustained rate on this machine.
func BenchmarkE2EChat(b *testing.B) {
	for _, tc := range []struct{ name, extra string }{
		{"archived", ""},
		{"no-store", "<no-store xmlns='urn:xmpp:hints'/>"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := xmpptest.Start(b)
			srv.AddUser(b, "alice", "alice-secret")
			srv.AddUser(b, "bob", "bob-secret")
			a := srv.Login(b, "alice", "alice-secret", "bench")
			z := srv.Login(b, "bob", "bob-secret", "bench")
			msg := []byte(fmt.Sprintf(`<message to='%s' type='chat'><body>hello bob, this is message traffic of a typical size</body>%s</message>`, z.JID, tc.extra))

			// The sender keeps at most window messages in flight, as a
			// real client's flow would: a flood with no bound overruns the
			// recipient's send queue and gets it disconnected, which
			// measures the queue limit instead of the server.
			const window = 512
			var seenN atomic.Int64
			done := make(chan int, 1)
			go func() {
				// Count closing tags; the server writes whole stanzas.
				r := bufio.NewReaderSize(z.Conn(), 64<<10)
				buf := make([]byte, 64<<10)
				seen, carry := 0, []byte(nil)
				for seen < b.N {
					n, err := r.Read(buf)
					if err != nil {
						if err != io.EOF {
							b.Error(err)
						}
						break
					}
					chunk := append(carry, buf[:n]...)
					seen += bytes.Count(chunk, []byte("</message>"))
					seenN.Store(int64(seen))
					if k := len(chunk); k >= 9 {
						carry = append(carry[:0], chunk[k-9:]...)
					}
				}
				done <- seen
			}()
			w := bufio.NewWriterSize(a.Conn(), 64<<10)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				w.Write(msg)
				if i%64 == 63 {
					w.Flush()
					for int64(i)-seenN.Load() > window {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			w.Flush()
			select {
			case n := <-done:
				if n < b.N {
					b.Fatalf("delivered %d of %d", n, b.N)
				}
			case <-time.After(120 * time.Second):
				b.Fatal("timed out waiting for delivery")
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			// CPU time per message (server and both clients) is what
			// compares on a machine shared with other work.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/msg")
		})
	}
}
