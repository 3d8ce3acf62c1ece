package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// BenchmarkE2ERoom measures a room's fan-out through the whole server, the
// way an operator runs it: real loopback TLS connections, the MUC service
// with its archive, and account-based group chat with every room message
// archived for the accounts in the room. One sender floods the room; one
// op is one message delivered to every occupant, and deliveries/s counts
// the copies that reached the clients. Everything (clients, server,
// SQLite's writer) shares this machine's cores, so compare runs of one
// machine with each other, not with other machines; the load tool
// (cmd/minimix-bench) measures against other servers.
func BenchmarkE2ERoom(b *testing.B) {
	for _, tc := range []struct {
		name        string
		accountJoin bool
		occupants   int // accounts in the room
		sessions    int // sessions of each account that joined
	}{
		{"accountjoin/50", true, 50, 1},
		{"plain/50", false, 50, 1},
		{"accountjoin/200", true, 200, 1},
		{"accountjoin/50x4", true, 50, 4},
		{"plain/50x4", false, 50, 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := xmpptest.Start(b, xmpptest.WithConfig(func(c *config.Config) {
				c.AccountJoin.Enabled = tc.accountJoin
			}))
			room := "bench@" + srv.Config.MUC.Domain
			var clients []*xmpptest.Raw
			for k := range tc.occupants * tc.sessions {
				i := k % tc.occupants // every account's first session, then the second...
				user := fmt.Sprintf("u%d", i)
				if k < tc.occupants {
					srv.AddUser(b, user, "secret")
				}
				c := srv.Login(b, user, "secret", fmt.Sprintf("s%d", k/tc.occupants))
				c.Send(`<presence/>`)
				c.Send(fmt.Sprintf(`<presence to='%s/n%d'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`, room, i))
				if k == 0 {
					c.ExpectStanza("self-presence", 10*time.Second, func(n xmpptest.Node) bool {
						return n.XMLName.Local == "presence" && hasMUCStatus(n, "110")
					})
					c.Send(fmt.Sprintf(`<iq type='set' to='%s' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, room))
					c.ExpectStanza("config result", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == "cfg" })
				} else {
					c.ExpectStanza("subject", 10*time.Second, func(n xmpptest.Node) bool { return n.Child("", "subject") != nil })
				}
				clients = append(clients, c)
			}
			// Let the join traffic settle, then count only messages.
			time.Sleep(200 * time.Millisecond)
			msg := []byte(fmt.Sprintf(`<message to='%s' type='groupchat'><body>hello room, this is message traffic of a typical size</body></message>`, room))
			want := b.N * len(clients)
			var wg sync.WaitGroup
			counts := make([]int, len(clients))
			for i, c := range clients {
				wg.Go(func() {
					counts[i] = countMessages(b, c, b.N, 120*time.Second)
				})
			}
			w := bufio.NewWriterSize(clients[0].Conn(), 64<<10)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				w.Write(msg)
				if i%64 == 63 {
					w.Flush()
				}
			}
			w.Flush()
			wg.Wait()
			elapsed := time.Since(start)
			got := 0
			for _, n := range counts {
				got += n
			}
			if got < want {
				b.Fatalf("delivered %d of %d", got, want)
			}
			b.ReportMetric(float64(got)/elapsed.Seconds(), "deliveries/s")
			// CPU time per delivery (server and clients together) is what
			// compares on a machine shared with other work.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(got), "cpu-ns/delivery")
		})
	}
}

// countMessages reads c's connection until n messages arrived (counting
// closing tags; the server writes whole stanzas) or the timeout passes,
// and returns how many did.
func countMessages(b *testing.B, c *xmpptest.Raw, n int, timeout time.Duration) int {
	conn := c.Conn()
	conn.SetReadDeadline(time.Now().Add(timeout))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 64<<10)
	seen, carry := 0, []byte(nil)
	for seen < n {
		k, err := conn.Read(buf)
		if err != nil {
			if err != io.EOF {
				b.Error(err)
			}
			break
		}
		chunk := append(carry, buf[:k]...)
		seen += bytes.Count(chunk, []byte("</message>"))
		if l := len(chunk); l >= 9 {
			carry = append(carry[:0], chunk[l-9:]...)
		}
	}
	return seen
}
