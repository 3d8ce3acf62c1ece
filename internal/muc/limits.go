package muc

import (
	"context"
	"sync"
	"time"

	"minimix/internal/jid"
)

// Limits are the service's policy on what one account may do and how
// large rooms' state may grow: operators set them ([muc] in the
// configuration). A zero field takes DefaultLimits' value, except the
// bursts, where 0 means no limit.
type Limits struct {
	CreateBurst    int           // rooms one bare JID may create at once...
	CreateInterval time.Duration // ...and how often it gets one more
	JoinBurst      int           // rooms it may enter at once...
	JoinInterval   time.Duration
	// HistoryLength is a new room's history length; MaxHistoryLength the
	// most an owner may set.
	HistoryLength, MaxHistoryLength int
	MaxSessionsPerNick              int // real JIDs behind one occupant
	MaxNickLength                   int // characters in a nick
	VoiceRequestBurst               int
	VoiceRequestInterval            time.Duration
}

// DefaultLimits are the limits of a service configured with none: high
// enough that no ordinary client, test suite or provisioning script meets
// the rate limits.
func DefaultLimits() Limits {
	return Limits{
		CreateBurst: 100, CreateInterval: time.Second,
		JoinBurst: 1000, JoinInterval: 50 * time.Millisecond,
		HistoryLength: 50, MaxHistoryLength: 200,
		MaxSessionsPerNick: 32, MaxNickLength: 64,
		VoiceRequestBurst: 3, VoiceRequestInterval: 30 * time.Second,
	}
}

// withDefaults fills l's zero durations and sizes from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *time.Duration }{
		{&l.CreateInterval, &d.CreateInterval}, {&l.JoinInterval, &d.JoinInterval}, {&l.VoiceRequestInterval, &d.VoiceRequestInterval},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *int }{
		{&l.MaxHistoryLength, &d.MaxHistoryLength}, {&l.MaxSessionsPerNick, &d.MaxSessionsPerNick}, {&l.MaxNickLength, &d.MaxNickLength},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	l.HistoryLength = max(0, min(l.HistoryLength, l.MaxHistoryLength))
	return l
}

// Bounds on what peers control. Sizes of text are bounded by the stream's
// stanza limit as well.
const (
	maxNickBytes        = 1023  // a nick is a resourcepart
	maxAffiliations     = 10000 // non-"none" affiliations per room
	maxAdminItems       = 100   // items in one admin set
	maxFormFields       = 100   // fields in a submitted form
	maxInvites          = 10    // invitations in one message
	maxTextField        = 1024  // bytes in a room name, description, password
	maxSubjectBytes     = 4096  // bytes in a subject
	maxDiscoItems       = 100   // rooms in one disco#items page
	limiterMaxEntries   = 10000 // bare JIDs a limiter tracks
	maxOccupantIQIDSize = 1024  // bytes of an iq id relayed to an occupant
)

// limiter is a token bucket per bare JID: burst tokens, one more every
// interval. It tracks at most limiterMaxEntries JIDs; when full it forgets
// those whose buckets are full again (they are indistinguishable from
// new ones), then, if that is not enough, everyone.
type limiter struct {
	burst    float64
	interval time.Duration

	mu      sync.Mutex
	buckets map[jid.JID]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, interval time.Duration) *limiter {
	return &limiter{burst: float64(burst), interval: interval, buckets: make(map[jid.JID]*bucket)}
}

// allow takes a token for key, reporting whether there was one. A
// limiter with a burst of 0 allows everything.
func (l *limiter) allow(key jid.JID, now time.Time) bool {
	if l.burst <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= limiterMaxEntries {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.interval))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.last))/float64(l.interval) >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= limiterMaxEntries {
		clear(l.buckets)
	}
}

// joinAllowed applies the per-JID join limit to a join routed with ctx.
// Admins are exempt, and so are the server's own joins (Config.ExemptJoin):
// an account-join service rejoining an account's rooms after a restart or
// a 332 enters them all at once, and is the server's work, not a
// stranger's flood.
func (s *Service) joinAllowed(ctx context.Context, bare jid.JID) bool {
	if s.isAdmin(bare) || s.cfg.ExemptJoin != nil && s.cfg.ExemptJoin(ctx) {
		return true
	}
	return s.joins.allow(bare, s.now())
}
