package stream

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLog writes log lines that a flood could repeat thousands of times a
// second (failed and refused logins, throttled and timed out
// connections, failed server-to-server streams) at most a few times a second each: one message's lines
// pass while its bucket has tokens, the others are counted, and the next
// line that passes says how many were left out.
type RateLog struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	lines map[string]*rateLine
}

type rateLine struct {
	lim        *rate.Limiter
	suppressed int
}

// Each message may be logged rateLogBurst times at once and rateLogRate
// times per second after that.
const (
	rateLogBurst = 10
	rateLogRate  = 2
)

// NewRateLog returns a RateLog writing to log.
func NewRateLog(log *slog.Logger) *RateLog {
	return &RateLog{log: log, now: time.Now, lines: make(map[string]*rateLine)}
}

// Info logs at level info, unless msg is flooding.
func (r *RateLog) Info(msg string, args ...any) { r.write(slog.LevelInfo, msg, args) }

// Warn logs at level warn, unless msg is flooding.
func (r *RateLog) Warn(msg string, args ...any) { r.write(slog.LevelWarn, msg, args) }

func (r *RateLog) write(level slog.Level, msg string, args []any) {
	r.mu.Lock()
	l := r.lines[msg] // messages are constants: the map stays small
	if l == nil {
		l = &rateLine{lim: rate.NewLimiter(rateLogRate, rateLogBurst)}
		r.lines[msg] = l
	}
	if !l.lim.AllowN(r.now(), 1) {
		l.suppressed++
		r.mu.Unlock()
		return
	}
	if l.suppressed > 0 {
		args = append(args, "suppressed_since_last", l.suppressed)
		l.suppressed = 0
	}
	r.mu.Unlock()
	r.log.Log(context.Background(), level, msg, args...)
}
