package adminweb

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// loginLimiter limits failed logins per account (from every address) and
// per client address (over every account, an IPv6 /64 counting as one
// address). A failure takes a token from both buckets; a login is
// refused while either is empty. Tokens come back at the configured
// number per minute.
type loginLimiter struct {
	mu                     sync.Mutex
	perAccount, perAddress int
	accounts               map[string]*rate.Limiter
	addresses              map[netip.Prefix]*rate.Limiter
	now                    func() time.Time
}

// maxLimiterEntries bounds each table; past it, buckets that are full
// again are forgotten (and, if that is not enough, all of them).
const maxLimiterEntries = 10000

func newLoginLimiter(perAccount, perAddress int, now func() time.Time) *loginLimiter {
	return &loginLimiter{
		perAccount: perAccount, perAddress: perAddress,
		accounts:  make(map[string]*rate.Limiter),
		addresses: make(map[netip.Prefix]*rate.Limiter),
		now:       now,
	}
}

func addrKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// allow reports whether addr may try to log in as account now; if not,
// retry says when it may.
func (l *loginLimiter) allow(addr netip.Addr, account string) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, lim := range []*rate.Limiter{l.addresses[addrKey(addr)], l.accounts[account]} {
		if lim == nil {
			continue
		}
		if t := lim.TokensAt(now); t < 1 {
			wait := time.Duration((1 - t) / float64(lim.Limit()) * float64(time.Second))
			retry = max(retry, wait)
		}
	}
	return retry == 0, retry
}

// fail records a failed login as account from addr.
func (l *loginLimiter) fail(addr netip.Addr, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	take(l.addresses, addrKey(addr), l.perAddress, now)
	take(l.accounts, account, l.perAccount, now)
}

func take[K comparable](m map[K]*rate.Limiter, k K, perMinute int, now time.Time) {
	lim := m[k]
	if lim == nil {
		if len(m) >= maxLimiterEntries {
			for k, v := range m {
				if v.TokensAt(now) >= float64(v.Burst()) {
					delete(m, k)
				}
			}
			if len(m) >= maxLimiterEntries {
				clear(m)
			}
		}
		lim = rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), perMinute)
		m[k] = lim
	}
	lim.AllowN(now, 1)
}
