package xmpptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"minimix/internal/cluster"
)

// ClusterConfig is what StartCluster's nodes run with, beyond a cluster
// over DSN with embedded NATS servers routed to each other.
type ClusterConfig struct {
	// DSN is the PostgreSQL database the nodes share (pgtest.DSN).
	DSN string
	// C2S adds keys to each node's [c2s] table; Tables adds tables,
	// before the [storage] and [cluster] ones.
	C2S, Tables string
}

// StartCluster starts n minimix processes (nodes n1, n2, ...) as one
// cluster, each node giving its own client address as XEP-0198's
// resume location, and waits until each sees all of them. When the test
// fails, each node's metrics and goroutines are saved (DumpNode) and its
// log is printed.
func StartCluster(t *testing.T, n int, cc ClusterConfig) []*Process {
	t.Helper()
	for attempt := 1; ; attempt++ {
		nodes, err := startCluster(t, n, cc)
		if err == nil {
			return nodes
		}
		inUse := false
		for _, p := range nodes {
			p.Kill()
			inUse = inUse || strings.Contains(p.Output(), "address already in use")
		}
		if !inUse || attempt == 3 {
			for i, p := range nodes {
				t.Logf("node n%d's log:\n%s", i+1, p.Output())
			}
			t.Fatalf("start a cluster of %d: %v", n, err)
		}
		// A port chosen free was taken by another process before the
		// node bound it (tests run in parallel): new ports.
		t.Logf("start a cluster of %d: %v; a port was taken meanwhile, trying again", n, err)
	}
}

// startCluster is one attempt of StartCluster: it returns the nodes, and
// an error if one did not start.
func startCluster(t *testing.T, n int, cc ClusterConfig) ([]*Process, error) {
	t.Helper()
	routes := make([]string, n)
	for i := range routes {
		// Each NATS server's routes name the others' cluster ports
		// before any of them starts: the kernel cannot pick them.
		routes[i] = freePort(t)
	}
	var quoted []string
	for _, r := range routes {
		quoted = append(quoted, fmt.Sprintf("%q", "nats://"+r))
	}
	if n == 1 {
		quoted = nil // a lone node: no routes, one copy of each bucket
	}
	nodes := make([]*Process, n)
	for i := range nodes {
		// The address of the client listener is known once prepared:
		// the [cluster] table is written with it.
		nodes[i] = PrepareProcess(t, ProcessConfig{Tables: cc.Tables + "[storage]\n", S2S: "enabled = false\n", C2S: cc.C2S})
		tables := fmt.Sprintf("[storage]\ndriver = \"postgres\"\ndsn = %q\n[cluster]\nenabled = true\nnode_id = \"n%d\"\nnode_timeout = \"3s\"\nresume_location = %q\n[cluster.nats]\nlisten = \"\"\ncluster_listen = %q\nroutes = [%s]\n",
			cc.DSN, i+1, nodes[i].C2S, routes[i], strings.Join(quoted, ", "))
		b, err := os.ReadFile(nodes[i].Config)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "[storage]\n", tables, 1))
		if err := os.WriteFile(nodes[i].Config, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range nodes {
		p.Launch()
	}
	for i, p := range nodes {
		if err := p.listening(2 * time.Minute); err != nil {
			return nodes, fmt.Errorf("node n%d: %w", i+1, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range nodes {
				p.DumpNode(t, fmt.Sprintf("n%d", i+1))
				p.Kill()
				t.Logf("node n%d's log:\n%s", i+1, p.Output())
			}
		}
	})
	for _, p := range nodes {
		p.WaitClusterStatus(t, fmt.Sprintf("%d nodes", n), func(st cluster.Status) bool { return len(st.Nodes) == n })
	}
	return nodes, nil
}

// AdminGet returns the body of GET /api/<path> on p's admin API (with
// its token).
func (p *Process) AdminGet(path string) ([]byte, error) {
	tok, err := os.ReadFile(filepath.Join(p.DataDir, "admin.token"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.HTTP+"/api/"+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /api/%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/%s: %s: %s", path, resp.Status, b)
	}
	return b, nil
}

// ClusterStatus asks p's admin API for its view of the cluster.
func (p *Process) ClusterStatus() (cluster.Status, error) {
	b, err := p.AdminGet("cluster")
	if err != nil {
		return cluster.Status{}, err
	}
	var st cluster.Status
	return st, json.Unmarshal(b, &st)
}

// WaitClusterStatus waits (up to a minute) until p's view of the
// cluster satisfies ok, and returns it.
func (p *Process) WaitClusterStatus(t testing.TB, what string, ok func(cluster.Status) bool) cluster.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := p.ClusterStatus()
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: waiting for %s: last status %+v, err %v", p.HTTP, what, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DumpNode saves p's metrics and goroutines in a file that outlives the
// test, and logs its name: for a failed test, what a stuck node waits
// for and where stanzas went.
func (p *Process) DumpNode(t testing.TB, name string) {
	b, err := p.AdminGet("debug/pprof/goroutine?debug=2")
	if resp, merr := http.Get("http://" + p.HTTP + "/metrics"); merr == nil {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b = append(append(m, "\n\n"...), b...)
	}
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp("", "minimix-"+name+"-dump-*.txt"); err == nil {
			_, err = f.Write(b)
			f.Close()
			t.Logf("node %s's metrics and goroutines: %s", name, f.Name())
		}
	}
	if err != nil {
		t.Logf("node %s: no dump: %v", name, err)
	}
}
