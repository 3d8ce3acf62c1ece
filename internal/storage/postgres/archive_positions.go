package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Archive positions must be unique across every node writing to one
// database, and the mam layer needs each one when it queues a record (a
// room message's position orders it among the account's memberships:
// mam.GroupchatRef.Seq), before any write. So positions come from the
// PostgreSQL sequence archive_seq in ranges: each node reserves a range
// with nextval and hands its values out in memory, in increasing order,
// as the SQLite backend hands out its counter. The next range is reserved
// in the background when half of the current one is used, so queueing a
// record never waits for the database unless a burst outruns it.
//
// Positions order records across nodes by when their ranges were
// reserved. A range older than maxRangeAge is replaced (in the background)
// by a new one, so a node's positions trail the other nodes' by little
// more than that. A node that takes over another's accounts or rooms
// (a cluster failover) calls AdvancePositions first: its next positions
// then follow every position reserved anywhere before, so that a
// membership the old node opened covers what the new node stores.

// Range sizes adapt to the node's rate, between minRange and maxRange.
const (
	minRange    = 64
	maxRange    = 1 << 16
	maxRangeAge = time.Second
)

// span is an inclusive range of positions.
type span struct{ lo, hi int64 }

// positions hands out archive positions from reserved ranges.
type positions struct {
	mu      sync.Mutex
	cur     []span // in increasing order; cur[0].lo is the next position
	curAt   time.Time
	curSize int // values reserved in cur
	spare   []span
	spareAt time.Time
	// fetching is set while a background reservation runs; gen is bumped
	// by every synchronous one, so that a background result reserved
	// before it is dropped (its values would go backwards).
	fetching bool
	gen      uint64
	size     int // values the next reservation asks for

	now     func() time.Time
	reserve func(ctx context.Context, n int) ([]span, error)
	ctx     context.Context // ended by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newPositions(reserve func(ctx context.Context, n int) ([]span, error)) *positions {
	ctx, cancel := context.WithCancel(context.Background())
	return &positions{size: 256, now: time.Now, reserve: reserve, ctx: ctx, cancel: cancel}
}

var errPositionsClosed = errors.New("archive positions: closed")

// next returns the next position. It reserves a range itself, waiting
// for the database, only when no reserved value is left.
func (p *positions) next(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return 0, errPositionsClosed
	}
	now := p.now()
	stale := now.Sub(p.curAt) > maxRangeAge
	switch {
	case len(p.cur) == 0 && len(p.spare) > 0:
		if now.Sub(p.curAt) < maxRangeAge/4 {
			p.size = min(p.size*2, maxRange) // used up fast: ask for more
		}
		p.use()
	case len(p.cur) == 0:
		if err := p.reserveNow(ctx); err != nil {
			return 0, err
		}
	case stale && len(p.spare) > 0 && !p.spareAt.Before(p.curAt):
		p.use()
	}
	if now.Sub(p.curAt) > maxRangeAge {
		// Still stale: keep using it (positions stay unique) while a
		// fresh range comes.
		p.fetch()
	}
	pos := p.cur[0].lo
	if p.cur[0].lo++; p.cur[0].lo > p.cur[0].hi {
		p.cur = p.cur[1:]
	}
	if len(p.spare) == 0 && remaining(p.cur) < p.curSize/2 {
		p.fetch()
	}
	return pos, nil
}

// use replaces the current range by the spare one.
func (p *positions) use() {
	if left := remaining(p.cur); left > p.curSize/2 {
		p.size = max(p.size/2, minRange) // went stale mostly unused
	}
	p.cur, p.curAt, p.curSize = p.spare, p.spareAt, remaining(p.spare)
	p.spare = nil
}

func remaining(s []span) int {
	n := 0
	for _, r := range s {
		n += int(r.hi - r.lo + 1)
	}
	return n
}

// reserveNow reserves a range and makes it current, dropping what is
// left of the current and spare ones. p.mu is held.
func (p *positions) reserveNow(ctx context.Context) error {
	p.gen++
	spans, err := p.reserve(ctx, p.size)
	if err != nil {
		return fmt.Errorf("reserve archive positions: %w", err)
	}
	p.cur, p.curAt, p.curSize = spans, p.now(), remaining(spans)
	p.spare = nil
	return nil
}

// fetch reserves the next range in the background unless one is on its
// way. p.mu is held.
func (p *positions) fetch() {
	if p.fetching {
		return
	}
	p.fetching = true
	gen, n := p.gen, p.size
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		spans, err := p.reserve(ctx, n)
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.fetching = false
		if err != nil {
			if p.ctx.Err() == nil {
				slog.Warn("postgres: reserving archive positions failed; will retry", "err", err)
			}
			return
		}
		if gen != p.gen {
			return // a synchronous reservation came after this one began
		}
		p.spare, p.spareAt = spans, p.now()
	}()
}

// advance makes the next position follow every position reserved before
// the call, on any node.
func (p *positions) advance(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return errPositionsClosed
	}
	return p.reserveNow(ctx)
}

// close stops background reservations and waits for them.
func (p *positions) close() {
	p.cancel()
	p.wg.Wait()
}

// reservePositions reserves n positions from archive_seq: n calls of
// nextval in one statement. They are contiguous unless another node
// reserves at the same moment, and increasing either way.
func (db *DB) reservePositions(ctx context.Context, n int) ([]span, error) {
	rows, err := db.pool.Query(ctx, `SELECT nextval('archive_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, err
	}
	var vals []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		vals = append(vals, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, errors.New("no position reserved")
	}
	slices.Sort(vals)
	var out []span
	for _, v := range vals {
		if k := len(out) - 1; k >= 0 && out[k].hi+1 == v {
			out[k].hi = v
			continue
		}
		out = append(out, span{v, v})
	}
	return out, nil
}

// AdvancePositions makes the archive positions this node hands out next
// follow every position reserved before the call by any node sharing the
// database. A cluster node calls it when it takes over accounts or rooms
// from another node, before it archives for them: records it queues then
// sort after what the other node queued, inside the memberships it
// opened.
func (db *DB) AdvancePositions(ctx context.Context) error {
	if err := db.archive.Locked(func() error { return db.positions.advance(ctx) }); err != nil {
		return fmt.Errorf("postgres: advance archive positions: %w", err)
	}
	return nil
}
