package offline

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
)

func newService(t *testing.T, max int) (*Service, storage.Store) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := router.New(router.Config{Domain: "example.net", Registry: router.NewRegistry()})
	s := New(db, r, max, "", nil)
	s.now = func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600)) }
	return s, db
}

func message(space, body string, extra ...*xml.Element) *xml.Element {
	m := xml.New(space, "message", "from", "bob@example.org/x", "to", "alice@example.net", "type", "chat")
	m.Append(xml.New(space, "body").AppendText(body))
	return m.Append(extra...)
}

func TestStoreAndFlush(t *testing.T) {
	const stamp = "2024-05-06T06:08:09Z"
	for _, tc := range []struct {
		name   string
		msg    *xml.Element
		delays []string // from=stamp of each delay of the flushed message
	}{
		{"plain", message(xml.NSClient, "hi"), []string{"example.net=" + stamp}},
		{"from s2s", message(xml.NSServer, "hi"), []string{"example.net=" + stamp}},
		{"own delay kept", message(xml.NSClient, "hi", stanza.Delay("example.net", "2020-01-01T00:00:00Z")),
			[]string{"example.net=2020-01-01T00:00:00Z"}},
		{"foreign delay", message(xml.NSClient, "hi", stanza.Delay("example.org", "2020-01-01T00:00:00Z")),
			[]string{"example.org=2020-01-01T00:00:00Z", "example.net=" + stamp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, db := newService(t, 0)
			ctx := t.Context()
			orig := tc.msg.String()
			if err := s.StoreOffline(ctx, jid.MustParse("alice@example.net/gone"), tc.msg); err != nil {
				t.Fatal(err)
			}
			if tc.msg.String() != orig {
				t.Errorf("StoreOffline changed the caller's element to %s", tc.msg)
			}
			sess := sessiontest.New("alice@example.net/new")
			n, err := s.Flush(ctx, sess)
			got := sess.Take()
			if err != nil || n != 1 || len(got) != 1 {
				t.Fatalf("Flush = %d, %v; got %v", n, err, got)
			}
			m := got[0]
			if m.Space != xml.NSClient || m.Local != "message" || m.Attr("from") != "bob@example.org/x" || m.Attr("type") != "chat" {
				t.Errorf("flushed %s", m)
			}
			if b := m.Child(xml.NSClient, "body"); b == nil || b.Text() != "hi" {
				t.Errorf("body lost: %s", m)
			}
			var delays []string
			for _, c := range m.Elements() {
				if c.Space == stanza.NSDelay && c.Local == "delay" {
					delays = append(delays, c.Attr("from")+"="+c.Attr("stamp"))
				}
			}
			if len(delays) != len(tc.delays) {
				t.Fatalf("delays %v, want %v", delays, tc.delays)
			}
			for i := range delays {
				if delays[i] != tc.delays[i] {
					t.Errorf("delays %v, want %v", delays, tc.delays)
				}
			}
			if left, _ := db.CountOffline(ctx, "alice"); left != 0 {
				t.Errorf("%d messages left after flush", left)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	s, _ := newService(t, 2)
	ctx := t.Context()
	alice := jid.MustParse("alice@example.net")
	for i := range 2 {
		if err := s.StoreOffline(ctx, alice, message(xml.NSClient, "m")); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := s.StoreOffline(ctx, alice, message(xml.NSClient, "m")); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("third message: %v, want ErrQuota", err)
	}
}

// TestPartialFlush checks that only delivered messages are deleted, in
// order, and that unreadable ones are dropped.
func TestPartialFlush(t *testing.T) {
	s, db := newService(t, 0)
	ctx := t.Context()
	alice := jid.MustParse("alice@example.net")
	for _, body := range []string{"1", "2"} {
		if err := s.StoreOffline(ctx, alice, message(xml.NSClient, body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.StoreOffline(ctx, "alice", []byte("<message><broken"), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreOffline(ctx, alice, message(xml.NSClient, "3")); err != nil {
		t.Fatal(err)
	}

	for _, step := range []struct {
		room   int
		bodies []string
		left   int
	}{
		{0, nil, 4},
		{1, []string{"1"}, 3},
		{1, []string{"2"}, 1}, // the broken one goes too
		{5, []string{"3"}, 0},
		{5, nil, 0},
	} {
		sess := sessiontest.NewJID(alice.WithResource("r")).Room(step.room)
		n, err := s.Flush(ctx, sess)
		if err != nil || n != len(step.bodies) {
			t.Fatalf("room %d: Flush = %d, %v", step.room, n, err)
		}
		for i, m := range sess.Take() {
			if got := m.ChildText(xml.NSClient, "body"); got != step.bodies[i] {
				t.Errorf("room %d: message %d is %q, want %q", step.room, i, got, step.bodies[i])
			}
		}
		if left, _ := db.CountOffline(ctx, "alice"); left != step.left {
			t.Errorf("room %d: %d left, want %d", step.room, left, step.left)
		}
	}
}
