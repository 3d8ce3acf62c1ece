package presence

import (
	"context"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// The presence a session sends is broadcast on its own goroutine; a
// probe's answer (RFC 6121 4.3.2), the presence a new subscriber is sent
// (3.1.5) and the siblings' presence a new resource learns (4.2.2) are
// read from the session's state on another one. Whatever the
// interleaving, the last presence a recipient gets from a full JID must
// be that session's newest (RFC 6121 4.4.2: the client keeps the last
// one), also when it became unavailable meanwhile. These tests make the
// session send its next presence exactly between the read of its state
// and the delivery of what was read.

// beforeOnce is an interceptor that runs f, once, when the first stanza
// to a local account that match accepts passes it, before the stanza
// goes on.
type beforeOnce struct {
	match func(el *xml.Element, to jid.JID) bool
	f     func()
	done  bool
}

func (b *beforeOnce) FromSession(context.Context, router.Session, *xml.Element, jid.JID) bool {
	return false
}

func (b *beforeOnce) ToLocal(_ context.Context, el *xml.Element, _, to jid.JID) bool {
	if !b.done && b.match(el, to) {
		b.done = true
		b.f()
	}
	return false
}

// presenceWith matches available presence from from with <show/> show.
func presenceWith(from, show string) func(el *xml.Element, to jid.JID) bool {
	return func(el *xml.Element, _ jid.JID) bool {
		return el.Local == stanza.Presence && el.Attr("type") == "" && el.Attr("from") == from && el.ChildText("", "show") == show
	}
}

// last describes the last presence from from among els: "unavailable",
// or "available" and its <show/>; "" when there is none.
func last(els []*xml.Element, from string) string {
	got := ""
	for _, el := range els {
		if el.Local != stanza.Presence || el.Attr("from") != from {
			continue
		}
		switch typ := el.Attr("type"); typ {
		case "":
			got = "available " + el.ChildText("", "show")
		default:
			got = typ
		}
	}
	return got
}

func TestProbeAnswerNotAfterNewerPresence(t *testing.T) {
	for _, tc := range []struct {
		name, next, want string
	}{
		{"newer available", `<presence><show>dnd</show></presence>`, "available dnd"},
		{"unavailable", `<presence type='unavailable'/>`, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.setItem("alice", "bob@example.net", "from")
			e.setItem("bob", "alice@example.net", "to")
			a := e.login("alice@example.net/a")
			e.send(a, `<presence><show>away</show></presence>`)
			b := e.login("bob@example.net/b")
			hook := &beforeOnce{match: presenceWith("alice@example.net/a", "away"), f: func() { e.send(a, tc.next) }}
			e.r.AddInterceptor(hook)
			e.send(b, `<presence/>`) // probes alice
			if !hook.done {
				t.Fatal("the probe was not answered with alice's presence")
			}
			if got := last(b.Take(), "alice@example.net/a"); got != tc.want {
				t.Errorf("bob's last presence from alice/a: %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewSubscriberPresenceNotAfterNewerPresence(t *testing.T) {
	e := newEnv(t)
	a := e.login("alice@example.net/a")
	e.send(a, `<presence><show>away</show></presence>`)
	b := e.online("bob@example.net/b", "0")
	e.send(b, `<presence to='alice@example.net' type='subscribe'/>`)
	hook := &beforeOnce{match: presenceWith("alice@example.net/a", "away"), f: func() { e.send(a, `<presence><show>dnd</show></presence>`) }}
	e.r.AddInterceptor(hook)
	e.send(a, `<presence to='bob@example.net' type='subscribed'/>`)
	if !hook.done {
		t.Fatal("bob was not sent alice's presence on approval")
	}
	if got := last(b.Take(), "alice@example.net/a"); got != "available dnd" {
		t.Errorf("bob's last presence from alice/a: %q, want %q", got, "available dnd")
	}
}

// hookedSession runs before, once, ahead of the first delivery that
// match accepts.
type hookedSession struct {
	*sessiontest.Session
	match  func(el *xml.Element, to jid.JID) bool
	before func()
	done   bool
}

func (s *hookedSession) Deliver(el *xml.Element) bool {
	if !s.done && s.match(el, s.JID()) {
		s.done = true
		s.before()
	}
	return s.Session.Deliver(el)
}

func TestSiblingPresenceNotAfterNewerPresence(t *testing.T) {
	for _, tc := range []struct {
		name, next, want string
	}{
		{"newer available", `<presence><show>dnd</show></presence>`, "available dnd"},
		{"unavailable", `<presence type='unavailable'/>`, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			one := e.login("alice@example.net/one")
			e.send(one, `<presence><show>away</show></presence>`)
			two := &hookedSession{
				Session: sessiontest.New("alice@example.net/two"),
				match:   presenceWith("alice@example.net/one", "away"),
				before:  func() { e.send(one, tc.next) },
			}
			e.r.Registry().Add(two)
			el := parse(t, `<presence/>`)
			el.SetAttr("from", two.JID().String())
			e.r.FromSession(e.ctx, two, el, jid.JID{})
			if !two.done {
				t.Fatal("the new resource was not sent its sibling's presence")
			}
			if got := last(two.Take(), "alice@example.net/one"); got != tc.want {
				t.Errorf("last presence from alice/one: %q, want %q", got, tc.want)
			}
		})
	}
}
