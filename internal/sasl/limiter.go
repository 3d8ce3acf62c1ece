package sasl

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// LimiterConfig configures a Limiter. Zero fields take the defaults.
type LimiterConfig struct {
	// Burst is how many failures an address may have in a row against one
	// account before it may not try that account for a while. Default 5;
	// negative turns the per-account limit off.
	Burst int
	// AddressBurst is how many failures an address may have in a row over
	// all accounts (password spraying) before it is blocked, except for
	// the accounts it logged in to within Trust. Default 30; negative
	// turns the per-address limit off.
	AddressBurst int
	// Window is how long it takes to earn back a full burst: one failure
	// is forgiven every Window/Burst. Default 1 minute.
	Window time.Duration
	// Block is how long the first block lasts; each further block doubles
	// it, up to MaxBlock. Defaults 1 minute and 1 hour.
	Block    time.Duration
	MaxBlock time.Duration
	// Trust is how long a successful login lets the account past a block
	// of its address (not past a block of the address and that account).
	// Default 7 days.
	Trust time.Duration
	// MaxEntries bounds each of the tables (address and account,
	// address, trusted logins); past it the least recently used entry is
	// forgotten. Default 65536 (a few MiB each).
	MaxEntries int
}

// Limiter limits failed logins with token buckets: each failure takes a
// token, tokens come back at Burst per Window, and a bucket that runs out
// is blocked for a time that doubles with each block. A bucket is
// forgotten Window+MaxBlock after its last failure. IPv6 addresses are
// limited per /64, since one host usually has a whole /64.
//
// Failures are counted per address and account, so that someone guessing
// a password behind a NAT (a campus, a carrier's CGNAT) locks only that
// account from that address, not everyone sharing the address out of
// their own accounts. A second, larger bucket per address catches
// guessing across many accounts; while it is blocked, accounts that
// logged in from the address within Trust still may.
//
// Allow is checked once the client has named the account, before its
// password is checked, so concurrent attempts that all passed Allow each
// get their guess; the failures they report then delay recovery.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	cfg LimiterConfig
	now func() time.Time

	mu      sync.Mutex
	pairs   lru[bucket]    // address and account
	addrs   lru[bucket]    // address, account ""
	trusted lru[time.Time] // address and account -> trusted until
}

// limitKey is what a bucket counts: an address (a /32 or a /64) and an
// account ("" for the address as a whole).
type limitKey struct {
	prefix netip.Prefix
	user   string
}

type bucket struct {
	tokens       float64 // failures left before a block; may go negative
	at           time.Time
	lastFail     time.Time
	blockedUntil time.Time
	strikes      int // blocks so far, for the doubling
}

// NewLimiter returns a Limiter with cfg's zero fields set to the defaults.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Burst == 0 {
		cfg.Burst = 5
	}
	if cfg.AddressBurst == 0 {
		cfg.AddressBurst = 30
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
	if cfg.Trust <= 0 {
		cfg.Trust = 7 * 24 * time.Hour
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 65536
	}
	l := &Limiter{cfg: cfg, now: time.Now}
	l.pairs.init(cfg.MaxEntries)
	l.addrs.init(cfg.MaxEntries)
	l.trusted.init(cfg.MaxEntries)
	return l
}

// Allow reports whether addr may try to authenticate as user (a prepared
// localpart); if not, retryAfter is how long it stays blocked. The caller
// answers a refused attempt with <temporary-auth-failure/>.
func (l *Limiter) Allow(addr netip.Addr, user string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	p := limitPrefix(addr)
	if d := l.blockedFor(&l.pairs, limitKey{p, user}, now); d > 0 {
		return false, d
	}
	if d := l.blockedFor(&l.addrs, limitKey{p, ""}, now); d > 0 {
		if until := l.trusted.get(limitKey{p, user}); until != nil && now.Before(*until) {
			return true, 0
		}
		return false, d
	}
	return true, 0
}

// Fail records a failed authentication as user from addr.
func (l *Limiter) Fail(addr netip.Addr, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	p := limitPrefix(addr)
	if l.cfg.Burst > 0 {
		l.fail(&l.pairs, limitKey{p, user}, l.cfg.Burst, now)
	}
	if l.cfg.AddressBurst > 0 {
		l.fail(&l.addrs, limitKey{p, ""}, l.cfg.AddressBurst, now)
	}
}

// Succeed records a successful authentication as user from addr. It ends
// the doubling of that account's blocks from addr but gives no failures
// back, and leaves the address's own bucket alone, so that an attacker
// with an account of its own gains no guesses by logging in between
// them; and it lets the account past a block of the address for Trust.
func (l *Limiter) Succeed(addr netip.Addr, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	p := limitPrefix(addr)
	k := limitKey{p, user}
	if b := l.live(&l.pairs, k, now); b != nil {
		b.strikes = 0
		l.refill(b, now, l.cfg.Burst)
		if b.tokens >= float64(l.cfg.Burst) && !now.Before(b.blockedUntil) {
			l.pairs.remove(k)
		}
	}
	*l.trusted.put(k) = now.Add(l.cfg.Trust)
	for old, until := l.trusted.oldest(); until != nil && !now.Before(*until); old, until = l.trusted.oldest() {
		l.trusted.remove(old)
	}
}

// blockedFor returns how long the bucket of k stays blocked.
func (l *Limiter) blockedFor(t *lru[bucket], k limitKey, now time.Time) time.Duration {
	b := l.live(t, k, now)
	if b == nil {
		return 0
	}
	return max(b.blockedUntil.Sub(now), 0)
}

// fail takes a token from the bucket of k, blocking it when it runs out.
func (l *Limiter) fail(t *lru[bucket], k limitKey, burst int, now time.Time) {
	b := l.live(t, k, now)
	if b == nil {
		b = t.put(k)
		*b = bucket{tokens: float64(burst), at: now}
	} else {
		t.touch(k)
	}
	l.refill(b, now, burst)
	b.lastFail = now
	b.tokens--
	if b.tokens < 1 && !now.Before(b.blockedUntil) {
		b.strikes++
		block := l.cfg.Block
		for i := 1; i < b.strikes && block < l.cfg.MaxBlock; i++ {
			block *= 2
		}
		b.blockedUntil = now.Add(min(block, l.cfg.MaxBlock))
	}
	// Expire from the old end, so that memory follows the current attack
	// rather than the peak.
	for k, b := t.oldest(); b != nil && l.expired(b, now); k, b = t.oldest() {
		t.remove(k)
	}
}

// live returns the bucket of k, dropping it if it has expired.
func (l *Limiter) live(t *lru[bucket], k limitKey, now time.Time) *bucket {
	b := t.get(k)
	if b != nil && l.expired(b, now) {
		t.remove(k)
		return nil
	}
	return b
}

func (l *Limiter) expired(b *bucket, now time.Time) bool {
	return now.Sub(b.lastFail) >= l.cfg.Window+l.cfg.MaxBlock && !now.Before(b.blockedUntil)
}

func (l *Limiter) refill(b *bucket, now time.Time, burst int) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(burst)*d.Seconds()/l.cfg.Window.Seconds())
	}
	b.at = now
}

// limitPrefix is the unit an address is limited as: the address for
// IPv4, its /64 for IPv6. The zero Addr (no address known) is one shared
// unit.
func limitPrefix(addr netip.Addr) netip.Prefix {
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

// lru is a map bounded by evicting the least recently used entry.
type lru[V any] struct {
	max   int
	m     map[limitKey]*list.Element // of *lruEntry[V]
	order list.List                  // most recently used first
}

type lruEntry[V any] struct {
	key limitKey
	val V
}

func (t *lru[V]) init(max int) {
	t.max = max
	t.m = make(map[limitKey]*list.Element)
}

func (t *lru[V]) len() int { return len(t.m) }

func (t *lru[V]) get(k limitKey) *V {
	if el, ok := t.m[k]; ok {
		return &el.Value.(*lruEntry[V]).val
	}
	return nil
}

func (t *lru[V]) touch(k limitKey) {
	if el, ok := t.m[k]; ok {
		t.order.MoveToFront(el)
	}
}

// put returns the value of k, adding a zero one (and evicting the least
// recently used past max) if there is none, and marks it most recent.
func (t *lru[V]) put(k limitKey) *V {
	if el, ok := t.m[k]; ok {
		t.order.MoveToFront(el)
		return &el.Value.(*lruEntry[V]).val
	}
	e := &lruEntry[V]{key: k}
	t.m[k] = t.order.PushFront(e)
	for len(t.m) > t.max {
		k, _ := t.oldest()
		t.remove(k)
	}
	return &e.val
}

func (t *lru[V]) remove(k limitKey) {
	if el, ok := t.m[k]; ok {
		delete(t.m, k)
		t.order.Remove(el)
	}
}

// oldest returns the least recently used entry, or a nil value.
func (t *lru[V]) oldest() (limitKey, *V) {
	el := t.order.Back()
	if el == nil {
		return limitKey{}, nil
	}
	e := el.Value.(*lruEntry[V])
	return e.key, &e.val
}
