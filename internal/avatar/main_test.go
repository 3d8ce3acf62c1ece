package avatar_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: every
// server the end-to-end tests start must shut down completely (listeners,
// connections, writers, rooms' drainers, timers' work).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql keeps a connection opener per DB until Close
		// returns; modernc's pool may still be winding down.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}
