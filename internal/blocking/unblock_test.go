package blocking

import (
	"context"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/xml"
)

type oneAccount []router.Session

func (s oneAccount) Sessions(jid.JID) []router.Session { return s }
func (s oneAccount) Get(full jid.JID) router.Session {
	for _, se := range s {
		if se.JID() == full {
			return se
		}
	}
	return nil
}

// senderFunc is a Sender.
type senderFunc func(el *xml.Element)

func (f senderFunc) Route(_ context.Context, el *xml.Element, _, _ jid.JID) { f(el) }

// TestUnblockSendsNewestPresence: unblocking a subscriber sends it the
// sessions' current presence, read from their state on the goroutine of
// the iq; a session that broadcasts a newer presence in between (on its
// own goroutine) must not be left stale at the contact: the contact's
// last presence from it is the newest.
func TestUnblockSendsNewestPresence(t *testing.T) {
	alice := sessiontest.New("alice@example.net/a")
	contact := jid.MustParse("bob@example.net")
	show := func(s string) *xml.Element {
		p := xml.New(xml.NSClient, "presence", "from", alice.JID().String())
		p.Append(xml.New(xml.NSClient, "show").WithText(s))
		return p
	}
	alice.State().SetPresence(show("away"), true, 0)
	var got []string
	broadcastDone := false
	send := senderFunc(func(el *xml.Element) {
		if !broadcastDone {
			// Alice's newer presence, broadcast on her goroutine, gets
			// to bob between the read of her state and this copy.
			broadcastDone = true
			alice.State().SetPresence(show("dnd"), true, 0)
			got = append(got, "dnd")
		}
		s := el.ChildText("", "show")
		if el.Attr("type") == "unavailable" {
			s = "unavailable"
		}
		got = append(got, s)
	})
	s := New(Config{
		Domain:      "example.net",
		Sessions:    oneAccount{alice},
		Sender:      send,
		Subscribers: func(context.Context, jid.JID) ([]jid.JID, error) { return []jid.JID{contact}, nil },
	})
	s.presenceChanged(t.Context(), alice.JID().Bare(), newList([]jid.JID{contact}), newList(nil))
	if len(got) == 0 || got[len(got)-1] != "dnd" {
		t.Errorf("bob got %v from alice/a, want dnd last", got)
	}
}
