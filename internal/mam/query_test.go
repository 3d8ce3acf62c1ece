package mam

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// queryFixture fills alice's archive, one minute apart (index: body):
//
//	0 b0 from bob/phone     4 b4 from bob/laptop
//	1 b1 to bob             5 c5 to carol
//	2 c2 from carol/x       6 g6 groupchat, room/erin
//	3 g3 groupchat, room/dave  7 b7 from bob/phone
//
// and returns the archive ids by index.
func queryFixture(t *testing.T, f *fixture) []string {
	t.Helper()
	ctx := t.Context()
	room := jid.MustParse("room@muc.example.net")
	if err := f.a.Joined(ctx, alice, room); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, m := range []struct{ with, dir string }{
		{"bob@example.net/phone", "in"}, {"bob@example.net", "out"}, {"carol@example.net/x", "in"},
		{"room@muc.example.net/dave", "gc"}, {"bob@example.net/laptop", "in"}, {"carol@example.net", "out"},
		{"room@muc.example.net/erin", "gc"}, {"bob@example.net/phone", "in"},
	} {
		body := fmt.Sprintf("%c%d", m.with[0], i)
		var id string
		switch m.dir {
		case "in":
			id = f.a.Archive(ctx, alice, jid.MustParse(m.with),
				parse(t, `<message xmlns='jabber:client' type='chat' from='`+m.with+`'><body>`+body+`</body></message>`), true)
		case "out":
			id = f.a.Archive(ctx, alice, jid.MustParse(m.with),
				parse(t, `<message xmlns='jabber:client' type='chat' to='`+m.with+`'><body>`+body+`</body></message>`), false)
		case "gc":
			body = fmt.Sprintf("g%d", i)
			ref, err := f.a.Groupchat(ctx, alice, room,
				parse(t, `<message xmlns='jabber:client' type='groupchat' from='`+m.with+`'><body>`+body+`</body>`+
					`<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example.net' id='r`+body+`'/></message>`))
			if err != nil {
				t.Fatal(err)
			}
			id = ref.ID
		}
		if id == "" {
			t.Fatalf("fixture message %d not archived", i)
		}
		ids = append(ids, id)
	}
	return ids
}

// finResult is what a query answered, in a form tests compare easily.
type finResult struct {
	bodies   []string // bodies of the result messages in sent order
	complete string
	first    string // "id@index"
	last     string
	count    string
}

func runQuery(t *testing.T, a *Archive, owner jid.JID, payload string, opts QueryOptions) (finResult, error) {
	t.Helper()
	var sent []*xml.Element
	req := iq.Request{
		IQ:   parse(t, `<iq xmlns='jabber:client' type='set' id='q'>`+payload+`</iq>`),
		Type: "set",
		From: alice.WithResource("phone"),
		To:   owner,
	}
	req.Payload = req.IQ.FirstElement()
	fin, err := a.ServeQuery(t.Context(), owner, req, func(el *xml.Element) { sent = append(sent, el) }, opts)
	if err != nil {
		if len(sent) > 0 {
			t.Errorf("%d results sent before an error", len(sent))
		}
		return finResult{}, err
	}
	var r finResult
	for _, m := range sent {
		res := m.Child(NS, "result")
		inner := res.Child("urn:xmpp:forward:0", "forwarded").Child(nsClient, "message")
		r.bodies = append(r.bodies, inner.ChildText(nsClient, "body"))
	}
	r.complete = fin.Attr("complete")
	set := fin.Child("http://jabber.org/protocol/rsm", "set")
	if first := set.Child("", "first"); first != nil {
		r.first = first.Text() + "@" + first.Attr("index")
	}
	r.last = set.ChildText("", "last")
	r.count = set.ChildText("", "count")
	return r, nil
}

// form wraps fields (var=value pairs, values split on ',') in a
// submitted urn:xmpp:mam:2 form.
func form(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`)
	for _, f := range fields {
		v, vals, _ := strings.Cut(f, "=")
		b.WriteString(`<field var='` + v + `'>`)
		for _, val := range strings.Split(vals, ",") {
			b.WriteString(`<value>` + val + `</value>`)
		}
		b.WriteString(`</field>`)
	}
	b.WriteString(`</x>`)
	return b.String()
}

func rsmSet(inner string) string {
	return `<set xmlns='http://jabber.org/protocol/rsm'>` + inner + `</set>`
}

func TestQuery(t *testing.T) {
	f := newFixture(t)
	ids := queryFixture(t, f)
	id := func(i int) string { return ids[i] }
	at := func(i, index int) string { return fmt.Sprintf("%s@%d", ids[i], index) }
	minute := func(i int) string { return stamp(t0.Add(time.Duration(i) * time.Minute)) }
	chats := []string{"b0", "b1", "c2", "b4", "c5", "b7"}

	tests := []struct {
		name  string
		query string // children of <query/>
		opts  QueryOptions
		want  finResult
		cond  xmpperr.Condition
	}{
		{name: "everything, groupchat excluded by default",
			want: finResult{bodies: chats, complete: "true", first: at(0, 0), last: id(7), count: "6"}},
		{name: "everything, room archive default",
			opts: QueryOptions{DefaultIncludeGroupchat: true},
			want: finResult{bodies: []string{"b0", "b1", "c2", "g3", "b4", "c5", "g6", "b7"}, complete: "true", first: at(0, 0), last: id(7), count: "8"}},
		{name: "include-groupchat true", query: form("include-groupchat=true"),
			want: finResult{bodies: []string{"b0", "b1", "c2", "g3", "b4", "c5", "g6", "b7"}, complete: "true", first: at(0, 0), last: id(7), count: "8"}},
		{name: "include-groupchat false overrides the default", query: form("include-groupchat=0"),
			opts: QueryOptions{DefaultIncludeGroupchat: true},
			want: finResult{bodies: chats, complete: "true", first: at(0, 0), last: id(7), count: "6"}},
		{name: "with bare JID", query: form("with=bob@example.net"),
			want: finResult{bodies: []string{"b0", "b1", "b4", "b7"}, complete: "true", first: at(0, 0), last: id(7), count: "4"}},
		{name: "with full JID", query: form("with=bob@example.net/phone"),
			want: finResult{bodies: []string{"b0", "b7"}, complete: "true", first: at(0, 0), last: id(7), count: "2"}},
		{name: "with room occupant", query: form("with=room@muc.example.net/dave", "include-groupchat=1"),
			want: finResult{bodies: []string{"g3"}, complete: "true", first: at(3, 0), last: id(3), count: "1"}},
		{name: "with room, groupchat excluded", query: form("with=room@muc.example.net"),
			want: finResult{complete: "true", count: "0"}},
		{name: "with nobody: empty page has only count", query: form("with=nobody@example.net"),
			want: finResult{complete: "true", count: "0"}},
		{name: "empty values are absent fields", query: form("with=", "start=", "after-id="),
			want: finResult{bodies: chats, complete: "true", first: at(0, 0), last: id(7), count: "6"}},
		{name: "start and end", query: form("start="+minute(2), "end="+minute(5)),
			want: finResult{bodies: []string{"c2", "b4", "c5"}, complete: "true", first: at(2, 0), last: id(5), count: "3"}},
		{name: "start with offset", query: form("start=2025-03-01T13:06:00+01:00"),
			want: finResult{bodies: []string{"b7"}, complete: "true", first: at(7, 0), last: id(7), count: "1"}},

		{name: "max", query: rsmSet(`<max>2</max>`),
			want: finResult{bodies: []string{"b0", "b1"}, complete: "false", first: at(0, 0), last: id(1), count: "6"}},
		{name: "max zero", query: rsmSet(`<max>0</max>`),
			want: finResult{complete: "false", count: "6"}},
		{name: "after", query: rsmSet(`<max>2</max><after>` + id(1) + `</after>`),
			want: finResult{bodies: []string{"c2", "b4"}, complete: "false", first: at(2, 2), last: id(4), count: "6"}},
		{name: "after to the end", query: rsmSet(`<max>2</max><after>` + id(4) + `</after>`),
			want: finResult{bodies: []string{"c5", "b7"}, complete: "true", first: at(5, 4), last: id(7), count: "6"}},
		{name: "after a groupchat record", query: rsmSet(`<max>2</max><after>` + id(3) + `</after>`),
			want: finResult{bodies: []string{"b4", "c5"}, complete: "false", first: at(4, 3), last: id(5), count: "6"}},
		{name: "before empty is the last page", query: rsmSet(`<max>2</max><before/>`),
			want: finResult{bodies: []string{"c5", "b7"}, complete: "false", first: at(5, 4), last: id(7), count: "6"}},
		{name: "before id", query: rsmSet(`<max>2</max><before>` + id(5) + `</before>`),
			want: finResult{bodies: []string{"c2", "b4"}, complete: "false", first: at(2, 2), last: id(4), count: "6"}},
		{name: "before id to the start", query: rsmSet(`<max>2</max><before>` + id(1) + `</before>`),
			want: finResult{bodies: []string{"b0"}, complete: "true", first: at(0, 0), last: id(0), count: "6"}},
		{name: "flip-page sends newest first", query: rsmSet(`<max>2</max><before/>`) + `<flip-page/>`,
			want: finResult{bodies: []string{"b7", "c5"}, complete: "false", first: at(5, 4), last: id(7), count: "6"}},

		{name: "after-id and before-id, one page", query: form("after-id="+id(0), "before-id="+id(7)),
			want: finResult{bodies: []string{"b1", "c2", "b4", "c5"}, complete: "true", first: at(1, 1), last: id(5), count: "6"}},
		{name: "before-id pages forward", query: form("before-id="+id(7)) + rsmSet(`<max>2</max>`),
			want: finResult{bodies: []string{"b0", "b1"}, complete: "false", first: at(0, 0), last: id(1), count: "6"}},
		{name: "range, second page by rsm after", query: form("after-id="+id(0), "before-id="+id(7)) + rsmSet(`<max>2</max><after>`+id(2)+`</after>`),
			want: finResult{bodies: []string{"b4", "c5"}, complete: "true", first: at(4, 3), last: id(5), count: "6"}},
		{name: "range, last page by rsm before", query: form("after-id="+id(0), "before-id="+id(7)) + rsmSet(`<max>2</max><before/>`),
			want: finResult{bodies: []string{"b4", "c5"}, complete: "false", first: at(4, 3), last: id(5), count: "6"}},
		{name: "after-id, last page", query: form("after-id="+id(2)) + rsmSet(`<max>5</max><before/>`),
			want: finResult{bodies: []string{"b4", "c5", "b7"}, complete: "true", first: at(4, 3), last: id(7), count: "6"}},

		{name: "ids", query: form("ids=" + id(5) + "," + id(1)),
			want: finResult{bodies: []string{"b1", "c5"}, complete: "true", first: at(1, 0), last: id(5), count: "2"}},
		{name: "ids include groupchat records by default", query: form("ids=" + id(3)),
			want: finResult{bodies: []string{"g3"}, complete: "true", first: at(3, 0), last: id(3), count: "1"}},
		{name: "ids with include-groupchat false", query: form("ids="+id(3)+","+id(4), "include-groupchat=false"),
			want: finResult{bodies: []string{"b4"}, complete: "true", first: at(4, 0), last: id(4), count: "1"}},

		{name: "unknown rsm after", query: rsmSet(`<after>nope</after>`), cond: xmpperr.ItemNotFound},
		{name: "unknown rsm before", query: rsmSet(`<before>nope</before>`), cond: xmpperr.ItemNotFound},
		{name: "unknown after-id", query: form("after-id=nope"), cond: xmpperr.ItemNotFound},
		{name: "unknown before-id", query: form("before-id=nope"), cond: xmpperr.ItemNotFound},
		{name: "unknown after-id behind rsm after", query: form("after-id=nope") + rsmSet(`<after>`+id(1)+`</after>`), cond: xmpperr.ItemNotFound},
		{name: "unknown before-id behind rsm before", query: form("before-id=nope") + rsmSet(`<before>`+id(1)+`</before>`), cond: xmpperr.ItemNotFound},
		{name: "unknown among ids", query: form("ids=" + id(1) + ",nope"), cond: xmpperr.ItemNotFound},
		{name: "form of type form", query: `<x xmlns='jabber:x:data' type='form'/>`, cond: xmpperr.BadRequest},
		{name: "malformed form", query: `<x xmlns='jabber:x:data' type='submit'><field type='text-single'/></x>`, cond: xmpperr.BadRequest},
		{name: "wrong FORM_TYPE", query: `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>`, cond: xmpperr.BadRequest},
		{name: "bad start", query: form("start=yesterday"), cond: xmpperr.BadRequest},
		{name: "two withs", query: form("with=bob@example.net,carol@example.net"), cond: xmpperr.BadRequest},
		{name: "bad with", query: form("with=@example.net"), cond: xmpperr.JIDMalformed},
		{name: "bad include-groupchat", query: form("include-groupchat=maybe"), cond: xmpperr.BadRequest},
		{name: "unknown field", query: form("{urn:example}full-text=x"), cond: xmpperr.FeatureNotImplemented},
		{name: "negative max", query: rsmSet(`<max>-1</max>`), cond: xmpperr.BadRequest},
		{name: "rsm index", query: rsmSet(`<index>2</index>`), cond: xmpperr.FeatureNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runQuery(t, f.a, alice, `<query xmlns='urn:xmpp:mam:2' queryid='qq'>`+tt.query+`</query>`, tt.opts)
			if tt.cond != "" {
				wantCondition(t, err, tt.cond)
				return
			}
			if err != nil {
				t.Fatalf("ServeQuery: %v", err)
			}
			if !slices.Equal(got.bodies, tt.want.bodies) || got.complete != tt.want.complete ||
				got.first != tt.want.first || got.last != tt.want.last || got.count != tt.want.count {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestQueryPageSize checks the default page and the cap.
func TestQueryPageSize(t *testing.T) {
	f := newFixture(t)
	bob := jid.MustParse("bob@example.net")
	for range 60 {
		f.a.Archive(t.Context(), alice, bob, parse(t, `<message xmlns='jabber:client' type='chat'><body>x</body></message>`), true)
	}
	for _, tt := range []struct {
		name  string
		query string
		opts  QueryOptions
		want  int
	}{
		{name: "default", want: DefaultPageSize},
		{name: "asked", query: rsmSet(`<max>55</max>`), want: 55},
		{name: "capped by MaxPage", query: rsmSet(`<max>55</max>`), opts: QueryOptions{MaxPage: 10}, want: 10},
		{name: "default above MaxPage", opts: QueryOptions{MaxPage: 20}, want: 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runQuery(t, f.a, alice, `<query xmlns='urn:xmpp:mam:2'>`+tt.query+`</query>`, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.bodies) != tt.want || got.complete != "false" || got.count != "60" {
				t.Errorf("%d results, complete %s, count %s; want %d, false, 60", len(got.bodies), got.complete, got.count, tt.want)
			}
		})
	}
}

// TestQueryRoomArchive queries an archive the way the MUC service will:
// owner is the room, with selects an occupant.
func TestQueryRoomArchive(t *testing.T) {
	f := newFixture(t)
	room := jid.MustParse("room@muc.example.net")
	for _, nick := range []string{"carol", "dave", "carol"} {
		el := parse(t, `<message xmlns='jabber:client' type='groupchat' from='room@muc.example.net/`+nick+`'><body>`+nick+`</body></message>`)
		if _, err := f.a.Append(t.Context(), room, room.WithResource(nick), el, true); err != nil {
			t.Fatal(err)
		}
	}
	opts := QueryOptions{DefaultIncludeGroupchat: true}
	got, err := runQuery(t, f.a, room, `<query xmlns='urn:xmpp:mam:2'>`+form("with=room@muc.example.net/carol")+`</query>`, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.bodies, []string{"carol", "carol"}) || got.count != "2" {
		t.Errorf("with=room/carol: %+v", got)
	}
	// Alice's archive is another archive.
	got, err = runQuery(t, f.a, alice, `<query xmlns='urn:xmpp:mam:2'/>`, opts)
	if err != nil || got.count != "0" {
		t.Errorf("alice's archive: %+v, %v", got, err)
	}
}
