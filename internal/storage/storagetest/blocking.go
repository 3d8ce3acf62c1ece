package storagetest

import (
	"testing"

	"minimix/internal/storage"
)

// testBlocklists checks storage.Blocklists: lists in lexical order, each
// JID once, removal of some or all, one account's list untouched by
// another's changes, and the whole set the server loads at start.
func testBlocklists(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)

	got, err := s.Blocklist(ctx, "alice")
	must(t, "Blocklist of nobody", err)
	if len(got) != 0 {
		t.Errorf("Blocklist of an account that blocked nothing = %v", got)
	}
	all, err := s.Blocklists(ctx)
	must(t, "Blocklists of an empty store", err)
	if len(all) != 0 {
		t.Errorf("Blocklists of an empty store = %v", all)
	}

	must(t, "Block", s.Block(ctx, "alice", []string{"romeo@montague.net", "iago@shakespeare.lit"}))
	// Blocking again what is blocked, together with something new, keeps
	// each JID once.
	must(t, "Block again", s.Block(ctx, "alice", []string{"iago@shakespeare.lit", "spam.example", "nurse@capulet.lit/balcony"}))
	must(t, "Block for bob", s.Block(ctx, "bob", []string{"romeo@montague.net"}))
	must(t, "Block nothing", s.Block(ctx, "carol", nil))

	got, err = s.Blocklist(ctx, "alice")
	must(t, "Blocklist", err)
	diff(t, "alice's blocklist", []string{"iago@shakespeare.lit", "nurse@capulet.lit/balcony", "romeo@montague.net", "spam.example"}, got)

	all, err = s.Blocklists(ctx)
	must(t, "Blocklists", err)
	diff(t, "all blocklists", map[string][]string{
		"alice": {"iago@shakespeare.lit", "nurse@capulet.lit/balcony", "romeo@montague.net", "spam.example"},
		"bob":   {"romeo@montague.net"},
	}, all)

	// Unblocking some, one of them never blocked.
	must(t, "Unblock", s.Unblock(ctx, "alice", []string{"romeo@montague.net", "never@blocked.example"}))
	got, err = s.Blocklist(ctx, "alice")
	must(t, "Blocklist", err)
	diff(t, "alice's blocklist after unblocking romeo", []string{"iago@shakespeare.lit", "nurse@capulet.lit/balcony", "spam.example"}, got)
	got, err = s.Blocklist(ctx, "bob")
	must(t, "Blocklist", err)
	diff(t, "bob's blocklist after alice unblocked romeo", []string{"romeo@montague.net"}, got)

	// Unblocking with no JIDs empties the list, and only that one.
	must(t, "Unblock all", s.Unblock(ctx, "alice", nil))
	got, err = s.Blocklist(ctx, "alice")
	must(t, "Blocklist", err)
	diff(t, "alice's blocklist after unblocking all", []string{}, got)
	all, err = s.Blocklists(ctx)
	must(t, "Blocklists", err)
	diff(t, "all blocklists after alice unblocked all", map[string][]string{"bob": {"romeo@montague.net"}}, all)
	must(t, "Unblock all of an empty list", s.Unblock(ctx, "alice", []string{}))
}
