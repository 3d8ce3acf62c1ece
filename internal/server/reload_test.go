package server

import (
	"slices"
	"testing"

	"minimix/internal/config"
)

// TestApplyLiveCoversLiveKeys: what a reload keeps as in force (applyLive)
// is exactly the live keys, so that a restart key is named again by the
// next reload and a live key is not.
func TestApplyLiveCoversLiveKeys(t *testing.T) {
	old, next := config.Default(), config.Default()
	next.Log.Level = "debug"
	next.Admins = []string{"root@localhost"}
	next.Limits.MaxStanzaBytes, next.Limits.MaxDepth, next.Limits.MaxHeaderBytes = 20000, 30, 9000
	next.Limits.C2SBytesPerSecond, next.Limits.C2SBurstBytes = 1, 2
	next.C2S.AllowRegistration, next.C2S.StanzasPerSecond, next.C2S.MaxConnections = true, 7, 9
	next.TLS.CertFile, next.TLS.KeyFile = "/c", "/k"
	next.MUC.HistoryDefault, next.MUC.MaxOccupants, next.MUC.RestrictRoomCreation = 3, 4, "admins"
	next.MUC.HistoryLength, next.MUC.Admins = 5, []string{"m@localhost"}
	next.Push.IncludeSender, next.Push.IncludeBody, next.Push.Rooms = !old.Push.IncludeSender, !old.Push.IncludeBody, "never"
	next.Push.MaxRegistrations, next.Push.MaxFailures = 11, 12
	next.S2S.Hosts = map[string]string{"example.net": "127.0.0.1:5269"}
	next.ShutdownGrace.Duration *= 2 // a restart key

	changed := config.Changed(old, next)
	merged := *old
	applyLive(&merged, next)
	applied := config.Changed(old, &merged)
	slices.Sort(applied)
	want := LiveKeys()
	slices.Sort(want)
	if !slices.Equal(applied, want) {
		t.Errorf("applyLive changes %v\nwant the live keys %v", applied, want)
	}
	if rest := config.Changed(&merged, next); !slices.Equal(rest, []string{"shutdown_grace"}) {
		t.Errorf("after applyLive still differing: %v, want [shutdown_grace]", rest)
	}
	if len(changed) != len(want)+1 {
		t.Errorf("the test changes %d keys, want every live key and one more: %v", len(changed), changed)
	}
}
