// Package loadgen is an XMPP load generator for any server: minimix,
// Prosody, ejabberd. It speaks just enough XMPP to log in (plaintext or
// STARTTLS, SCRAM-SHA-1/256, resource binding), join rooms and send and
// count messages, through a lean hand-written client: a scanner that
// finds stanza boundaries without building trees, pipelined writes, and
// SCRAM keys derived once per account, so that the server under test, not
// the tool, is the bottleneck. Each scenario (see Scenarios) reports a
// Result with the tool's and the server's CPU use, and warns when the tool
// was near its cores' capacity.
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options are a run's parameters: the target and every scenario's sizes.
// Zero values take the defaults of DefaultOptions.
type Options struct {
	Target Target
	// PID of the server, for its RSS (idle) and CPU; 0: not measured.
	PID int
	// FirstAccount is the number of the first account used (default 1).
	FirstAccount int
	// Concurrency of logins and joins while setting a scenario up.
	SetupConcurrency int
	// Progress receives a status line while a scenario runs; nil: none.
	Progress io.Writer
	// Timeout bounds waiting for deliveries after the last send.
	Timeout time.Duration

	// idle
	Sessions int
	Settle   time.Duration

	// login
	Logins      int
	Concurrency int
	Accounts    int // accounts logins cycle over; accountjoin: A

	// chat
	Pairs int

	// muc, accountjoin, chat: a flood of Messages, or Rate messages/s
	// for Duration when Rate > 0.
	Occupants int
	Senders   int
	Messages  int
	Rate      float64
	Duration  time.Duration

	// accountjoin
	SessionsPerAccount int

	// join
	Joins int

	// restart
	RestartCmd   string
	RestartSetup bool
	StoredJoins  int
	RoomSize     int
	Observe      string // "admin" or "probe"
	AdminURL     string
	// AdminTokenFile holds the admin API's bearer token (minimix keeps
	// it in data_dir/admin.token).
	AdminTokenFile string
	RoomPrefix     string

	// accounts
	CreateCmd string // "" registers in-band (XEP-0077)
}

// DefaultOptions returns the full-size defaults.
func DefaultOptions() Options {
	return Options{
		FirstAccount:       1,
		SetupConcurrency:   16,
		Timeout:            60 * time.Second,
		Sessions:           1000,
		Settle:             5 * time.Second,
		Logins:             2000,
		Concurrency:        8,
		Accounts:           50,
		Pairs:              10,
		Occupants:          50,
		Senders:            1,
		Messages:           3000,
		Duration:           10 * time.Second,
		SessionsPerAccount: 4,
		Joins:              50,
		StoredJoins:        1000,
		RoomSize:           50,
		Observe:            "probe",
		RoomPrefix:         "bench",
	}
}

// Scenarios lists the scenario names Run accepts, in the order a full run
// takes them.
var Scenarios = []string{"accounts", "idle", "login", "chat", "muc", "accountjoin", "join", "restart"}

// Run runs one scenario.
func Run(ctx context.Context, scenario string, o Options) (*Result, error) {
	b := &bench{o: o, creds: &Credentials{}, epoch: time.Now(), token: newToken()}
	r := &Result{Scenario: scenario, Start: b.epoch, ServerCPU: -1}
	whole := startMeter(o.PID)
	var err error
	switch scenario {
	case "accounts":
		err = b.accounts(ctx, r)
	case "idle":
		err = b.idle(ctx, r)
	case "login":
		err = b.login(ctx, r)
	case "chat":
		err = b.chat(ctx, r)
	case "muc":
		err = b.muc(ctx, r)
	case "accountjoin":
		err = b.accountJoin(ctx, r)
	case "join":
		err = b.join(ctx, r)
	case "restart":
		err = b.restart(ctx, r)
	default:
		return nil, fmt.Errorf("unknown scenario %q (one of %v)", scenario, Scenarios)
	}
	r.Elapsed = time.Since(b.epoch).Seconds()
	if !r.metered {
		// The scenario has no measured phase of its own.
		whole.stop(r)
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w", scenario, err)
	}
	return r, nil
}

// bench is one scenario run's state.
type bench struct {
	o     Options
	creds *Credentials
	epoch time.Time
	token string // marks this run's messages and rooms
}

func newToken() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// stamp is the time since the run began, carried in message bodies.
func (b *bench) stamp() int64 { return int64(time.Since(b.epoch)) }

// acct returns the number of the k-th account (k from 0).
func (b *bench) acct(k int) int { return b.o.FirstAccount + k }

// marker returns the prefix of this run's message bodies.
func (b *bench) marker() []byte { return []byte("mmb " + b.token + " ") }

// appendBody appends a message body carrying seq and the send time.
func (b *bench) appendBody(dst []byte, seq int) []byte {
	dst = append(dst, b.marker()...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, b.stamp(), 10)
}

// parseMarker finds marker in raw and returns the sequence number and
// send stamp that follow it.
func parseMarker(raw, marker []byte) (seq, stamp int64, ok bool) {
	i := bytes.Index(raw, marker)
	if i < 0 {
		return 0, 0, false
	}
	rest := raw[i+len(marker):]
	seq, rest, ok = leadingInt(rest)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return 0, 0, false
	}
	stamp, _, ok = leadingInt(rest[1:])
	return seq, stamp, ok
}

func leadingInt(b []byte) (int64, []byte, bool) {
	var v int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19 {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, b[i:], i > 0
}

// session is one logged-in stream and what its reader has counted.
type session struct {
	c    *Conn
	acct int
	res  string

	marker    []byte
	epoch     time.Time
	delivered atomic.Int64 // this run's messages received
	stanzas   atomic.Int64 // every stanza received
	last      atomic.Int64 // stamp of the latest delivery
	hist      Histogram    // latency of deliveries; read after the reader ended

	mu      sync.Mutex
	waiters []waiter

	done      chan struct{} // closed when the reader ends
	err       error         // the reader's end, after done
	closeOnce sync.Once
}

// waiter is a one-shot match on incoming stanzas.
type waiter struct {
	match func(raw []byte) bool
	ch    chan []byte
}

// await returns a channel that receives (a copy of) the first stanza
// matching f from now on.
func (s *session) await(f func(raw []byte) bool) <-chan []byte {
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.waiters = append(s.waiters, waiter{f, ch})
	s.mu.Unlock()
	return ch
}

func (s *session) handle(raw []byte) {
	s.stanzas.Add(1)
	if Is(raw, "message") {
		if _, st, ok := parseMarker(raw, s.marker); ok {
			now := int64(time.Since(s.epoch))
			s.hist.Record(time.Duration(now - st))
			s.last.Store(now)
			s.delivered.Add(1)
			return
		}
	}
	s.mu.Lock()
	if len(s.waiters) > 0 {
		for i, w := range s.waiters {
			if w.match(raw) {
				w.ch <- bytes.Clone(raw)
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
}

// start begins reading.
func (s *session) start() {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.err = s.c.Read(s.handle)
	}()
}

// close ends the stream and waits for the reader.
func (s *session) close() {
	s.closeOnce.Do(func() { s.c.Close() })
	<-s.done
}

// pool is the sessions of a scenario.
type pool []*session

// open logs in sessions for the given accounts (one entry per session)
// with resources res[i], SetupConcurrency at a time, and starts reading.
func (b *bench) open(ctx context.Context, what string, accts []int, res []string) (pool, error) {
	p := make(pool, len(accts))
	var (
		next    atomic.Int64
		doneN   atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := b.progress(func() string {
		return fmt.Sprintf("%s: logged in %d/%d", what, doneN.Load(), len(accts))
	})
	defer stop()
	conc := max(1, b.o.SetupConcurrency)
	for range min(conc, len(accts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(accts) || ctx.Err() != nil {
					return
				}
				c, err := Login(ctx, &b.o.Target, b.creds, accts[i], res[i])
				if err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				s := &session{c: c, acct: accts[i], res: res[i], marker: b.marker(), epoch: b.epoch}
				s.start()
				p[i] = s
				doneN.Add(1)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		p.close()
		return nil, first
	}
	return p, nil
}

// close closes every open session and waits for their readers.
func (p pool) close() {
	var wg sync.WaitGroup
	for _, s := range p {
		if s != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.close() }()
		}
	}
	wg.Wait()
}

// delivered sums the sessions' delivery counters.
func (p pool) delivered() int64 {
	var n int64
	for _, s := range p {
		n += s.delivered.Load()
	}
	return n
}

// stanzas sums the sessions' stanza counters.
func (p pool) stanzas() int64 {
	var n int64
	for _, s := range p {
		n += s.stanzas.Load()
	}
	return n
}

// lastDelivery returns the latest delivery stamp of any session.
func (p pool) lastDelivery() int64 {
	var m int64
	for _, s := range p {
		m = max(m, s.last.Load())
	}
	return m
}

// latency merges the sessions' histograms; call after close.
func (p pool) latency() *Histogram {
	h := &Histogram{}
	for _, s := range p {
		h.Merge(&s.hist)
	}
	return h
}

// broadcast sends s on every session and flushes.
func (p pool) broadcast(s string) error {
	for _, x := range p {
		x.c.Send([]byte(s))
		if err := x.c.Flush(); err != nil {
			return fmt.Errorf("%s: %w", x.c.JID, err)
		}
	}
	return nil
}

// quiesce waits until no session has received a stanza for quiet, or
// for at most limit.
func (p pool) quiesce(ctx context.Context, quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := p.stanzas(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(quiet / 5)
		if n := p.stanzas(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
	}
}

// seqRes returns n resources prefix1..prefixN.
func seqRes(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i+1)
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
