package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Metric is one measured number.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Better is "higher" or "lower": which way the side-by-side table's
	// ratios point.
	Better string `json:"better,omitempty"`
}

// Result is what one scenario run reports.
type Result struct {
	Label    string            `json:"label,omitempty"` // the server's column in a comparison
	Scenario string            `json:"scenario"`
	Params   map[string]string `json:"params"`
	Metrics  []Metric          `json:"metrics"`
	Start    time.Time         `json:"start"`
	Elapsed  float64           `json:"elapsed_s"`
	// ToolCPU and ServerCPU are the cores each used while the scenario
	// measured (CPU seconds over wall seconds); ServerCPU is -1 without a
	// server pid.
	ToolCPU   float64  `json:"tool_cpu"`
	ServerCPU float64  `json:"server_cpu"`
	Load1     float64  `json:"load1"`
	Warnings  []string `json:"warnings,omitempty"`

	metered bool // a measured phase filled the CPU fields
}

func (r *Result) add(name string, v float64, unit, better string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: v, Unit: unit, Better: better})
}

func (r *Result) rate(name string, v float64, unit string) { r.add(name, v, unit, "higher") }

func (r *Result) ms(name string, d time.Duration) {
	r.add(name, float64(d)/float64(time.Millisecond), "ms", "lower")
}

// latencies adds p50, p99 and p99.9 of h under prefix.
func (r *Result) latencies(prefix string, h *Histogram) {
	if h.Count() == 0 {
		return
	}
	r.ms(prefix+" p50", h.Quantile(0.50))
	r.ms(prefix+" p99", h.Quantile(0.99))
	r.ms(prefix+" p99.9", h.Quantile(0.999))
}

func (r *Result) param(k string, v any) {
	if r.Params == nil {
		r.Params = map[string]string{}
	}
	r.Params[k] = fmt.Sprint(v)
}

// Metric returns the named metric and whether it is there.
func (r *Result) Metric(name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// WriteJSON writes r as one line of JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes r for people.
func (r *Result) WriteTable(w io.Writer) {
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ps []string
	for _, k := range keys {
		ps = append(ps, k+"="+r.Params[k])
	}
	fmt.Fprintf(w, "scenario %s (%s)\n", r.Scenario, strings.Join(ps, " "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, m := range r.Metrics {
		fmt.Fprintf(tw, "  %s\t%12s %s\n", m.Name, FormatNumber(m.Value), m.Unit)
	}
	fmt.Fprintf(tw, "  tool CPU\t%12.2f cores\n", r.ToolCPU)
	if r.ServerCPU >= 0 {
		fmt.Fprintf(tw, "  server CPU\t%12.2f cores\n", r.ServerCPU)
	} else {
		fmt.Fprintf(tw, "  server CPU\t%12s (no -pid)\n", "n/a")
	}
	fmt.Fprintf(tw, "  load average (1 min)\t%12.2f\n", r.Load1)
	tw.Flush()
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "  WARNING: %s\n", wn)
	}
}

// FormatNumber prints v with three significant digits and thousands
// separated by a thin space, as docs/benchmarks.md does.
func FormatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	a := math.Abs(v)
	var s string
	switch {
	case a >= 1000:
		s = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(c)
		}
		s = b.String()
		if neg {
			s = "-" + s
		}
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1 || a == 0:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 3, 64)
	}
	return s
}
