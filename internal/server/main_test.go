package server_test

import (
	"testing"

	"go.uber.org/goleak"

	"minimix/internal/storage/postgres/pgtest"
)

// TestMain fails the package if any goroutine outlives its tests: every
// server the end-to-end tests start must shut down completely (listeners,
// connections, writers, rooms' drainers, timers' work). The PostgreSQL
// the tests on that backend use is started once, on first use, and
// stopped after the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m),
		// database/sql keeps a connection opener per DB until Close
		// returns; modernc's pool may still be winding down.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}
