package pep

import (
	"fmt"
	"testing"

	"minimix/internal/jid"
)

// TestInterestTable checks the interest table across the change from a
// few subscribers per owner (a slice) to many (a map): what is set is
// found, replaced keys report the old one, removal by full and by bare
// JID forgets exactly those sessions, and the totals follow.
func TestInterestTable(t *testing.T) {
	in := newInterest()
	owner := jid.MustParse("alice@example.net")
	const n = 2*smallSubscribers + 3
	for i := range n {
		full := jid.MustParse(fmt.Sprintf("c%d@example.net/r", i%(n/2+1)))
		if i >= n/2+1 {
			full = jid.MustParse(fmt.Sprintf("c%d@example.net/other", i))
		}
		if _, had := in.set(owner, full, "k1"); had {
			t.Fatalf("%s known before it was set", full)
		}
		if prev, had := in.set(owner, full, fmt.Sprint("k", i)); !had || prev != "k1" {
			t.Fatalf("set again: %q, %v", prev, had)
		}
		if k, ok := in.get(owner, full); !ok || k != fmt.Sprint("k", i) {
			t.Fatalf("get %s = %q, %v", full, k, ok)
		}
	}
	if got := len(in.subscribers(owner)); got != n || in.total != n {
		t.Fatalf("%d subscribers, total %d, want %d", got, in.total, n)
	}
	in.remove(owner, jid.MustParse("c0@example.net/r"))
	if _, ok := in.get(owner, jid.MustParse("c0@example.net/r")); ok || in.total != n-1 {
		t.Fatalf("after removing a full JID: still there %v, total %d", ok, in.total)
	}
	in.remove(owner, jid.MustParse("c1@example.net"))
	if _, ok := in.get(owner, jid.MustParse("c1@example.net/r")); ok || in.total != n-2 {
		t.Fatalf("after removing a bare JID: still there %v, total %d", ok, in.total)
	}
	for _, s := range in.subscribers(owner) {
		in.remove(owner, s.jid)
	}
	if len(in.owner) != 0 || in.total != 0 {
		t.Fatalf("after removing everyone: %d owners, total %d", len(in.owner), in.total)
	}
}
