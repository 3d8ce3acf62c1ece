package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEmbeddedRoutes: three embedded servers with routes to each other
// and no client listener configured form one JetStream cluster in which
// a replicated bucket is created from each of them, and a key put
// through one is read through another.
func TestEmbeddedRoutes(t *testing.T) {
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var routes []string
	for _, a := range addrs {
		routes = append(routes, "nats://"+a)
	}
	log := slog.New(slog.DiscardHandler)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	kvs := make([]jetstream.KeyValue, 3)
	for i := range 3 {
		wg.Go(func() {
			ns, err := startEmbedded(fmt.Sprintf("n%d", i+1), Embedded{ClusterListen: addrs[i], Routes: routes, ClusterName: "test", StoreDir: t.TempDir()}, log)
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
			nc, err := nats.Connect("", nats.InProcessServer(ns))
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				errs[i] = err
				return
			}
			kvs[i], errs[i] = createBucket(context.Background(), js, jetstream.KeyValueConfig{Bucket: "b", Replicas: 3, Storage: jetstream.MemoryStorage, TTL: 3 * time.Second, LimitMarkerTTL: 3 * time.Second}, log)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("n%d: %v", i+1, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kvs[0].Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Reads may be served by a replica that has not caught up yet.
	var e jetstream.KeyValueEntry
	var err error
	for e, err = kvs[2].Get(ctx, "k"); err != nil; e, err = kvs[2].Get(ctx, "k") {
		if ctx.Err() != nil {
			t.Fatalf("the key put through n1 is not read through n3: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if string(e.Value()) != "v" {
		t.Fatalf("got %q, want v", e.Value())
	}
}
