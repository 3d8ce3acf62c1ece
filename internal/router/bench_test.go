package router_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/xml"
)

// benchPairs registers n sender/receiver pairs and returns them.
func benchPairs(b *testing.B, n int) (*router.Router, []*sessiontest.Session, []*sessiontest.Session) {
	reg := router.NewRegistry()
	h := &fakeHandlers{accounts: map[string]bool{}}
	r := router.New(router.Config{Domain: "example.net", Registry: reg, Handlers: h})
	var from, to []*sessiontest.Session
	for i := 0; i < n; i++ {
		a := newFake(fmt.Sprintf("a%d@example.net/r", i), 0, true)
		z := newFake(fmt.Sprintf("z%d@example.net/r", i), 0, true)
		a.Discard()
		z.Discard()
		h.accounts[a.JID().Local] = true
		h.accounts[z.JID().Local] = true
		reg.Add(a)
		reg.Add(z)
		from = append(from, a)
		to = append(to, z)
	}
	return r, from, to
}

// BenchmarkRoute measures routing a chat message between two local
// sessions, as c2s hands it over: the stanza is built (as the decoder
// would) and routed to the receiver's queue. Allocations include building
// the stanza, which is part of every real routing.
func BenchmarkRoute(b *testing.B) {
	for _, bare := range []bool{false, true} {
		name := "full-jid"
		if bare {
			name = "bare-jid"
		}
		b.Run(name, func(b *testing.B) {
			r, from, to := benchPairs(b, 1)
			a, z := from[0], to[0]
			target := z.JID()
			if bare {
				target = z.JID().Bare()
			}
			ts := target.String()
			fs := a.JID().String()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				m := xml.New(xml.NSClient, "message", "from", fs, "to", ts, "type", "chat", "id", "x1")
				m.Append(xml.New(xml.NSClient, "body").AppendText("hello"))
				r.FromSession(ctx, a, m, target)
			}
			if z.Delivered() == 0 {
				b.Fatal("nothing delivered")
			}
		})
	}
}

// BenchmarkRouteParallel routes between many pairs from all cores.
func BenchmarkRouteParallel(b *testing.B) {
	const pairs = 1000
	r, from, to := benchPairs(b, pairs)
	var next atomic.Uint64
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		for pb.Next() {
			a, z := from[i%pairs], to[i%pairs]
			i += 7
			m := xml.New(xml.NSClient, "message", "from", a.JID().String(), "to", z.JID().String(), "type", "chat", "id", "x1")
			m.Append(xml.New(xml.NSClient, "body").AppendText("hello"))
			r.FromSession(ctx, a, m, z.JID())
		}
	})
}

// BenchmarkRegistryLookup measures finding a session by full JID among
// 10000 accounts.
func BenchmarkRegistryLookup(b *testing.B) {
	reg := router.NewRegistry()
	var jids []jid.JID
	for i := 0; i < 10000; i++ {
		s := newFake(fmt.Sprintf("u%d@example.net/r", i), 0, true)
		reg.Add(s)
		jids = append(jids, s.JID())
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if reg.Get(jids[i%len(jids)]) == nil {
			b.Fatal("missing")
		}
		i++
	}
}
