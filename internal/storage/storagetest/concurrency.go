package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"minimix/internal/storage"
)

// writers is how many goroutines write at once: more than any sensible
// connection pool, so that a backend whose writers contend for a lock
// (SQLite's single writer) shows it.
const writers = 20

func testConcurrency(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()

	t.Run("Archive", func(t *testing.T) {
		s := newStore(t, open)
		const perWriter = 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*perWriter)
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					// Half the writers share an owner, half have their own.
					owner := alice
					if w%2 == 1 {
						owner = fmt.Sprintf("user%d@example.net", w)
					}
					err := s.AppendArchive(ctx, storage.ArchiveRecord{
						Owner: owner, ID: fmt.Sprintf("w%d-%d", w, i), Stamp: t0, With: bob,
						Stanza: []byte("<message/>"),
					})
					if err != nil {
						errs <- fmt.Errorf("writer %d record %d: %w", w, i, err)
					}
					// Readers run alongside the writers.
					if i%5 == 0 {
						if _, err := s.QueryArchive(ctx, owner, storage.ArchiveQuery{Before: true, Max: 5}); err != nil {
							errs <- fmt.Errorf("writer %d query: %w", w, err)
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		page, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{Max: writers * perWriter})
		must(t, "QueryArchive", err)
		if want := writers / 2 * perWriter; page.Count != want || len(page.Records) != want {
			t.Fatalf("shared archive has %d records (Count %d), want %d", len(page.Records), page.Count, want)
		}
		// Each writer's records keep the order it wrote them in.
		next := map[string]int{}
		for _, r := range page.Records {
			var w, i int
			if _, err := fmt.Sscanf(r.ID, "w%d-%d", &w, &i); err != nil {
				t.Fatalf("unexpected id %q", r.ID)
			}
			key := strconv.Itoa(w)
			if i != next[key] {
				t.Fatalf("writer %d: record %d archived where %d was due", w, i, next[key])
			}
			next[key]++
		}
	})

	t.Run("OfflineQuota", func(t *testing.T) {
		s := newStore(t, open)
		const perWriter, max = 5, 50
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			stored, refused int
		)
		for range writers {
			wg.Go(func() {
				for range perWriter {
					err := s.StoreOffline(ctx, "alice", []byte("<message/>"), t0, max)
					mu.Lock()
					switch {
					case err == nil:
						stored++
					case errors.Is(err, storage.ErrQuota):
						refused++
					default:
						t.Errorf("StoreOffline: %v", err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		n, err := s.CountOffline(ctx, "alice")
		must(t, "CountOffline", err)
		if stored != max || refused != writers*perWriter-max || n != max {
			t.Errorf("stored %d, refused %d, counted %d; want %d, %d, %d",
				stored, refused, n, max, writers*perWriter-max, max)
		}
	})

	t.Run("RosterVersions", func(t *testing.T) {
		s := newStore(t, open)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			vers = map[string]bool{}
		)
		for w := range writers {
			wg.Go(func() {
				ver, err := s.PutRosterItem(ctx, "alice", storage.RosterItem{
					Contact: fmt.Sprintf("c%02d@example.net", w), Subscription: storage.SubBoth,
				})
				if err != nil {
					t.Errorf("PutRosterItem: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if vers[ver] {
					t.Errorf("roster version %q handed out twice", ver)
				}
				vers[ver] = true
			})
		}
		wg.Wait()
		items, ver, err := s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		if len(items) != writers {
			t.Errorf("%d roster items, want %d", len(items), writers)
		}
		if !vers[ver] {
			t.Errorf("final version %q was not returned by any PutRosterItem", ver)
		}
	})
}

// testContext checks that a backend honours cancellation: an operation
// with a cancelled context fails with the context's error and changes
// nothing.
func testContext(t *testing.T, open func(t *testing.T) storage.Store) {
	s := newStore(t, open)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	wantErr(t, "CreateAccount", s.CreateAccount(ctx, "alice", creds(1)), context.Canceled)
	wantErr(t, "AppendArchive", s.AppendArchive(ctx, storage.ArchiveRecord{
		Owner: alice, ID: "x", Stamp: t0, With: bob, Stanza: []byte("<message/>"),
	}), context.Canceled)
	_, err := s.QueryArchive(ctx, alice, storage.ArchiveQuery{Max: 1})
	wantErr(t, "QueryArchive", err, context.Canceled)
	_, _, err = s.RosterItems(ctx, "alice")
	wantErr(t, "RosterItems", err, context.Canceled)

	live := t.Context()
	ok, err := s.AccountExists(live, "alice")
	must(t, "AccountExists", err)
	if ok {
		t.Error("CreateAccount with a cancelled context created the account")
	}
	page, err := s.QueryArchive(live, alice, storage.ArchiveQuery{Max: 1})
	must(t, "QueryArchive", err)
	if page.Count != 0 {
		t.Error("AppendArchive with a cancelled context archived the record")
	}
}
