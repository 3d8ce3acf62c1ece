package router_test

import (
	"context"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

type world struct {
	r   *router.Router
	h   *fakeHandlers
	off *fakeOffline
}

func newWorld(sessions ...*sessiontest.Session) *world {
	reg := router.NewRegistry()
	h := &fakeHandlers{accounts: map[string]bool{"alice": true, "bob": true, "carol": true}}
	off := &fakeOffline{max: 2}
	r := router.New(router.Config{Domain: "example.net", Registry: reg, Handlers: h, Offline: off})
	for _, s := range sessions {
		reg.Add(s)
	}
	return &world{r: r, h: h, off: off}
}

func msg(typ, from, to, body string) *xml.Element {
	m := xml.New(xml.NSClient, "message", "from", from, "to", to)
	m.SetAttr("type", typ)
	if body != "" {
		m.Append(xml.New(xml.NSClient, "body").AppendText(body))
	}
	return m
}

func TestMessageDelivery(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		to   string
		// which bob sessions get it (by resource), and offline count
		want        []string
		wantOffline int
		wantError   string // condition bounced to the sender
	}{
		{name: "chat to bare goes to highest priority", typ: "chat", to: "bob@example.net", want: []string{"high"}},
		{name: "normal to bare goes to highest priority", typ: "normal", to: "bob@example.net", want: []string{"high"}},
		{name: "headline to bare goes to all non-negative", typ: "headline", to: "bob@example.net", want: []string{"high", "low"}},
		{name: "chat to full goes there", typ: "chat", to: "bob@example.net/low", want: []string{"low"}},
		{name: "chat to negative full still delivered", typ: "chat", to: "bob@example.net/neg", want: []string{"neg"}},
		{name: "chat to unknown resource treated as bare", typ: "chat", to: "bob@example.net/gone", want: []string{"high"}},
		{name: "groupchat to bare is an error", typ: "groupchat", to: "bob@example.net", wantError: "service-unavailable"},
		{name: "groupchat to unknown resource is an error", typ: "groupchat", to: "bob@example.net/gone", wantError: "service-unavailable"},
		{name: "chat to unknown account is an error", typ: "chat", to: "nobody@example.net", wantError: "service-unavailable"},
		{name: "chat to offline account is stored", typ: "chat", to: "carol@example.net", wantOffline: 1},
		{name: "headline to offline account is dropped", typ: "headline", to: "carol@example.net"},
		{name: "remote domain without s2s bounces", typ: "chat", to: "dave@elsewhere.example", wantError: "remote-server-not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newFake("alice@example.net/a", 0, true)
			high := newFake("bob@example.net/high", 5, true)
			low := newFake("bob@example.net/low", 1, true)
			neg := newFake("bob@example.net/neg", -1, true)
			w := newWorld(alice, high, low, neg)
			to := jid.MustParse(tt.to)
			m := msg(tt.typ, alice.JID().String(), tt.to, "hi")
			w.r.FromSession(context.Background(), alice, m, to)

			byRes := map[string]*sessiontest.Session{"high": high, "low": low, "neg": neg}
			want := map[string]bool{}
			for _, r := range tt.want {
				want[r] = true
			}
			for res, s := range byRes {
				got := len(s.Take())
				if want[res] && got != 1 {
					t.Errorf("%s got %d stanzas, want 1", res, got)
				}
				if !want[res] && got != 0 {
					t.Errorf("%s got %d stanzas, want 0", res, got)
				}
			}
			if n := len(w.off.got[jid.MustParse("carol@example.net")]); n != tt.wantOffline {
				t.Errorf("offline = %d, want %d", n, tt.wantOffline)
			}
			back := alice.Take()
			if tt.wantError == "" {
				if len(back) != 0 {
					t.Errorf("sender got %d stanzas, want none: %s", len(back), back[0])
				}
				return
			}
			if len(back) != 1 {
				t.Fatalf("sender got %d stanzas, want one error", len(back))
			}
			e := back[0]
			if e.Attr("type") != "error" || e.Attr("from") != tt.to || e.Child("", "error").Child("", tt.wantError) == nil {
				t.Errorf("bounce = %s, want %s error from %s", e, tt.wantError, tt.to)
			}
		})
	}
}

func TestOfflineQuotaLooksLikeUnknownAccount(t *testing.T) {
	alice := newFake("alice@example.net/a", 0, true)
	w := newWorld(alice)
	ctx := context.Background()
	var conds []string
	for i := 0; i < 3; i++ {
		w.r.FromSession(ctx, alice, msg("chat", alice.JID().String(), "carol@example.net", "x"), jid.MustParse("carol@example.net"))
	}
	w.r.FromSession(ctx, alice, msg("chat", alice.JID().String(), "nobody@example.net", "x"), jid.MustParse("nobody@example.net"))
	for _, e := range alice.Take() {
		conds = append(conds, e.Child("", "error").FirstElement().Local)
	}
	if len(conds) != 2 || conds[0] != conds[1] {
		t.Errorf("errors = %v; a full offline queue and a missing account must look the same", conds)
	}
}

func TestCarbons(t *testing.T) {
	alice := newFake("alice@example.net/a", 0, true)
	alice2 := newFake("alice@example.net/b", 0, true)
	alice2.State().SetCarbons(true)
	bob := newFake("bob@example.net/x", 0, true)
	bob2 := newFake("bob@example.net/y", -1, true)
	bob2.State().SetCarbons(true)
	w := newWorld(alice, alice2, bob, bob2)
	ctx := context.Background()
	w.r.FromSession(ctx, alice, msg("chat", alice.JID().String(), "bob@example.net", "hi"), jid.MustParse("bob@example.net"))

	sent := alice2.Take()
	if len(sent) != 1 || sent[0].Child(stanza.NSCarbons, "sent") == nil {
		t.Fatalf("alice/b got %v, want one sent carbon", sent)
	}
	if inner := sent[0].Child(stanza.NSCarbons, "sent").Child(stanza.NSForward, "forwarded").Child(xml.NSClient, "message"); inner == nil || inner.ChildText(xml.NSClient, "body") != "hi" {
		t.Errorf("sent carbon does not wrap the message: %s", sent[0])
	}
	if got := bob.Take(); len(got) != 1 {
		t.Errorf("bob/x got %d, want the message", len(got))
	}
	recv := bob2.Take()
	if len(recv) != 1 || recv[0].Child(stanza.NSCarbons, "received") == nil {
		t.Fatalf("bob/y got %v, want one received carbon", recv)
	}

	// <private/> is not copied.
	m := msg("chat", alice.JID().String(), "bob@example.net", "secret")
	m.Append(xml.New(stanza.NSCarbons, "private"))
	w.r.FromSession(ctx, alice, m, jid.MustParse("bob@example.net"))
	if got := alice2.Take(); len(got) != 0 {
		t.Errorf("private message copied to sender's session: %v", got)
	}
	if got := bob2.Take(); len(got) != 0 {
		t.Errorf("private message copied to recipient's session: %v", got)
	}
}

// XEP-0280 section 6, MUC rules: a private message from a room's
// occupant is not copied to the recipient's other sessions; one a session
// sends to an occupant is; invitations (direct and mediated) are copied
// even without a body.
func TestCarbonsMUC(t *testing.T) {
	alice := newFake("alice@example.net/a", 0, true)
	alice2 := newFake("alice@example.net/b", 0, true)
	alice2.State().SetCarbons(true)
	w := newWorld(alice, alice2)
	ctx := context.Background()
	const occupant = "room@conference.example.net/bob"

	pm := msg("chat", occupant, alice.JID().String(), "psst")
	pm.Append(xml.New(stanza.NSMUCUser, "x"))
	w.r.Route(ctx, pm, jid.MustParse(occupant), alice.JID())
	if got := alice.Take(); len(got) != 1 {
		t.Fatalf("alice/a got %v, want the private message", got)
	}
	if got := alice2.Take(); len(got) != 0 {
		t.Errorf("a received private message was copied: %v", got)
	}

	out := msg("chat", alice.JID().String(), occupant, "back")
	out.Append(xml.New(stanza.NSMUCUser, "x"))
	w.r.FromSession(ctx, alice, out, jid.MustParse(occupant))
	if got := alice2.Take(); len(got) != 1 || got[0].Child(stanza.NSCarbons, "sent") == nil {
		t.Errorf("a sent private message was not copied: %v", got)
	}

	for name, x := range map[string]*xml.Element{
		"direct":   xml.New("jabber:x:conference", "x", "jid", "room@conference.example.net"),
		"mediated": xml.New(stanza.NSMUCUser, "x").Append(xml.New(stanza.NSMUCUser, "invite", "from", "carol@example.net")),
	} {
		inv := msg("normal", "room@conference.example.net", alice.JID().String(), "")
		inv.Append(x)
		w.r.Route(ctx, inv, jid.MustParse("room@conference.example.net"), alice.JID())
		alice.Take()
		if got := alice2.Take(); len(got) != 1 || got[0].Child(stanza.NSCarbons, "received") == nil {
			t.Errorf("%s invitation not copied: %v", name, got)
		}
	}
}

func TestRerouteGoesToOtherResourceOrOffline(t *testing.T) {
	bob := newFake("bob@example.net/x", 0, true)
	bob2 := newFake("bob@example.net/y", 0, true)
	w := newWorld(bob, bob2)
	ctx := context.Background()
	m := msg("chat", "alice@example.net/a", "bob@example.net/x", "hi")
	w.r.Reroute(ctx, m, bob, nil)
	if got := bob2.Take(); len(got) != 1 {
		t.Fatalf("other resource got %d, want 1", len(got))
	}
	w.r.Registry().Remove(bob2)
	w.r.Reroute(ctx, m, bob, nil)
	if n := len(w.off.got[jid.MustParse("bob@example.net")]); n != 1 {
		t.Errorf("offline = %d, want 1", n)
	}
	// Groupchat and headline are not rerouted.
	w.r.Reroute(ctx, msg("headline", "news@example.net", "bob@example.net/x", "x"), bob, nil)
	if n := len(w.off.got[jid.MustParse("bob@example.net")]); n != 1 {
		t.Errorf("offline = %d after headline, want 1", n)
	}
}

func TestRegistryReplace(t *testing.T) {
	reg := router.NewRegistry()
	a := newFake("alice@example.net/a", 0, false)
	a2 := newFake("alice@example.net/a", 0, false)
	b := newFake("alice@example.net/b", 0, false)
	if old := reg.Add(a); old != nil {
		t.Fatal("unexpected replace")
	}
	reg.Add(b)
	if old := reg.Add(a2); old != router.Session(a) {
		t.Fatalf("replace returned %v, want the first session", old)
	}
	if reg.Remove(a) {
		t.Error("removing a replaced session must not remove its successor")
	}
	if reg.Get(jid.MustParse("alice@example.net/a")) != router.Session(a2) {
		t.Error("Get does not return the new session")
	}
	if n := len(reg.Sessions(jid.MustParse("alice@example.net"))); n != 2 || reg.Len() != 2 {
		t.Errorf("sessions = %d, len = %d, want 2", n, reg.Len())
	}
}

// TestOfflineStoreRacesComingOnline forces the race between storing a
// message for an account with no available resource and that account's
// first resource becoming available: the resource's initial presence
// marks it available and flushes offline storage after the router found
// nobody available but before the message was stored. The message must
// reach the resource, not wait offline for the next login.
func TestOfflineStoreRacesComingOnline(t *testing.T) {
	for _, path := range []string{"deliver", "reroute"} {
		t.Run(path, func(t *testing.T) {
			ctx := context.Background()
			alice := newFake("alice@example.net/a", 0, true)
			bob := newFake("bob@example.net/laptop", 0, false)
			dead := newFake("bob@example.net/phone", 0, false)
			w := newWorld(alice, bob)
			w.off.beforeStore = func() {
				// What presence does for an initial presence.
				bob.State().SetPresence(xml.New(xml.NSClient, "presence"), true, 0)
				if _, err := w.off.Flush(ctx, bob); err != nil {
					t.Error(err)
				}
			}
			switch path {
			case "deliver":
				m := msg("chat", alice.JID().String(), "bob@example.net", "hi")
				w.r.FromSession(ctx, alice, m, jid.MustParse("bob@example.net"))
			case "reroute":
				m := msg("chat", alice.JID().String(), "bob@example.net/phone", "hi")
				w.r.Reroute(ctx, m, dead, nil)
			}
			if got := len(bob.Take()); got != 1 {
				t.Errorf("the resource that came online got %d messages, want 1", got)
			}
			if n := w.off.stored("bob@example.net"); n != 0 {
				t.Errorf("%d messages wait offline for an account that is online", n)
			}
		})
	}
}

// TestRerouteForkedMessage checks a chat message to a bare JID that was
// forked to two equal-priority resources: when one resource dies without
// its copy delivered, the other, which has its own, must not get it a
// second time; only when every copy died undelivered does it go offline,
// once; and once a copy was delivered, none is rerouted.
func TestRerouteForkedMessage(t *testing.T) {
	ctx := context.Background()
	fork := func(t *testing.T) (w *world, x, y *sessiontest.Session, ex, ey *xml.Element, fx, fy *router.Fork) {
		alice := newFake("alice@example.net/a", 0, true)
		x = newFake("bob@example.net/x", 0, true)
		y = newFake("bob@example.net/y", 0, true)
		w = newWorld(alice, x, y)
		m := msg("chat", alice.JID().String(), "bob@example.net", "hi")
		w.r.FromSession(ctx, alice, m, jid.MustParse("bob@example.net"))
		gx, kx := x.TakeForked()
		gy, ky := y.TakeForked()
		if len(gx) != 1 || len(gy) != 1 {
			t.Fatalf("fork: x got %d, y got %d, want 1 each", len(gx), len(gy))
		}
		return w, x, y, gx[0], gy[0], kx[0], ky[0]
	}
	t.Run("one copy dies, then the other", func(t *testing.T) {
		w, x, y, ex, ey, fx, fy := fork(t)
		// x dies with its copy undelivered (c2s removes it first).
		w.r.Registry().Remove(x)
		w.r.Reroute(ctx, ex, x, fx)
		if got := len(y.Take()); got != 0 {
			t.Errorf("y got %d more copies of a message it has", got)
		}
		if n := w.off.stored("bob@example.net"); n != 0 {
			t.Errorf("%d offline copies while y has the message", n)
		}
		// y dies too: no copy was delivered, so the message waits offline.
		w.r.Registry().Remove(y)
		w.r.Reroute(ctx, ey, y, fy)
		if n := w.off.stored("bob@example.net"); n != 1 {
			t.Errorf("%d offline copies after every copy died, want 1", n)
		}
	})
	t.Run("both die together", func(t *testing.T) {
		w, x, y, ex, ey, fx, fy := fork(t)
		w.r.Registry().Remove(x)
		w.r.Registry().Remove(y)
		w.r.Reroute(ctx, ex, x, fx)
		w.r.Reroute(ctx, ey, y, fy)
		if n := w.off.stored("bob@example.net"); n != 1 {
			t.Errorf("%d offline copies, want 1", n)
		}
	})
	t.Run("one copy delivered", func(t *testing.T) {
		w, x, y, _, ey, fx, fy := fork(t)
		fx.Delivered() // x's client acknowledged it, then x went away
		w.r.Registry().Remove(x)
		w.r.Registry().Remove(y)
		w.r.Reroute(ctx, ey, y, fy)
		if n := w.off.stored("bob@example.net"); n != 0 {
			t.Errorf("%d offline copies of a message a client received", n)
		}
	})
	t.Run("a third resource that did not get it", func(t *testing.T) {
		w, x, y, ex, ey, fx, fy := fork(t)
		low := newFake("bob@example.net/low", -1, true)
		w.r.Registry().Add(low)
		w.r.Registry().Remove(x)
		w.r.Reroute(ctx, ex, x, fx)
		w.r.Registry().Remove(y)
		w.r.Reroute(ctx, ey, y, fy)
		// A negative priority gets no bare-JID messages; offline does.
		if n := w.off.stored("bob@example.net"); n != 1 {
			t.Errorf("%d offline copies, want 1", n)
		}
		if got := len(low.Take()); got != 0 {
			t.Errorf("negative-priority resource got %d", got)
		}
	})
}
