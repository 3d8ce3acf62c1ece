package adminweb

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// The exported metrics the charts and the status page read.
const (
	mSaved      = "minimix_account_join_saved_total"
	mStanzasIn  = "minimix_c2s_stanzas_in_total"
	mStanzasOut = "minimix_c2s_stanzas_out_total"
	mSessions   = "minimix_c2s_sessions"
	mRSS        = "process_resident_memory_bytes"
	mHeap       = "go_memstats_heap_inuse_bytes"
)

// Sample is one point of the charts.
type Sample struct {
	Time time.Time `json:"t"`
	// Rates since the sample before, per second. Deliveries are the
	// stanzas written to clients (router deliveries, room traffic forked
	// by account joins, and the rest alike); Stanzas those and the ones
	// read from them.
	Deliveries float64 `json:"deliveries"`
	Saved      float64 `json:"saved"`
	Stanzas    float64 `json:"stanzas"`
	Sessions   float64 `json:"sessions"`
	Memory     float64 `json:"memory"` // resident set, or Go heap in use where that is unknown
	Heap       float64 `json:"heap"`
}

// maxSamples is how many points the charts keep.
const maxSamples = 240

// minSampleGap is the least time between two samples: a chart polling
// faster than the background sampler adds points, no faster than this.
const minSampleGap = 500 * time.Millisecond

// sampler keeps the recent samples.
type sampler struct {
	b   Backend
	now func() time.Time

	mu      sync.Mutex
	samples []Sample
	last    map[string]float64 // the counters at the last sample
	lastAt  time.Time
	err     error
}

func newSampler(b Backend, now func() time.Time) *sampler {
	return &sampler{b: b, now: now}
}

// take adds a sample unless the last one is younger than minSampleGap.
func (s *sampler) take() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.lastAt.IsZero() && now.Sub(s.lastAt) < minSampleGap {
		return
	}
	v, err := s.b.MetricValues(mSaved, mStanzasIn, mStanzasOut, mSessions, mRSS, mHeap)
	s.err = err
	if err != nil {
		return
	}
	p := Sample{Time: now, Sessions: v[mSessions], Memory: v[mRSS], Heap: v[mHeap]}
	if p.Memory == 0 {
		p.Memory = p.Heap
	}
	if s.last != nil {
		dt := now.Sub(s.lastAt).Seconds()
		rate := func(names ...string) float64 {
			d := 0.0
			for _, n := range names {
				d += v[n] - s.last[n]
			}
			return max(d, 0) / dt
		}
		p.Deliveries = rate(mStanzasOut)
		p.Saved = rate(mSaved)
		p.Stanzas = rate(mStanzasIn, mStanzasOut)
		s.samples = append(s.samples, p)
		if len(s.samples) > maxSamples {
			s.samples = append(s.samples[:0], s.samples[len(s.samples)-maxSamples:]...)
		}
	}
	s.last, s.lastAt = v, now
}

// snapshot returns the samples, oldest first.
func (s *sampler) snapshot() ([]Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...), s.err
}

// latest returns the newest sample, if any.
func (s *sampler) latest() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return Sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// metricsJSON answers the charts' polls with every sample kept.
func (h *Handler) metricsJSON(w http.ResponseWriter, r *http.Request) {
	h.samples.take()
	samples, err := h.samples.snapshot()
	if err != nil {
		h.log.Error("admin page: reading metrics", "err", err)
		http.Error(w, "reading metrics failed; see the server's log", http.StatusInternalServerError)
		return
	}
	if samples == nil {
		samples = []Sample{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Samples []Sample `json:"samples"`
	}{samples})
}
