package postgres

import (
	"os"
	"testing"

	"minimix/internal/storage"
	"minimix/internal/storage/postgres/pgtest"
	"minimix/internal/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }

// openTemp opens a store in a new, empty schema.
func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db, dsn
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		db, _ := openTemp(t)
		return db
	})
}
