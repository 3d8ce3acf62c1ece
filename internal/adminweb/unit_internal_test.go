package adminweb

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The ring keeps the newest warnings and errors, with the attributes
// bound before (groups included), and passes everything on.
func TestErrorRing(t *testing.T) {
	var out bytes.Buffer
	ring := NewErrorRing(2)
	log := slog.New(ring.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))
	log = log.With("component", "c2s")
	log.Info("not kept")
	log.Warn("first", "n", 1)
	log.WithGroup("g").Error("second", "err", "boom", slog.Group("sub", "k", "v"))
	log.Error("third")
	recs := ring.Records()
	if len(recs) != 2 || recs[0].Message != "third" || recs[1].Message != "second" {
		t.Fatalf("records = %+v, want third and second, newest first", recs)
	}
	if recs[1].Attrs != "component=c2s g.err=boom g.sub.k=v" || recs[1].Level != slog.LevelError {
		t.Errorf("second = %+v", recs[1])
	}
	// The wrapped handler's own level still applies to what it writes.
	if s := out.String(); strings.Contains(s, "first") || !strings.Contains(s, "second") || !strings.Contains(s, "third") {
		t.Errorf("written:\n%s", s)
	}
}

// Failed logins take tokens per account and per address; they come back
// with time.
func TestLoginLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLoginLimiter(2, 3, func() time.Time { return now })
	a := netip.MustParseAddr("2001:db8::1")
	same64 := netip.MustParseAddr("2001:db8::ffff")
	other := netip.MustParseAddr("192.0.2.1")
	l.fail(a, "root")
	if ok, _ := l.allow(a, "root"); !ok {
		t.Fatal("blocked after one failure of two")
	}
	l.fail(a, "root")
	if ok, retry := l.allow(other, "root"); ok || retry <= 0 || retry > 30*time.Second {
		t.Errorf("root from another address after 2 failures: ok %v, retry %v; want blocked for up to 30s", ok, retry)
	}
	if ok, _ := l.allow(a, "alice"); !ok {
		t.Error("alice blocked from an address with 2 failures of 3")
	}
	l.fail(same64, "alice")
	if ok, _ := l.allow(a, "bob"); ok {
		t.Error("the /64 is not blocked after 3 failures")
	}
	if ok, _ := l.allow(other, "bob"); !ok {
		t.Error("another address is blocked")
	}
	now = now.Add(30 * time.Second)
	if ok, _ := l.allow(other, "root"); !ok {
		t.Error("root still blocked after 30s (one token back)")
	}
}
