package storagetest

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"minimix/internal/storage"
)

// The archive benchmarks of the backends, the same for each so that
// docs/benchmarks.md can set them side by side: a backend's benchmark
// opens its store and calls these.

var benchStanza = []byte(`<message xmlns="jabber:client" from="bob@example.net/phone" to="alice@example.net" type="chat" id="a1b2c3"><body>A message of ordinary length, about as long as a sentence or two of chat.</body><origin-id xmlns="urn:xmpp:sid:0" id="a1b2c3"/></message>`)

// BenchOwner owns the records of BenchRecord.
const BenchOwner = "alice@example.net"

// BenchRecord is the i-th record of BenchOwner's archive in the
// benchmarks: random-looking ids, a second apart, over 20 contacts.
func BenchRecord(i int) storage.ArchiveRecord {
	return storage.ArchiveRecord{
		Owner:  BenchOwner,
		ID:     fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15),
		Stamp:  time.Unix(1700000000+int64(i), 0),
		With:   fmt.Sprintf("contact%d@example.net", i%20),
		Stanza: benchStanza,
	}
}

// BenchAppendArchive measures one archived message, each checked and
// queued by AppendArchive, serially and from 10 goroutines per core.
func BenchAppendArchive(b *testing.B, s storage.Archive) {
	ctx := b.Context()
	// The record counter is shared by every run: with -count or
	// RunParallel's trials a sub-benchmark runs more than once on s.
	var n atomic.Int64
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := s.AppendArchive(ctx, BenchRecord(int(n.Add(1)))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(10)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.AppendArchive(ctx, BenchRecord(int(n.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchArchiveWriter measures the write-behind writer's sustained rate:
// records queued without checks (QueueArchive, as the server's archive
// does), over 100 owners, until committed. One op is one record written;
// the caller's own cost is part of it, as it is on the server. cpu-µs/op
// is this process's CPU time, caller and writer together (not a
// database server's): what carries over from a machine shared with other
// work.
func BenchArchiveWriter(b *testing.B, s storage.Store) {
	ctx := b.Context()
	var n atomic.Int64
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		i := int(n.Add(1))
		rec := BenchRecord(i)
		// Ids as the archive makes them: increasing with time.
		rec.ID = fmt.Sprintf("%016x", i)
		rec.Owner = fmt.Sprintf("user%d@example.net", i%100)
		if _, err := s.QueueArchive(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.SyncArchive(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchQueryArchive measures a page of 50 from BenchOwner's archive of
// BenchRecord(0) to BenchRecord(records-1), including the Count of all
// matches that every page carries. The caller fills the archive.
func BenchQueryArchive(b *testing.B, s storage.Archive, records int) {
	ctx := b.Context()
	mid := BenchRecord(records / 2).ID
	for _, bc := range []struct {
		name string
		q    storage.ArchiveQuery
	}{
		{"first", storage.ArchiveQuery{Max: 50}},
		{"last", storage.ArchiveQuery{Before: true, Max: 50}},
		{"after-middle", storage.ArchiveQuery{AfterID: mid, Max: 50}},
		{"with-last", storage.ArchiveQuery{With: "contact7@example.net", Before: true, Max: 50}},
		{"start-last", storage.ArchiveQuery{Start: BenchRecord(records - 1000).Stamp, Before: true, Max: 50}},
		{"ids", storage.ArchiveQuery{IDs: []string{BenchRecord(10).ID, mid, BenchRecord(records - 1).ID}, Max: 50}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := s.QueryArchive(ctx, BenchOwner, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Records) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}
