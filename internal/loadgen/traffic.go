package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sender is one stream that sends messages to one address.
type sender struct {
	s    *session
	to   string
	typ  string // "chat" or "groupchat"
	n    int    // flood: messages to send
	rate float64
}

// traffic is what one measured exchange did.
type traffic struct {
	sent      int64
	expected  int64
	delivered int64
	start     int64 // stamp of the first send
	sendEnd   int64 // stamp when the last sender finished
	end       int64 // stamp of the last delivery
	stalled   bool  // waiting gave up before everything arrived
	meter     *meter
}

// Write runs fn with the connection's buffered writer held and flushes
// afterwards.
func (c *Conn) Write(fn func(w *bufio.Writer)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	fn(c.w)
	return c.w.Flush()
}

// run sends from every sender at once (floods, or at their rates for
// duration) and waits until receivers have received fanout deliveries of
// each message sent, or until nothing has arrived for o.Timeout.
func (b *bench) run(ctx context.Context, what string, senders []sender, receivers pool, fanout int, duration time.Duration) (*traffic, error) {
	t := &traffic{}
	var sent atomic.Int64
	stop := b.progress(func() string {
		d := receivers.delivered()
		el := time.Duration(b.stamp() - t.start).Seconds()
		return fmt.Sprintf("%s: sent %d, delivered %d (%s/s)", what, sent.Load(), d, FormatNumber(float64(d)/max(el, 1e-3)))
	})
	defer stop()
	base := receivers.delivered()
	t.meter = startMeter(b.o.PID)
	t.start = b.stamp()
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for i := range senders {
		sd := &senders[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if sd.rate > 0 {
				err = b.sendRate(ctx, sd, duration, &sent)
			} else {
				err = b.sendFlood(ctx, sd, &sent)
			}
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.sendEnd = b.stamp()
	t.sent = sent.Load()
	if firstErr != nil {
		return t, firstErr
	}
	t.expected = t.sent * int64(fanout)
	// Wait for the deliveries, giving up after o.Timeout without progress.
	last, lastAt := receivers.delivered(), time.Now()
	for receivers.delivered()-base < t.expected {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		time.Sleep(2 * time.Millisecond)
		if n := receivers.delivered(); n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > b.o.Timeout {
			t.stalled = true
			break
		}
		if err := receivers.failed(); err != nil {
			return t, err
		}
	}
	t.delivered = receivers.delivered() - base
	t.end = receivers.lastDelivery()
	return t, nil
}

// failed returns the end of the first session whose reader stopped.
func (p pool) failed() error {
	for _, s := range p {
		select {
		case <-s.done:
			if s.err != nil {
				return fmt.Errorf("%s: %w", s.c.JID, s.err)
			}
			return fmt.Errorf("%s: stream ended", s.c.JID)
		default:
		}
	}
	return nil
}

// message appends one stanza to w.
func (b *bench) message(w *bufio.Writer, buf []byte, sd *sender, seq int) []byte {
	buf = append(buf[:0], "<message type='"...)
	buf = append(buf, sd.typ...)
	buf = append(buf, "' to='"...)
	buf = append(buf, sd.to...)
	buf = append(buf, "'><body>"...)
	buf = b.appendBody(buf, seq)
	buf = append(buf, "</body></message>"...)
	w.Write(buf)
	return buf
}

const floodBatch = 64

func (b *bench) sendFlood(ctx context.Context, sd *sender, sent *atomic.Int64) error {
	buf := make([]byte, 0, 256)
	for i := 0; i < sd.n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(floodBatch, sd.n-i)
		err := sd.s.c.Write(func(w *bufio.Writer) {
			for j := range k {
				buf = b.message(w, buf, sd, i+j)
			}
		})
		if err != nil {
			return fmt.Errorf("sending: %w", err)
		}
		i += k
		sent.Add(int64(k))
	}
	return nil
}

// sendRate sends sd.rate messages per second for d, in small batches as
// the clock allows (about one per millisecond).
func (b *bench) sendRate(ctx context.Context, sd *sender, d time.Duration, sent *atomic.Int64) error {
	buf := make([]byte, 0, 256)
	start := time.Now()
	total := int(sd.rate * d.Seconds())
	done := 0
	for done < total {
		if err := ctx.Err(); err != nil {
			return err
		}
		due := min(total, int(sd.rate*time.Since(start).Seconds())+1)
		if due > done {
			k := due - done
			err := sd.s.c.Write(func(w *bufio.Writer) {
				for j := range k {
					buf = b.message(w, buf, sd, done+j)
				}
			})
			if err != nil {
				return fmt.Errorf("sending: %w", err)
			}
			done = due
			sent.Add(int64(k))
		}
		next := start.Add(time.Duration(float64(done) / sd.rate * float64(time.Second)))
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
	}
	return nil
}

// report adds the exchange's numbers to r. receivers must be closed
// (their readers ended) so that their histograms can be read.
func (t *traffic) report(r *Result, receivers pool, unit string) {
	t.meter.stop(r)
	r.add("sent", float64(t.sent), "msgs", "")
	r.add("delivered", float64(t.delivered), unit, "")
	span := time.Duration(t.end - t.start)
	if t.delivered > 0 && span > 0 {
		r.rate(unit+"/s", float64(t.delivered)/span.Seconds(), unit+"/s")
	}
	if sendSpan := time.Duration(t.sendEnd - t.start); sendSpan > 0 {
		// How fast the tool wrote, not a property of the server.
		r.add("sent/s", float64(t.sent)/sendSpan.Seconds(), "msgs/s", "")
	}
	r.latencies("latency", receivers.latency())
	if t.delivered < t.expected {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d of %d deliveries did not arrive%s", t.expected-t.delivered, t.expected, receivers.short(t.expected)))
	}
	if t.delivered > t.expected {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d deliveries more than expected (%d): duplicates?", t.delivered-t.expected, t.expected))
	}
}

// progress prints status() to o.Progress every second (in place on a
// terminal) until the returned function is called.
func (b *bench) progress(status func() string) func() {
	w := b.o.Progress
	if w == nil {
		return func() {}
	}
	inPlace := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			inPlace = true
		}
	}
	every := 5 * time.Second
	if inPlace {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-done:
				if inPlace {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return
			case <-tk.C:
				if inPlace {
					fmt.Fprintf(w, "\r%s\x1b[K", status())
				} else {
					fmt.Fprintln(w, status())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

var errNoSessions = errors.New("no sessions")

// short names the receivers that got fewer deliveries than their share
// when every receiver should get each message (a room), with the server
// address each is connected to: which sessions, on which node of a
// cluster, lost what.
func (p pool) short(expected int64) string {
	if len(p) == 0 || expected%int64(len(p)) != 0 {
		return ""
	}
	each := expected / int64(len(p))
	var b strings.Builder
	n := 0
	for _, s := range p {
		if d := s.delivered.Load(); d < each {
			if n < 10 {
				fmt.Fprintf(&b, "; %s via %s got %d of %d", s.c.JID, s.c.nc.RemoteAddr(), d, each)
			}
			n++
		}
	}
	if n > 10 {
		fmt.Fprintf(&b, "; %d more receivers short", n-10)
	}
	return b.String()
}
