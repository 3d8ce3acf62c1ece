package blocking

import (
	"context"
	"strconv"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// BenchmarkToLocalNotBlocked is what the interceptor costs a stanza to an
// account whose blocklist does not match its sender, while 1000 accounts
// block something (or none does).
func BenchmarkToLocalNotBlocked(b *testing.B) {
	for _, tc := range []struct {
		name   string
		others int
	}{{"others-block", 1000}, {"none-blocks", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			s := New(Config{Domain: "example.org"})
			s.mu.Lock()
			for i := range tc.others {
				s.setList("user"+strconv.Itoa(i), newList([]jid.JID{jid.MustParse("spam.example")}))
			}
			// alice blocks two others; bob is not among them.
			s.setList("alice", newList([]jid.JID{jid.MustParse("eve@example.net"), jid.MustParse("spam.example")}))
			s.mu.Unlock()
			if tc.others == 0 {
				s.mu.Lock()
				s.setList("alice", nil)
				s.mu.Unlock()
			}
			el := xml.New(xml.NSClient, "message", "type", "chat")
			from, to := jid.MustParse("bob@conference.example.org/x"), jid.MustParse("alice@example.org")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if s.ToLocal(ctx, el, from, to) {
					b.Fatal("blocked")
				}
			}
		})
	}
}
