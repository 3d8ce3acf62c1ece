package muc

import (
	"sync"
	"time"

	"minimix/internal/jid"
)

// Bounds on what peers control. Sizes of text are bounded by the stream's
// stanza limit as well.
const (
	maxNickRunes        = 64    // characters in a nick
	maxHistoryLength    = 200   // messages a room keeps for replay
	defaultHistory      = 50    // a new room's history length
	maxSessions         = 32    // real JIDs behind one occupant
	maxAffiliations     = 10000 // non-"none" affiliations per room
	maxAdminItems       = 100   // items in one admin set
	maxFormFields       = 100   // fields in a submitted form
	maxInvites          = 10    // invitations in one message
	maxTextField        = 1024  // bytes in a room name, description, password
	maxSubjectBytes     = 4096  // bytes in a subject
	maxDiscoItems       = 100   // rooms in one disco#items page
	maxSpareOutbox      = 4096  // largest outbox kept for reuse
	limiterMaxEntries   = 10000 // bare JIDs a limiter tracks
	createBurst         = 10    // rooms one bare JID may create at once...
	createEvery         = 6 * time.Second
	joinBurst           = 100 // ...and rooms it may enter at once
	joinEvery           = 100 * time.Millisecond
	voiceRequestsBurst  = 3
	voiceRequestsEvery  = 30 * time.Second
	maxOccupantIQIDSize = 1024 // bytes of an iq id relayed to an occupant
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

// allow takes a token for key, reporting whether there was one.
func (l *limiter) allow(key jid.JID, now time.Time) bool {
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
