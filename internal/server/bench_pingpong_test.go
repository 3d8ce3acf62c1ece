package server_test

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"minimix/internal/xmpptest"
)

// BenchmarkPingPong measures one request and its answer over a real
// loopback TLS connection, one at a time: the server's reader waits for
// the client between every two stanzas, so this is the cost of a
// connection going idle and waking up (latency, not throughput).
func BenchmarkPingPong(b *testing.B) {
	srv := xmpptest.Start(b)
	srv.AddUser(b, "alice", "alice-secret")
	a := srv.Login(b, "alice", "alice-secret", "bench")
	ping := []byte("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	r := bufio.NewReader(a.Conn())
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Conn().Write(ping); err != nil {
			b.Fatal(err)
		}
		var got []byte
		for !bytes.Contains(got, []byte("/>")) && !bytes.Contains(got, []byte("</iq>")) {
			n, err := r.Read(buf)
			if err != nil && err != io.EOF {
				b.Fatal(err)
			}
			got = append(got, buf[:n]...)
		}
	}
}
