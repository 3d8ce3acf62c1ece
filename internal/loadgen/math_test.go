package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBuckets: every value falls in a bucket whose range holds it, the
// buckets are ordered, and a bucket is at most 1/64 of its values wide.
func TestBuckets(t *testing.T) {
	check := func(v int64) {
		b := bucketOf(v)
		lo, hi := bucketRange(b)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, b, lo, hi)
		}
		if b >= histBuckets {
			t.Fatalf("value %d: bucket %d beyond %d", v, b, histBuckets)
		}
		if float64(hi-lo) > float64(lo)/64+1 {
			t.Fatalf("bucket %d [%d, %d] too wide", b, lo, hi)
		}
	}
	for v := int64(0); v < 100000; v++ {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(r.Int64N(math.MaxInt64))
	}
	check(math.MaxInt64)
	for b := 1; b < histBuckets; b++ {
		plo, phi := bucketRange(b - 1)
		lo, _ := bucketRange(b)
		if lo != phi+1 || plo > phi {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", b, lo, phi)
		}
	}
}

// exactQuantile is the nearest-rank quantile of sorted samples.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// TestQuantiles compares the histogram's quantiles with exact ones on
// several distributions: they must agree within a bucket's width.
func TestQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() int64{
		"uniform µs":     func() int64 { return r.Int64N(1000) * 1000 },
		"exponential ms": func() int64 { return int64(r.ExpFloat64() * 1e6) },
		"log-normal":     func() int64 { return int64(math.Exp(r.NormFloat64()*2 + 12)) },
		"small":          func() int64 { return r.Int64N(200) },
		"constant":       func() int64 { return 12345 },
	}
	for name, gen := range dists {
		for _, n := range []int{1, 2, 10, 999, 50000} {
			var h Histogram
			var half [2]Histogram
			samples := make([]int64, n)
			for i := range samples {
				samples[i] = gen()
				h.Record(time.Duration(samples[i]))
				half[i%2].Record(time.Duration(samples[i]))
			}
			half[0].Merge(&half[1])
			slices.Sort(samples)
			for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
				want := exactQuantile(samples, q)
				got := int64(h.Quantile(q))
				if tol := float64(want)/64 + 1; math.Abs(float64(got-want)) > tol {
					t.Errorf("%s n=%d q=%v: got %d, want %d ± %.0f", name, n, q, got, want, tol)
				}
				if m := int64(half[0].Quantile(q)); m != got {
					t.Errorf("%s n=%d q=%v: merged halves give %d, whole %d", name, n, q, m, got)
				}
			}
			if h.Count() != uint64(n) || int64(h.Max()) != samples[n-1] {
				t.Errorf("%s n=%d: count %d max %v", name, n, h.Count(), h.Max())
			}
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram")
	}
	var neg Histogram
	neg.Record(-time.Second)
	if neg.Quantile(1) != 0 {
		t.Error("negative sample not counted as zero")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := slices.Clone(tc.v)
		if got := Median(tc.v); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.v, got, tc.want)
		}
		if !slices.Equal(in, tc.v) {
			t.Errorf("Median reordered its input")
		}
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.00", 0.3912: "0.391", 1.456: "1.46", 26.04: "26.0", 174.4: "174", 8437.2: "8 437",
		174027: "174 027", 1234567: "1 234 567", -2500: "-2 500", math.NaN(): "-",
	} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("1234 (mini mix) (x)) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 150 0 0 20 0 9 0 100 0 0\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 4*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 4s (400 ticks)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1")); err == nil {
		t.Error("short stat line accepted")
	}
	status := []byte("Name:\tminimix\nVmPeak:\t  99999 kB\nVmRSS:\t   45340 kB\nThreads:\t9\n")
	rss, err := parseVmRSS(status)
	if err != nil || rss != 45340*1024 {
		t.Errorf("parseVmRSS = %d, %v", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
}

// TestCompare builds a side-by-side table from rounds of two servers and
// checks medians, ratios, the column order and the Markdown.
func TestCompare(t *testing.T) {
	res := func(label, cse string, v float64, lat float64) Result {
		return Result{Label: label, Scenario: "muc", Params: map[string]string{"case": cse},
			Metrics: []Metric{
				{Name: "sent", Value: 3000, Unit: "msgs"},
				{Name: "deliveries/s", Value: v, Unit: "deliveries/s", Better: "higher"},
				{Name: "latency p99", Value: lat, Unit: "ms", Better: "lower"},
			}, Load1: 1.2, ServerCPU: 0.9}
	}
	warned := res("minimix", "room of 50", 8000, 9000)
	warned.Warnings = []string{"3 of 150000 deliveries did not arrive"}
	warned.ToolCPU = 0.42
	var lines strings.Builder
	for _, r := range []Result{
		warned, res("prosody", "room of 50", 21000, 30),
		res("prosody", "room of 50", 22000, 31), res("minimix", "room of 50", 9000, 8000),
		res("minimix", "room of 50", 8500, 7000), res("prosody", "room of 50", 20000, 29),
	} {
		if err := r.WriteJSON(&lines); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := ReadResults(strings.NewReader(lines.String() + "\n"))
	if err != nil || len(rs) != 6 {
		t.Fatalf("ReadResults: %d, %v", len(rs), err)
	}
	c := Compare(rs, []string{"minimix"}, "prosody")
	if !slices.Equal(c.Columns, []string{"minimix", "prosody"}) || len(c.Rows) != 3 {
		t.Fatalf("columns %v, %d rows", c.Columns, len(c.Rows))
	}
	row := c.Rows[0]
	if row.Metric != "deliveries/s" || row.Values[0] != 8500 || row.Values[1] != 21000 || row.Rounds[0] != 3 {
		t.Fatalf("row %+v", row)
	}
	if r, ok := c.Ratio(row, 0); !ok || math.Abs(r-8500.0/21000) > 1e-9 {
		t.Errorf("ratio %v %v", r, ok)
	}
	var md strings.Builder
	c.WriteMarkdown(&md)
	want := "| room of 50 | deliveries/s (deliveries/s) ↑ | 8 500 | 21 000 | 0.405 |"
	if !strings.Contains(md.String(), want) {
		t.Errorf("markdown lacks %q:\n%s", want, md.String())
	}
	if !strings.Contains(md.String(), "| room of 50 | server CPU (cores) | 0.900 | 0.900 | – |") {
		t.Errorf("markdown lacks the server's CPU without a ratio:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "| all | the tool's CPU, highest of any case (cores) | 0.42 | 0.00 | |") {
		t.Errorf("markdown lacks the tool's CPU:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "- minimix, room of 50: 3 of 150000 deliveries did not arrive") {
		t.Errorf("markdown lacks the warning:\n%s", md.String())
	}
	if _, err := ReadResults(strings.NewReader("{not json")); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestCountJoined(t *testing.T) {
	joins := []adminJoin{
		{Account: "a@d", Room: "bench-restart-0@m", State: "joined"},
		{Account: "b@d", Room: "bench-restart-0@m", State: "joining"},
		{Account: "c@d", Room: "other@m", State: "joined"},
		{Account: "d@d", Room: "bench-restart-1@m", State: "joined"},
	}
	if n := countJoined(joins, "bench-restart-"); n != 2 {
		t.Errorf("countJoined = %d, want 2", n)
	}
}
