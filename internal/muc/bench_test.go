package muc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// benchSession is a bound session that counts what it is given.
type benchSession struct {
	jid   jid.JID
	state router.State
	n     *atomic.Int64
}

func (s *benchSession) JID() jid.JID              { return s.jid }
func (s *benchSession) State() *router.State      { return &s.state }
func (s *benchSession) Deliver(*xml.Element) bool { s.n.Add(1); return true }

type benchHandlers struct{}

func (benchHandlers) ServerStanza(context.Context, *xml.Element, jid.JID, jid.JID)           {}
func (benchHandlers) AccountIQ(context.Context, *xml.Element, jid.JID, jid.JID)              {}
func (benchHandlers) Presence(context.Context, *xml.Element, jid.JID, jid.JID)               {}
func (benchHandlers) SessionPresence(context.Context, router.Session, *xml.Element, jid.JID) {}
func (benchHandlers) AccountExists(context.Context, string) bool                             { return true }

// BenchmarkFanout measures one room with n occupants, each a session of
// its own behind the real router: one operation is one groupchat message
// from an occupant, reflected to all n. It reports messages and
// deliveries per second and allocations per delivered stanza. The
// archive is off, so that the numbers are the fan-out's;
// BenchmarkFanoutArchived adds the SQLite archive write.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("occupants=%d", n), func(b *testing.B) { benchFanout(b, n, false) })
	}
}

// BenchmarkFanoutArchived is BenchmarkFanout with every message written
// to the room's archive in SQLite, as a logged room does.
func BenchmarkFanoutArchived(b *testing.B) {
	b.Run("occupants=100", func(b *testing.B) { benchFanout(b, 100, true) })
}

func benchFanout(b *testing.B, n int, archived bool) {
	var delivered atomic.Int64
	reg := router.NewRegistry()
	rt := router.New(router.Config{Domain: "example.net", Registry: reg, Handlers: benchHandlers{}, Logger: slog.New(slog.DiscardHandler)})
	h := newHarness(b, func(c *Config) {
		c.Router = rt
		c.MaxOccupants = n + 10
		if !archived {
			c.Archive = nil
		}
	})
	rt.AddComponent(domain, h.svc)
	ctx := context.Background()
	reals := make([]jid.JID, n)
	for i := range reals {
		reals[i] = jid.MustParse(fmt.Sprintf("user%d@example.net/r", i))
		reg.Add(&benchSession{jid: reals[i], n: &delivered})
	}
	join := func(i int) {
		el, _ := xml.Parse([]byte(fmt.Sprintf("<presence xmlns='jabber:client' to='%s/u%d'><x xmlns='%s'><history maxchars='0'/></x></presence>", roomJID, i, NS)))
		h.svc.RouteStanza(ctx, el, reals[i], jid.MustParse(fmt.Sprintf("%s/u%d", roomJID, i)))
		h.settle()
	}
	join(0)
	owner, _ := xml.Parse([]byte("<iq xmlns='jabber:client' type='set' id='c'><query xmlns='" + NSOwner + "'><x xmlns='jabber:x:data' type='submit'><field var='" + fLogging + "'><value>" + fmt.Sprint(archived) + "</value></field></x></query></iq>"))
	h.svc.RouteStanza(ctx, owner, reals[0], jid.MustParse(roomJID))
	h.settle()
	for i := 1; i < n; i++ {
		join(i)
	}
	msg, _ := xml.Parse([]byte("<message xmlns='jabber:client' type='groupchat' id='m'><body>Hello everyone, this is a message of ordinary length for a group chat.</body><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>"))
	room := jid.MustParse(roomJID)
	delivered.Store(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		h.svc.RouteStanza(ctx, msg, reals[i%n], room)
		h.settle()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if got := delivered.Load(); got != int64(b.N*n) {
		b.Fatalf("delivered %d, want %d", got, b.N*n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/delivery")
}
