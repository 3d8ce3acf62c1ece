package web_test

import (
	"encoding/xml"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: the
// WebSocket readers and closers and BOSH sessions end with their server.
// The browser of TestBrowser, started once for the run, stops first.
func TestMain(m *testing.M) {
	code := m.Run()
	stopBrowser()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }
