package web_test

import (
	"encoding/xml"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: the
// WebSocket readers and closers and BOSH sessions end with their server.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }
