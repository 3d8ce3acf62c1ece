package mam

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

var (
	alice = jid.MustParse("alice@example.net")
	t0    = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
)

// fixture is an Archive over a fresh SQLite database, with a clock that
// advances a minute at each read so that every record has its own stamp.
type fixture struct {
	a      *Archive
	db     *sqlite.DB
	roster map[string]bool // "owner with" pairs in the roster
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mam.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, roster: make(map[string]bool)}
	f.a = New(db, func(_ context.Context, owner, with jid.JID) bool {
		return f.roster[owner.String()+" "+with.String()]
	}, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	n := 0
	f.a.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n-1) * time.Minute)
	}
	return f
}

// records returns owner's whole archive.
func (f *fixture) records(t *testing.T, owner jid.JID) []storage.ArchiveRecord {
	t.Helper()
	page, err := f.db.QueryArchive(t.Context(), owner.String(), storage.ArchiveQuery{Max: 1000})
	if err != nil {
		t.Fatalf("QueryArchive: %v", err)
	}
	return page.Records
}

func parse(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("xml.Parse(%s): %v", s, err)
	}
	return el
}

// wantCondition fails unless err is a stanza error with condition c.
func wantCondition(t *testing.T, err error, c xmpperr.Condition) {
	t.Helper()
	var se *xmpperr.StanzaError
	if !errors.As(err, &se) || se.Condition != c {
		t.Fatalf("error = %v, want stanza error %s", err, c)
	}
}

// session records what a fake router would deliver to one session, in
// order: result messages through send, then the iq reply.
type session struct {
	mu  sync.Mutex
	got []*xml.Element
	to  []jid.JID
}

func (s *session) send(_ context.Context, to jid.JID, el *xml.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, el)
	s.to = append(s.to, to)
}

// serve runs one iq through the mux the way the server does, appending
// the reply after whatever the handler sent.
func (s *session) serve(t *testing.T, m *iq.Mux, from jid.JID, target iq.Target, iqXML string) *xml.Element {
	t.Helper()
	el := parse(t, iqXML)
	reply := m.Serve(t.Context(), el, from, alice, target)
	s.send(t.Context(), from, reply)
	return reply
}

func TestRegister(t *testing.T) {
	f := newFixture(t)
	m := iq.NewMux(nil)
	var s session
	f.a.Register(m, s.send)
	ctx := t.Context()
	phone := alice.WithResource("phone")

	for _, target := range []iq.Target{iq.Self, iq.Account} {
		got := strings.Join(m.Features(target), " ")
		if got != "urn:xmpp:mam:2 urn:xmpp:mam:2#extended urn:xmpp:mam:2#groupchat-field urn:xmpp:message-retract:1 urn:xmpp:message-retract:1#tombstone urn:xmpp:sid:0" {
			t.Errorf("features of target %d: %s", target, got)
		}
	}

	bob := jid.MustParse("bob@example.net/phone")
	for _, msg := range []string{"one", "two", "three"} {
		el := parse(t, `<message xmlns='jabber:client' type='chat' from='bob@example.net/phone' to='alice@example.net/phone'><body>`+msg+`</body></message>`)
		if f.a.Archive(ctx, alice, bob, el, true) == "" {
			t.Fatal("Archive did not keep a chat message")
		}
	}

	t.Run("query delivers results before the result iq", func(t *testing.T) {
		s.got, s.to = nil, nil
		reply := s.serve(t, m, phone, iq.Self,
			`<iq xmlns='jabber:client' type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='f27'>
				<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query></iq>`)
		if reply.Attr("type") != "result" {
			t.Fatalf("reply: %s", reply)
		}
		if len(s.got) != 3 {
			t.Fatalf("session got %d stanzas, want 2 results and the iq", len(s.got))
		}
		var ids []string
		for i, el := range s.got[:2] {
			if s.to[i] != phone {
				t.Errorf("result %d sent to %v, want only the asking session %v", i, s.to[i], phone)
			}
			if el.Local != "message" || el.Attr("from") != "alice@example.net" || el.Attr("to") != phone.String() {
				t.Errorf("result %d envelope: %s", i, el)
			}
			res := el.Child(NS, "result")
			if res == nil || res.Attr("queryid") != "f27" {
				t.Fatalf("result %d: %s", i, el)
			}
			ids = append(ids, res.Attr("id"))
			fwd := res.Child("urn:xmpp:forward:0", "forwarded")
			inner := fwd.Child(nsClient, "message")
			if fwd.Child("urn:xmpp:delay", "delay").Attr("stamp") == "" || inner == nil {
				t.Fatalf("result %d forwarded: %s", i, fwd)
			}
			if sid := inner.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Attr("id") != ids[i] || sid.Attr("by") != "alice@example.net" {
				t.Errorf("result %d: archived message lacks its stanza-id: %s", i, inner)
			}
		}
		if s.got[2] != reply {
			t.Error("the iq result was not the last stanza the session got")
		}
		fin := reply.Child(NS, "fin")
		if fin == nil || fin.Attr("complete") != "false" {
			t.Fatalf("fin: %s", reply)
		}
		set := fin.Child("http://jabber.org/protocol/rsm", "set")
		if set.ChildText("", "first") != ids[0] || set.ChildText("", "last") != ids[1] || set.ChildText("", "count") != "3" {
			t.Errorf("set: %s, results %v", set, ids)
		}
	})

	t.Run("form", func(t *testing.T) {
		reply := s.serve(t, m, phone, iq.Self, `<iq xmlns='jabber:client' type='get' id='f1'><query xmlns='urn:xmpp:mam:2'/></iq>`)
		x := reply.Child(NS, "query").Child("jabber:x:data", "x")
		if x == nil || x.Attr("type") != "form" {
			t.Fatalf("form reply: %s", reply)
		}
		var vars []string
		for _, fl := range x.Elements() {
			vars = append(vars, fl.Attr("var")+":"+fl.Attr("type"))
		}
		want := "FORM_TYPE:hidden with:jid-single start:text-single end:text-single before-id:text-single after-id:text-single ids:list-multi include-groupchat:boolean"
		if got := strings.Join(vars, " "); got != want {
			t.Errorf("form fields:\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		reply := s.serve(t, m, phone, iq.Self, `<iq xmlns='jabber:client' type='get' id='m1'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
		md := reply.Child(NS, "metadata")
		if md == nil || md.Child(NS, "start") == nil || md.Child(NS, "end") == nil {
			t.Fatalf("metadata reply: %s", reply)
		}
	})

	t.Run("others are forbidden", func(t *testing.T) {
		mallory := jid.MustParse("mallory@example.net/x")
		for _, payload := range []string{
			`<query xmlns='urn:xmpp:mam:2'/>`,
			`<metadata xmlns='urn:xmpp:mam:2'/>`,
		} {
			s.got = nil
			reply := s.serve(t, m, mallory, iq.Account, `<iq xmlns='jabber:client' type='set' id='x' to='alice@example.net'>`+payload+`</iq>`)
			if se := xmpperr.FromElement(reply); se == nil || se.Condition != xmpperr.Forbidden {
				t.Errorf("%s from another account: %s", payload, reply)
			}
			if len(s.got) != 1 {
				t.Errorf("%s from another account sent %d stanzas", payload, len(s.got)-1)
			}
		}
	})

	t.Run("prefs", func(t *testing.T) {
		for _, tc := range []struct {
			name, typ, payload, want string
			cond                     xmpperr.Condition
		}{
			{name: "defaults", typ: "get", payload: `<prefs xmlns='urn:xmpp:mam:2'/>`,
				want: `<prefs xmlns="urn:xmpp:mam:2" default="always"><always/><never/></prefs>`},
			{name: "set", typ: "set", payload: `<prefs xmlns='urn:xmpp:mam:2' default='roster'>
					<always><jid>Romeo@Montague.lit</jid><jid>romeo@montague.lit</jid></always>
					<never><jid>tybalt@capulet.lit/sword</jid></never></prefs>`,
				want: `<prefs xmlns="urn:xmpp:mam:2" default="roster"><always><jid>romeo@montague.lit</jid></always><never><jid>tybalt@capulet.lit/sword</jid></never></prefs>`},
			{name: "get after set", typ: "get", payload: `<prefs xmlns='urn:xmpp:mam:2'/>`,
				want: `<prefs xmlns="urn:xmpp:mam:2" default="roster"><always><jid>romeo@montague.lit</jid></always><never><jid>tybalt@capulet.lit/sword</jid></never></prefs>`},
			{name: "set without lists", typ: "set", payload: `<prefs xmlns='urn:xmpp:mam:2' default='never'/>`,
				want: `<prefs xmlns="urn:xmpp:mam:2" default="never"><always/><never/></prefs>`},
			{name: "bad default", typ: "set", payload: `<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`, cond: xmpperr.BadRequest},
			{name: "missing default", typ: "set", payload: `<prefs xmlns='urn:xmpp:mam:2'><always/></prefs>`, cond: xmpperr.BadRequest},
			{name: "bad jid", typ: "set", payload: `<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>@x</jid></never></prefs>`, cond: xmpperr.JIDMalformed},
			{name: "unchanged after errors", typ: "get", payload: `<prefs xmlns='urn:xmpp:mam:2'/>`,
				want: `<prefs xmlns="urn:xmpp:mam:2" default="never"><always/><never/></prefs>`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				reply := s.serve(t, m, phone, iq.Self, `<iq xmlns='jabber:client' type='`+tc.typ+`' id='p'>`+tc.payload+`</iq>`)
				if tc.cond != "" {
					if se := xmpperr.FromElement(reply); se == nil || se.Condition != tc.cond {
						t.Fatalf("reply: %s, want %s", reply, tc.cond)
					}
					return
				}
				if got := reply.Child(NS, "prefs"); got == nil || got.String() != tc.want {
					t.Errorf("reply: %s\nwant prefs %s", reply, tc.want)
				}
			})
		}
	})
}

func TestMetadata(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	md, err := f.a.ServeMetadata(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if got := md.String(); got != `<metadata xmlns="urn:xmpp:mam:2"/>` {
		t.Errorf("metadata of an empty archive: %s", got)
	}
	var ids []string
	room := jid.MustParse("room@muc.example.net")
	for i := range 3 {
		el := parse(t, `<message xmlns='jabber:client' type='chat' from='bob@example.net/a'><body>x</body></message>`)
		if i == 2 {
			// A groupchat record counts: the metadata describes the
			// whole archive.
			el = parse(t, `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/bob'><body>x</body></message>`)
			if err := f.a.Joined(ctx, alice, room); err != nil {
				t.Fatal(err)
			}
			ref, err := f.a.Groupchat(ctx, alice, room, el)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ref.ID)
			continue
		}
		ids = append(ids, f.a.Archive(ctx, alice, jid.MustParse("bob@example.net/a"), el, true))
	}
	md, err = f.a.ServeMetadata(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	want := `<metadata xmlns="urn:xmpp:mam:2"><start id="` + ids[0] + `" timestamp="2025-03-01T12:00:00.123456Z"/>` +
		`<end id="` + ids[2] + `" timestamp="2025-03-01T12:02:00.123456Z"/></metadata>`
	if got := md.String(); got != want {
		t.Errorf("metadata:\n%s\nwant\n%s", got, want)
	}
}
