package s2s

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// countingRouter counts what a Server hands it.
type countingRouter struct{ routed, bounced atomic.Int64 }

func (r *countingRouter) Route(context.Context, *xml.Element, jid.JID, jid.JID) { r.routed.Add(1) }
func (r *countingRouter) Bounce(context.Context, *xml.Element, *xmpperr.StanzaError) {
	r.bounced.Add(1)
}

// BenchmarkChatOverS2S sends chat messages of about 300 bytes from one
// server to another over one established stream (TLS 1.3, dialback) and
// reports messages a second, end to end: queue, write, read, parse,
// checks, routing on the other side.
func BenchmarkChatOverS2S(b *testing.B) {
	a, peer := pair(b, selfSigned(b, "a.test"), selfSigned(b, "b.test"), nil)
	var got countingRouter
	peer.srv.cfg.Router = &got
	from, to := jid.MustParse("alice@a.test/phone"), jid.MustParse("bob@b.test")
	msg := func(i int) *xml.Element {
		m := xml.New(xml.NSClient, stanza.Message, "from", from.String(), "to", to.String(), "type", "chat", "id", fmt.Sprint(i))
		return m.Append(xml.New(xml.NSClient, "body").AppendText("A message of a typical length, which is to say a sentence or two of chat between two people on two servers, about 300 bytes on the wire."))
	}
	// Set the stream up before timing.
	a.srv.RouteStanza(context.Background(), msg(-1), from, to)
	eventually(b, "the stream", func() bool { return got.routed.Load() == 1 })
	const window = 500 // messages in flight at most, as a busy server has
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for int64(i)-(got.routed.Load()-1) >= window {
			time.Sleep(50 * time.Microsecond)
		}
		a.srv.RouteStanza(context.Background(), msg(i), from, to)
	}
	for got.routed.Load() < int64(b.N)+1 {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
	if n := got.bounced.Load(); n != 0 {
		b.Fatalf("%d bounced", n)
	}
}
