package mam

import (
	"context"
	"testing"
	"time"

	"minimix/internal/jid"
)

// TestRunRetention: records older than the retention go at once, from
// personal archives and room messages alike; newer ones stay.
func TestRunRetention(t *testing.T) {
	f := newFixture(t) // its clock advances a minute per call
	ctx := t.Context()
	bob := jid.MustParse("bob@example.net/a")
	room := jid.MustParse("room@muc.example.net")
	if err := f.a.Joined(ctx, alice, room); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.a.Archive(ctx, alice, bob, parse(t, `<message xmlns='jabber:client' type='chat'><body>x</body></message>`), true)
		if _, err := f.a.Groupchat(ctx, alice, room, parse(t, `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/carol'><body>g</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.records(t, alice)); n != 6 {
		t.Fatalf("%d records before retention", n)
	}
	// The clock now stands at t0+6min (plus one for this read); keeping
	// 3.5 minutes leaves the records of the last three minutes.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.a.RunRetention(rctx, 3*time.Minute+30*time.Second); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.records(t, alice)) > 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if n := len(f.records(t, alice)); n != 3 {
		t.Errorf("%d records after retention, want 3", n)
	}
	f.a.RunRetention(ctx, 0) // off: returns at once
}
