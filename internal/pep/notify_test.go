package pep

import (
	"context"
	"slices"
	"strings"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/sessiontest"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

func wantEvents(t *testing.T, who string, s *sessiontest.Session, want ...string) []*xml.Element {
	t.Helper()
	got := s.Take()
	if ev := events(got); !slices.Equal(ev, want) {
		t.Errorf("%s got events %v, want %v", who, ev, want)
	}
	return got
}

// contact makes a session of another account available to alice's
// service, as presence routed to alice does.
func (e *env) contact(full, p string) *sessiontest.Session {
	e.t.Helper()
	var s *sessiontest.Session
	if old, ok := e.reg.Get(jid.MustParse(full)).(*sessiontest.Session); ok {
		s = old
	} else {
		s = sessiontest.New(full)
		e.reg.Add(s)
	}
	pres := parse(e.t, p)
	e.svc.ContactPresence(context.Background(), pres, s.JID(), jid.MustParse(aliceBare))
	return s
}

func TestNotifications(t *testing.T) {
	e := newEnv(t, nil)
	e.roster("alice", "bob@example.net", storage.SubBoth)
	e.roster("alice", "carol@example.net", storage.SubTo)
	phone := e.online(alice, e.caps("wants-nick", nick))
	laptop := e.online("alice@example.net/laptop", e.caps("wants-geoloc", "http://jabber.org/protocol/geoloc"))
	tablet := e.online("alice@example.net/tablet", `<presence xmlns='jabber:client'/>`)
	b := e.contact(bob, e.caps("wants-nick", nick))
	c := e.contact(carol, e.caps("wants-nick", nick))

	if r := e.iq(alice, aliceBare, "set", publishXML(nick, "n1", nickPayload("Alice"))); r.Attr("type") != "result" {
		t.Fatalf("publish: %s", r)
	}
	got := wantEvents(t, "phone", phone, nick+" n1")
	wantEvents(t, "laptop (no +notify for the node)", laptop)
	wantEvents(t, "tablet (no caps)", tablet)
	wantEvents(t, "bob (subscribed contact)", b, nick+" n1")
	wantEvents(t, "carol (not subscribed)", c)

	m := got[0]
	if m.Attr("from") != aliceBare || m.Attr("to") != alice || m.Attr("type") != "headline" {
		t.Errorf("notification %s", m)
	}
	item := m.Child(NSEvent, "event").Child(NSEvent, "items").Child(NSEvent, "item")
	if p := item.Child(nick, "nick"); p == nil || p.Text() != "Alice" {
		t.Errorf("notification payload: %s", m)
	}

	e.iq(alice, aliceBare, "set", `<pubsub xmlns='`+NS+`'><retract node='`+nick+`' notify='1'><item id='n1'/></retract></pubsub>`)
	wantEvents(t, "phone", phone, nick+" -n1")
	wantEvents(t, "bob", b, nick+" -n1")

	// Retraction without notify, on a node that does not notify retracts.
	e.iq(alice, aliceBare, "set", configXML(nick, "pubsub#notify_retract", "0"))
	e.iq(alice, aliceBare, "set", publishXML(nick, "n2", nickPayload("A")))
	wantEvents(t, "phone", phone, nick+" n2")
	wantEvents(t, "bob", b, nick+" n2")
	e.iq(alice, aliceBare, "set", `<pubsub xmlns='`+NS+`'><retract node='`+nick+`'><item id='n2'/></retract></pubsub>`)
	wantEvents(t, "phone (no retract notification)", phone)

	// Open access reaches carol too; a node that does not deliver
	// payloads sends the item without one.
	e.iq(alice, aliceBare, "set", configXML(nick, "pubsub#access_model", "open", "pubsub#deliver_payloads", "0"))
	e.iq(alice, aliceBare, "set", publishXML(nick, "n3", nickPayload("Al")))
	wantEvents(t, "bob", b, nick+" n3")
	got = wantEvents(t, "carol (open node)", c, nick+" n3")
	if it := got[0].Child(NSEvent, "event").Child(NSEvent, "items").Child(NSEvent, "item"); len(it.Elements()) != 0 {
		t.Errorf("payload delivered although deliver_payloads is off: %s", got[0])
	}
	phone.Take()

	// Gone sessions get nothing.
	e.svc.ContactPresence(context.Background(), parse(t, `<presence xmlns='jabber:client' type='unavailable'/>`), b.JID(), jid.MustParse(aliceBare))
	e.svc.SessionUnavailable(context.Background(), phone)
	e.iq(alice, aliceBare, "set", publishXML(nick, "n4", nickPayload("Alice")))
	wantEvents(t, "bob after unavailable", b)
	wantEvents(t, "phone after unavailable", phone)
	wantEvents(t, "carol", c, nick+" n4")

	// Deleting the node tells those still interested.
	e.iq(alice, aliceBare, "set", `<pubsub xmlns='`+NSOwner+`'><delete node='`+nick+`'/></pubsub>`)
	wantEvents(t, "carol", c, nick+" delete")
}

func TestLastItemOnPresence(t *testing.T) {
	e := newEnv(t, nil)
	e.roster("alice", "bob@example.net", storage.SubBoth)
	e.iq(alice, aliceBare, "set", publishXML(nick, "n1", nickPayload("Alice")))
	e.iq(alice, aliceBare, "set", publishWithOptions("quiet", "q1", `<q xmlns='urn:q'/>`, "pubsub#send_last_published_item", "never"))
	e.iq(alice, aliceBare, "set", publishXML("urn:xmpp:avatar:metadata", "a1", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`))

	// A contact's session coming online gets the last item of what it
	// wants, stamped with when it was published.
	b := e.contact(bob, e.caps("v1", nick, "quiet"))
	got := wantEvents(t, "bob", b, nick+" n1")
	if d := got[0].Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("stamp") == "" {
		t.Errorf("last item without delay: %s", got[0])
	}
	// The same presence again sends nothing; new interests send theirs.
	e.contact(bob, e.caps("v1", nick, "quiet"))
	wantEvents(t, "bob, same caps", b)
	e.contact(bob, e.caps("v2", nick, "quiet", "urn:xmpp:avatar:metadata"))
	wantEvents(t, "bob, caps with one more node", b, "urn:xmpp:avatar:metadata a1")

	// The account's own session gets them on initial presence.
	phone := e.online(alice, e.caps("v3", nick, "urn:xmpp:avatar:metadata"))
	ev := events(phone.Take())
	slices.Sort(ev)
	if want := []string{nick + " n1", "urn:xmpp:avatar:metadata a1"}; !slices.Equal(ev, want) {
		t.Errorf("own session got %v, want %v", ev, want)
	}

	// A stranger's directed presence gets nothing of presence-access nodes.
	c := e.contact(carol, e.caps("v1", nick))
	wantEvents(t, "carol", c)
}

func TestCapsQuery(t *testing.T) {
	e := newEnv(t, nil)
	e.iq(alice, aliceBare, "set", publishXML(nick, "n1", nickPayload("Alice")))
	p := `<presence xmlns='jabber:client'><c xmlns='` + NSCaps + `' hash='sha-1' node='https://client.example' ver='Zm9v'/></presence>`
	phone := e.online(alice, p)
	laptop := e.online("alice@example.net/laptop", p)

	// One query for the version, to the first session that showed it.
	got := phone.Take()
	if len(got) != 1 || got[0].Local != "iq" || got[0].Attr("type") != "get" {
		t.Fatalf("phone got %v, want one disco#info query", got)
	}
	q := got[0]
	if qe := q.Child("http://jabber.org/protocol/disco#info", "query"); qe == nil || qe.Attr("node") != "https://client.example#Zm9v" {
		t.Errorf("query %s", q)
	}
	if q.Attr("from") != aliceBare {
		t.Errorf("query from %q", q.Attr("from"))
	}
	if l := laptop.Take(); len(l) != 0 {
		t.Errorf("laptop got %d stanzas while the query is under way", len(l))
	}

	answer := func(from *sessiontest.Session, id, body string) bool {
		el := parse(t, `<iq xmlns='jabber:client' type='result' id='`+id+`'><query xmlns='http://jabber.org/protocol/disco#info' node='https://client.example#Zm9v'>`+body+`</query></iq>`)
		el.SetAttr("from", from.JID().String())
		el.SetAttr("to", aliceBare)
		return e.svc.FromSession(context.Background(), from, el, jid.MustParse(aliceBare))
	}
	features := `<identity category='client' type='pc'/><feature var='` + nick + `+notify'/><feature var='urn:xmpp:avatar:metadata+notify'/>`
	if answer(laptop, q.Attr("id"), features) {
		t.Error("an answer from the wrong session was taken")
	}
	if answer(phone, "other-id", features) {
		t.Error("an answer to another query was taken")
	}
	if !answer(phone, q.Attr("id"), features) {
		t.Fatal("the answer was not taken")
	}
	wantEvents(t, "phone", phone, nick+" n1")
	wantEvents(t, "laptop", laptop, nick+" n1")
	if !e.svc.caps.wants("sha-1 Zm9v", "urn:xmpp:avatar:metadata") {
		t.Error("version not cached")
	}
	if answer(phone, q.Attr("id"), features) {
		t.Error("an answer was taken twice")
	}

	// An error answer caches nothing; the next session asks again.
	p2 := strings.Replace(p, "Zm9v", "YmFy", 1)
	tablet := e.online("alice@example.net/tablet", p2)
	q2 := tablet.Take()[0]
	errAnswer := parse(t, `<iq xmlns='jabber:client' type='error' id='`+q2.Attr("id")+`'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	if !e.svc.FromSession(context.Background(), tablet, errAnswer, jid.JID{}) {
		t.Fatal("error answer (without to) not taken")
	}
	if _, known := e.svc.caps.lookup("sha-1 YmFy"); known {
		t.Error("an error answer was cached")
	}
	watch := e.online("alice@example.net/watch", p2)
	if got := watch.Take(); len(got) != 1 || got[0].Local != "iq" {
		t.Errorf("no new query after an error answer: %v", got)
	}
}

func TestCapsCacheBound(t *testing.T) {
	c := newCapsCache(2)
	for _, k := range []string{"a", "b", "c"} {
		c.store(k, map[string]struct{}{k: {}})
	}
	if _, ok := c.lookup("a"); ok {
		t.Error("oldest entry not evicted")
	}
	for _, k := range []string{"b", "c"} {
		if !c.wants(k, k) {
			t.Errorf("entry %s lost", k)
		}
	}
}

func TestCapsKey(t *testing.T) {
	for _, tc := range []struct {
		c          string
		key, query string
	}{
		{`<c xmlns='` + NSCaps + `' hash='sha-1' node='n' ver='v'/>`, "sha-1 v", "n#v"},
		{`<c xmlns='` + NSCaps + `' node='n' ver='v'/>`, "legacy n#v", "n#v"},
		{`<c xmlns='` + NSCaps + `' hash='sha-1' node='n'/>`, "", ""},
		{`<c xmlns='` + NSCaps + `' hash='sha-1' node='n' ver='` + strings.Repeat("v", 2000) + `'/>`, "", ""},
	} {
		key, query := capsKey(parse(t, tc.c))
		if key != tc.key || query != tc.query {
			t.Errorf("%s: key %q query %q, want %q %q", tc.c[:min(60, len(tc.c))], key, query, tc.key, tc.query)
		}
	}
	if k, _ := capsKey(nil); k != "" {
		t.Error("no caps gives a key")
	}
}
