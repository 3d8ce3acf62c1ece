package cluster_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"minimix/internal/loadgen"
	"minimix/internal/xmpptest"
)

// TestClusterLoad runs the load tool (internal/loadgen, as
// cmd/minimix-bench does) against one node and against three, over one
// PostgreSQL, and logs the numbers docs/benchmarks.md quotes. It measures,
// so it runs only when asked: MINIMIX_CLUSTER_BENCH=1.
func TestClusterLoad(t *testing.T) {
	if os.Getenv("MINIMIX_CLUSTER_BENCH") == "" {
		t.Skip("a measurement, not a test: set MINIMIX_CLUSTER_BENCH=1 to run it")
	}
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-nodes", n), func(t *testing.T) { loadRun(t, n) })
	}
}

func loadRun(t *testing.T, n int) {
	nodes := startNodesWith(t, n, "allow_registration = true\nlogin_failures_per_minute = 0\naddress_login_failures_per_minute = 0\n")
	var addrs []string
	for _, p := range nodes {
		addrs = append(addrs, p.C2S)
	}
	o := loadgen.DefaultOptions()
	o.Target = loadgen.Target{Addr: strings.Join(addrs, ","), Domain: "localhost", MUCDomain: "conference.localhost", UserFormat: "u%d", Password: "bench-pw"}
	o.Timeout = time.Minute
	o.PID = nodes[0].Pid() // RSS and CPU: node 1 only
	o.Accounts = 300
	o.Logins = 600
	o.Concurrency = 8
	o.Occupants = 30
	o.Senders = 1
	o.Messages = 300
	o.Sessions = 300
	ctx := context.Background()
	run := func(sc string) {
		t.Helper()
		r, err := loadgen.Run(ctx, sc, o)
		if err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		for _, m := range r.Metrics {
			t.Logf("%d node(s) %s %s = %.4g %s", n, sc, m.Name, m.Value, m.Unit)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "deliveries") {
				t.Errorf("%d node(s) %s: %s", n, sc, w) // lost or doubled
				continue
			}
			t.Logf("%d node(s) %s warning: %s", n, sc, w)
		}
	}
	run("accounts")
	// Idle first, before the other scenarios' garbage makes the
	// difference meaningless; RSS of all nodes (the scenario reads
	// node 1's while the sessions are open).
	before := totalRSS(t, nodes)
	run("idle")
	after := totalRSS(t, nodes)
	t.Logf("%d node(s) idle: RSS of all nodes %d KiB before, %d KiB after %d idle sessions (closed again): %.1f KiB per session", n, before, after, o.Sessions, float64(after-before)/float64(o.Sessions))
	run("login")
	run("muc")
}

// totalRSS sums the nodes' resident memory, in KiB.
func totalRSS(t *testing.T, nodes []*xmpptest.Process) int {
	sum := 0
	for _, p := range nodes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				sum += kb
			}
		}
	}
	return sum
}
