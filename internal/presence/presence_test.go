package presence

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"minimix/internal/c2s"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/offline"
	"minimix/internal/roster"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
)

// The composition root passes the Service as the c2s session hook.
var _ c2s.Hooks = (*Service)(nil)

// taken returns what s received since the last take, each described by
// describe, sorted: the order of fan-out is not part of the protocol.
func taken(s *sessiontest.Session) []string {
	var out []string
	for _, el := range s.Take() {
		out = append(out, describe(el))
	}
	slices.Sort(out)
	return out
}

// describe summarises a received stanza: "<type> <from>" for presence
// (with /prio=N when it carries a priority), "push <jid> <sub> [ask]
// [approved]" for roster pushes, "message <body> [delayed]" for messages.
func describe(el *xml.Element) string {
	switch el.Local {
	case stanza.Presence:
		s := stanza.Type(el) + " " + el.Attr("from")
		if p := el.Child("", "priority"); p != nil {
			s += " prio=" + p.Text()
		}
		return s
	case stanza.IQ:
		q := el.Child(roster.NS, "query")
		if el.Attr("type") != "set" || q == nil || q.FirstElement() == nil {
			return "iq " + el.Attr("type") + " " + el.Attr("id")
		}
		it := q.FirstElement()
		s := "push " + it.Attr("jid") + " " + it.Attr("subscription")
		if it.Attr("ask") != "" {
			s += " ask"
		}
		if it.Attr("approved") != "" {
			s += " approved"
		}
		return s
	case stanza.Message:
		s := "message " + el.ChildText("", "body")
		if el.Child(stanza.NSDelay, "delay") != nil {
			s += " delayed"
		}
		return s
	}
	return el.String()
}

// handlers wire the router to the services under test, as the server's
// composition root does.
type handlers struct {
	mux   *iq.Mux
	store storage.Store
	r     *router.Router
	p     *Service
}

func (h *handlers) ServerStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {}

func (h *handlers) AccountIQ(ctx context.Context, el *xml.Element, from, to jid.JID) {
	target := iq.Account
	if from.Bare() == to {
		target = iq.Self
	}
	if reply := h.mux.Serve(ctx, el, from, to, target); reply != nil {
		h.r.RouteElement(ctx, reply)
	}
}

func (h *handlers) Presence(ctx context.Context, el *xml.Element, from, to jid.JID) {
	h.p.Presence(ctx, el, from, to)
}

func (h *handlers) SessionPresence(ctx context.Context, s router.Session, el *xml.Element, to jid.JID) {
	h.p.SessionPresence(ctx, s, el, to)
}

func (h *handlers) AccountExists(ctx context.Context, local string) bool {
	ok, _ := h.store.AccountExists(ctx, local)
	return ok
}

type env struct {
	t     *testing.T
	ctx   context.Context
	store storage.Store
	r     *router.Router
	p     *Service
	off   *offline.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		if err := db.CreateAccount(ctx, u, storage.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	h := &handlers{mux: iq.NewMux(nil), store: db}
	r := router.New(router.Config{Domain: "example.net", Registry: router.NewRegistry(), Handlers: h})
	h.r = r
	rs := roster.New(db, r, nil)
	rs.Register(h.mux)
	off := offline.New(db, r, 100, "example.net", nil)
	r.SetOffline(off)
	h.p = New(Config{Domain: "example.net", Store: db, Router: r, Roster: rs, Offline: off})
	return &env{t: t, ctx: ctx, store: db, r: r, p: h.p, off: off}
}

// login binds a session that has fetched its roster (so that it gets
// pushes) but sent no presence.
func (e *env) login(full string) *sessiontest.Session {
	s := sessiontest.New(full)
	e.r.Registry().Add(s)
	s.State().SetRosterRequested()
	return s
}

// online binds a session and sends initial presence with priority prio;
// what it received on the way is discarded.
func (e *env) online(full, prio string) *sessiontest.Session {
	s := e.login(full)
	e.send(s, `<presence><priority>`+prio+`</priority></presence>`)
	taken(s)
	return s
}

// logout ends a session as c2s does: out of the registry, then the hook.
func (e *env) logout(s *sessiontest.Session) {
	e.r.Registry().Remove(s)
	e.p.SessionEnded(e.ctx, s)
}

// send has s send a stanza written in XML (jabber:client by default).
func (e *env) send(s *sessiontest.Session, stanzaXML string) {
	e.t.Helper()
	el := parse(e.t, stanzaXML)
	el.SetAttr("from", s.JID().String())
	to, err := stanza.To(el)
	if err != nil {
		e.t.Fatal(err)
	}
	e.r.FromSession(e.ctx, s, el, to)
}

func parse(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	stanza.SetSpace(el, "", xml.NSClient)
	return el
}

// setItem stores user's item directly, as a starting state.
func (e *env) setItem(user, contact, state string) {
	e.t.Helper()
	it, _ := parseState(e.t, state)
	it.Contact = contact
	if _, err := e.store.PutRosterItem(e.ctx, user, it); err != nil {
		e.t.Fatal(err)
	}
}

// state returns user's item for contact in parseState's notation.
func (e *env) state(user, contact string) string {
	e.t.Helper()
	it, err := e.store.RosterItem(e.ctx, user, contact)
	if err != nil {
		return "absent"
	}
	return stateString(it)
}

func (e *env) expect(what string, s *sessiontest.Session, want ...string) {
	e.t.Helper()
	got := taken(s)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		e.t.Errorf("%s: %s got\n\t%s\nwant\n\t%s", what, s.JID(), strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestHandshake runs the full subscription handshake between two local
// accounts, both ways, then takes it apart again, checking what each side
// sees and stores at every step (RFC 6121 3.1 to 3.3).
func TestHandshake(t *testing.T) {
	e := newEnv(t)
	a := e.online("alice@example.net/a", "1")
	b := e.online("bob@example.net/b", "1")

	steps := []struct {
		from         *sessiontest.Session
		send         string
		alice, bob   []string // what each session receives
		aliceS, bobS string   // alice's item for bob, bob's for alice
	}{
		{a, `<presence to='bob@example.net' type='subscribe'/>`,
			[]string{"push bob@example.net none ask"},
			[]string{"subscribe alice@example.net"},
			"none+out", "none+in+hidden"},
		// A repeated request changes nothing and is not redelivered.
		{a, `<presence to='bob@example.net/b' type='subscribe'/>`,
			nil, nil,
			"none+out", "none+in+hidden"},
		{b, `<presence to='alice@example.net' type='subscribed'/>`,
			[]string{"push bob@example.net to", "subscribed bob@example.net", "available bob@example.net/b prio=1"},
			[]string{"push alice@example.net from"},
			"to", "from"},
		{b, `<presence to='alice@example.net' type='subscribe'/>`,
			[]string{"subscribe bob@example.net"},
			[]string{"push alice@example.net from ask"},
			"to+in", "from+out"},
		{a, `<presence to='bob@example.net' type='subscribed'/>`,
			[]string{"push bob@example.net both"},
			[]string{"push alice@example.net both", "subscribed alice@example.net", "available alice@example.net/a prio=1"},
			"both", "both"},
		// Presence now flows both ways.
		{a, `<presence><show>away</show></presence>`,
			[]string{"available alice@example.net/a"},
			[]string{"available alice@example.net/a"},
			"both", "both"},
		// Alice cancels bob's subscription to her (3.2).
		{a, `<presence to='bob@example.net' type='unsubscribed'/>`,
			[]string{"push bob@example.net to"},
			[]string{"push alice@example.net from", "unsubscribed alice@example.net", "unavailable alice@example.net/a"},
			"to", "from"},
		{a, `<presence><show>dnd</show></presence>`,
			[]string{"available alice@example.net/a"},
			nil,
			"to", "from"},
		// Alice unsubscribes from bob (3.3).
		// Bob's server tells alice, who no longer has a subscription,
		// that bob is unavailable (3.3.3).
		{a, `<presence to='bob@example.net' type='unsubscribe'/>`,
			[]string{"push bob@example.net none", "unavailable bob@example.net/b"},
			[]string{"push alice@example.net none", "unsubscribe alice@example.net"},
			"none", "none"},
		{b, `<presence/>`,
			nil,
			[]string{"available bob@example.net/b"},
			"none", "none"},
	}
	for i, st := range steps {
		e.send(st.from, st.send)
		e.expect(fmt.Sprintf("step %d (%s) alice", i+1, st.send), a, st.alice...)
		e.expect(fmt.Sprintf("step %d (%s) bob", i+1, st.send), b, st.bob...)
		if got := e.state("alice", "bob@example.net"); got != st.aliceS {
			t.Errorf("step %d: alice's item %s, want %s", i+1, got, st.aliceS)
		}
		if got := e.state("bob", "alice@example.net"); got != st.bobS {
			t.Errorf("step %d: bob's item %s, want %s", i+1, got, st.bobS)
		}
	}
}

// TestDenyAndWithdraw covers requests that are refused or withdrawn.
func TestDenyAndWithdraw(t *testing.T) {
	e := newEnv(t)
	a := e.online("alice@example.net/a", "0")
	b := e.online("bob@example.net/b", "0")

	// Bob denies alice's request: alice's pending state ends, bob keeps no item.
	e.send(a, `<presence to='bob@example.net' type='subscribe'/>`)
	taken(a)
	taken(b)
	e.send(b, `<presence to='alice@example.net' type='unsubscribed'/>`)
	e.expect("denied", a, "push bob@example.net none", "unsubscribed bob@example.net")
	e.expect("denier", b)
	if got := e.state("bob", "alice@example.net"); got != "absent" {
		t.Errorf("bob remembers a denied request: %s", got)
	}
	if got := e.state("alice", "bob@example.net"); got != "none" {
		t.Errorf("alice's item %s", got)
	}

	// Alice asks again and withdraws (unsubscribe cancels the request).
	e.send(a, `<presence to='bob@example.net' type='subscribe'/>`)
	taken(a)
	e.expect("asked again", b, "subscribe alice@example.net")
	e.send(a, `<presence to='bob@example.net' type='unsubscribe'/>`)
	e.expect("withdrawn", a, "push bob@example.net none")
	e.expect("withdrawn", b, "unsubscribe alice@example.net")
	if got := e.state("bob", "alice@example.net"); got != "absent" {
		t.Errorf("bob remembers a withdrawn request: %s", got)
	}
}

// TestPreApproval covers RFC 6121 3.4: a pre-approved contact's request is
// answered by the server, and the contact gets presence at once.
func TestPreApproval(t *testing.T) {
	e := newEnv(t)
	a := e.online("alice@example.net/a", "0")
	b := e.online("bob@example.net/b", "0")

	e.send(a, `<presence to='bob@example.net' type='subscribed'/>`)
	e.expect("pre-approver", a, "push bob@example.net none approved")
	e.expect("pre-approved", b) // the contact is not told
	if got := e.state("alice", "bob@example.net"); got != "none+approved" {
		t.Fatalf("alice's item %s", got)
	}

	e.send(b, `<presence to='alice@example.net' type='subscribe'/>`)
	e.expect("pre-approver", a, "push bob@example.net from")
	e.expect("requester", b, "push alice@example.net none ask", "push alice@example.net to",
		"subscribed alice@example.net", "available alice@example.net/a prio=0")
	if got := e.state("alice", "bob@example.net"); got != "from" {
		t.Errorf("alice's item %s", got)
	}

	// A pre-approval can be withdrawn with unsubscribed.
	e.send(a, `<presence to='carol@example.net' type='subscribed'/>`)
	e.send(a, `<presence to='carol@example.net' type='unsubscribed'/>`)
	e.expect("withdrawn", a, "push carol@example.net none approved", "push carol@example.net none")
	if got := e.state("alice", "carol@example.net"); got != "none" {
		t.Errorf("alice's item for carol %s", got)
	}
}

// TestAlreadySubscribedRequest checks that a request from a contact that
// already has a subscription is answered by the server (3.1.3).
func TestAlreadySubscribedRequest(t *testing.T) {
	e := newEnv(t)
	e.setItem("alice", "bob@example.net", "from")
	e.setItem("bob", "alice@example.net", "none+out")
	a := e.online("alice@example.net/a", "3")
	b := e.online("bob@example.net/b", "0")
	e.send(b, `<presence to='alice@example.net' type='subscribe'/>`)
	e.expect("user", a)
	e.expect("contact", b, "push alice@example.net to", "subscribed alice@example.net", "available alice@example.net/a prio=3")
}

// TestPendingRedelivery checks that unanswered requests reach each
// resource at its initial presence, and stop once answered (3.1.3).
func TestPendingRedelivery(t *testing.T) {
	e := newEnv(t)
	b := e.online("bob@example.net/b", "0")
	e.send(b, `<presence to='alice@example.net' type='subscribe'><status>hi, it is Bob</status></presence>`)
	taken(b)
	if got := e.state("alice", "bob@example.net"); got != "none+in+hidden" {
		t.Fatalf("request not stored: %s", got)
	}

	a1 := e.login("alice@example.net/one")
	e.send(a1, `<presence/>`)
	e.expect("first login", a1, "available alice@example.net/one", "subscribe bob@example.net")
	a2 := e.login("alice@example.net/two")
	e.send(a2, `<presence><priority>-1</priority></presence>`)
	e.expect("second login", a2, "available alice@example.net/one", "available alice@example.net/two prio=-1",
		"subscribe bob@example.net")
	e.expect("second login seen by first", a1, "available alice@example.net/two prio=-1")

	// The stored request keeps its payload and bare addresses.
	it, err := e.store.RosterItem(e.ctx, "alice", "bob@example.net")
	if err != nil {
		t.Fatal(err)
	}
	req, err := stanza.Decode(it.PendingInStanza, stanza.Presence)
	if err != nil {
		t.Fatal(err)
	}
	if req.Attr("from") != "bob@example.net" || req.Attr("to") != "alice@example.net" || req.ChildText(xml.NSClient, "status") != "hi, it is Bob" {
		t.Errorf("stored request %s", req)
	}

	e.send(a1, `<presence to='bob@example.net' type='subscribed'/>`)
	taken(a1)
	taken(a2)
	e.logout(a1)
	e.logout(a2)
	a3 := e.login("alice@example.net/three")
	e.send(a3, `<presence/>`)
	e.expect("after approval", a3, "available alice@example.net/three")
}

// TestInitialPresence checks what initial presence does (RFC 6121 4.2):
// probes to the contacts the user is subscribed to, broadcast to the
// subscribers only, and the account's own resources.
func TestInitialPresence(t *testing.T) {
	e := newEnv(t)
	// bob: mutual; carol: subscribed to alice; dave: alice subscribed to dave.
	e.setItem("alice", "bob@example.net", "both")
	e.setItem("bob", "alice@example.net", "both")
	e.setItem("alice", "carol@example.net", "from")
	e.setItem("carol", "alice@example.net", "to")
	e.setItem("alice", "dave@example.net", "to")
	e.setItem("dave", "alice@example.net", "from")
	b := e.online("bob@example.net/b", "0")
	c := e.online("carol@example.net/c", "0")
	d := e.online("dave@example.net/d", "0")
	taken(c)

	a1 := e.login("alice@example.net/one")
	e.send(a1, `<presence><priority>5</priority><status>here</status></presence>`)
	e.expect("alice", a1, "available alice@example.net/one prio=5", "available bob@example.net/b prio=0", "available dave@example.net/d prio=0")
	e.expect("bob", b, "available alice@example.net/one prio=5")
	e.expect("carol", c, "available alice@example.net/one prio=5")
	e.expect("dave", d)
	if avail, prio := a1.State().Available(); !avail || prio != 5 {
		t.Errorf("state: available %v priority %d", avail, prio)
	}
	if p := a1.State().Presence(); p == nil || p.Attr("from") != "alice@example.net/one" || p.ChildText("", "status") != "here" {
		t.Errorf("stored presence %v", p)
	}

	// A second resource sees the first; the first sees the second.
	a2 := e.login("alice@example.net/two")
	e.send(a2, `<presence><priority>-300</priority></presence>`)
	e.expect("second", a2, "available alice@example.net/one prio=5", "available alice@example.net/two prio=-300",
		"available bob@example.net/b prio=0", "available dave@example.net/d prio=0")
	// Probes come from the bare JID, so their answers reach every
	// resource (RFC 6121 4.3.1).
	e.expect("first", a1, "available alice@example.net/two prio=-300",
		"available bob@example.net/b prio=0", "available dave@example.net/d prio=0")
	if _, prio := a2.State().Available(); prio != -128 {
		t.Errorf("priority -300 stored as %d", prio)
	}
	taken(b)
	taken(c)

	// Dave probes alice (he has from only: not entitled). The answer is
	// unsubscribed, which changes nothing for dave, so he sees nothing.
	e.p.Presence(e.ctx, xml.New(xml.NSClient, "presence", "type", "probe"), jid.MustParse("dave@example.net"), jid.MustParse("alice@example.net"))
	e.expect("dave's probe", d)
	// Bob probes alice: both resources answer.
	e.p.Presence(e.ctx, xml.New(xml.NSClient, "presence", "type", "probe"), jid.MustParse("bob@example.net"), jid.MustParse("alice@example.net"))
	e.expect("bob's probe", b, "available alice@example.net/one prio=5", "available alice@example.net/two prio=-300")

	// Unavailable goes to subscribers and the other resource only.
	e.send(a1, `<presence type='unavailable'/>`)
	e.expect("bob", b, "unavailable alice@example.net/one")
	e.expect("carol", c, "unavailable alice@example.net/one")
	e.expect("dave", d)
	e.expect("other resource", a2, "unavailable alice@example.net/one")
	e.expect("sender", a1)
	e.logout(a2)
	e.expect("bob", b, "unavailable alice@example.net/two")
	e.expect("carol", c, "unavailable alice@example.net/two")

	// Nobody available: a probe gets unavailable from the bare JID.
	e.p.Presence(e.ctx, xml.New(xml.NSClient, "presence", "type", "probe"), jid.MustParse("bob@example.net"), jid.MustParse("alice@example.net"))
	e.expect("bob's probe", b, "unavailable alice@example.net")
}

// TestProbeRepairsState checks that a probe from a contact the user does
// not share a subscription with (a stale state on the contact's side, or
// an account that no longer exists) is answered with unsubscribed, which
// repairs the prober's roster (RFC 6121 4.3.2), and that the two cases
// look the same to the prober.
func TestProbeRepairsState(t *testing.T) {
	e := newEnv(t)
	e.setItem("bob", "alice@example.net", "to")
	e.setItem("bob", "nobody@example.net", "to")
	e.online("alice@example.net/a", "0")
	b := e.login("bob@example.net/b")
	e.send(b, `<presence/>`) // probes both
	e.expect("prober", b, "available bob@example.net/b",
		"push alice@example.net none", "unsubscribed alice@example.net",
		"push nobody@example.net none", "unsubscribed nobody@example.net")
	for _, to := range []string{"alice@example.net", "nobody@example.net"} {
		if got := e.state("bob", to); got != "none" {
			t.Errorf("bob's item for %s: %s", to, got)
		}
	}
}

// TestUnknownAccount checks that presence to an account that does not
// exist is dropped without a trace.
func TestUnknownAccount(t *testing.T) {
	e := newEnv(t)
	b := e.online("bob@example.net/b", "0")

	for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed", "", "unavailable", "error"} {
		e.send(b, `<presence to='nobody@example.net' type='`+typ+`'/>`)
	}
	for _, got := range taken(b) {
		if !strings.HasPrefix(got, "push ") { // bob's own roster changes
			t.Errorf("sender got %s", got)
		}
	}
	items, _, err := e.store.RosterItems(e.ctx, "nobody")
	if err != nil || len(items) != 0 {
		t.Errorf("roster of a missing account: %v, %v", items, err)
	}
}

// TestRosterRemove checks that removing a mutual contact through the
// roster cancels both subscriptions on the contact's side too (RFC 6121
// 2.5.2).
func TestRosterRemove(t *testing.T) {
	e := newEnv(t)
	e.setItem("alice", "bob@example.net", "both")
	e.setItem("bob", "alice@example.net", "both")
	a := e.online("alice@example.net/a", "0")
	b := e.online("bob@example.net/b", "0")
	taken(a)
	e.send(a, `<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='bob@example.net' subscription='remove'/></query></iq>`)
	e.expect("remover", a, "iq result rm", "push bob@example.net remove", "unavailable bob@example.net/b")
	e.expect("contact", b, "push alice@example.net to", "push alice@example.net none",
		"unsubscribe alice@example.net", "unsubscribed alice@example.net", "unavailable alice@example.net/a")
	if got := e.state("bob", "alice@example.net"); got != "none" {
		t.Errorf("bob's item %s", got)
	}
	// Bob no longer gets alice's presence, nor alice bob's.
	e.send(a, `<presence><show>away</show></presence>`)
	e.send(b, `<presence><show>away</show></presence>`)
	e.expect("remover", a, "available alice@example.net/a")
	e.expect("contact", b, "available bob@example.net/b")
}

// TestDirectedPresence checks RFC 6121 4.6: directed presence reaches its
// target, and its unavailable counterpart follows when the session ends.
func TestDirectedPresence(t *testing.T) {
	e := newEnv(t)
	e.setItem("alice", "bob@example.net", "from")
	e.setItem("bob", "alice@example.net", "to")
	a := e.online("alice@example.net/a", "0")
	b := e.online("bob@example.net/b", "0")
	c := e.online("carol@example.net/c", "0")
	d := e.online("dave@example.net/d", "0")
	taken(b)

	e.send(a, `<presence to='carol@example.net/c'><show>chat</show></presence>`)
	e.send(a, `<presence to='bob@example.net/b'/>`) // a subscriber: not remembered
	e.send(a, `<presence to='dave@example.net'/>`)
	e.send(a, `<presence to='dave@example.net' type='unavailable'/>`) // undone
	e.expect("carol", c, "available alice@example.net/a")
	e.expect("bob", b, "available alice@example.net/a")
	e.expect("dave", d, "available alice@example.net/a", "unavailable alice@example.net/a")
	e.expect("alice", a)

	e.logout(a)
	e.expect("carol", c, "unavailable alice@example.net/a")
	e.expect("bob", b, "unavailable alice@example.net/a")
	e.expect("dave", d)

	// Directed presence from a session that never became available is
	// undone too.
	a2 := e.login("alice@example.net/quiet")
	e.send(a2, `<presence to='carol@example.net/c'/>`)
	e.logout(a2)
	e.expect("carol", c, "available alice@example.net/quiet", "unavailable alice@example.net/quiet")
	e.expect("bob", b)
}

// TestInboundAvailability checks delivery of presence from anyone to a
// bare JID (every available resource) and to a full JID (that one).
func TestInboundAvailability(t *testing.T) {
	e := newEnv(t)
	a1 := e.online("alice@example.net/one", "1")
	a2 := e.online("alice@example.net/two", "-5")
	a3 := e.login("alice@example.net/idle")
	taken(a1)
	from := jid.MustParse("stranger@example.org/x")
	p := xml.New(xml.NSClient, "presence", "from", from.String())

	e.p.Presence(e.ctx, p, from, jid.MustParse("alice@example.net"))
	e.expect("one", a1, "available stranger@example.org/x")
	e.expect("two", a2, "available stranger@example.org/x")
	e.expect("idle", a3)

	e.p.Presence(e.ctx, p, from, jid.MustParse("alice@example.net/idle"))
	e.p.Presence(e.ctx, p, from, jid.MustParse("alice@example.net/gone"))
	e.expect("one", a1)
	e.expect("idle", a3, "available stranger@example.org/x")
}

// TestOfflineFlush checks that stored messages reach the first resource
// with non-negative priority, stamped, and are then deleted (XEP-0160).
func TestOfflineFlush(t *testing.T) {
	e := newEnv(t)
	bob := jid.MustParse("bob@example.net/b")
	for _, body := range []string{"one", "two"} {
		m := xml.New(xml.NSClient, "message", "type", "chat", "from", bob.String(), "to", "alice@example.net")
		m.Append(xml.New(xml.NSClient, "body").AppendText(body))
		e.r.Route(e.ctx, m, bob, jid.MustParse("alice@example.net"))
	}
	if n, _ := e.store.CountOffline(e.ctx, "alice"); n != 2 {
		t.Fatalf("%d messages stored offline", n)
	}

	a := e.login("alice@example.net/a")
	e.send(a, `<presence><priority>-1</priority></presence>`)
	e.expect("negative priority", a, "available alice@example.net/a prio=-1")
	e.send(a, `<presence><priority>0</priority></presence>`)
	e.expect("priority raised", a, "available alice@example.net/a prio=0", "message one delayed", "message two delayed")
	if n, _ := e.store.CountOffline(e.ctx, "alice"); n != 0 {
		t.Errorf("%d messages left", n)
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		xml  string
		want int
	}{
		{`<presence/>`, 0},
		{`<presence><priority>5</priority></presence>`, 5},
		{`<presence><priority> -3 </priority></presence>`, -3},
		{`<presence><priority>200</priority></presence>`, 127},
		{`<presence><priority>-1000</priority></presence>`, -128},
		{`<presence><priority>99999999999999999999999</priority></presence>`, 127},
		{`<presence><priority>-99999999999999999999999</priority></presence>`, -128},
		{`<presence><priority>high</priority></presence>`, 0},
	} {
		if got := priority(parse(t, tc.xml)); got != tc.want {
			t.Errorf("%s: priority %d, want %d", tc.xml, got, tc.want)
		}
	}
}

// TestConcurrentRequests checks that requests arriving together while
// resources come and go are each remembered exactly once (run with -race).
func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := jid.MustParse(fmt.Sprintf("u%d@example.org", i))
			e.p.Presence(e.ctx, xml.New(xml.NSClient, "presence", "type", "subscribe"), from, jid.MustParse("alice@example.net"))
		}()
		if i%5 == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := e.login(fmt.Sprintf("alice@example.net/r%d", i))
				e.send(s, `<presence/>`)
				e.logout(s)
			}()
		}
	}
	wg.Wait()
	items, _, err := e.store.RosterItems(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n {
		t.Fatalf("%d items, want %d", len(items), n)
	}
	for _, it := range items {
		if !it.PendingIn || !it.Hidden {
			t.Errorf("item %+v", it)
		}
	}
}
