package storagetest

import (
	"context"
	"testing"
	"time"

	"minimix/internal/storage"
)

func testJoins(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	recs := []storage.JoinRecord{
		{Account: "bob@example.net", Room: "a@muc.example.net", Nick: "bob"},
		{Account: "alice@example.net", Room: "b@muc.example.net", Nick: "al", Password: "pw", Bookmark: true, LastStanzaID: "s1", LastStamp: now, LastActive: now},
		{Account: "alice@example.net", Room: "a@muc.example.net", Nick: "alice"},
	}
	for _, r := range recs {
		if err := s.PutJoin(ctx, r); err != nil {
			t.Fatalf("PutJoin: %v", err)
		}
	}
	got, err := s.ListJoins(ctx)
	if err != nil {
		t.Fatalf("ListJoins: %v", err)
	}
	if len(got) != 3 || got[0].Room != "a@muc.example.net" || got[0].Account != "alice@example.net" || got[2].Account != "bob@example.net" {
		t.Fatalf("ListJoins order wrong: %+v", got)
	}
	b := got[1]
	if b.Nick != "al" || b.Password != "pw" || !b.Bookmark || b.LastStanzaID != "s1" || !b.LastStamp.Equal(now) || !b.LastActive.Equal(now) {
		t.Errorf("round trip = %+v", b)
	}
	if !got[0].LastStamp.IsZero() {
		t.Errorf("zero time came back as %v", got[0].LastStamp)
	}
	// Replace.
	b.Nick = "alice2"
	b.Bookmark = false
	if err := s.PutJoin(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteJoin(ctx, "bob@example.net", "a@muc.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteJoin(ctx, "nobody@example.net", "a@muc.example.net"); err != nil {
		t.Errorf("deleting a missing join: %v", err)
	}
	got, _ = s.ListJoins(ctx)
	if len(got) != 2 || got[1].Nick != "alice2" || got[1].Bookmark {
		t.Errorf("after replace and delete: %+v", got)
	}
}
