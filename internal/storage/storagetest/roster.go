package storagetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"minimix/internal/storage"
)

// versions checks that roster versions never repeat and, where they are
// integers, only grow. XEP-0237 versions are opaque strings, so that is
// all a client may rely on.
type versions struct {
	seen []string
}

func (v *versions) next(t *testing.T, what, ver string) {
	t.Helper()
	if ver == "" {
		t.Fatalf("%s: empty roster version", what)
	}
	if slices.Contains(v.seen, ver) {
		t.Fatalf("%s: roster version %q repeats one of %q", what, ver, v.seen)
	}
	if len(v.seen) > 0 {
		prev, err1 := strconv.ParseInt(v.seen[len(v.seen)-1], 10, 64)
		cur, err2 := strconv.ParseInt(ver, 10, 64)
		if err1 == nil && err2 == nil && cur <= prev {
			t.Fatalf("%s: roster version %d after %d", what, cur, prev)
		}
	}
	v.seen = append(v.seen, ver)
}

func (v *versions) last() string { return v.seen[len(v.seen)-1] }

func sortRoster(items []storage.RosterItem) {
	slices.SortFunc(items, func(a, b storage.RosterItem) int { return strings.Compare(a.Contact, b.Contact) })
}

func testRoster(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()

	t.Run("Empty", func(t *testing.T) {
		s := newStore(t, open)
		items, ver, err := s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		diff(t, "items of an empty roster", []storage.RosterItem(nil), items)
		_, ver2, err := s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		if ver != ver2 {
			t.Errorf("version of an unchanged roster went from %q to %q", ver, ver2)
		}
		_, err = s.RosterItem(ctx, "alice", "bob@example.net")
		wantErr(t, "RosterItem", err, storage.ErrNotFound)
		_, err = s.DeleteRosterItem(ctx, "alice", "bob@example.net")
		wantErr(t, "DeleteRosterItem", err, storage.ErrNotFound)
	})

	// RoundTrip stores every shape of subscription state RFC 6121 allows
	// and reads each back unchanged.
	t.Run("RoundTrip", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			item storage.RosterItem
		}{
			{"none", storage.RosterItem{Contact: "a@example.net", Subscription: storage.SubNone}},
			{"none+pending-out", storage.RosterItem{Contact: "b@example.net", Name: "Bee", Subscription: storage.SubNone, PendingOut: true}},
			{"hidden pending-in with stanza", storage.RosterItem{
				Contact: "c@example.net", Subscription: storage.SubNone, PendingIn: true, Hidden: true,
				PendingInStanza: []byte(`<presence from="c@example.net/x" type="subscribe"><status>hi &amp; bye</status></presence>`),
			}},
			{"to+pending-in", storage.RosterItem{Contact: "d@example.net", Subscription: storage.SubTo, PendingIn: true,
				PendingInStanza: []byte(`<presence type="subscribe"/>`)}},
			{"from+pending-out", storage.RosterItem{Contact: "e@example.net", Subscription: storage.SubFrom, PendingOut: true}},
			{"none+approved", storage.RosterItem{Contact: "f@example.net", Subscription: storage.SubNone, Approved: true}},
			{"both with groups", storage.RosterItem{Contact: "g@example.net", Name: "Gé 😀", Subscription: storage.SubBoth,
				Groups: []string{"Work", "Friends", "A group", "ünïcode"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, open)
				var vs versions
				_, ver, err := s.RosterItems(ctx, "alice")
				must(t, "RosterItems", err)
				vs.next(t, "initial", ver)
				ver, err = s.PutRosterItem(ctx, "alice", tc.item)
				must(t, "PutRosterItem", err)
				vs.next(t, "PutRosterItem", ver)
				got, err := s.RosterItem(ctx, "alice", tc.item.Contact)
				must(t, "RosterItem", err)
				diff(t, "RosterItem", tc.item, got)
				items, ver, err := s.RosterItems(ctx, "alice")
				must(t, "RosterItems", err)
				diff(t, "RosterItems", []storage.RosterItem{tc.item}, items)
				if ver != vs.last() {
					t.Errorf("RosterItems version %q, want %q from PutRosterItem", ver, vs.last())
				}
			})
		}
	})

	t.Run("Versions", func(t *testing.T) {
		s := newStore(t, open)
		var vs versions
		_, ver, err := s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		vs.next(t, "initial", ver)

		a := storage.RosterItem{Contact: "a@example.net", Subscription: storage.SubNone, PendingOut: true, Groups: []string{"x", "y", "z"}}
		b := storage.RosterItem{Contact: "b@example.net", Subscription: storage.SubBoth, Name: "B"}
		steps := []struct {
			name string
			do   func() (string, error)
			want []storage.RosterItem // nil: not checked
		}{
			{"put a", func() (string, error) { return s.PutRosterItem(ctx, "alice", a) }, []storage.RosterItem{a}},
			{"put b", func() (string, error) { return s.PutRosterItem(ctx, "alice", b) }, []storage.RosterItem{a, b}},
			{"replace a", func() (string, error) {
				a.Subscription, a.PendingOut, a.Groups, a.Name = storage.SubTo, false, []string{"z"}, "Ay"
				return s.PutRosterItem(ctx, "alice", a)
			}, nil},
			{"put a unchanged", func() (string, error) { return s.PutRosterItem(ctx, "alice", a) }, nil},
			{"delete b", func() (string, error) { return s.DeleteRosterItem(ctx, "alice", b.Contact) }, nil},
		}
		for _, st := range steps {
			ver, err := st.do()
			must(t, st.name, err)
			vs.next(t, st.name, ver)
			items, ver, err := s.RosterItems(ctx, "alice")
			must(t, "RosterItems", err)
			if ver != vs.last() {
				t.Errorf("%s: RosterItems version %q, want %q", st.name, ver, vs.last())
			}
			if st.want != nil {
				sortRoster(items)
				diff(t, st.name, st.want, items)
			}
		}
		got, err := s.RosterItem(ctx, "alice", a.Contact)
		must(t, "RosterItem", err)
		diff(t, "replaced item", a, got)
		_, err = s.RosterItem(ctx, "alice", b.Contact)
		wantErr(t, "RosterItem of a deleted item", err, storage.ErrNotFound)

		// A refused delete changes nothing.
		_, err = s.DeleteRosterItem(ctx, "alice", b.Contact)
		wantErr(t, "DeleteRosterItem again", err, storage.ErrNotFound)
		_, ver, err = s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		if ver != vs.last() {
			t.Errorf("version after a refused delete %q, want %q", ver, vs.last())
		}

		// Rosters are per user.
		items, _, err := s.RosterItems(ctx, "bob")
		must(t, "RosterItems", err)
		diff(t, "bob's roster", []storage.RosterItem(nil), items)
		_, err = s.RosterItem(ctx, "bob", a.Contact)
		wantErr(t, "RosterItem of bob", err, storage.ErrNotFound)
		_, err = s.DeleteRosterItem(ctx, "bob", a.Contact)
		wantErr(t, "DeleteRosterItem of bob", err, storage.ErrNotFound)
		_, err = s.PutRosterItem(ctx, "bob", b)
		must(t, "PutRosterItem for bob", err)
		_, ver, err = s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		if ver != vs.last() {
			t.Errorf("alice's version changed with bob's roster: %q, want %q", ver, vs.last())
		}
		items, _, err = s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		diff(t, "alice's roster after bob's change", []storage.RosterItem{a}, items)
	})
}
