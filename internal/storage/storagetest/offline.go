package storagetest

import (
	"fmt"
	"testing"
	"time"

	"minimix/internal/storage"
)

func testOffline(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()

	t.Run("OrderAndDelete", func(t *testing.T) {
		s := newStore(t, open)
		msgs, err := s.OfflineMessages(ctx, "alice")
		must(t, "OfflineMessages", err)
		diff(t, "messages of nobody", []storage.OfflineMessage(nil), msgs)

		var want []storage.OfflineMessage
		for i := range 5 {
			m := storage.OfflineMessage{
				Stamp:  t0.Add(-time.Duration(i) * time.Minute), // stamps out of order: storing order is what counts
				Stanza: []byte(fmt.Sprintf(`<message xmlns="jabber:client" id="m%d"><body>%d</body></message>`, i, i)),
			}
			must(t, "StoreOffline", s.StoreOffline(ctx, "alice", m.Stanza, m.Stamp, 0))
			want = append(want, m)
		}
		must(t, "StoreOffline for bob", s.StoreOffline(ctx, "bob", []byte("<message/>"), t0, 0))

		msgs, err = s.OfflineMessages(ctx, "alice")
		must(t, "OfflineMessages", err)
		ids := map[int64]bool{}
		for i := range msgs {
			if ids[msgs[i].ID] {
				t.Errorf("duplicate id %d", msgs[i].ID)
			}
			ids[msgs[i].ID] = true
			if i < len(want) {
				want[i].ID = msgs[i].ID
			}
		}
		diff(t, "OfflineMessages", want, msgs)
		// Reading does not consume.
		n, err := s.CountOffline(ctx, "alice")
		must(t, "CountOffline", err)
		if n != 5 {
			t.Fatalf("CountOffline = %d, want 5", n)
		}

		bobMsgs, err := s.OfflineMessages(ctx, "bob")
		must(t, "OfflineMessages", err)
		if len(bobMsgs) != 1 {
			t.Fatalf("bob has %d messages, want 1", len(bobMsgs))
		}
		// Deleting ignores unknown ids and ids of other users.
		must(t, "DeleteOffline", s.DeleteOffline(ctx, "alice", []int64{want[0].ID, want[3].ID, bobMsgs[0].ID, -1, 1 << 50}))
		must(t, "DeleteOffline of nothing", s.DeleteOffline(ctx, "alice", nil))
		msgs, err = s.OfflineMessages(ctx, "alice")
		must(t, "OfflineMessages", err)
		diff(t, "OfflineMessages after DeleteOffline", []storage.OfflineMessage{want[1], want[2], want[4]}, msgs)
		n, err = s.CountOffline(ctx, "bob")
		must(t, "CountOffline", err)
		if n != 1 {
			t.Errorf("bob's message deleted through alice: CountOffline(bob) = %d", n)
		}

		// Ids are not reused after a delete.
		must(t, "StoreOffline", s.StoreOffline(ctx, "alice", []byte("<message/>"), t0, 0))
		msgs, err = s.OfflineMessages(ctx, "alice")
		must(t, "OfflineMessages", err)
		if last := msgs[len(msgs)-1]; ids[last.ID] {
			t.Errorf("new message reuses id %d", last.ID)
		}
		must(t, "DeleteOffline", s.DeleteOffline(ctx, "alice", []int64{msgs[0].ID, msgs[1].ID, msgs[2].ID, msgs[3].ID}))
		n, err = s.CountOffline(ctx, "alice")
		must(t, "CountOffline", err)
		if n != 0 {
			t.Errorf("CountOffline after deleting all = %d", n)
		}
	})

	t.Run("Quota", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			max    int
			stores int
			want   int // stored before ErrQuota; -1: never refused
		}{
			{"max 1", 1, 3, 1},
			{"max 3", 3, 5, 3},
			{"max 0 is unlimited", 0, 20, -1},
			{"negative max is unlimited", -1, 20, -1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, open)
				for i := range tc.stores {
					err := s.StoreOffline(ctx, "alice", []byte("<message/>"), t0, tc.max)
					if tc.want >= 0 && i >= tc.want {
						wantErr(t, fmt.Sprintf("StoreOffline #%d", i+1), err, storage.ErrQuota)
					} else {
						wantErr(t, fmt.Sprintf("StoreOffline #%d", i+1), err, nil)
					}
				}
				n, err := s.CountOffline(ctx, "alice")
				must(t, "CountOffline", err)
				want := tc.want
				if want < 0 {
					want = tc.stores
				}
				if n != want {
					t.Errorf("CountOffline = %d, want %d", n, want)
				}
				// The quota is per user.
				wantErr(t, "StoreOffline for bob", s.StoreOffline(ctx, "bob", []byte("<message/>"), t0, tc.max), nil)
			})
		}
	})
}
