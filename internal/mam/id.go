package mam

import (
	"encoding/base32"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// idEncoding is base32 with an alphabet (Crockford's, lower case) in
// ASCII order, so that ids sort as the numbers they encode, and without
// letters that read as digits or padding, so that ids are URL-safe and
// easy to quote.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// idGen makes archive ids: 80 bits, a 48-bit millisecond clock followed
// by 32 random bits, written as 16 base32 characters. XEP-0313 wants ids
// unpredictable and unique within an archive; being time-sortable as
// well makes them readable in logs and keeps index inserts local. Ids
// from one generator strictly increase even when the clock stalls or
// steps back: the next id then continues from the last one by a random
// step, which stays unpredictable. The archive orders by insertion, not
// by id, so ids from before a backward clock step do no harm.
type idGen struct {
	mu     sync.Mutex
	ms, lo uint64 // the last id; lo holds 32 bits
}

func (g *idGen) next(now time.Time) string {
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	lo := uint64(rand.Uint32())
	g.mu.Lock()
	if ms < g.ms || (ms == g.ms && lo <= g.lo) {
		ms, lo = g.ms, g.lo+1+uint64(rand.Uint32N(1<<16))
		if lo > math.MaxUint32 {
			ms, lo = ms+1, lo&math.MaxUint32
		}
	}
	g.ms, g.lo = ms, lo
	g.mu.Unlock()

	var b [10]byte
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	binary.BigEndian.PutUint32(b[6:10], uint32(lo))
	return idEncoding.EncodeToString(b[:])
}
