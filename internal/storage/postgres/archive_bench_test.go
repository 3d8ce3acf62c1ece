package postgres

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"minimix/internal/storage"
)

// The benchmarks are those of the SQLite backend
// (internal/storage/sqlite/archive_bench_test.go), so that docs/
// benchmarks.md can set them side by side. They run against the test
// cluster pgtest starts; MINIMIX_PGTEST_DURABLE=1 gives it PostgreSQL's
// durable defaults (fsync and synchronous_commit on) instead of the
// tests' crash-unsafe settings.

var benchStanza = []byte(`<message xmlns="jabber:client" from="bob@example.net/phone" to="alice@example.net" type="chat" id="a1b2c3"><body>A message of ordinary length, about as long as a sentence or two of chat.</body><origin-id xmlns="urn:xmpp:sid:0" id="a1b2c3"/></message>`)

func benchDB(b *testing.B) *DB {
	b.Helper()
	db, _ := openTemp(b)
	b.Cleanup(func() { db.Close() })
	return db
}

func benchRecord(i int) storage.ArchiveRecord {
	return storage.ArchiveRecord{
		Owner:  "alice@example.net",
		ID:     fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15),
		Stamp:  time.Unix(1700000000+int64(i), 0),
		With:   fmt.Sprintf("contact%d@example.net", i%20),
		Stanza: benchStanza,
	}
}

// BenchmarkArchiveWriter measures the write-behind writer's sustained
// rate: records queued without checks (QueueArchive), over 100 owners,
// until committed; once with batches written by a multi-row INSERT from
// arrays in one pipelined round trip (what the store does), once by COPY
// in an explicit transaction.
func BenchmarkArchiveWriter(b *testing.B) {
	for _, mode := range []struct {
		name string
		copy bool
	}{{"insert", false}, {"copy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			useCopy = mode.copy
			defer func() { useCopy = false }()
			db := benchDB(b)
			ctx := b.Context()
			var n atomic.Int64
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				i := int(n.Add(1))
				rec := benchRecord(i)
				rec.ID = fmt.Sprintf("%016x", i)
				rec.Owner = fmt.Sprintf("user%d@example.net", i%100)
				if _, err := db.QueueArchive(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.SyncArchive(ctx); err != nil {
				b.Fatal(err)
			}
			// This process's CPU time only: the server's is PostgreSQL's.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQueryArchive measures a page of 50 from an archive of 100k
// records spread over 20 contacts, including the Count of all matches
// that every page carries.
func BenchmarkQueryArchive(b *testing.B) {
	const records = 100_000
	db := benchDB(b)
	ctx := b.Context()
	for i := range records {
		if _, err := db.QueueArchive(ctx, benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.SyncArchive(ctx); err != nil {
		b.Fatal(err)
	}
	// The steady state autovacuum keeps: statistics, and a visibility
	// map that lets counts scan the index alone.
	if _, err := db.pool.Exec(ctx, `VACUUM ANALYZE archive_messages`); err != nil {
		b.Fatal(err)
	}
	mid := benchRecord(records / 2).ID
	for _, bc := range []struct {
		name string
		q    storage.ArchiveQuery
	}{
		{"first", storage.ArchiveQuery{Max: 50}},
		{"last", storage.ArchiveQuery{Before: true, Max: 50}},
		{"after-middle", storage.ArchiveQuery{AfterID: mid, Max: 50}},
		{"with-last", storage.ArchiveQuery{With: "contact7@example.net", Before: true, Max: 50}},
		{"start-last", storage.ArchiveQuery{Start: benchRecord(records - 1000).Stamp, Before: true, Max: 50}},
		{"ids", storage.ArchiveQuery{IDs: []string{benchRecord(10).ID, mid, benchRecord(records - 1).ID}, Max: 50}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := db.QueryArchive(ctx, "alice@example.net", bc.q)
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
