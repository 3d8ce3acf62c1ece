package server_test

import (
	"slices"
	"testing"
	"time"

	"minimix/internal/server"
	"minimix/internal/xmpptest"
)

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// features returns the feature vars of a disco#info result, and checks
// that it has an identity of category/type.
func features(t *testing.T, r Node, category, typ string) []string {
	t.Helper()
	q := r.Child(nsDiscoInfo, "query")
	if r.Attr("type") != "result" || q == nil {
		t.Fatalf("disco#info failed: %s", r)
	}
	if !slices.ContainsFunc(q.Children(nsDiscoInfo, "identity"), func(id Node) bool {
		return id.Attr("category") == category && id.Attr("type") == typ
	}) {
		t.Errorf("identities %s, want %s/%s", r, category, typ)
	}
	var vars []string
	for _, f := range q.Children(nsDiscoInfo, "feature") {
		vars = append(vars, f.Attr("var"))
	}
	return vars
}

func wantFeatures(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	for _, v := range want {
		if !slices.Contains(got, v) {
			t.Errorf("%s does not advertise %s (has %q)", what, v, got)
		}
	}
}

// TestE2EIQ checks the iqs the server answers itself (RFC 6120 8.5,
// RFC 6121 8.5) and for accounts: service discovery, ping, version,
// entity time, vCards, private storage, and the errors for what nobody
// serves.
func TestE2EIQ(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob", "carol"})
	a := loginAs(t, srv, "alice")
	b := loginAs(t, srv, "bob")

	t.Run("disco#info server", func(t *testing.T) {
		r := a.IQ(t, `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		wantAttrs(t, r, "from", "localhost", "to", a.JID.String(), "id", "d1")
		wantFeatures(t, "server", features(t, r, "server", "im"),
			nsDiscoInfo, nsDiscoItems, "urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time",
			"urn:xmpp:carbons:2", "vcard-temp", "jabber:iq:register", "msgoffline")
	})
	t.Run("disco#items server", func(t *testing.T) {
		r := a.IQ(t, `<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
		wantAttrs(t, r, "type", "result", "from", "localhost")
		if r.Child(nsDiscoItems, "query") == nil {
			t.Errorf("no items query: %s", r)
		}
	})
	t.Run("disco#info own account", func(t *testing.T) {
		r := a.IQ(t, `<iq type='get' id='d3' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		wantAttrs(t, r, "from", "alice@localhost")
		wantFeatures(t, "own account", features(t, r, "account", "registered"),
			nsDiscoInfo, nsDiscoItems, "urn:xmpp:mam:2", "urn:xmpp:mam:2#extended", "urn:xmpp:sid:0", "urn:xmpp:ping", "urn:xmpp:carbons:2")
	})
	t.Run("disco#info another account", func(t *testing.T) {
		r := b.IQ(t, `<iq type='get' id='d4' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		wantAttrs(t, r, "from", "alice@localhost", "to", b.JID.String())
		wantFeatures(t, "another account", features(t, r, "account", "registered"), nsDiscoInfo, "urn:xmpp:mam:2", "urn:xmpp:sid:0")
	})
	t.Run("disco#items account", func(t *testing.T) {
		r := b.IQ(t, `<iq type='get' id='d5' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
		wantAttrs(t, r, "type", "result", "from", "alice@localhost")
	})

	for _, tc := range []struct {
		name string
		c    *xmpptest.Client
		iq   string
		from string
	}{
		{"ping server", a, `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "localhost"},
		{"ping own account", a, `<iq type='get' id='p2' to='alice@localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "alice@localhost"},
		{"ping own account without to", a, `<iq type='get' id='p3'><ping xmlns='urn:xmpp:ping'/></iq>`, "alice@localhost"},
		{"ping another account", b, `<iq type='get' id='p4' to='alice@localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "alice@localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.IQ(t, tc.iq)
			wantAttrs(t, r, "type", "result", "from", tc.from, "to", tc.c.JID.String())
			if len(r.Nodes) != 0 {
				t.Errorf("pong with a payload: %s", r)
			}
		})
	}

	t.Run("version", func(t *testing.T) {
		r := a.IQ(t, `<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>`)
		wantAttrs(t, r, "type", "result", "from", "localhost")
		name, _ := child(*r.Child("jabber:iq:version", "query"), "name")
		ver, _ := child(*r.Child("jabber:iq:version", "query"), "version")
		if name != "minimix" || ver != server.Version {
			t.Errorf("version %q %q, want minimix %s", name, ver, server.Version)
		}
	})
	t.Run("entity time", func(t *testing.T) {
		r := a.IQ(t, `<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>`)
		tm := r.Child("urn:xmpp:time", "time")
		if tm == nil {
			t.Fatalf("no time: %s", r)
		}
		tzo, _ := child(*tm, "tzo")
		utc, _ := child(*tm, "utc")
		got, err := time.Parse(time.RFC3339Nano, utc)
		if err != nil || tzo == "" || got.Location() != time.UTC || time.Since(got).Abs() > time.Minute {
			t.Errorf("time tzo=%q utc=%q (%v)", tzo, utc, err)
		}
	})

	t.Run("vcard", func(t *testing.T) {
		r := a.IQ(t, `<iq type='set' id='vc1'><vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard></iq>`)
		wantAttrs(t, r, "type", "result", "id", "vc1")
		for _, c := range []*xmpptest.Client{a, b} {
			to := ""
			if c == b {
				to = ` to='alice@localhost'`
			}
			r := c.IQ(t, `<iq type='get' id='vc2'`+to+`><vCard xmlns='vcard-temp'/></iq>`)
			wantAttrs(t, r, "type", "result", "from", "alice@localhost")
			v := r.Child("vcard-temp", "vCard")
			if v == nil {
				t.Fatalf("no vCard: %s", r)
			}
			wantChild(t, *v, "FN", "Alice Liddell")
			wantChild(t, *v, "NICKNAME", "al")
		}
		// Nobody else sets alice's vCard.
		r = b.IQ(t, `<iq type='set' id='vc3' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>`)
		wantError(t, r, "auth", "forbidden")
		// XEP-0054 3.1: no vCard and no account get the same error, so
		// that accounts cannot be harvested.
		r1 := b.IQ(t, `<iq type='get' id='vc4' to='carol@localhost'><vCard xmlns='vcard-temp'/></iq>`)
		r2 := b.IQ(t, `<iq type='get' id='vc5' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>`)
		wantError(t, r1, "cancel", "service-unavailable")
		wantError(t, r2, "cancel", "service-unavailable")
	})

	t.Run("private storage", func(t *testing.T) {
		r := a.IQ(t, `<iq type='set' id='x1'><query xmlns='jabber:iq:private'><prefs xmlns='example:prefs'><colour>blue</colour></prefs></query></iq>`)
		wantAttrs(t, r, "type", "result", "id", "x1")
		r = a.IQ(t, `<iq type='get' id='x2'><query xmlns='jabber:iq:private'><prefs xmlns='example:prefs'/></query></iq>`)
		p := r.Find("query/prefs")
		if p == nil || p.XMLName.Space != "example:prefs" {
			t.Fatalf("private get: %s", r)
		}
		wantChild(t, *p, "colour", "blue")
		// An unknown namespace comes back empty (XEP-0049 3.3).
		r = a.IQ(t, `<iq type='get' id='x3'><query xmlns='jabber:iq:private'><other xmlns='example:other'/></query></iq>`)
		if o := r.Find("query/other"); r.Attr("type") != "result" || o == nil || len(o.Nodes) != 0 {
			t.Errorf("private get of nothing stored: %s", r)
		}
		// Private data is the account's own.
		r = b.IQ(t, `<iq type='get' id='x4' to='alice@localhost'><query xmlns='jabber:iq:private'><prefs xmlns='example:prefs'/></query></iq>`)
		if r.Attr("type") != "error" || r.Find("query/prefs/colour") != nil {
			t.Errorf("another account read private data: %s", r)
		}
		// A fragment in a reserved namespace (here jabber:iq:private,
		// inherited) is refused (XEP-0049 3.3).
		r = a.IQ(t, `<iq type='get' id='x5'><query xmlns='jabber:iq:private'><x/></query></iq>`)
		wantError(t, r, "modify", "not-acceptable")
	})

	// RFC 6120 8.4 and RFC 6121 8.5: what nobody serves.
	for _, tc := range []struct {
		name, to string
		c        *xmpptest.Client
	}{
		{"unknown namespace to the server", "localhost", a},
		{"unknown namespace to own account", "alice@localhost", a},
		{"unknown namespace to another account", "alice@localhost", b},
		{"missing account", "nobody@localhost", b},
		{"unknown resource of an online account", "alice@localhost/nowhere", b},
		{"resource of a missing account", "nobody@localhost/x", b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.IQ(t, `<iq type='get' id='u1' to='`+tc.to+`'><query xmlns='urn:example:unknown'/></iq>`)
			wantAttrs(t, r, "id", "u1", "from", tc.to, "to", tc.c.JID.String())
			wantError(t, r, "cancel", "service-unavailable")
		})
	}

	// An iq to another client's full JID reaches it, and the answer
	// comes back (RFC 6121 8.5.3.1).
	t.Run("to a full JID", func(t *testing.T) {
		r := b.IQ(t, `<iq type='get' id='f1' to='`+a.JID.String()+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		wantAttrs(t, r, "type", "result", "id", "f1", "from", a.JID.String())
	})
}
