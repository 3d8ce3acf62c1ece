package loadgen

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// idle: o.Sessions accounts log in with initial presence and stay; the
// server's RSS growth per session is the result.
func (b *bench) idle(ctx context.Context, r *Result) error {
	if b.o.PID <= 0 {
		return errors.New("idle needs the server's pid (-pid)")
	}
	n := b.o.Sessions
	r.param("sessions", n)
	r.param("tls", b.o.Target.StartTLS)
	r.param("settle", b.o.Settle)
	before, err := procRSS(b.o.PID)
	if err != nil {
		return err
	}
	m := startMeter(b.o.PID)
	accts := make([]int, n)
	for i := range accts {
		accts[i] = b.acct(i)
	}
	t0 := time.Now()
	p, err := b.open(ctx, "idle", accts, repeat("idle", n))
	if err != nil {
		return err
	}
	defer p.close()
	loginTime := time.Since(t0)
	if err := p.broadcast("<presence/>"); err != nil {
		return err
	}
	stop := b.progress(func() string { return "idle: settling" })
	select {
	case <-time.After(b.o.Settle):
	case <-ctx.Done():
	}
	stop()
	if err := p.failed(); err != nil {
		return err
	}
	after, err := procRSS(b.o.PID)
	if err != nil {
		return err
	}
	m.stop(r)
	r.add("RSS before", float64(before)/1024, "KiB", "")
	r.add("RSS after", float64(after)/1024, "KiB", "")
	r.add("RSS per session", float64(after-before)/float64(n)/1024, "KiB", "lower")
	r.rate("logins/s while filling", float64(n)/loginTime.Seconds(), "logins/s")
	return nil
}

// login: o.Logins complete logins (connect, SCRAM, bind, end of stream), o.Concurrency
// at a time, cycling over o.Accounts accounts.
func (b *bench) login(ctx context.Context, r *Result) error {
	n, conc, accts := b.o.Logins, max(1, b.o.Concurrency), max(1, b.o.Accounts)
	r.param("logins", n)
	r.param("concurrency", conc)
	r.param("accounts", accts)
	r.param("tls", b.o.Target.StartTLS)
	// Derive every account's keys before the clock starts: once per
	// account is what a real client pays too, and it is the server's
	// work that is measured.
	for i := range min(accts, n) {
		c, err := Login(ctx, &b.o.Target, b.creds, b.acct(i), "warm")
		if err != nil {
			return err
		}
		c.CloseWait(time.Second)
	}
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		hist       Histogram
		errOnce    sync.Once
		first      error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := b.progress(func() string { return fmt.Sprintf("login: %d/%d", done.Load(), n) })
	m := startMeter(b.o.PID)
	t0 := time.Now()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h Histogram
			defer func() { mu.Lock(); hist.Merge(&h); mu.Unlock() }()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				s := time.Now()
				c, err := Login(ctx, &b.o.Target, b.creds, b.acct(i%accts), fmt.Sprintf("l%d", i))
				if err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				h.Record(time.Since(s))
				// Log out as a client does: end the stream and go,
				// without waiting for the server's side (ejabberd takes
				// about 100 ms to close it).
				c.Close()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	stop()
	m.stop(r)
	if first != nil {
		return first
	}
	r.rate("logins/s", float64(n)/el.Seconds(), "logins/s")
	r.latencies("login", &hist)
	return nil
}

// chat: o.Pairs pairs of accounts; the first of each sends to the
// second's full JID (a flood of o.Messages per pair, or o.Rate messages/s
// in all).
func (b *bench) chat(ctx context.Context, r *Result) error {
	n := 2 * b.o.Pairs
	accts := make([]int, n)
	for i := range accts {
		accts[i] = b.acct(i)
	}
	p, err := b.open(ctx, "chat", accts, repeat("chat", n))
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.broadcast("<presence/>"); err != nil {
		return err
	}
	p.quiesce(ctx, 200*time.Millisecond, 10*time.Second)
	var ss []sender
	var receivers pool
	for i := 0; i+1 < n; i += 2 {
		sd := sender{s: p[i], to: p[i+1].c.JID, typ: "chat"}
		if b.o.Rate > 0 {
			sd.rate = b.o.Rate / float64(b.o.Pairs)
		} else {
			sd.n = b.o.Messages
		}
		ss = append(ss, sd)
		receivers = append(receivers, p[i+1])
	}
	r.param("pairs", b.o.Pairs)
	if b.o.Rate > 0 {
		r.param("mode", "rate")
		r.param("rate", b.o.Rate)
		r.param("duration", b.o.Duration)
	} else {
		r.param("mode", "flood")
		r.param("messages_per_pair", b.o.Messages)
	}
	t, err := b.run(ctx, "chat", ss, receivers, 1, b.o.Duration)
	p.close()
	if err != nil {
		return err
	}
	t.report(r, receivers, "msgs")
	return nil
}

// accounts creates o.Accounts accounts (numbered from FirstAccount) with
// in-band registration, or with o.CreateCmd run once per account. An
// account that exists already counts as created.
func (b *bench) accounts(ctx context.Context, r *Result) error {
	n := b.o.Accounts
	r.param("accounts", n)
	via := "in-band registration"
	if b.o.CreateCmd != "" {
		via = b.o.CreateCmd
	}
	r.param("via", via)
	var (
		next, done, existed atomic.Int64
		wg                  sync.WaitGroup
		errOnce             sync.Once
		first               error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := b.progress(func() string { return fmt.Sprintf("accounts: %d/%d", done.Load(), n) })
	t0 := time.Now()
	for range min(max(1, b.o.SetupConcurrency), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				var (
					exists bool
					err    error
				)
				if b.o.CreateCmd != "" {
					err = b.createByCommand(ctx, b.acct(i))
				} else {
					exists, err = Register(ctx, &b.o.Target, b.acct(i))
				}
				if err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				if exists {
					existed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	stop()
	if first != nil {
		return first
	}
	r.add("created", float64(n-int(existed.Load())), "accounts", "")
	r.add("existed", float64(existed.Load()), "accounts", "")
	r.rate("accounts/s", float64(n)/time.Since(t0).Seconds(), "accounts/s")
	return nil
}

// createByCommand runs o.CreateCmd through sh with {user}, {domain} and
// {password} replaced, and the password also on standard input (what
// `minimix user add` reads).
func (b *bench) createByCommand(ctx context.Context, acct int) error {
	t := &b.o.Target
	cmd := strings.NewReplacer("{user}", t.User(acct), "{domain}", t.Domain, "{password}", t.Password).Replace(b.o.CreateCmd)
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdin = strings.NewReader(t.Password + "\n")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Register creates account i with XEP-0077 in-band registration. It
// reports whether the account existed already (a conflict).
func Register(ctx context.Context, t *Target, i int) (existed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout())
	defer cancel()
	c, feats, err := connect(ctx, t)
	if err != nil {
		return false, fmt.Errorf("register %s: %w", t.User(i), err)
	}
	defer c.nc.Close()
	_ = feats
	if err := c.write(`<iq type='set' id='reg1'><query xmlns='` + nsRegister + `'><username>` +
		escapeText(t.User(i)) + `</username><password>` + escapeText(t.Password) + `</password></query></iq>`); err != nil {
		return false, err
	}
	for {
		raw, err := c.expect()
		if err != nil {
			return false, fmt.Errorf("register %s: %w", t.User(i), err)
		}
		if !Is(raw, "iq") || Attr(raw, "id") != "reg1" {
			continue
		}
		c.write(`</stream:stream>`)
		switch {
		case Attr(raw, "type") == "result":
			return false, nil
		case errorCondition(raw) == "conflict":
			return true, nil
		default:
			return false, fmt.Errorf("register %s: %s", t.User(i), errorCondition(raw))
		}
	}
}
