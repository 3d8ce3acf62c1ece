package sqlite

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"minimix/internal/storage"
)

var benchStanza = []byte(`<message xmlns="jabber:client" from="bob@example.net/phone" to="alice@example.net" type="chat" id="a1b2c3"><body>A message of ordinary length, about as long as a sentence or two of chat.</body><origin-id xmlns="urn:xmpp:sid:0" id="a1b2c3"/></message>`)

func benchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
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

// BenchmarkAppendArchive measures one archived message, each its own
// transaction, as the server writes them.
func BenchmarkAppendArchive(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	// The record counter is shared by every run: with -count or
	// RunParallel's trials a sub-benchmark runs more than once on db.
	var n atomic.Int64
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := db.AppendArchive(ctx, benchRecord(int(n.Add(1)))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(10) // 10 goroutines per core
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.AppendArchive(ctx, benchRecord(int(n.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkArchiveWriter measures the write-behind writer's sustained
// rate: records queued without checks (QueueArchive, as the server's
// archive does), over 100 owners, until committed. One op is one record
// written; the caller's own cost is part of it, as it is on the server.
func BenchmarkArchiveWriter(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	var n atomic.Int64
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		i := int(n.Add(1))
		rec := benchRecord(i)
		// Ids as the archive makes them: increasing with time.
		rec.ID = fmt.Sprintf("%016x", i)
		rec.Owner = fmt.Sprintf("user%d@example.net", i%100)
		if _, err := db.QueueArchive(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.SyncArchive(ctx); err != nil {
		b.Fatal(err)
	}
	// CPU time, caller and writer together, is what carries over from a
	// machine shared with other work.
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

// BenchmarkQueryArchive measures a page of 50 from an archive of 100k
// records spread over 20 contacts, including the Count of all matches
// that every page carries.
func BenchmarkQueryArchive(b *testing.B) {
	const records = 100_000
	db := benchDB(b)
	ctx := b.Context()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO archive_messages
		(owner, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza)
		VALUES (?, ?, ?, ?, '', 0, '', ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range records {
		r := benchRecord(i)
		if _, err := stmt.ExecContext(ctx, r.Owner, r.ID, r.Stamp.UnixMicro(), r.With, r.Stanza); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
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
