package postgres

import (
	"testing"

	"minimix/internal/storage/storagetest"
)

// The archive benchmarks are storagetest's, the same as the SQLite
// backend's, so that docs/benchmarks.md can set them side by side. They
// run against the test cluster pgtest starts; MINIMIX_PGTEST_DURABLE=1
// gives it PostgreSQL's durable defaults (fsync and synchronous_commit
// on) instead of the tests' crash-unsafe settings.

func benchDB(b *testing.B) *DB {
	b.Helper()
	db, _ := openTemp(b)
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAppendArchive measures one archived message, each checked and
// queued (storagetest.BenchAppendArchive).
func BenchmarkAppendArchive(b *testing.B) { storagetest.BenchAppendArchive(b, benchDB(b)) }

// BenchmarkArchiveWriter measures the write-behind writer's sustained
// rate (storagetest.BenchArchiveWriter), once with batches written by a
// multi-row INSERT from arrays in one pipelined round trip (what the
// store does), once by COPY in an explicit transaction.
func BenchmarkArchiveWriter(b *testing.B) {
	for _, mode := range []struct {
		name string
		copy bool
	}{{"insert", false}, {"copy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			useCopy = mode.copy
			defer func() { useCopy = false }()
			storagetest.BenchArchiveWriter(b, benchDB(b))
		})
	}
}

// BenchmarkQueryArchive measures a page of 50 from an archive of 100k
// records spread over 20 contacts, including the Count of all matches
// that every page carries. The records are queued as the server queues
// them, then vacuumed and analysed: the steady state autovacuum keeps
// (statistics, and a visibility map that lets counts scan the index
// alone).
func BenchmarkQueryArchive(b *testing.B) {
	const records = 100_000
	db := benchDB(b)
	ctx := b.Context()
	for i := range records {
		if _, err := db.QueueArchive(ctx, storagetest.BenchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.SyncArchive(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `VACUUM ANALYZE archive_messages`); err != nil {
		b.Fatal(err)
	}
	storagetest.BenchQueryArchive(b, db, records)
}
