package accountjoin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// countingSession counts deliveries without keeping them.
type countingSession struct {
	fakeSession
	n int
}

func (c *countingSession) Deliver(el *xml.Element) bool { c.n++; return true }

// nullArchive accepts every message without storing it, so benchmarks
// measure the forking, not the disk (the archive's own cost is in
// internal/storage/sqlite's benchmarks).
type nullArchive struct{ n int }

func (a *nullArchive) Joined(ctx context.Context, account, room jid.JID) error { return nil }
func (a *nullArchive) Left(ctx context.Context, account, room jid.JID) error   { return nil }
func (a *nullArchive) Groupchat(ctx context.Context, account, room jid.JID, el *xml.Element) (GroupchatRef, error) {
	a.n++
	return GroupchatRef{ID: "id", Order: uint64(a.n)}, nil
}
func (a *nullArchive) History(ctx context.Context, owner, room jid.JID, max int, since time.Time) ([]HistoryItem, error) {
	return nil, nil
}
func (a *nullArchive) Last(ctx context.Context, owner, room jid.JID) (time.Time, error) {
	return time.Time{}, nil
}

// benchWorld builds accounts×perAccount joined sessions in one room.
func benchWorld(b *testing.B, accounts, perAccount int) (*Service, []*countingSession, jid.JID) {
	b.Helper()
	sessions := &fakeSessions{m: make(map[jid.JID]*fakeSession)}
	var all []*countingSession
	svc := New(Config{Domain: "d.example", Sessions: countingSessions{sessions, map[jid.JID]*countingSession{}}, Sender: &fakeSender{}, Store: &fakeStore{m: map[string]Record{}}, Archive: &nullArchive{}})
	cs := svc.cfg.Sessions.(countingSessions)
	room := jid.MustParse("r@muc.example")
	ctx := context.Background()
	for i := 0; i < accounts; i++ {
		bare := jid.MustParse(fmt.Sprintf("u%d@d.example", i))
		for k := 0; k < perAccount; k++ {
			s := &countingSession{fakeSession: fakeSession{jid: bare.WithResource(fmt.Sprintf("r%d", k))}}
			cs.m[s.jid] = s
			all = append(all, s)
			join := xml.New(xml.NSClient, "presence", "from", s.jid.String(), "to", room.WithResource(fmt.Sprintf("n%d", i)).String())
			join.Append(xml.New(nsMUC, "x"))
			svc.FromSession(ctx, s, join, room.WithResource(fmt.Sprintf("n%d", i)))
		}
		self := xml.New(xml.NSClient, "presence", "from", room.WithResource(fmt.Sprintf("n%d", i)).String(), "to", bare.String())
		self.Append(xml.New(nsMUCUser, "x").Append(xml.New(nsMUCUser, "item", "affiliation", "none", "role", "participant"), xml.New(nsMUCUser, "status", "code", "110")))
		svc.ToLocal(ctx, self, room.WithResource(fmt.Sprintf("n%d", i)), bare)
		subj := xml.New(xml.NSClient, "message", "from", room.String(), "to", bare.String(), "type", "groupchat").Append(xml.New(xml.NSClient, "subject"))
		svc.ToLocal(ctx, subj, room, bare)
	}
	for _, s := range all {
		s.n = 0
	}
	return svc, all, room
}

// countingSessions serves countingSession values.
type countingSessions struct {
	*fakeSessions
	m map[jid.JID]*countingSession
}

func (c countingSessions) Get(full jid.JID) router.Session {
	if s, ok := c.m[full]; ok {
		return s
	}
	return nil
}

// BenchmarkForkRoomMessage: one room, 100 accounts with 3 joined sessions
// each. One op is one room message reaching all 100 accounts (as the MUC
// service sends it: one stanza per account) and forked to 300 sessions.
func BenchmarkForkRoomMessage(b *testing.B) {
	const accounts, per = 100, 3
	svc, sessions, room := benchWorld(b, accounts, per)
	ctx := context.Background()
	from := room.WithResource("speaker")
	owners := make([]jid.JID, accounts)
	for i := range owners {
		owners[i] = jid.MustParse(fmt.Sprintf("u%d@d.example", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for _, owner := range owners {
			m := xml.New(xml.NSClient, "message", "from", from.String(), "to", owner.String(), "type", "groupchat", "id", "m")
			m.Append(xml.New(xml.NSClient, "body").AppendText("hello everyone"))
			m.Append(xml.New(nsStanzaID, "stanza-id", "id", "s", "by", room.String()))
			svc.ToLocal(ctx, m, from, owner)
		}
	}
	b.StopTimer()
	delivered := 0
	for _, s := range sessions {
		delivered += s.n
	}
	if delivered == 0 {
		b.Fatal("nothing delivered")
	}
	perOp := float64(delivered) / float64(b.N)
	b.ReportMetric(perOp, "deliveries/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/delivery")
}

// BenchmarkSynthesisedJoin: the time for a second session's join in a
// room of 500 occupants, answered from the account's state.
func BenchmarkSynthesisedJoin(b *testing.B) {
	svc, _, room := benchWorld(b, 1, 1)
	ctx := context.Background()
	owner := jid.MustParse("u0@d.example")
	for i := 0; i < 500; i++ {
		p := xml.New(xml.NSClient, "presence", "from", room.WithResource(fmt.Sprintf("occ%d", i)).String(), "to", owner.String())
		p.Append(xml.New(nsMUCUser, "x").Append(xml.New(nsMUCUser, "item", "affiliation", "member", "role", "participant")))
		svc.ToLocal(ctx, p, room.WithResource(fmt.Sprintf("occ%d", i)), owner)
	}
	cs := svc.cfg.Sessions.(countingSessions)
	s := &countingSession{fakeSession: fakeSession{jid: owner.WithResource("second")}}
	cs.m[s.jid] = s
	leave := xml.New(xml.NSClient, "presence", "from", s.jid.String(), "to", room.WithResource("n0").String(), "type", "unavailable")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		join := xml.New(xml.NSClient, "presence", "from", s.jid.String(), "to", room.WithResource("n0").String(), "id", "j")
		join.Append(xml.New(nsMUC, "x").Append(xml.New(nsMUC, "history", "maxchars", "0")))
		svc.FromSession(ctx, s, join, room.WithResource("n0"))
		svc.FromSession(ctx, s, leave, room.WithResource("n0"))
	}
	b.StopTimer()
	if s.n < 502*b.N {
		b.Fatalf("delivered %d stanzas for %d joins, want at least 502 each", s.n, b.N)
	}
}
