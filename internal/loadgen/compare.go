package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ReadResults reads results written by Result.WriteJSON, one per line;
// blank lines are skipped.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(b), &res); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	return out, nil
}

// Comparison is a side-by-side table: one row per case and metric, one
// column per server label, each cell the median of that server's rounds.
type Comparison struct {
	Columns []string
	Base    string // the column ratios divide by
	Rows    []ComparisonRow
	// Warnings are the results' warnings, each prefixed by its column
	// and case.
	Warnings []string
	// ToolCPU is, per column, the most cores the tool used in any result:
	// the evidence that the tool was not the bottleneck.
	ToolCPU []float64
}

// ComparisonRow is one metric of one case.
type ComparisonRow struct {
	Case, Metric, Unit, Better string
	// Values and Rounds are per column; a column without the metric has
	// Rounds 0.
	Values  []float64
	Rounds  []int
	Spreads []float64 // (max-min)/median of the rounds, per column
	Load1   float64   // highest load average seen during the rounds
}

// Compare builds the side-by-side table of results. Columns come in the
// order given, then any other labels in order of first appearance. Only
// metrics with a direction (Better) are compared. A result's case is its
// "case" parameter, else its scenario.
func Compare(results []Result, columns []string, base string) *Comparison {
	cols := append([]string(nil), columns...)
	has := map[string]bool{}
	for _, c := range cols {
		has[c] = true
	}
	type key struct{ cse, metric string }
	samples := map[key]map[string][]float64{}
	meta := map[key]Metric{}
	load := map[key]float64{}
	var (
		order    []key
		warnings []string
		toolCPU  = map[string]float64{}
	)
	for _, r := range results {
		if !has[r.Label] {
			has[r.Label] = true
			cols = append(cols, r.Label)
		}
		cse := r.Scenario
		if c := r.Params["case"]; c != "" {
			cse = c
		}
		toolCPU[r.Label] = max(toolCPU[r.Label], r.ToolCPU)
		for _, w := range r.Warnings {
			warnings = append(warnings, r.Label+", "+cse+": "+w)
		}
		metrics := r.Metrics
		if r.ServerCPU >= 0 {
			// How much of its core the server got: on a shared machine
			// the context every other number needs.
			metrics = append(metrics[:len(metrics):len(metrics)],
				Metric{Name: "server CPU", Value: r.ServerCPU, Unit: "cores", Better: "info"})
		}
		for _, m := range metrics {
			if m.Better == "" {
				continue
			}
			k := key{cse, m.Name}
			if samples[k] == nil {
				samples[k] = map[string][]float64{}
				meta[k] = m
				order = append(order, k)
			}
			samples[k][r.Label] = append(samples[k][r.Label], m.Value)
			load[k] = max(load[k], r.Load1)
		}
	}
	if base == "" && len(cols) > 0 {
		base = cols[len(cols)-1]
	}
	cmp := &Comparison{Columns: cols, Base: base, Warnings: warnings}
	for _, c := range cols {
		cmp.ToolCPU = append(cmp.ToolCPU, toolCPU[c])
	}
	for _, k := range order {
		row := ComparisonRow{Case: k.cse, Metric: k.metric, Unit: meta[k].Unit, Better: meta[k].Better, Load1: load[k]}
		for _, c := range cols {
			v := samples[k][c]
			med := Median(v)
			spread := 0.0
			if len(v) > 1 && med != 0 {
				lo, hi := v[0], v[0]
				for _, x := range v {
					lo, hi = min(lo, x), max(hi, x)
				}
				spread = (hi - lo) / med
			}
			row.Values = append(row.Values, med)
			row.Rounds = append(row.Rounds, len(v))
			row.Spreads = append(row.Spreads, spread)
		}
		cmp.Rows = append(cmp.Rows, row)
	}
	return cmp
}

// Median returns the median of v (the mean of the middle two for an even
// count), or 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ratio returns the row's column c divided by the base column, and false
// when either is missing or the base is zero.
func (c *Comparison) Ratio(row ComparisonRow, col int) (float64, bool) {
	b := -1
	for i, name := range c.Columns {
		if name == c.Base {
			b = i
		}
	}
	if b < 0 || row.Rounds[b] == 0 || row.Rounds[col] == 0 || row.Values[b] == 0 {
		return 0, false
	}
	return row.Values[col] / row.Values[b], true
}

// WriteMarkdown writes the table as Markdown: the medians, then one ratio
// column per other server against the base.
func (c *Comparison) WriteMarkdown(w io.Writer) {
	var hdr, sep strings.Builder
	hdr.WriteString("| case | metric |")
	sep.WriteString("|---|---|")
	for _, col := range c.Columns {
		hdr.WriteString(" " + col + " |")
		sep.WriteString("---:|")
	}
	for _, col := range c.Columns {
		if col != c.Base {
			hdr.WriteString(" " + col + " / " + c.Base + " |")
			sep.WriteString("---:|")
		}
	}
	fmt.Fprintln(w, hdr.String())
	fmt.Fprintln(w, sep.String())
	for _, row := range c.Rows {
		better := "↑"
		switch row.Better {
		case "lower":
			better = "↓"
		case "info":
			better = ""
		}
		fmt.Fprintf(w, "| %s | %s |", row.Case, strings.TrimSpace(fmt.Sprintf("%s (%s) %s", row.Metric, row.Unit, better)))
		for i := range c.Columns {
			if row.Rounds[i] == 0 {
				fmt.Fprint(w, " – |")
				continue
			}
			fmt.Fprintf(w, " %s |", FormatNumber(row.Values[i]))
		}
		for i, col := range c.Columns {
			if col == c.Base {
				continue
			}
			if r, ok := c.Ratio(row, i); ok && row.Better != "info" {
				fmt.Fprintf(w, " %s |", FormatNumber(r))
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| all | the tool's CPU, highest of any case (cores) |")
	for _, v := range c.ToolCPU {
		fmt.Fprintf(w, " %.2f |", v)
	}
	for _, col := range c.Columns {
		if col != c.Base {
			fmt.Fprint(w, " |")
		}
	}
	fmt.Fprintln(w)
	if len(c.Warnings) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Warnings:")
		for _, wn := range c.Warnings {
			fmt.Fprintln(w, "- "+wn)
		}
	}
}
