package push

import (
	"context"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/storage"
)

type nopStore struct{}

func (nopStore) PutPushRegistration(context.Context, storage.PushRegistration) error { return nil }
func (nopStore) DeletePushRegistrations(context.Context, string, string, string) error {
	return nil
}
func (nopStore) PushRegistrations(context.Context) ([]storage.PushRegistration, error) {
	return nil, nil
}

// BenchmarkWatchNothingEnabled is what the two delivery hooks (one chat
// message, one room message) cost a message to an account that enabled
// nothing, while 1000 other accounts did (or none did): the map lookup
// the package promises.
func BenchmarkWatchNothingEnabled(b *testing.B) {
	b.Run("others-enabled", func(b *testing.B) { benchWatch(b, 1000) })
	b.Run("none-enabled", func(b *testing.B) { benchWatch(b, 0) })
}

func benchWatch(b *testing.B, others int) {
	s := New(Config{Domain: "example.org", Store: nopStore{}})
	s.mu.Lock()
	for i := range others {
		a := jid.JID{Local: "user" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Domain: "example.org"}
		s.update(a, func([]*registration) []*registration {
			return []*registration{{account: a, service: jid.MustParse("push.example.org"), node: "n"}}
		})
	}
	s.mu.Unlock()
	el := parse(b, `<message xmlns='jabber:client' type='chat' from='bob@example.org/x' to='alice@example.org'><body>hi</body></message>`)
	from, to := jid.MustParse("bob@example.org/x"), jid.MustParse("alice@example.org")
	room := jid.MustParse("room@muc.example.org")
	gc := parse(b, `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.org/bob' to='alice@example.org'><body>hi</body></message>`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.MessageDelivered(ctx, el, from, to)
		s.RoomMessage(ctx, to, room, "al", gc)
	}
	if s.Stats.Queued.Load() != 0 {
		b.Fatal("a job was queued for an account with nothing enabled")
	}
}
