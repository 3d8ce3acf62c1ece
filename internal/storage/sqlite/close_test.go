package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// A read's first use of a query prepares it on a goroutine of its own
// (DB.prepared), which holds a pooled connection while it prepares. Close
// must wait for it: database/sql's Close does not wait for connections in
// use, so a preparation still running would keep the database file and
// its -wal open after Close returned, and SQLite would write and delete
// the -wal and -shm files later, in a directory the caller may already
// be removing (the end-to-end tests' "TempDir RemoveAll: directory not
// empty").
func TestCloseWaitsForPreparation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, path := openTemp(t)
		release := make(chan struct{})
		entered := make(chan struct{})
		db.prepareHook = func() {
			close(entered)
			<-release
		}
		if _, err := db.AccountExists(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		<-entered
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		// Every goroutine of the bubble is now blocked: Close has
		// returned, or waits for the preparation.
		synctest.Wait()
		var err error
		select {
		case err = <-closed:
			t.Errorf("Close returned while a statement was being prepared")
			close(release)
		default:
			close(release)
			err = <-closed
		}
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the preparation, had Close not waited for it
		if n := db.sql.Stats().OpenConnections; n != 0 {
			t.Errorf("%d connections open after Close", n)
		}
		if open := openFilesUnder(t, filepath.Dir(path)); len(open) > 0 {
			t.Errorf("files still open after Close: %v", open)
		}
	})
}

// openFilesUnder lists the files under dir that this process holds open.
func openFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			open = append(open, target)
		}
	}
	return open
}

// TestCloseWaitsForReads: a read still in progress when Close is called
// (a caller the server did not stop in time) holds a pooled connection,
// which database/sql's Close leaves open until the read gives it back:
// Close waits for that too, so that no file of the database is open when
// it returns.
func TestCloseWaitsForReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, path := openTemp(t)
		tx, err := db.sql.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM accounts").Scan(&n); err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		synctest.Wait()
		select {
		case err := <-closed:
			t.Errorf("Close returned (%v) while a read was in progress", err)
			tx.Rollback()
		default:
			tx.Rollback()
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if open := openFilesUnder(t, filepath.Dir(path)); len(open) > 0 {
			t.Errorf("files still open after Close: %v", open)
		}
	})
}
