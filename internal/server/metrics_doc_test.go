package server_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// TestMetricsDocumented (issue 13 item 6): every metric a server with
// every feature on exports is a row of the table in docs/metrics.md with
// its type, and every row of the table is exported.
func TestMetricsDocumented(t *testing.T) {
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) {
		c.Push.Enabled = true
		c.Components.External = []config.ExternalComponent{{Domain: "gateway.localhost", Secret: "component-secret"}}
	}))
	fams, err := srv.Metrics.Families()
	if err != nil {
		t.Fatal(err)
	}
	doc := readMetricsTable(t)
	if os.Getenv("MINIMIX_PRINT_METRICS") != "" {
		for _, f := range fams {
			t.Logf("| `%s` | %s | %s |", f.Name, f.Type, f.Help)
		}
	}
	seen := make(map[string]bool)
	for _, f := range fams {
		key := f.Name
		if i := strings.IndexByte(key, '_'); strings.HasPrefix(key, "go_") || strings.HasPrefix(key, "process_") {
			key = key[:i] + "_*"
		}
		seen[key] = true
		typ, ok := doc[key]
		switch {
		case !ok:
			t.Errorf("metric %s (%s: %s) is not in the table of docs/metrics.md", f.Name, f.Type, f.Help)
		case typ != f.Type && key == f.Name:
			t.Errorf("docs/metrics.md: %s is a %s, the table says %s", f.Name, f.Type, typ)
		}
	}
	for name := range doc {
		if strings.HasPrefix(name, "minimix_cluster_") {
			continue // a cluster node's (PostgreSQL and NATS): internal/cluster's TestClusterMetricsDocumented
		}
		if !seen[name] {
			t.Errorf("docs/metrics.md documents %s, which the server does not export", name)
		}
	}
}

// readMetricsTable returns the table's rows: name (or prefix_*) -> type.
func readMetricsTable(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		rows[name] = strings.TrimSpace(cells[2])
	}
	if len(rows) == 0 {
		t.Fatal("docs/metrics.md has no table rows")
	}
	return rows
}

// TestGrafanaDashboard: docs/grafana-dashboard.json is a dashboard whose
// queries name only metrics the table documents.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title or panels")
	}
	doc := readMetricsTable(t)
	name := regexp.MustCompile(`\b(minimix|go|process)_[a-z_0-9]+`)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				_, ok := doc[m]
				if !ok && !strings.HasPrefix(m, "minimix_") {
					_, ok = doc[m[:strings.IndexByte(m, '_')]+"_*"]
				}
				if !ok {
					t.Errorf("panel %q queries %s, which docs/metrics.md does not document", p.Title, m)
				}
			}
		}
	}
}
