package sqlite

import (
	"path/filepath"
	"testing"

	"minimix/internal/storage/storagetest"
)

// The archive benchmarks are storagetest's, the same as the PostgreSQL
// backend's.

func benchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAppendArchive measures one archived message, each its own
// transaction, as the server writes them.
func BenchmarkAppendArchive(b *testing.B) { storagetest.BenchAppendArchive(b, benchDB(b)) }

// BenchmarkArchiveWriter measures the write-behind writer's sustained
// rate (storagetest.BenchArchiveWriter).
func BenchmarkArchiveWriter(b *testing.B) { storagetest.BenchArchiveWriter(b, benchDB(b)) }

// BenchmarkQueryArchive measures a page of 50 from an archive of 100k
// records spread over 20 contacts, including the Count of all matches
// that every page carries. The records are inserted directly, in one
// transaction.
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
		r := storagetest.BenchRecord(i)
		if _, err := stmt.ExecContext(ctx, r.Owner, r.ID, r.Stamp.UnixMicro(), r.With, r.Stanza); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	storagetest.BenchQueryArchive(b, db, records)
}
