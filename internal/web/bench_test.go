package web_test

import (
	"strconv"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

// The round trip of one request and its answer through each transport
// and the whole stream layer: an XEP-0199 ping to the server, answered by
// its result. Run with
//
//	go test ./internal/web -run '^$' -bench 'RoundTrip' -benchtime 2000x

func BenchmarkWebSocketRoundTrip(b *testing.B) {
	srv := xmpptest.Start(b)
	srv.AddUser(b, "alice", pw("alice"))
	w := srv.DialWebSocket(b, xmpptest.WSOptions{})
	w.Login("alice", pw("alice"), "bench")
	b.ResetTimer()
	for i := range b.N {
		id := "p" + strconv.Itoa(i)
		w.Send(`<iq xmlns='jabber:client' type='get' id='` + id + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
		w.ExpectStanza("the ping's result", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == id })
	}
}

func BenchmarkBOSHRoundTrip(b *testing.B) {
	srv := xmpptest.Start(b)
	srv.AddUser(b, "alice", pw("alice"))
	c := srv.NewBOSH(b)
	c.Login("alice", pw("alice"), "bench")
	b.ResetTimer()
	for i := range b.N {
		id := "p" + strconv.Itoa(i)
		n := c.Send(`<iq xmlns='jabber:client' type='get' id='` + id + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
		c.Find(n, "the ping's result", 10*time.Second, func(n xmpptest.Node) bool { return n.Attr("id") == id })
	}
}
