package sasl

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// LimiterConfig configures a Limiter. Zero fields take the defaults.
type LimiterConfig struct {
	// Burst is how many failures an address may have in a row before it is
	// blocked. Default 5.
	Burst int
	// Window is how long an address takes to earn back a full Burst: one
	// failure is forgiven every Window/Burst. Default 1 minute.
	Window time.Duration
	// Block is how long the first block lasts; each further block doubles
	// it, up to MaxBlock. Defaults 1 minute and 1 hour.
	Block    time.Duration
	MaxBlock time.Duration
	// MaxEntries bounds the addresses remembered; past it the one with the
	// oldest failure is forgotten. Default 65536 (a few MiB).
	MaxEntries int
}

// Limiter limits failed logins per client address with a token bucket:
// each failure takes a token, tokens come back at Burst per Window, and an
// address that runs out is blocked for a time that doubles with each block.
// An address is forgotten Window+MaxBlock after its last failure. IPv6
// addresses are limited per /64, since one host usually has a whole /64.
//
// Allow is checked before a negotiation starts, so concurrent attempts
// from one address that all passed Allow each get their guess; the
// failures they report then delay the address's recovery.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	cfg LimiterConfig
	now func() time.Time

	mu      sync.Mutex
	entries map[netip.Prefix]*list.Element // of *limitEntry
	order   list.List                      // most recent failure first
}

type limitEntry struct {
	key          netip.Prefix
	tokens       float64 // failures left before a block; may go negative
	at           time.Time
	lastFail     time.Time
	blockedUntil time.Time
	strikes      int // blocks so far, for the doubling
}

// NewLimiter returns a Limiter with cfg's zero fields set to the defaults.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Block <= 0 {
		cfg.Block = time.Minute
	}
	if cfg.MaxBlock <= 0 {
		cfg.MaxBlock = time.Hour
	}
	if cfg.MaxBlock < cfg.Block {
		cfg.MaxBlock = cfg.Block
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 65536
	}
	return &Limiter{cfg: cfg, now: time.Now, entries: make(map[netip.Prefix]*list.Element)}
}

// Allow reports whether addr may try to authenticate; if not, retryAfter
// is how long it stays blocked. The caller answers a refused attempt with
// <failure><temporary-auth-failure/></failure>.
func (l *Limiter) Allow(addr netip.Addr) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.lookup(limitKey(addr), l.now())
	if e == nil {
		return true, 0
	}
	if d := e.blockedUntil.Sub(l.now()); d > 0 {
		return false, d
	}
	return true, 0
}

// Fail records a failed authentication from addr.
func (l *Limiter) Fail(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := limitKey(addr)
	e := l.lookup(key, now)
	if e == nil {
		e = &limitEntry{key: key, tokens: float64(l.cfg.Burst), at: now}
		l.entries[key] = l.order.PushFront(e)
		for len(l.entries) > l.cfg.MaxEntries {
			l.remove(l.order.Back())
		}
	} else {
		l.order.MoveToFront(l.entries[key])
	}
	l.refill(e, now)
	e.lastFail = now
	e.tokens--
	if e.tokens < 1 && !now.Before(e.blockedUntil) {
		e.strikes++
		block := l.cfg.Block
		for i := 1; i < e.strikes && block < l.cfg.MaxBlock; i++ {
			block *= 2
		}
		e.blockedUntil = now.Add(min(block, l.cfg.MaxBlock))
	}
	l.expire(now)
}

// Succeed records a successful authentication from addr. It ends the
// doubling of blocks but gives no failures back, so that an attacker with
// an account of its own gains no guesses by logging in between them.
func (l *Limiter) Succeed(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.lookup(limitKey(addr), now)
	if e == nil {
		return
	}
	e.strikes = 0
	l.refill(e, now)
	if e.tokens >= float64(l.cfg.Burst) && !now.Before(e.blockedUntil) {
		l.remove(l.entries[e.key])
	}
}

// lookup returns the live entry for key, dropping it if it has expired.
func (l *Limiter) lookup(key netip.Prefix, now time.Time) *limitEntry {
	el, ok := l.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*limitEntry)
	if l.expired(e, now) {
		l.remove(el)
		return nil
	}
	return e
}

func (l *Limiter) expired(e *limitEntry, now time.Time) bool {
	return now.Sub(e.lastFail) >= l.cfg.Window+l.cfg.MaxBlock && !now.Before(e.blockedUntil)
}

// expire drops expired entries from the old end, so that memory follows
// the current attack rather than the peak.
func (l *Limiter) expire(now time.Time) {
	for el := l.order.Back(); el != nil && l.expired(el.Value.(*limitEntry), now); el = l.order.Back() {
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.entries, el.Value.(*limitEntry).key)
	l.order.Remove(el)
}

func (l *Limiter) refill(e *limitEntry, now time.Time) {
	if d := now.Sub(e.at); d > 0 {
		e.tokens = min(float64(l.cfg.Burst), e.tokens+float64(l.cfg.Burst)*d.Seconds()/l.cfg.Window.Seconds())
	}
	e.at = now
}

// limitKey is the unit an address is limited as: the address for IPv4,
// its /64 for IPv6. The zero Addr (no address known) is one shared unit.
func limitKey(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		return netip.PrefixFrom(addr, 32)
	case addr.Is6():
		p, _ := addr.WithZone("").Prefix(64)
		return p
	default:
		return netip.Prefix{}
	}
}
