package private

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "minimix.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range []string{"alice", "bob"} {
		if err := db.CreateAccount(t.Context(), u, storage.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func query(children ...*xml.Element) *xml.Element { return xml.New(NS, "query").Append(children...) }

const bm = "storage:bookmarks"

func bookmarks(room string) *xml.Element {
	s := xml.New(bm, "storage")
	if room != "" {
		s.Append(xml.New(bm, "conference", "jid", room, "autojoin", "true"))
	}
	return s
}

type change struct{ user, key, el string }

// TestPrivate runs its steps in order against one store.
func TestPrivate(t *testing.T) {
	db := openStore(t)
	if err := db.SetPrivate(t.Context(), "bob", "prefs urn:corrupt", []byte("<prefs")); err != nil {
		t.Fatal(err)
	}
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	s := New(db, 300, 2)
	var changes []change
	s.OnChange = func(ctx context.Context, user, key string, el *xml.Element) {
		changes = append(changes, change{user, key, el.String()})
	}
	s.Register(m)

	alice := jid.MustParse("alice@localhost/phone")
	bob := jid.MustParse("bob@localhost/laptop")
	for _, tc := range []struct {
		name        string
		typ         string
		payload     *xml.Element
		from        jid.JID
		to          jid.JID
		target      iq.Target
		want        string // payload of a result; "" for an empty result
		wantErr     xmpperr.Condition
		wantChanges []change
	}{
		{name: "get nothing stored", typ: "get", payload: query(bookmarks("")), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query>`},
		{name: "set two", typ: "set", payload: query(bookmarks("r@conference.localhost"), xml.New("urn:example:prefs", "prefs").AppendText("dark")),
			from: alice, to: alice.Bare(), target: iq.Self,
			wantChanges: []change{
				{"alice", "storage storage:bookmarks", `<storage xmlns="storage:bookmarks"><conference jid="r@conference.localhost" autojoin="true"/></storage>`},
				{"alice", "prefs urn:example:prefs", `<prefs xmlns="urn:example:prefs">dark</prefs>`},
			}},
		{name: "get bookmarks", typ: "get", payload: query(bookmarks("")), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"><conference jid="r@conference.localhost" autojoin="true"/></storage></query>`},
		{name: "get prefs", typ: "get", payload: query(xml.New("urn:example:prefs", "prefs")), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><prefs xmlns="urn:example:prefs">dark</prefs></query>`},
		{name: "same namespace, other name", typ: "get", payload: query(xml.New(bm, "other")), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><other xmlns="storage:bookmarks"/></query>`},
		{name: "bob's are his own", typ: "get", payload: query(bookmarks("")), from: bob, to: bob.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query>`},
		{name: "get another's", typ: "get", payload: query(bookmarks("")), from: bob, to: alice.Bare(), target: iq.Account, wantErr: xmpperr.Forbidden},
		{name: "set another's", typ: "set", payload: query(bookmarks("x@conference.localhost")), from: bob, to: alice.Bare(), target: iq.Account, wantErr: xmpperr.Forbidden},
		{name: "to the server", typ: "get", payload: query(bookmarks("")), from: alice, to: jid.Domain("localhost"), target: iq.Server, wantErr: xmpperr.ServiceUnavailable},
		{name: "get no child", typ: "get", payload: query(), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "set no child", typ: "set", payload: query(), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "get two", typ: "get", payload: query(bookmarks(""), xml.New("urn:example:prefs", "prefs")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.BadRequest},
		{name: "get private ns", typ: "get", payload: query(xml.New(NS, "query")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "get client ns", typ: "get", payload: query(xml.New(xml.NSClient, "message")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "set server ns", typ: "set", payload: query(xml.New(xml.NSServer, "message")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "set no ns", typ: "set", payload: query(xml.New("", "prefs")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "set one bad of two", typ: "set", payload: query(bookmarks(""), xml.New(NS, "x")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "set too many", typ: "set", payload: query(xml.New("urn:a", "a"), xml.New("urn:b", "b"), xml.New("urn:c", "c")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "set oversize", typ: "set", payload: query(bookmarks(""), xml.New("urn:big", "big").AppendText(strings.Repeat("x", 300))), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "refused sets changed nothing", typ: "get", payload: query(bookmarks("")), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"><conference jid="r@conference.localhost" autojoin="true"/></storage></query>`},
		{name: "replace", typ: "set", payload: query(bookmarks("")), from: alice, to: alice.Bare(), target: iq.Self,
			wantChanges: []change{{"alice", "storage storage:bookmarks", `<storage xmlns="storage:bookmarks"/>`}}},
		{name: "replaced", typ: "get", payload: query(bookmarks("")), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query>`},
		{name: "corrupt stored", typ: "get", payload: query(xml.New("urn:corrupt", "prefs")), from: bob, to: bob.Bare(), target: iq.Self, wantErr: xmpperr.InternalServerErrorC},
	} {
		changes = nil
		el := stanza.NewIQ(tc.typ, "p1", tc.from.String(), tc.to.String(), tc.payload)
		reply := m.Serve(t.Context(), el, tc.from, tc.to, tc.target)
		if reply == nil || reply.Attr("id") != "p1" {
			t.Fatalf("%s: reply %v", tc.name, reply)
		}
		if tc.wantErr != "" {
			if se := xmpperr.FromElement(reply); reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
				t.Fatalf("%s: reply %s, want error %s", tc.name, reply, tc.wantErr)
			}
		} else {
			if reply.Attr("type") != "result" {
				t.Fatalf("%s: reply %s, want result", tc.name, reply)
			}
			got := ""
			if p := reply.FirstElement(); p != nil {
				got = p.String()
			}
			if got != tc.want {
				t.Errorf("%s: payload\n got %s\nwant %s", tc.name, got, tc.want)
			}
		}
		if len(changes) != len(tc.wantChanges) {
			t.Fatalf("%s: OnChange calls %v, want %v", tc.name, changes, tc.wantChanges)
		}
		for i := range changes {
			if changes[i] != tc.wantChanges[i] {
				t.Errorf("%s: OnChange %d: %v, want %v", tc.name, i, changes[i], tc.wantChanges[i])
			}
		}
	}
	// jabber:iq:private is listed where clients look for it (the server,
	// the account itself), not to others, who cannot use it.
	for target, want := range map[iq.Target]int{iq.Server: 1, iq.Self: 1, iq.Account: 0} {
		if f := m.Features(target); len(f) != want || want == 1 && f[0] != NS {
			t.Errorf("target %d advertises %v", target, f)
		}
	}
}

func TestDefaults(t *testing.T) {
	s := New(nil, 0, -1)
	if s.maxFragment != DefaultMaxFragment || s.maxPerSet != DefaultMaxPerSet {
		t.Errorf("bounds %d, %d", s.maxFragment, s.maxPerSet)
	}
}
