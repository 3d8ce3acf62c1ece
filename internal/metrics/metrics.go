// Package metrics exports the server's counters in the Prometheus format.
// It is the only importer of the Prometheus client, so that subsystems keep
// plain atomic counters and stay free of the dependency.
package metrics

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry collects metrics for one server instance.
type Registry struct {
	reg *prometheus.Registry
}

// New returns a registry with the Go runtime and process collectors.
func New() *Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: r}
}

// Counter exports a monotonically increasing counter read from v.
func (r *Registry) Counter(name, help string, v *atomic.Uint64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
		return float64(v.Load())
	}))
}

// Gauge exports a value that goes up and down, read from v.
func (r *Registry) Gauge(name, help string, v *atomic.Int64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		return float64(v.Load())
	}))
}

// CounterFunc exports a monotonically increasing counter computed by f at
// scrape time.
func (r *Registry) CounterFunc(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// GaugeFunc exports a value computed by f at scrape time.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Handler serves the metrics.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// LabeledCounter exports one series of a counter with constant labels:
// registered once per label value, e.g. direction="in" and "out".
func (r *Registry) LabeledCounter(name, help string, labels map[string]string, v *atomic.Uint64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 {
		return float64(v.Load())
	}))
}

// LabeledGauge exports one series of a gauge with constant labels.
func (r *Registry) LabeledGauge(name, help string, labels map[string]string, v *atomic.Int64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 {
		return float64(v.Load())
	}))
}

// Values returns the current value of each named metric that has one
// series (a counter or gauge, as /metrics shows it), for the admin page's
// charts; the sum of its series for a metric with labels. Names not
// exported are left out.
func (r *Registry) Values(names ...string) (map[string]float64, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	families, err := r.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	out := make(map[string]float64, len(names))
	for _, f := range families {
		if !want[f.GetName()] {
			continue
		}
		sum := 0.0
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
		out[f.GetName()] = sum
	}
	return out, nil
}

// Family is one registered metric: its name, type (counter, gauge, ...)
// and help text.
type Family struct {
	Name, Type, Help string
}

// Families returns every metric the registry exports, sorted by name
// (docs/metrics.md documents each one; its test compares).
func (r *Registry) Families() ([]Family, error) {
	mfs, err := r.reg.Gather()
	if err != nil {
		return nil, err
	}
	out := make([]Family, 0, len(mfs))
	for _, mf := range mfs {
		out = append(out, Family{Name: mf.GetName(), Type: strings.ToLower(mf.GetType().String()), Help: mf.GetHelp()})
	}
	return out, nil
}
