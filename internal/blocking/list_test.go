package blocking

import (
	"testing"

	"minimix/internal/jid"
)

func TestMatches(t *testing.T) {
	l := newList([]jid.JID{
		jid.MustParse("romeo@montague.net"),
		jid.MustParse("nurse@capulet.lit/balcony"),
		jid.MustParse("spam.example"),
		jid.MustParse("bots.example/relay"),
	})
	for _, tc := range []struct {
		j    string
		want bool
	}{
		{"romeo@montague.net", true},           // bare item: the bare JID
		{"romeo@montague.net/orchard", true},   // ...and any resource
		{"montague.net", false},                // not the domain
		{"benvolio@montague.net", false},       // nor others at it
		{"nurse@capulet.lit/balcony", true},    // full item: that JID
		{"nurse@capulet.lit", false},           // not the bare JID
		{"nurse@capulet.lit/kitchen", false},   // nor another resource
		{"spam.example", true},                 // domain item: the domain
		{"bot1@spam.example", true},            // every account at it
		{"bot1@spam.example/x", true},          // and their resources
		{"spam.example/res", true},             // the domain's resources
		{"room@conference.spam.example", true}, // subdomains too
		{"notspam.example", false},             // not a name that ends alike
		{"spam.example.org", false},            // nor one that starts alike
		{"bots.example/relay", true},           // domain/resource item: that JID
		{"bots.example", false},                // not the domain
		{"user@bots.example/relay", false},     // nor a user's same resource
		{"juliet@capulet.lit/balcony", false},  // unrelated
	} {
		if got := l.matches(jid.MustParse(tc.j)); got != tc.want {
			t.Errorf("matches(%s) = %v, want %v", tc.j, got, tc.want)
		}
	}
	var empty *list
	if empty.matches(jid.MustParse("romeo@montague.net")) {
		t.Error("a nil list matches")
	}
}

func TestListWith(t *testing.T) {
	a, b, c := jid.MustParse("a@x"), jid.MustParse("b@x"), jid.MustParse("c.example")
	l := newList([]jid.JID{b, a, a})
	if got := l.sorted; len(got) != 2 || got[0] != "a@x" || got[1] != "b@x" {
		t.Fatalf("sorted = %v", got)
	}
	l2 := l.with([]jid.JID{c}, []jid.JID{a}, false)
	if l2.has(a) || !l2.has(b) || !l2.has(c) || l2.len() != 2 {
		t.Errorf("with: %v", l2.sorted)
	}
	if !l.has(a) || l.len() != 2 {
		t.Error("with changed the list it was called on")
	}
	if l3 := l2.with(nil, nil, true); l3.len() != 0 {
		t.Errorf("removeAll left %v", l3.sorted)
	}
}
