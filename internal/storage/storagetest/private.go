package storagetest

import (
	"context"
	"testing"

	"minimix/internal/storage"
)

func testPrivate(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	const (
		bookmarks = "storage storage:bookmarks"
		roster    = "roster roster:delimiter"
	)
	_, err := s.GetPrivate(ctx, "alice", bookmarks)
	wantErr(t, "GetPrivate of nothing", err, storage.ErrNotFound)

	for _, tc := range []struct {
		user, key string
		data      string
	}{
		{"alice", bookmarks, `<storage xmlns="storage:bookmarks"/>`},
		{"alice", roster, `<roster xmlns="roster:delimiter">::</roster>`},
		{"bob", bookmarks, `<storage xmlns="storage:bookmarks"><conference jid="r@c"/></storage>`},
		{"alice", bookmarks, `<storage xmlns="storage:bookmarks"><url name="x" url="https://example.net/?a&amp;b"/></storage>`},
	} {
		must(t, "SetPrivate", s.SetPrivate(ctx, tc.user, tc.key, []byte(tc.data)))
		got, err := s.GetPrivate(ctx, tc.user, tc.key)
		must(t, "GetPrivate", err)
		diff(t, "private "+tc.user+" "+tc.key, tc.data, string(got))
	}
	// Each (user, key) is its own slot.
	got, err := s.GetPrivate(ctx, "alice", roster)
	must(t, "GetPrivate", err)
	diff(t, "alice's other key", `<roster xmlns="roster:delimiter">::</roster>`, string(got))
	got, err = s.GetPrivate(ctx, "bob", bookmarks)
	must(t, "GetPrivate", err)
	diff(t, "bob's bookmarks", `<storage xmlns="storage:bookmarks"><conference jid="r@c"/></storage>`, string(got))
	_, err = s.GetPrivate(ctx, "bob", roster)
	wantErr(t, "GetPrivate of bob's unset key", err, storage.ErrNotFound)

	// Listing the keys (for export) is what both backends offer beyond
	// storage.Private.
	lister, ok := s.(interface {
		PrivateKeys(ctx context.Context, user string) ([]string, error)
	})
	if !ok {
		return
	}
	for user, want := range map[string][]string{"alice": {roster, bookmarks}, "bob": {bookmarks}, "nobody": nil} {
		keys, err := lister.PrivateKeys(ctx, user)
		must(t, "PrivateKeys", err)
		diff(t, "private keys of "+user, want, keys)
	}
}

func testVCards(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	_, err := s.GetVCard(ctx, "alice")
	wantErr(t, "GetVCard of nothing", err, storage.ErrNotFound)
	for _, tc := range []struct{ user, data string }{
		{"alice", `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`},
		{"bob", `<vCard xmlns="vcard-temp"><FN>Bob</FN></vCard>`},
		{"alice", `<vCard xmlns="vcard-temp"><FN>Alice Ünïcode 😀</FN><PHOTO><BINVAL>AAEC</BINVAL></PHOTO></vCard>`},
	} {
		must(t, "SetVCard", s.SetVCard(ctx, tc.user, []byte(tc.data)))
		got, err := s.GetVCard(ctx, tc.user)
		must(t, "GetVCard", err)
		diff(t, "vCard of "+tc.user, tc.data, string(got))
	}
	got, err := s.GetVCard(ctx, "bob")
	must(t, "GetVCard", err)
	diff(t, "bob's vCard", `<vCard xmlns="vcard-temp"><FN>Bob</FN></vCard>`, string(got))
}
