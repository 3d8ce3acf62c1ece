// Package storagetest is the conformance suite of storage.Store: every
// contract written in package storage, checked the same way for every
// backend, so that swapping SQLite for PostgreSQL changes no caller.
//
// A backend's test calls Run with a function that opens a new, empty
// store:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { ... })
//	}
package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"minimix/internal/storage"
)

// Run runs the suite. open must return a new, empty store each time it is
// called; Run closes it when the subtest that opened it ends.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) storage.Store)
	}{
		{"Accounts", testAccounts},
		{"DeleteAccount", testDeleteAccount},
		{"Roster", testRoster},
		{"Offline", testOffline},
		{"Archive", testArchive},
		{"ArchivePaging", testArchivePaging},
		{"ArchivePagingShared", testArchivePagingShared},
		{"Memberships", testMemberships},
		{"RoomMessageRepeat", testRoomMessageRepeat},
		{"Retention", testRetention},
		{"EditArchive", testEditArchive},
		{"ArchivePrefs", testArchivePrefs},
		{"Private", testPrivate},
		{"VCards", testVCards},
		{"Joins", testJoins},
		{"Rooms", testRooms},
		{"PEP", testPEP},
		{"Blocklists", testBlocklists},
		{"PushRegistrations", testPushRegistrations},
		{"Concurrency", testConcurrency},
		{"Context", testContext},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// newStore opens a store for t and closes it when t ends, failing t if
// closing fails: Close is where a backend flushes.
func newStore(t *testing.T, open func(t *testing.T) storage.Store) storage.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// t0 is the base of every stamp in the suite. Stamps are whole seconds
// because backends need only keep the precision XEP-0082 timestamps carry
// in practice.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// equateEmpty makes a nil slice equal an empty one: backends need not
// preserve the difference.
var equateEmpty = cmpopts.EquateEmpty()

// wantErr fails t unless err matches want: nil for success, otherwise
// errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// must fails t on a non-nil error from a step that is setup, not subject.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, append(opts, equateEmpty)...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
