package sasl

import (
	"cmp"
	"net/netip"
	"testing"
	"time"
)

// limitStep is one event in a limiter scenario.
type limitStep struct {
	op   string // "fail", "succeed", "wait", "allow"
	addr string
	user string        // "" means "alice"
	d    time.Duration // wait: how long; allow: the wanted retryAfter (0 means allowed)
	n    int           // fail: how many times (1 if 0)
}

func fails(addr string, n int) limitStep { return limitStep{op: "fail", addr: addr, n: n} }
func wait(d time.Duration) limitStep     { return limitStep{op: "wait", d: d} }
func allowed(addr string) limitStep      { return limitStep{op: "allow", addr: addr} }
func blocked(addr string, retry time.Duration) limitStep {
	return limitStep{op: "allow", addr: addr, d: retry}
}
func succeed(addr string) limitStep { return limitStep{op: "succeed", addr: addr} }

// as makes a step about another account than alice.
func (s limitStep) as(user string) limitStep { s.user = user; return s }

func TestLimiter(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	for _, tc := range []struct {
		name  string
		cfg   LimiterConfig
		steps []limitStep
	}{
		{"burst then block", LimiterConfig{}, []limitStep{
			fails(a, 4), allowed(a),
			fails(a, 1), blocked(a, time.Minute), allowed(b),
			wait(59 * time.Second), blocked(a, time.Second),
			wait(time.Second), allowed(a),
		}},
		{"blocks double up to the cap", LimiterConfig{MaxBlock: 3 * time.Minute}, []limitStep{
			fails(a, 5), blocked(a, time.Minute), wait(time.Minute),
			fails(a, 5), blocked(a, 2*time.Minute), wait(2 * time.Minute),
			fails(a, 5), blocked(a, 3*time.Minute), wait(3 * time.Minute),
			fails(a, 5), blocked(a, 3*time.Minute),
		}},
		{"tokens come back at burst per window", LimiterConfig{}, []limitStep{
			fails(a, 4), wait(12 * time.Second), // one back
			fails(a, 1), allowed(a),
			fails(a, 1), blocked(a, time.Minute),
		}},
		{"slow guessing is never blocked", LimiterConfig{}, []limitStep{
			fails(a, 1), wait(12 * time.Second), fails(a, 1), wait(12 * time.Second),
			fails(a, 1), wait(12 * time.Second), fails(a, 1), wait(12 * time.Second),
			fails(a, 1), wait(12 * time.Second), fails(a, 1), wait(12 * time.Second),
			fails(a, 1), allowed(a),
		}},
		{"failures while blocked do not double but delay recovery", LimiterConfig{}, []limitStep{
			fails(a, 10), blocked(a, time.Minute), wait(time.Minute), allowed(a),
			// Five failures were made while blocked: tokens are at 0, not 5.
			fails(a, 1), blocked(a, 2*time.Minute),
		}},
		{"success ends doubling but gives no failures back", LimiterConfig{}, []limitStep{
			fails(a, 4), succeed(a), fails(a, 1), blocked(a, time.Minute),
			wait(time.Minute), succeed(a),
			fails(a, 5), blocked(a, time.Minute), // not 2 minutes
		}},
		{"success on a clean address", LimiterConfig{}, []limitStep{succeed(a), allowed(a)}},
		{"forgotten after window and max block", LimiterConfig{Window: time.Minute, MaxBlock: 10 * time.Minute}, []limitStep{
			fails(a, 5), wait(11 * time.Minute), fails(a, 5), blocked(a, time.Minute),
		}},
		{"remembered before then", LimiterConfig{Window: time.Minute, MaxBlock: 10 * time.Minute}, []limitStep{
			fails(a, 5), wait(10 * time.Minute), fails(a, 5), blocked(a, 2*time.Minute),
		}},
		{"IPv6 by /64", LimiterConfig{}, []limitStep{
			fails("2001:db8::1", 5), blocked("2001:db8::2", time.Minute),
			blocked("2001:db8::ffff:1:2:3", time.Minute), allowed("2001:db8:0:1::1"),
		}},
		{"IPv4-mapped IPv6 is IPv4", LimiterConfig{}, []limitStep{
			fails("::ffff:192.0.2.1", 5), blocked(a, time.Minute),
		}},
		{"zone ignored", LimiterConfig{}, []limitStep{
			fails("fe80::1%eth0", 5), blocked("fe80::1%eth1", time.Minute),
		}},
		{"oldest evicted past max entries", LimiterConfig{MaxEntries: 2}, []limitStep{
			fails(a, 5), fails(b, 5), fails("192.0.2.3", 1),
			allowed(a), blocked(b, time.Minute),
		}},
		{"custom burst", LimiterConfig{Burst: 2, Window: 10 * time.Second, Block: 30 * time.Second}, []limitStep{
			fails(a, 1), allowed(a), fails(a, 1), blocked(a, 30*time.Second),
		}},
		// Issue 10 item 16: behind a NAT, one account's guesser does not
		// lock the others out.
		{"per address and account", LimiterConfig{}, []limitStep{
			fails(a, 5), blocked(a, time.Minute),
			allowed(a).as("bob"), allowed(a).as("carol"), allowed(b),
			fails(a, 4).as("bob"), allowed(a).as("bob"),
		}},
		{"spraying blocks the address", LimiterConfig{AddressBurst: 10}, []limitStep{
			fails(a, 3).as("u1"), fails(a, 3).as("u2"), fails(a, 3).as("u3"), allowed(a).as("u4"),
			fails(a, 1).as("u4"), blocked(a, time.Minute).as("u5"), allowed(b).as("u5"),
		}},
		{"accounts that logged in pass an address block", LimiterConfig{AddressBurst: 10}, []limitStep{
			succeed(a).as("bob"),
			fails(a, 2).as("u1"), fails(a, 2).as("u2"), fails(a, 2).as("u3"), fails(a, 2).as("u4"), fails(a, 2).as("u5"),
			blocked(a, time.Minute).as("carol"), allowed(a).as("bob"),
			// But not past a block of their own.
			fails(a, 5).as("bob"), blocked(a, time.Minute).as("bob"),
		}},
		{"trust ends", LimiterConfig{AddressBurst: 10, Trust: time.Hour}, []limitStep{
			succeed(a).as("bob"), wait(time.Hour),
			fails(a, 10).as("u1"), blocked(a, time.Minute).as("bob"),
		}},
		{"success does not reset the address's doubling", LimiterConfig{AddressBurst: 10}, []limitStep{
			fails(a, 10).as("u1"), wait(time.Minute), succeed(a).as("mine"),
			fails(a, 10).as("u2"), blocked(a, 2*time.Minute).as("u3"),
		}},
		{"no address limit", LimiterConfig{AddressBurst: -1}, []limitStep{
			fails(a, 4).as("u1"), fails(a, 4).as("u2"), fails(a, 4).as("u3"), fails(a, 4).as("u4"),
			fails(a, 4).as("u5"), fails(a, 4).as("u6"), fails(a, 4).as("u7"), fails(a, 4).as("u8"),
			allowed(a).as("u9"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimiter(tc.cfg)
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			l.now = func() time.Time { return now }
			for i, s := range tc.steps {
				var addr netip.Addr
				if s.addr != "" {
					addr = netip.MustParseAddr(s.addr)
				}
				user := cmp.Or(s.user, "alice")
				switch s.op {
				case "fail":
					for range max(s.n, 1) {
						l.Fail(addr, user)
					}
				case "succeed":
					l.Succeed(addr, user)
				case "wait":
					now = now.Add(s.d)
				case "allow":
					ok, retry := l.Allow(addr, user)
					if ok != (s.d == 0) || retry != s.d {
						t.Fatalf("step %d: Allow(%s, %s) = %v, %v; want retry after %v", i, s.addr, user, ok, retry, s.d)
					}
				}
				for _, tab := range []struct{ n, order int }{{l.pairs.len(), l.pairs.order.Len()}, {l.addrs.len(), l.addrs.order.Len()}, {l.trusted.len(), l.trusted.order.Len()}} {
					if tab.n != tab.order || tab.n > l.cfg.MaxEntries {
						t.Fatalf("step %d: %d entries, %d in order, max %d", i, tab.n, tab.order, l.cfg.MaxEntries)
					}
				}
			}
		})
	}
}

// TestLimiterMemory checks that entries of addresses that stopped failing
// go away without a lookup of their own.
func TestLimiterMemory(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	now := time.Now()
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "alice")
	}
	now = now.Add(l.cfg.Window + l.cfg.MaxBlock)
	l.Fail(netip.MustParseAddr("192.0.2.1"), "alice")
	if l.pairs.len() != 1 || l.addrs.len() != 1 {
		t.Errorf("%d and %d entries remain, want 1", l.pairs.len(), l.addrs.len())
	}
}
