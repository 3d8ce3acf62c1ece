package sqlarchive

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"minimix/internal/storage"
)

// fakeBackend counts positions from last and records what each committed
// batch wrote; an op whose record id is in bad fails its batch.
type fakeBackend struct {
	mu      sync.Mutex
	bad     map[string]bool
	batches [][]string // what each committed batch wrote
	cur     []string
	tries   int
}

func (f *fakeBackend) Position(_ context.Context, last int64) (int64, error) { return last + 1, nil }

func (f *fakeBackend) Begin() (Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	f.cur = nil
	return f, nil
}

func (f *fakeBackend) add(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bad[what] {
		return errors.New("bad row")
	}
	f.cur = append(f.cur, what)
	return nil
}

func (f *fakeBackend) Archive(_ int64, r *storage.ArchiveRecord) error { return f.add(r.ID) }
func (f *fakeBackend) Room(_ int64, r *storage.RoomMessage) error      { return f.add(r.ID) }
func (f *fakeBackend) Open(_ int64, a, r string) error                 { return f.add("open " + a) }
func (f *fakeBackend) Close(_ int64, a, r string) error                { return f.add("close " + a) }
func (f *fakeBackend) Count(owner string, n int64) error {
	return f.add("count " + owner + " " + strconv.FormatInt(n, 10))
}

func (f *fakeBackend) Commit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, f.cur)
	return nil
}

func (f *fakeBackend) Abort() {}

func TestQueue(t *testing.T) {
	ctx := t.Context()
	f := &fakeBackend{bad: map[string]bool{"bad": true}}
	var q Queue
	q.Init("fake", f, 10)
	rec := func(owner, id string) Op {
		return Op{Kind: KindArchive, Rec: storage.ArchiveRecord{Owner: owner, ID: id}, Checked: PendingKey(owner, id)}
	}

	// Held: everything queued is one batch, in position order, counts
	// last and in owner order.
	q.Hold()
	var seqs []int64
	for _, op := range []Op{rec("b", "1"), rec("a", "2"), {Kind: KindOpen, Account: "a", RoomJID: "r"},
		{Kind: KindRoom, Room: storage.RoomMessage{Room: "r", ID: "3"}}, rec("b", "4")} {
		seq, err := q.Enqueue(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if !slices.Equal(seqs, []int64{11, 12, 13, 14, 15}) {
		t.Errorf("positions %v, want 11 to 15 after 10", seqs)
	}
	if _, err := q.Enqueue(ctx, rec("b", "4")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("a queued id again: %v, want ErrExists", err)
	}
	if !q.IsPending(PendingKey("a", "2")) || q.Len() != 5 {
		t.Errorf("pending %v, Len %d", q.IsPending(PendingKey("a", "2")), q.Len())
	}
	q.Release()
	if err := q.SyncOwner(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "2", "open a", "3", "4", "count a 1", "count b 2"}}
	if !slices.EqualFunc(f.batches, want, slices.Equal) {
		t.Errorf("batches %q, want %q", f.batches, want)
	}
	if q.IsPending(PendingKey("a", "2")) || q.Len() != 0 {
		t.Error("still pending after the commit")
	}

	// A bad row: the batch is tried twice, then row by row; only the bad
	// row is lost, and counted.
	f.batches, f.tries = nil, 0
	q.Hold()
	for _, id := range []string{"5", "bad", "6"} {
		if _, err := q.Enqueue(ctx, rec("c", id)); err != nil {
			t.Fatal(err)
		}
	}
	q.Release()
	if err := q.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want = [][]string{{"5", "count c 1"}, {"6", "count c 1"}}
	if !slices.EqualFunc(f.batches, want, slices.Equal) || f.tries != 5 || q.Failures() != 1 {
		t.Errorf("batches %q after %d tries, %d failures; want %q after 5, 1", f.batches, f.tries, q.Failures(), want)
	}

	q.Close()
	if _, err := q.Enqueue(ctx, rec("d", "7")); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrClosed", err)
	}
}

func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		ivs, want []interval
	}{
		{nil, []interval{{-1, 0}}},
		{[]interval{{5, 0}}, []interval{{-1, 6}}},
		{[]interval{{5, 10}}, []interval{{-1, 6}, {9, 0}}},
		{[]interval{{20, 0}, {5, 10}}, []interval{{-1, 6}, {9, 21}}},
		{[]interval{{5, 30}, {10, 20}}, []interval{{-1, 6}, {29, 0}}}, // nested
		{[]interval{{5, 10}, {9, 0}}, []interval{{-1, 6}}},            // adjacent: nothing between
	} {
		if got := gaps(slices.Clone(tc.ivs)); !slices.Equal(got, tc.want) {
			t.Errorf("gaps(%v) = %v, want %v", tc.ivs, got, tc.want)
		}
	}
}
