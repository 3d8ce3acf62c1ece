package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// room returns a fresh room's bare JID for this run; a fresh room has no
// history and no occupants left over from an earlier run.
func (b *bench) room(name string) string {
	return b.o.RoomPrefix + "-" + name + "-" + b.token + "@" + b.o.Target.MUCDomain
}

// fromOccupant reports whether raw comes from room/nick.
func fromOccupant(raw []byte, occupant string) bool {
	f, ok := attr(raw, "from")
	return ok && string(f) == occupant
}

// selfPresence matches the presence that ends a join or a leave of
// room/nick on this session: the room's presence with status 110, or an
// error.
func selfPresence(occupant string, leave bool) func(raw []byte) bool {
	return func(raw []byte) bool {
		if !Is(raw, "presence") || !fromOccupant(raw, occupant) {
			return false
		}
		t := Attr(raw, "type")
		if t == "error" {
			return true
		}
		return HasStatus(raw, "110") && (t == "unavailable") == leave
	}
}

// joinRoom joins s to room as nick and waits for its self-presence. It
// reports whether the join created the room (status 201).
func (b *bench) joinRoom(ctx context.Context, s *session, room, nick string) (created bool, err error) {
	occ := room + "/" + nick
	ch := s.await(selfPresence(occ, false))
	if err := s.c.SendNow(`<presence to='` + escapeAttr(occ) + `'><x xmlns='` + nsMUC +
		`'><history maxstanzas='0'/></x></presence>`); err != nil {
		return false, fmt.Errorf("join %s: %w", occ, err)
	}
	raw, err := b.wait(ctx, s, ch)
	if err != nil {
		return false, fmt.Errorf("%s joining %s: %w", s.c.JID, occ, err)
	}
	if Attr(raw, "type") == "error" {
		return false, fmt.Errorf("%s joining %s: %s", s.c.JID, occ, errorCondition(raw))
	}
	return HasStatus(raw, "201"), nil
}

// leaveRoom leaves room/nick and waits for the room's confirmation.
func (b *bench) leaveRoom(ctx context.Context, s *session, room, nick string) error {
	occ := room + "/" + nick
	ch := s.await(selfPresence(occ, true))
	if err := s.c.SendNow(`<presence type='unavailable' to='` + escapeAttr(occ) + `'/>`); err != nil {
		return fmt.Errorf("leave %s: %w", occ, err)
	}
	raw, err := b.wait(ctx, s, ch)
	if err != nil {
		return fmt.Errorf("%s leaving %s: %w", s.c.JID, occ, err)
	}
	if Attr(raw, "type") == "error" {
		return fmt.Errorf("%s leaving %s: %s", s.c.JID, occ, errorCondition(raw))
	}
	return nil
}

// wait waits for a stanza on ch, for at most o.Timeout, and notices when
// s's stream ends meanwhile.
func (b *bench) wait(ctx context.Context, s *session, ch <-chan []byte) ([]byte, error) {
	tm := time.NewTimer(b.o.Timeout)
	defer tm.Stop()
	select {
	case raw := <-ch:
		return raw, nil
	case <-s.done:
		return nil, fmt.Errorf("stream ended: %v", s.err)
	case <-tm.C:
		return nil, fmt.Errorf("no answer in %v", b.o.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// configure submits the room's configuration form (section 10.1.2 asks
// for this before a new room admits others; an empty form makes an
// instant room). fields are var=value pairs.
func (b *bench) configure(ctx context.Context, s *session, room string, fields ...string) error {
	id := "cfg-" + b.token
	ch := s.await(func(raw []byte) bool { return Is(raw, "iq") && Attr(raw, "id") == id })
	var f strings.Builder
	if len(fields) > 0 {
		f.WriteString(`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`)
		for i := 0; i+1 < len(fields); i += 2 {
			f.WriteString(`<field var='` + fields[i] + `'><value>` + fields[i+1] + `</value></field>`)
		}
	}
	if err := s.c.SendNow(`<iq type='set' id='` + id + `' to='` + room +
		`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>` +
		f.String() + `</x></query></iq>`); err != nil {
		return fmt.Errorf("configure %s: %w", room, err)
	}
	raw, err := b.wait(ctx, s, ch)
	if err != nil {
		return fmt.Errorf("configure %s: %w", room, err)
	}
	if Attr(raw, "type") != "result" {
		return fmt.Errorf("configure %s: %s", room, errorCondition(raw))
	}
	return nil
}

// nick is the nick an account uses in rooms: its local part.
func (b *bench) nick(acct int) string { return b.o.Target.User(acct) }

// fill joins every session of p to room with its account's nick: the
// first one creates and configures the room, the rest join
// SetupConcurrency at a time. Then it waits for the presence traffic of
// the joins to settle.
func (b *bench) fill(ctx context.Context, what string, p pool, room string, fields ...string) error {
	if len(p) == 0 {
		return errNoSessions
	}
	created, err := b.joinRoom(ctx, p[0], room, b.nick(p[0].acct))
	if err != nil {
		return err
	}
	if created || len(fields) > 0 {
		if err := b.configure(ctx, p[0], room, fields...); err != nil {
			return err
		}
	}
	var (
		next, joined atomic.Int64
		wg           sync.WaitGroup
		errOnce      sync.Once
		first        error
	)
	joined.Store(1)
	stop := b.progress(func() string { return fmt.Sprintf("%s: joined %d/%d", what, joined.Load(), len(p)) })
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rest := p[1:]
	for range min(max(1, b.o.SetupConcurrency), len(rest)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(rest) || ctx.Err() != nil {
					return
				}
				if _, err := b.joinRoom(ctx, rest[i], room, b.nick(rest[i].acct)); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				joined.Add(1)
			}
		}()
	}
	wg.Wait()
	stop()
	if first != nil {
		return first
	}
	p.quiesce(ctx, 300*time.Millisecond, 30*time.Second)
	return nil
}

// senders makes k senders out of the first sessions of p, sharing
// o.Messages (flood) or o.Rate (fixed rate) between them.
func (b *bench) senders(p pool, k int, to func(*session) string, typ string) []sender {
	k = max(1, min(k, len(p)))
	out := make([]sender, k)
	for i := range out {
		out[i] = sender{s: p[i], to: to(p[i]), typ: typ}
		if b.o.Rate > 0 {
			out[i].rate = b.o.Rate / float64(k)
		} else {
			out[i].n = b.o.Messages / k
			if i < b.o.Messages%k {
				out[i].n++
			}
		}
	}
	return out
}

// muc: a room of o.Occupants accounts with one session each; o.Senders
// of them send.
func (b *bench) muc(ctx context.Context, r *Result) error {
	n := b.o.Occupants
	accts := make([]int, n)
	for i := range accts {
		accts[i] = b.acct(i)
	}
	p, err := b.open(ctx, "muc", accts, repeat("muc", n))
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.broadcast("<presence/>"); err != nil {
		return err
	}
	room := b.room("muc")
	if err := b.fill(ctx, "muc", p, room); err != nil {
		return err
	}
	return b.roomTraffic(ctx, r, "muc", p, room, n)
}

// roomTraffic sends groupchat messages into room from o.Senders sessions
// and reports deliveries to all of p (fanout each).
func (b *bench) roomTraffic(ctx context.Context, r *Result, what string, p pool, room string, fanout int) error {
	ss := b.senders(p, b.o.Senders, func(*session) string { return room }, "groupchat")
	b.params(r, len(ss))
	t, err := b.run(ctx, what, ss, p, fanout, b.o.Duration)
	p.close()
	if err != nil {
		return err
	}
	t.report(r, p, "deliveries")
	return nil
}

// params records the traffic parameters.
func (b *bench) params(r *Result, senders int) {
	r.param("senders", senders)
	if b.o.Rate > 0 {
		r.param("mode", "rate")
		r.param("rate", b.o.Rate)
		r.param("duration", b.o.Duration)
	} else {
		r.param("mode", "flood")
		r.param("messages", b.o.Messages)
	}
}

// accountJoin: o.Accounts accounts with o.SessionsPerAccount sessions
// each, all in one room, every session of an account with the same nick.
func (b *bench) accountJoin(ctx context.Context, r *Result) error {
	a, s := b.o.Accounts, b.o.SessionsPerAccount
	var accts []int
	var res []string
	for i := range a {
		for j := range s {
			accts = append(accts, b.acct(i))
			res = append(res, fmt.Sprintf("aj%d", j+1))
		}
	}
	p, err := b.open(ctx, "accountjoin", accts, res)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.broadcast("<presence/>"); err != nil {
		return err
	}
	p.quiesce(ctx, 200*time.Millisecond, 10*time.Second)
	room := b.room("aj")
	if err := b.fill(ctx, "accountjoin", p, room); err != nil {
		return err
	}
	r.param("accounts", a)
	r.param("sessions_per_account", s)
	return b.roomTraffic(ctx, r, "accountjoin", p, room, len(p))
}

// join: extra sessions of an account join a room the account is in,
// one after another; each join's latency is timed, and the stanzas the
// account's joined session receives meanwhile are counted. Each extra
// session leaves again before the next one joins.
func (b *bench) join(ctx context.Context, r *Result) error {
	n := max(1, b.o.Occupants)
	accts := make([]int, n)
	for i := range accts {
		accts[i] = b.acct(i)
	}
	p, err := b.open(ctx, "join", accts, repeat("base", n))
	if err != nil {
		return err
	}
	defer p.close()
	extras, err := b.open(ctx, "join", repeat1(b.acct(0), b.o.Joins), seqRes("extra", b.o.Joins))
	if err != nil {
		return err
	}
	defer extras.close()
	if err := p.broadcast("<presence/>"); err != nil {
		return err
	}
	if err := extras.broadcast("<presence/>"); err != nil {
		return err
	}
	room := b.room("join")
	if err := b.fill(ctx, "join", p, room); err != nil {
		return err
	}
	all := append(append(pool{}, p...), extras...)
	all.quiesce(ctx, 300*time.Millisecond, 10*time.Second)

	base := p[0]
	nick := b.nick(base.acct)
	lat := &Histogram{}
	var others int64
	m := startMeter(b.o.PID)
	stop := b.progress(func() string { return fmt.Sprintf("join: %d/%d", lat.Count(), len(extras)) })
	for _, x := range extras {
		before := base.stanzas.Load()
		t0 := time.Now()
		if _, err := b.joinRoom(ctx, x, room, nick); err != nil {
			stop()
			return err
		}
		lat.Record(time.Since(t0))
		pool{base, x}.quiesce(ctx, 100*time.Millisecond, 2*time.Second)
		others += base.stanzas.Load() - before
		if err := b.leaveRoom(ctx, x, room, nick); err != nil {
			stop()
			return err
		}
		all.quiesce(ctx, 100*time.Millisecond, 2*time.Second)
	}
	stop()
	m.stop(r)
	r.param("occupants", n)
	r.param("joins", len(extras))
	r.ms("join p50", lat.Quantile(0.5))
	r.ms("join p99", lat.Quantile(0.99))
	r.ms("join max", lat.Max())
	r.add("stanzas to the joined session per join", float64(others)/float64(max(1, len(extras))), "stanzas", "lower")
	return nil
}

func repeat1(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// occupantNicks returns the nicks of the occupant presences (not of
// unavailable ones) in a batch of stanzas from room.
func occupantNick(raw []byte, room string) (string, bool) {
	if !Is(raw, "presence") {
		return "", false
	}
	f, ok := attr(raw, "from")
	if !ok || !bytes.HasPrefix(f, []byte(room+"/")) {
		return "", false
	}
	if t := Attr(raw, "type"); t != "" {
		return "", false
	}
	return unescape(f[len(room)+1:]), true
}
