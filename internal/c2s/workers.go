package c2s

import (
	"sync"
	"time"
)

// workers run short jobs, a woken connection's reader or a session's
// writer, on goroutines that are kept between jobs for workerIdle. A job
// on a new goroutine starts on a small stack that it must grow, copying
// it each time, to the depth of TLS, routing and storage; a kept
// goroutine has grown already. Idle connections have no goroutine of
// their own (idle.go), so the jobs are many and short.
type workers struct {
	jobs chan func()
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	idle    int // workers waiting for a job
}

// workerIdle is how long a worker waits for another job before it ends,
// and maxIdleWorkers how many may wait at once: after a burst (a
// thousand clients logging in) the rest end at once, so that their
// grown stacks do not stay with the server.
const (
	workerIdle     = 2 * time.Second
	maxIdleWorkers = 32
)

func newWorkers() *workers {
	return &workers{jobs: make(chan func()), quit: make(chan struct{})}
}

// run runs f on a waiting worker, or on a new one.
func (w *workers) run(f func()) {
	select {
	case w.jobs <- f:
		return
	default:
	}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		go f()
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go w.work(f)
}

func (w *workers) work(f func()) {
	defer w.wg.Done()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		f = nil
		w.mu.Lock()
		if w.idle >= maxIdleWorkers {
			w.mu.Unlock()
			return
		}
		w.idle++
		w.mu.Unlock()
		t.Reset(workerIdle)
		select {
		case f = <-w.jobs:
		case <-t.C:
		case <-w.quit:
		}
		w.mu.Lock()
		w.idle--
		w.mu.Unlock()
		if f == nil {
			return
		}
	}
}

// stop ends the waiting workers and waits for the busy ones to finish;
// later jobs run on goroutines of their own.
func (w *workers) stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	close(w.quit)
	w.mu.Unlock()
	w.wg.Wait()
}
