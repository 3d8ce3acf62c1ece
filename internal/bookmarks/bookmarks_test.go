package bookmarks

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/private"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

const (
	domain    = "example.net"
	alice     = "alice@example.net/phone"
	aliceBare = "alice@example.net"
	nsPrivate = "jabber:iq:private"
)

type change struct {
	changed []string // room=name/autojoin
	removed []string
}

type env struct {
	t       *testing.T
	db      *sqlite.DB
	mux     *iq.Mux
	bm      *Service
	phone   *sessiontest.Session
	changes []change
}

// newEnv builds PEP, bookmarks and private storage as the server does,
// with a session of alice that wants notifications of both bookmark
// nodes. maxItems bounds nodes (and so bookmarks).
func newEnv(t *testing.T, maxItems int) *env {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "minimix.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateAccount(t.Context(), "alice", storage.Credentials{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	reg := router.NewRegistry()
	r := router.New(router.Config{Domain: domain, Registry: reg, Logger: log})
	p := pep.New(pep.Config{Domain: domain, Store: db, Router: r, MaxItems: maxItems, Logger: log})
	e := &env{t: t, db: db, mux: iq.NewMux(log)}
	e.bm = New(domain, p, log)
	e.bm.OnBookmarksChanged = func(ctx context.Context, account jid.JID, changed []Bookmark, removed []jid.JID) {
		if account.String() != aliceBare {
			t.Errorf("change reported for %s", account)
		}
		var c change
		for _, b := range changed {
			c.changed = append(c.changed, describe(b))
		}
		for _, r := range removed {
			c.removed = append(c.removed, r.String())
		}
		e.changes = append(e.changes, c)
	}
	p.Register(e.mux)
	e.bm.Register(e.mux)
	priv := private.New(db, 0, 0)
	priv.Handle(private.Key(xml.New(NSLegacy, "storage")), e.bm)
	priv.Register(e.mux)

	e.phone = sessiontest.New(alice)
	reg.Add(e.phone)
	pres := parse(t, `<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='bm'/></presence>`)
	e.phone.State().SetPresence(pres, true, 0)
	p.SessionAvailable(context.Background(), e.phone, pres, true)
	// Answer the capabilities query.
	q := e.phone.Take()
	if len(q) != 1 {
		t.Fatalf("expected a caps query, got %v", q)
	}
	ans := parse(t, `<iq xmlns='jabber:client' type='result' id='`+q[0].Attr("id")+`'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='`+NS+`+notify'/><feature var='`+NSLegacy+`+notify'/></query></iq>`)
	if !p.FromSession(context.Background(), e.phone, ans, jid.MustParse(aliceBare)) {
		t.Fatal("caps answer not taken")
	}
	e.phone.Take()
	return e
}

func describe(b Bookmark) string {
	s := b.Room.String() + "=" + b.Name
	if b.Autojoin {
		s += "/auto"
	}
	if b.Nick != "" {
		s += "/" + b.Nick
	}
	if b.Extensions != nil {
		s += "/ext:" + extString(b.Extensions)
	}
	return s
}

func parse(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

func (e *env) iq(typ, payload string) *xml.Element {
	e.t.Helper()
	el := parse(e.t, `<iq xmlns='jabber:client' id='q' type='`+typ+`' from='`+alice+`' to='`+aliceBare+`'>`+payload+`</iq>`)
	return e.mux.Serve(context.Background(), el, jid.MustParse(alice), jid.MustParse(aliceBare), iq.Self)
}

// ok fails the test unless r is a result.
func (e *env) ok(what string, r *xml.Element) *xml.Element {
	e.t.Helper()
	if r.Attr("type") != "result" {
		e.t.Fatalf("%s: %s", what, r)
	}
	return r
}

func (e *env) refused(what string, r *xml.Element, cond, app string) {
	e.t.Helper()
	se := xmpperr.FromElement(r)
	if r.Attr("type") != "error" || se == nil || string(se.Condition) != cond {
		e.t.Fatalf("%s: want %s, got %s", what, cond, r)
	}
	if app != "" && (se.App == nil || se.App.Local != app) {
		e.t.Fatalf("%s: want %s/%s, got %s", what, cond, app, r)
	}
}

func publishNative(room, conf string) string {
	return `<pubsub xmlns='` + pep.NS + `'><publish node='` + NS + `'><item id='` + room + `'>` + conf + `</item></publish>` +
		`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + pep.FormPublishOptions + `</value></field>` +
		`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>` +
		`<field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub>`
}

func retractNative(room string) string {
	return `<pubsub xmlns='` + pep.NS + `'><retract node='` + NS + `' notify='true'><item id='` + room + `'/></retract></pubsub>`
}

func setPrivate(doc string) string { return `<query xmlns='` + nsPrivate + `'>` + doc + `</query>` }

const getPrivate = `<query xmlns='` + nsPrivate + `'><storage xmlns='` + NSLegacy + `'/></query>`

func publishLegacy(doc string) string {
	return `<pubsub xmlns='` + pep.NS + `'><publish node='` + NSLegacy + `'><item id='current'>` + doc + `</item></publish></pubsub>`
}

// native returns alice's native bookmarks, described.
func (e *env) native() []string {
	e.t.Helper()
	bs, err := e.bm.Bookmarks(e.t.Context(), jid.MustParse(aliceBare))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, describe(b))
	}
	slices.Sort(out)
	return out
}

// legacyConferences describes the conferences of a legacy list.
func legacyConferences(doc *xml.Element) []string {
	var out []string
	for _, c := range doc.Elements() {
		if c.Local != "conference" {
			continue
		}
		s := c.Attr("jid") + "=" + c.Attr("name")
		if a := c.Attr("autojoin"); a == "true" || a == "1" {
			s += "/auto"
		}
		if n := c.ChildText(NSLegacy, "nick"); n != "" {
			s += "/" + n
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// viaPrivate returns the storage element XEP-0049 gives.
func (e *env) viaPrivate() *xml.Element {
	e.t.Helper()
	r := e.ok("private get", e.iq("get", getPrivate))
	return r.Child(nsPrivate, "query").Child(NSLegacy, "storage")
}

// viaLegacyPEP returns the storage element of the legacy node's item.
func (e *env) viaLegacyPEP() *xml.Element {
	e.t.Helper()
	r := e.ok("legacy items", e.iq("get", `<pubsub xmlns='`+pep.NS+`'><items node='`+NSLegacy+`'/></pubsub>`))
	items := r.Child(pep.NS, "pubsub").Child(pep.NS, "items").Elements()
	if len(items) != 1 || items[0].Attr("id") != LegacyItem {
		e.t.Fatalf("legacy node items: %s", r)
	}
	return items[0].Child(NSLegacy, "storage")
}

// events lists the notifications the phone got: node and item id, "-id"
// for retractions.
func (e *env) events() []string {
	var out []string
	for _, m := range e.phone.Take() {
		ev := m.Child(pep.NSEvent, "event")
		if ev == nil {
			continue
		}
		items := ev.Child(pep.NSEvent, "items")
		if items == nil {
			continue
		}
		for _, it := range items.Elements() {
			id := it.Attr("id")
			if it.Local == "retract" {
				id = "-" + id
			}
			out = append(out, items.Attr("node")+" "+id)
		}
	}
	return out
}

func (e *env) takeChanges() []change {
	c := e.changes
	e.changes = nil
	return c
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// TestThreePaths changes bookmarks through each path in turn and checks
// each change through the other two, the notifications and the hook.
func TestThreePaths(t *testing.T) {
	e := newEnv(t, 0)
	const (
		r1 = "room1@muc.example.org"
		r2 = "room2@muc.example.org"
		r3 = "room3@muc.example.org"
	)

	// 1. XEP-0402 publish.
	e.ok("native publish", e.iq("set", publishNative(r1,
		`<conference xmlns='`+NS+`' name='One' autojoin='true'><nick>al</nick><extensions><state xmlns='urn:example:ext'>x</state></extensions></conference>`)))
	eq(t, "native", e.native(), []string{r1 + "=One/auto/al/ext:<state xmlns=\"urn:example:ext\">x</state>"})
	eq(t, "events", e.events(), []string{NS + " " + r1, NSLegacy + " current"})
	eq(t, "via XEP-0049", legacyConferences(e.viaPrivate()), []string{r1 + "=One/auto/al"})
	eq(t, "via XEP-0048 PEP", legacyConferences(e.viaLegacyPEP()), []string{r1 + "=One/auto/al"})
	if ch := e.takeChanges(); len(ch) != 1 || !slices.Equal(ch[0].changed, e.native()) || ch[0].removed != nil {
		t.Errorf("hook: %+v", ch)
	}

	// 2. XEP-0049 set: r1 renamed by a legacy client that drops what it
	// does not know, r2 added with an extension of its own, a URL kept.
	e.ok("private set", e.iq("set", setPrivate(`<storage xmlns='`+NSLegacy+`'>`+
		`<conference jid='`+r1+`' name='Uno' autojoin='true'><nick>al</nick></conference>`+
		`<conference jid='`+r2+`' name='Two'><nick>al2</nick><minimize xmlns='urn:example:legacy'/></conference>`+
		`<url name='Site' url='https://example.org/'/></storage>`)))
	eq(t, "native", e.native(), []string{
		r1 + "=Uno/auto/al/ext:<state xmlns=\"urn:example:ext\">x</state>",
		r2 + "=Two/al2/ext:<minimize xmlns=\"urn:example:legacy\"/>",
	})
	eq(t, "events (item level)", e.events(), []string{NS + " " + r1, NS + " " + r2, NSLegacy + " current"})
	legacy := e.viaLegacyPEP()
	eq(t, "via XEP-0048 PEP", legacyConferences(legacy), []string{r1 + "=Uno/auto/al", r2 + "=Two/al2"})
	if u := legacy.Child(NSLegacy, "url"); u == nil || u.Attr("url") != "https://example.org/" {
		t.Errorf("url bookmark lost: %s", legacy)
	}
	if c := legacy.Elements()[0]; c.Child("urn:example:ext", "state") == nil {
		t.Errorf("legacy form lacks the native extension: %s", legacy)
	}
	eq(t, "via XEP-0049", legacyConferences(e.viaPrivate()), []string{r1 + "=Uno/auto/al", r2 + "=Two/al2"})
	ch := e.takeChanges()
	if len(ch) != 1 {
		t.Fatalf("hook calls %+v", ch)
	}
	eq(t, "hook changed", ch[0].changed, []string{
		r1 + "=Uno/auto/al/ext:<state xmlns=\"urn:example:ext\">x</state>",
		r2 + "=Two/al2/ext:<minimize xmlns=\"urn:example:legacy\"/>",
	})

	// 3. XEP-0048 PEP publish: r1 unchanged, r2 gone, r3 new.
	doc := e.viaLegacyPEP().String()
	doc = strings.Replace(doc, legacyConferenceXML(e.viaLegacyPEP(), r2), `<conference jid="`+r3+`" name="Three" autojoin="1"/>`, 1)
	e.ok("legacy PEP publish", e.iq("set", publishLegacy(doc)))
	eq(t, "native", e.native(), []string{
		r1 + "=Uno/auto/al/ext:<state xmlns=\"urn:example:ext\">x</state>",
		r3 + "=Three/auto",
	})
	eq(t, "events (only what changed)", e.events(), []string{NS + " " + r3, NS + " -" + r2, NSLegacy + " current"})
	eq(t, "via XEP-0049", legacyConferences(e.viaPrivate()), []string{r1 + "=Uno/auto/al", r3 + "=Three/auto"})
	ch = e.takeChanges()
	if len(ch) != 1 {
		t.Fatalf("hook calls %+v", ch)
	}
	eq(t, "hook changed", ch[0].changed, []string{r3 + "=Three/auto"})
	eq(t, "hook removed", ch[0].removed, []string{r2})

	// 4. XEP-0402 retract.
	e.ok("native retract", e.iq("set", retractNative(r3)))
	eq(t, "native", e.native(), []string{r1 + "=Uno/auto/al/ext:<state xmlns=\"urn:example:ext\">x</state>"})
	eq(t, "events", e.events(), []string{NS + " -" + r3, NSLegacy + " current"})
	eq(t, "via XEP-0048 PEP", legacyConferences(e.viaLegacyPEP()), []string{r1 + "=Uno/auto/al"})
	eq(t, "via XEP-0049", legacyConferences(e.viaPrivate()), []string{r1 + "=Uno/auto/al"})
	if ch := e.takeChanges(); len(ch) != 1 || !slices.Equal(ch[0].removed, []string{r3}) || ch[0].changed != nil {
		t.Errorf("hook: %+v", ch)
	}

	// A set that changes nothing notifies nothing and reports nothing.
	e.ok("same again", e.iq("set", setPrivate(e.viaPrivate().String())))
	eq(t, "events of a no-op", e.events(), nil)
	if ch := e.takeChanges(); len(ch) != 0 {
		t.Errorf("hook for a no-op: %+v", ch)
	}

	// Deleting the legacy node keeps the bookmarks; the copy comes back.
	e.ok("delete legacy node", e.iq("set", `<pubsub xmlns='`+pep.NSOwner+`'><delete node='`+NSLegacy+`'/></pubsub>`))
	eq(t, "native after legacy delete", e.native(), []string{r1 + "=Uno/auto/al/ext:<state xmlns=\"urn:example:ext\">x</state>"})
	eq(t, "via XEP-0049 from native", legacyConferences(e.viaPrivate()), []string{r1 + "=Uno/auto/al"})
	e.ok("native publish", e.iq("set", publishNative(r2, `<conference xmlns='`+NS+`' name='Two'/>`)))
	eq(t, "legacy copy back", legacyConferences(e.viaLegacyPEP()), []string{r1 + "=Uno/auto/al", r2 + "=Two"})
	e.events()
	e.takeChanges()

	// Purging the native node removes them all, everywhere.
	e.ok("purge", e.iq("set", `<pubsub xmlns='`+pep.NSOwner+`'><purge node='`+NS+`'/></pubsub>`))
	eq(t, "native after purge", e.native(), nil)
	eq(t, "via XEP-0049 after purge", legacyConferences(e.viaPrivate()), nil)
	ch = e.takeChanges()
	if len(ch) != 1 {
		t.Fatalf("hook calls %+v", ch)
	}
	slices.Sort(ch[0].removed)
	eq(t, "hook removed", ch[0].removed, []string{r1, r2})
}

// legacyConferenceXML returns the serialisation of room's conference in
// doc as doc.String() writes it.
func legacyConferenceXML(doc *xml.Element, room string) string {
	for _, c := range doc.Elements() {
		if c.Attr("jid") == room {
			return string(c.AppendXML(nil, NSLegacy))
		}
	}
	return "<none/>"
}

// TestBadInput sends what must be refused through each path: the
// XEP-0060 error, and nothing stored or reported.
func TestBadInput(t *testing.T) {
	e := newEnv(t, 3)
	const r1 = "room1@muc.example.org"
	e.ok("setup", e.iq("set", publishNative(r1, `<conference xmlns='`+NS+`' name='One'/>`)))
	e.events()
	e.takeChanges()
	want := []string{r1 + "=One"}

	for _, tc := range []struct {
		name, typ, xml string
		cond, app      string
	}{
		{"native payload in the legacy namespace", "set", publishNative("room2@muc.example.org", `<conference xmlns='`+NSLegacy+`' name='Two'/>`), "bad-request", "invalid-payload"},
		{"native item id that is no room", "set", publishNative("not a room", `<conference xmlns='`+NS+`' name='Two'/>`), "bad-request", "invalid-payload"},
		{"native item id with a resource", "set", publishNative("room2@muc.example.org/nick", `<conference xmlns='`+NS+`'/>`), "bad-request", "invalid-payload"},
		{"native autojoin that is no boolean", "set", publishNative("room2@muc.example.org", `<conference xmlns='`+NS+`' autojoin='yes'/>`), "bad-request", "invalid-payload"},
		{"native publish options that do not match", "set", strings.Replace(publishNative("room2@muc.example.org", `<conference xmlns='`+NS+`'/>`), "whitelist", "open", 1), "conflict", "precondition-not-met"},
		{"private conference without jid", "set", setPrivate(`<storage xmlns='` + NSLegacy + `'><conference name='x'/></storage>`), "bad-request", "invalid-payload"},
		{"private conference with a bad jid", "set", setPrivate(`<storage xmlns='` + NSLegacy + `'><conference jid='@@'/></storage>`), "bad-request", "invalid-payload"},
		{"private list longer than the node keeps", "set", setPrivate(`<storage xmlns='` + NSLegacy + `'>` +
			`<conference jid='a@m.example'/><conference jid='b@m.example'/><conference jid='c@m.example'/><conference jid='d@m.example'/></storage>`), "policy-violation", "max-items-exceeded"},
		{"legacy PEP item that is no list", "set", publishLegacy(`<bookmarks xmlns='urn:example'/>`), "bad-request", "invalid-payload"},
		{"legacy PEP list with a bad autojoin", "set", publishLegacy(`<storage xmlns='` + NSLegacy + `'><conference jid='a@m.example' autojoin='perhaps'/></storage>`), "bad-request", "invalid-payload"},
	} {
		e.refused(tc.name, e.iq(tc.typ, tc.xml), tc.cond, tc.app)
		eq(t, tc.name+": native after", e.native(), want)
		eq(t, tc.name+": legacy after", legacyConferences(e.viaLegacyPEP()), []string{r1 + "=One"})
		eq(t, tc.name+": events", e.events(), nil)
		if ch := e.takeChanges(); len(ch) != 0 {
			t.Errorf("%s: hook called: %+v", tc.name, ch)
		}
	}
}

func TestConversion(t *testing.T) {
	room := jid.MustParse("room@muc.example.org")
	for _, tc := range []struct {
		name   string
		legacy string
		old    *Bookmark
		want   Bookmark
	}{
		{"plain", `<conference xmlns='storage:bookmarks' jid='room@muc.example.org' name='R' autojoin='1'><nick>n</nick><password>p</password></conference>`, nil,
			Bookmark{Room: room, Name: "R", Autojoin: true, Nick: "n", Password: "p"}},
		{"other children become extensions", `<conference xmlns='storage:bookmarks' jid='room@muc.example.org'><x xmlns='urn:x'/></conference>`, nil,
			Bookmark{Room: room, Extensions: parse(t, `<extensions xmlns='urn:xmpp:bookmarks:1'><x xmlns='urn:x'/></extensions>`)}},
		{"extensions of old kept", `<conference xmlns='storage:bookmarks' jid='room@muc.example.org' autojoin='false'/>`,
			&Bookmark{Room: room, Extensions: parse(t, `<extensions xmlns='urn:xmpp:bookmarks:1'><y xmlns='urn:y'/></extensions>`)},
			Bookmark{Room: room, Extensions: parse(t, `<extensions xmlns='urn:xmpp:bookmarks:1'><y xmlns='urn:y'/></extensions>`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := fromLegacy(parse(t, tc.legacy), tc.old)
			if err != nil {
				t.Fatal(err)
			}
			if !b.Equal(tc.want) {
				t.Fatalf("got %s, want %s", describe(b), describe(tc.want))
			}
			// Native and legacy forms read back the same.
			back, err := fromItem(pep.Item{ID: b.Room.String(), Payload: b.payload()})
			if err != nil || !back.Equal(b) {
				t.Errorf("native round trip: %s, %v", describe(back), err)
			}
			again, err := fromLegacy(b.legacy(), nil)
			if err != nil || !again.Equal(b) {
				t.Errorf("legacy round trip: %s, %v", describe(again), err)
			}
		})
	}
}

// TestPublishWithoutOptions: a client that publishes bookmarks without
// publish options still gets the XEP-0402 node configuration, so that
// every bookmark is kept.
func TestPublishWithoutOptions(t *testing.T) {
	e := newEnv(t, 0)
	for _, room := range []string{"a@muc.example.org", "b@muc.example.org"} {
		e.ok("publish "+room, e.iq("set", `<pubsub xmlns='`+pep.NS+`'><publish node='`+NS+`'><item id='`+room+`'><conference xmlns='`+NS+`'/></item></publish></pubsub>`))
	}
	eq(t, "native", e.native(), []string{"a@muc.example.org=", "b@muc.example.org="})
	r := e.ok("configuration", e.iq("get", `<pubsub xmlns='`+pep.NSOwner+`'><configure node='`+NS+`'/></pubsub>`))
	got := map[string]string{}
	for _, f := range r.Child(pep.NSOwner, "pubsub").Child(pep.NSOwner, "configure").Child("jabber:x:data", "x").Elements() {
		got[f.Attr("var")] = f.ChildText("jabber:x:data", "value")
	}
	for k, v := range map[string]string{"pubsub#access_model": "whitelist", "pubsub#max_items": "max", "pubsub#send_last_published_item": "never", "pubsub#persist_items": "1"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
