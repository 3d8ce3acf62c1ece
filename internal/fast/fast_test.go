package fast

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"minimix/internal/sasl"
	"minimix/internal/storage"
)

type memStore struct {
	priv  map[string][]byte
	creds storage.Credentials
}

func (m *memStore) GetPrivate(ctx context.Context, user, key string) ([]byte, error) {
	b, ok := m.priv[user+"|"+key]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return b, nil
}

func (m *memStore) SetPrivate(ctx context.Context, user, key string, data []byte) error {
	m.priv[user+"|"+key] = data
	return nil
}

func (m *memStore) GetCredentials(ctx context.Context, user string) (storage.Credentials, error) {
	if user != "alice" {
		return storage.Credentials{}, storage.ErrNotFound
	}
	return m.creds, nil
}

func is(tok string) func([]byte) bool { return func(b []byte) bool { return string(b) == tok } }

func TestRotation(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &memStore{priv: map[string][]byte{}, creds: storage.Credentials{SHA256: storage.ScramCredential{StoredKey: []byte("k1")}}}
	tk := New(st, time.Hour, func() time.Time { return now })
	verify := func(tok, mech string) bool {
		ok, err := tk.Verify(ctx, "alice", "ua", mech, 0, is(tok))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	t1, exp, err := tk.Issue(ctx, "alice", "ua", "HT-SHA-256-NONE")
	if err != nil || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("issue: %v %v", exp, err)
	}
	if !verify(t1, "HT-SHA-256-NONE") || verify(t1, "HT-SHA-256-EXPR") {
		t.Fatal("t1 must verify for its mechanism only")
	}
	// A rotated token: both work until the new one is used.
	t2, _, _ := tk.Issue(ctx, "alice", "ua", "HT-SHA-256-NONE")
	if !verify(t1, "HT-SHA-256-NONE") {
		t.Fatal("the current token stopped working before the new one was used")
	}
	if !verify(t2, "HT-SHA-256-NONE") {
		t.Fatal("the new token does not verify")
	}
	if verify(t1, "HT-SHA-256-NONE") {
		t.Fatal("the old token still works after the new one was used")
	}
	// Another client's token is its own.
	if ok, _ := tk.Verify(ctx, "alice", "other", "HT-SHA-256-NONE", 0, is(t2)); ok {
		t.Fatal("token accepted for another client")
	}
	// Unknown accounts say no, not an error.
	if ok, err := tk.Verify(ctx, "nobody", "ua", "HT-SHA-256-NONE", 0, is(t2)); ok || err != nil {
		t.Fatalf("unknown user: %v %v", ok, err)
	}
	// Expiry.
	now = now.Add(time.Hour)
	if verify(t2, "HT-SHA-256-NONE") {
		t.Fatal("expired token accepted")
	}
	// Password change.
	now = now.Add(time.Minute)
	t3, _, _ := tk.Issue(ctx, "alice", "ua", "HT-SHA-256-NONE")
	st.creds.SHA256.StoredKey = []byte("k2")
	if verify(t3, "HT-SHA-256-NONE") {
		t.Fatal("token accepted after a password change")
	}
	// Invalidation.
	st.creds.SHA256.StoredKey = []byte("k1")
	if !verify(t3, "HT-SHA-256-NONE") {
		t.Fatal("t3")
	}
	if err := tk.Invalidate(ctx, "alice", "ua"); err != nil {
		t.Fatal(err)
	}
	if verify(t3, "HT-SHA-256-NONE") {
		t.Fatal("invalidated token accepted")
	}
}

func TestBoundClients(t *testing.T) {
	ctx := context.Background()
	st := &memStore{priv: map[string][]byte{}}
	now := time.Unix(1e9, 0)
	tk := New(st, time.Hour, func() time.Time { return now })
	var first string
	for i := 0; i <= maxClients; i++ {
		tok, _, err := tk.Issue(ctx, "alice", fmt.Sprint("ua", i), "HT-SHA-256-NONE")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok
		}
		now = now.Add(time.Second)
	}
	r, _ := tk.load(ctx, "alice")
	if len(r) != maxClients {
		t.Fatalf("%d clients kept, want %d", len(r), maxClients)
	}
	if ok, _ := tk.Verify(ctx, "alice", "ua0", "HT-SHA-256-NONE", 0, is(first)); ok {
		t.Fatal("the oldest client kept its token")
	}
}

// XEP-0484's count: each use of a token with a count must bring a higher
// one than any seen with that token; a new token starts afresh; no count
// is no check.
func TestCount(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1e9, 0)
	st := &memStore{priv: map[string][]byte{}, creds: storage.Credentials{SHA256: storage.ScramCredential{StoredKey: []byte("k1")}}}
	tk := New(st, time.Hour, func() time.Time { return now })
	use := func(tok string, count uint64) error {
		ok, err := tk.Verify(ctx, "alice", "ua", "HT-SHA-256-NONE", count, is(tok))
		if err == nil && !ok {
			t.Fatalf("token with count %d did not verify", count)
		}
		return err
	}
	t1, _, _ := tk.Issue(ctx, "alice", "ua", "HT-SHA-256-NONE")
	for _, c := range []uint64{1, 2, 5} {
		if err := use(t1, c); err != nil {
			t.Fatalf("count %d: %v", c, err)
		}
	}
	for _, c := range []uint64{5, 4, 1} {
		if err := use(t1, c); !errors.Is(err, sasl.ErrTokenReplayed) {
			t.Fatalf("replayed count %d: %v", c, err)
		}
	}
	if err := use(t1, 0); err != nil {
		t.Fatalf("no count: %v", err)
	}
	// The count is kept per token: a new one starts at 1 while the old
	// one keeps its own.
	t2, _, _ := tk.Issue(ctx, "alice", "ua", "HT-SHA-256-NONE")
	if err := use(t1, 5); !errors.Is(err, sasl.ErrTokenReplayed) {
		t.Fatalf("old token's count forgotten: %v", err)
	}
	if err := use(t2, 1); err != nil {
		t.Fatalf("new token, count 1: %v", err)
	}
	if err := use(t2, 1); !errors.Is(err, sasl.ErrTokenReplayed) {
		t.Fatalf("new token replayed: %v", err)
	}
}

// A token past half its life is due for rotation; one issued is not.
func TestDue(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1e9, 0)
	st := &memStore{priv: map[string][]byte{}, creds: storage.Credentials{SHA256: storage.ScramCredential{StoredKey: []byte("k1")}}}
	tk := New(st, time.Hour, func() time.Time { return now })
	due := func() bool {
		d, err := tk.Due(ctx, "alice", "ua")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if due() {
		t.Fatal("due without a token")
	}
	tok, _, _ := tk.Issue(ctx, "alice", "ua", "HT-SHA-256-NONE")
	if ok, _ := tk.Verify(ctx, "alice", "ua", "HT-SHA-256-NONE", 0, is(tok)); !ok {
		t.Fatal("token")
	}
	if due() {
		t.Fatal("a fresh token is due")
	}
	now = now.Add(29 * time.Minute)
	if due() {
		t.Fatal("due before half its life")
	}
	now = now.Add(2 * time.Minute)
	if !due() {
		t.Fatal("not due past half its life")
	}
}
