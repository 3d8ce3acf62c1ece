package roster

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// routed is one presence the router handed to the test handlers.
type routed struct {
	el       *xml.Element
	from, to jid.JID
}

// handlers answers account iqs with a mux holding the roster, and
// records presence instead of handling it.
type handlers struct {
	mux   *iq.Mux
	store storage.Store
	r     *router.Router

	mu       sync.Mutex
	presence []routed
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
	h.mu.Lock()
	h.presence = append(h.presence, routed{el.Clone(), from, to})
	h.mu.Unlock()
}

func (h *handlers) SessionPresence(ctx context.Context, s router.Session, el *xml.Element, to jid.JID) {
}

func (h *handlers) AccountExists(ctx context.Context, local string) bool {
	ok, _ := h.store.AccountExists(ctx, local)
	return ok
}

func (h *handlers) takePresence() []routed {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.presence
	h.presence = nil
	return p
}

type env struct {
	t     *testing.T
	store storage.Store
	r     *router.Router
	h     *handlers
	svc   *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := db.CreateAccount(ctx, u, storage.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	h := &handlers{mux: iq.NewMux(nil), store: db}
	r := router.New(router.Config{Domain: "example.net", Registry: router.NewRegistry(), Handlers: h})
	h.r = r
	svc := New(db, r, nil)
	svc.Register(h.mux)
	return &env{t: t, store: db, r: r, h: h, svc: svc}
}

// login binds a session without sending anything.
func (e *env) login(full string) *sessiontest.Session {
	s := sessiontest.New(full)
	e.r.Registry().Add(s)
	return s
}

// parse reads XML written in tests; elements without a namespace are in
// jabber:client, as on a client stream.
func parse(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	var fix func(*xml.Element)
	fix = func(e *xml.Element) {
		if e.Space == "" {
			e.Space = xml.NSClient
		}
		for _, c := range e.Elements() {
			fix(c)
		}
	}
	fix(el)
	return el
}

// send has s send the stanza and returns the reply it got, with anything
// else it received (pushes) in others.
func (e *env) send(s *sessiontest.Session, stanzaXML string) (reply *xml.Element, others []*xml.Element) {
	e.t.Helper()
	el := parse(e.t, stanzaXML)
	el.SetAttr("from", s.JID().String())
	to, _ := jid.Parse(el.Attr("to"))
	e.r.FromSession(e.t.Context(), s, el, to)
	id := el.Attr("id")
	for _, got := range s.Take() {
		if got.Local == "iq" && got.Attr("id") == id && (got.Attr("type") == "result" || got.Attr("type") == "error") {
			reply = got
			continue
		}
		others = append(others, got)
	}
	if reply == nil {
		e.t.Fatalf("no reply to %s; got %v", stanzaXML, others)
	}
	return reply, others
}

func errCondition(el *xml.Element) string {
	se := xmpperr.FromElement(el)
	if se == nil {
		return ""
	}
	return string(se.Condition)
}

// pushItems returns the items of roster pushes among els, as "jid sub
// [ask] name groups" strings, and checks each is a well-formed push.
func pushItems(t *testing.T, els []*xml.Element) []string {
	t.Helper()
	var out []string
	for _, el := range els {
		q := el.Child(NS, "query")
		if el.Local != "iq" || el.Attr("type") != "set" || q == nil {
			continue
		}
		if el.Attr("id") == "" || el.Attr("from") != "" || q.Attr("ver") == "" {
			t.Errorf("malformed push %s", el)
		}
		for _, it := range q.Elements() {
			out = append(out, itemString(it))
		}
	}
	return out
}

func itemString(it *xml.Element) string {
	s := it.Attr("jid") + " " + it.Attr("subscription")
	if a := it.Attr("ask"); a != "" {
		s += " ask=" + a
	}
	if a := it.Attr("approved"); a != "" {
		s += " approved=" + a
	}
	if n := it.Attr("name"); n != "" {
		s += " name=" + n
	}
	var groups []string
	for _, g := range it.Elements() {
		groups = append(groups, g.Text())
	}
	if len(groups) > 0 {
		s += " groups=" + strings.Join(groups, ",")
	}
	return s
}

func resultItems(t *testing.T, reply *xml.Element) (ver string, items []string) {
	t.Helper()
	q := reply.Child(NS, "query")
	if q == nil {
		t.Fatalf("roster result without query: %s", reply)
	}
	for _, it := range q.Elements() {
		items = append(items, itemString(it))
	}
	return q.Attr("ver"), items
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGetSetPushVersioning(t *testing.T) {
	e := newEnv(t)
	a1 := e.login("alice@example.net/one")
	a2 := e.login("alice@example.net/two")
	bob := e.login("bob@example.net/x")

	reply, _ := e.send(a1, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>`)
	ver0, items := resultItems(t, reply)
	if ver0 == "" || len(items) != 0 {
		t.Fatalf("empty roster: ver %q items %v", ver0, items)
	}
	if !a1.State().RosterRequested() || a2.State().RosterRequested() {
		t.Fatal("only the session that fetched the roster is interested")
	}

	// A client-supplied subscription is ignored.
	reply, others := e.send(a1, `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>
		<item jid='bob@example.net' name='Bob' subscription='both' ask='subscribe'><group>Friends</group><group>Work</group></item>
		</query></iq>`)
	if reply.Attr("type") != "result" || reply.FirstElement() != nil {
		t.Fatalf("set: %s", reply)
	}
	want := []string{"bob@example.net none name=Bob groups=Friends,Work"}
	if got := pushItems(t, others); !equal(got, want) {
		t.Errorf("push to the setter: %v, want %v", got, want)
	}
	if got := a2.Take(); len(got) != 0 {
		t.Errorf("uninterested resource got %v", got)
	}
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("another account got %v", got)
	}

	reply, _ = e.send(a2, `<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	ver1, items := resultItems(t, reply)
	if ver1 == ver0 || !equal(items, want) {
		t.Fatalf("roster after set: ver %q items %v", ver1, items)
	}
	// Current version: an empty result (RFC 6121 2.6.3).
	reply, _ = e.send(a2, `<iq type='get' id='g3'><query xmlns='jabber:iq:roster' ver='`+ver1+`'/></iq>`)
	if reply.Attr("type") != "result" || reply.FirstElement() != nil {
		t.Fatalf("get with current ver: %s", reply)
	}
	// Stale version: the whole roster.
	reply, _ = e.send(a2, `<iq type='get' id='g4'><query xmlns='jabber:iq:roster' ver='`+ver0+`'/></iq>`)
	if _, items := resultItems(t, reply); !equal(items, want) {
		t.Fatalf("get with stale ver: %v", items)
	}

	// Both interested resources get the next push, with the new version.
	_, others = e.send(a1, `<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='bob@example.net' name='Robert'/></query></iq>`)
	want = []string{"bob@example.net none name=Robert"}
	if got := pushItems(t, others); !equal(got, want) {
		t.Errorf("push to setter: %v, want %v", got, want)
	}
	pushed := a2.Take()
	if got := pushItems(t, pushed); !equal(got, want) {
		t.Errorf("push to other resource: %v, want %v", got, want)
	}
	reply, _ = e.send(a2, `<iq type='get' id='g5'><query xmlns='jabber:iq:roster' ver='`+pushed[0].Child(NS, "query").Attr("ver")+`'/></iq>`)
	if reply.FirstElement() != nil {
		t.Errorf("the pushed version is not current: %s", reply)
	}

	// Removal is pushed with subscription='remove'.
	reply, others = e.send(a1, `<iq type='set' id='s3'><query xmlns='jabber:iq:roster'><item jid='bob@example.net' subscription='remove'/></query></iq>`)
	if reply.Attr("type") != "result" {
		t.Fatalf("remove: %s", reply)
	}
	want = []string{"bob@example.net remove"}
	if got := pushItems(t, others); !equal(got, want) {
		t.Errorf("remove push: %v, want %v", got, want)
	}
	if got := pushItems(t, a2.Take()); !equal(got, want) {
		t.Errorf("remove push to other resource: %v, want %v", got, want)
	}
	// Nothing to tell bob: there was no subscription.
	if p := e.h.takePresence(); len(p) != 0 {
		t.Errorf("removal without subscription sent presence %v", p)
	}
}

func TestSetErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		cond  xmpperr.Condition
	}{
		{"two items", `<item jid='bob@example.net'/><item jid='carol@example.net'/>`, xmpperr.BadRequest},
		{"no item", ``, xmpperr.BadRequest},
		{"other child", `<foo/>`, xmpperr.BadRequest},
		{"no jid", `<item name='x'/>`, xmpperr.BadRequest},
		{"malformed jid", `<item jid='@example.net'/>`, xmpperr.JIDMalformed},
		{"full jid", `<item jid='bob@example.net/phone'/>`, xmpperr.BadRequest},
		{"own jid", `<item jid='alice@example.net'/>`, xmpperr.NotAllowed},
		{"own jid removal", `<item jid='alice@example.net' subscription='remove'/>`, xmpperr.NotAllowed},
		{"empty group", `<item jid='bob@example.net'><group></group></item>`, xmpperr.NotAcceptable},
		{"duplicate group", `<item jid='bob@example.net'><group>A</group><group>A</group></item>`, xmpperr.BadRequest},
		{"long name", `<item jid='bob@example.net' name='` + strings.Repeat("n", maxNameChars+1) + `'/>`, xmpperr.NotAcceptable},
		{"long group", `<item jid='bob@example.net'><group>` + strings.Repeat("g", maxGroupChars+1) + `</group></item>`, xmpperr.NotAcceptable},
		{"too many groups", `<item jid='bob@example.net'>` + strings.Repeat("<group>x</group>", 1) + manyGroups(maxGroups) + `</item>`, xmpperr.NotAcceptable},
		{"remove unknown", `<item jid='carol@example.net' subscription='remove'/>`, xmpperr.ItemNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.login("alice@example.net/one")
			e.send(a, `<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>`)
			reply, others := e.send(a, `<iq type='set' id='s'><query xmlns='jabber:iq:roster'>`+tc.query+`</query></iq>`)
			if got := errCondition(reply); reply.Attr("type") != "error" || got != string(tc.cond) {
				t.Errorf("got %s, want %s", reply, tc.cond)
			}
			if len(others) != 0 {
				t.Errorf("failed set pushed %v", others)
			}
			items, _, _ := e.store.RosterItems(t.Context(), "alice")
			if len(items) != 0 {
				t.Errorf("failed set stored %v", items)
			}
		})
	}
}

func manyGroups(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("<group>g")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString("</group>")
	}
	return b.String()
}

func TestForeignRosterRequest(t *testing.T) {
	e := newEnv(t)
	a := e.login("alice@example.net/one")
	e.login("bob@example.net/x")
	reply, _ := e.send(a, `<iq type='get' id='g' to='bob@example.net'><query xmlns='jabber:iq:roster'/></iq>`)
	if reply.Attr("type") != "error" {
		t.Fatalf("alice read bob's roster: %s", reply)
	}
}

func TestRosterFull(t *testing.T) {
	e := newEnv(t)
	e.svc.maxItems = 2
	a := e.login("alice@example.net/one")
	for i, c := range []string{"a@example.org", "b@example.org"} {
		reply, _ := e.send(a, `<iq type='set' id='s`+strconv.Itoa(i)+`'><query xmlns='jabber:iq:roster'><item jid='`+c+`'/></query></iq>`)
		if reply.Attr("type") != "result" {
			t.Fatalf("add %s: %s", c, reply)
		}
	}
	reply, _ := e.send(a, `<iq type='set' id='s9'><query xmlns='jabber:iq:roster'><item jid='c@example.org'/></query></iq>`)
	if errCondition(reply) != string(xmpperr.ResourceConstraintC) {
		t.Fatalf("add past the limit: %s", reply)
	}
	// Updating an existing item still works.
	reply, _ = e.send(a, `<iq type='set' id='s10'><query xmlns='jabber:iq:roster'><item jid='a@example.org' name='A'/></query></iq>`)
	if reply.Attr("type") != "result" {
		t.Fatalf("update at the limit: %s", reply)
	}
}

// TestHiddenItems checks that an item remembering an inbound request is
// not in the roster, cannot be removed as if it were, and joins the
// roster with its state when the user adds it.
func TestHiddenItems(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := []byte(`<presence type="subscribe" from="bob@example.net" to="alice@example.net"/>`)
	if _, err := e.store.PutRosterItem(ctx, "alice", storage.RosterItem{
		Contact: "bob@example.net", Subscription: storage.SubNone, PendingIn: true, Hidden: true, PendingInStanza: req,
	}); err != nil {
		t.Fatal(err)
	}
	a := e.login("alice@example.net/one")
	reply, _ := e.send(a, `<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>`)
	if _, items := resultItems(t, reply); len(items) != 0 {
		t.Fatalf("hidden item listed: %v", items)
	}
	reply, _ = e.send(a, `<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='bob@example.net' subscription='remove'/></query></iq>`)
	if errCondition(reply) != string(xmpperr.ItemNotFound) {
		t.Fatalf("removing a hidden item: %s", reply)
	}
	_, others := e.send(a, `<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='bob@example.net' name='Bob'/></query></iq>`)
	if got, want := pushItems(t, others), []string{"bob@example.net none name=Bob"}; !equal(got, want) {
		t.Errorf("push: %v, want %v", got, want)
	}
	it, err := e.store.RosterItem(ctx, "alice", "bob@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if it.Hidden || !it.PendingIn || string(it.PendingInStanza) != string(req) {
		t.Errorf("item after adding: %+v", it)
	}
}

// TestRemoveSubscribed checks RFC 6121 2.5.2: removing a contact cancels
// the subscriptions both ways and withdraws presence.
func TestRemoveSubscribed(t *testing.T) {
	for _, tc := range []struct {
		name string
		item storage.RosterItem
		want []string // presence types routed to bob, with their from
	}{
		{"both", storage.RosterItem{Subscription: storage.SubBoth},
			[]string{"unsubscribe alice@example.net", "unsubscribed alice@example.net", "unavailable alice@example.net/one"}},
		{"to", storage.RosterItem{Subscription: storage.SubTo}, []string{"unsubscribe alice@example.net"}},
		{"from", storage.RosterItem{Subscription: storage.SubFrom},
			[]string{"unsubscribed alice@example.net", "unavailable alice@example.net/one"}},
		{"none pending out", storage.RosterItem{Subscription: storage.SubNone, PendingOut: true}, []string{"unsubscribe alice@example.net"}},
		{"none pending in", storage.RosterItem{Subscription: storage.SubNone, PendingIn: true}, []string{"unsubscribed alice@example.net"}},
		{"none", storage.RosterItem{Subscription: storage.SubNone}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.item.Contact = "bob@example.net"
			if _, err := e.store.PutRosterItem(t.Context(), "alice", tc.item); err != nil {
				t.Fatal(err)
			}
			a := e.login("alice@example.net/one")
			a.State().SetPresence(xml.New(xml.NSClient, "presence"), true, 0)
			e.login("alice@example.net/two") // not available: sends nothing
			reply, _ := e.send(a, `<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='bob@example.net' subscription='remove'/></query></iq>`)
			if reply.Attr("type") != "result" {
				t.Fatalf("remove: %s", reply)
			}
			var got []string
			for _, p := range e.h.takePresence() {
				if p.to.String() != "bob@example.net" || p.el.Attr("to") != "bob@example.net" || p.el.Attr("from") != p.from.String() {
					t.Errorf("misaddressed presence %s (from %s to %s)", p.el, p.from, p.to)
				}
				got = append(got, p.el.Attr("type")+" "+p.from.String())
			}
			if !equal(got, tc.want) {
				t.Errorf("routed %v, want %v", got, tc.want)
			}
			if _, err := e.store.RosterItem(t.Context(), "alice", "bob@example.net"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("item still stored: %v", err)
			}
		})
	}
}

// TestUpdate checks which changes are pushed.
func TestUpdate(t *testing.T) {
	alice, bob := jid.MustParse("alice@example.net"), jid.MustParse("bob@example.net/res")
	for _, tc := range []struct {
		name   string
		before *storage.RosterItem
		change Change
		hidden bool
		want   []string
		stored bool
	}{
		{"put new", nil, Put, false, []string{"bob@example.net none"}, true},
		{"put new hidden", nil, Put, true, nil, true},
		{"put quiet", &storage.RosterItem{Subscription: storage.SubTo}, PutQuiet, false, nil, true},
		{"keep", &storage.RosterItem{Subscription: storage.SubTo}, Keep, false, nil, true},
		{"keep absent", nil, Keep, false, nil, false},
		{"delete visible", &storage.RosterItem{Subscription: storage.SubTo}, Delete, false, []string{"bob@example.net remove"}, false},
		{"delete hidden", &storage.RosterItem{PendingIn: true, Hidden: true}, Delete, false, nil, false},
		{"delete absent", nil, Delete, false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := t.Context()
			if tc.before != nil {
				tc.before.Contact = "bob@example.net"
				if _, err := e.store.PutRosterItem(ctx, "alice", *tc.before); err != nil {
					t.Fatal(err)
				}
			}
			a := e.login("alice@example.net/one")
			a.State().SetRosterRequested()
			err := e.svc.Update(ctx, alice, bob, func(it *storage.RosterItem, exists bool) Change {
				if exists != (tc.before != nil) {
					t.Errorf("exists = %v", exists)
				}
				if it.Contact != "bob@example.net" {
					t.Errorf("contact %q", it.Contact)
				}
				if tc.hidden {
					it.Hidden = true
				}
				return tc.change
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := pushItems(t, a.Take()); !equal(got, tc.want) {
				t.Errorf("pushed %v, want %v", got, tc.want)
			}
			_, err = e.store.RosterItem(ctx, "alice", "bob@example.net")
			if stored := err == nil; stored != tc.stored {
				t.Errorf("stored = %v (%v)", stored, err)
			}
		})
	}
}
