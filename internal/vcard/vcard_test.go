package vcard

import (
	"log/slog"
	"path/filepath"
	"slices"
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

func openStore(t *testing.T, users ...string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "minimix.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range users {
		if err := db.CreateAccount(t.Context(), u, storage.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func card(fn string) *xml.Element {
	return xml.New(NS, "vCard").Append(xml.New(NS, "FN").AppendText(fn))
}

// TestVCard runs its steps in order against one store.
func TestVCard(t *testing.T) {
	db := openStore(t, "alice", "bob", "carol", "dave")
	// dave's stored vCard is not XML: reading it is a server error.
	if err := db.SetVCard(t.Context(), "dave", []byte("<vCard")); err != nil {
		t.Fatal(err)
	}
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	New(db, 200).Register(m)

	alice := jid.MustParse("alice@localhost/phone")
	bob := jid.MustParse("bob@localhost/laptop")
	server := jid.Domain("localhost")
	emptyCard := `<vCard xmlns="vcard-temp"/>`
	for _, tc := range []struct {
		name    string
		typ     string
		payload *xml.Element
		from    jid.JID
		to      jid.JID
		target  iq.Target
		want    string // payload of a result; "" for an empty result
		wantErr xmpperr.Condition
	}{
		{name: "own, none stored", typ: "get", payload: empty(), from: alice, to: alice.Bare(), target: iq.Self, want: emptyCard},
		{name: "set own", typ: "set", payload: card("Alice & Co"), from: alice, to: alice.Bare(), target: iq.Self},
		{name: "get own", typ: "get", payload: empty(), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<vCard xmlns="vcard-temp"><FN>Alice &amp; Co</FN></vCard>`},
		{name: "set oversize", typ: "set", payload: card(strings.Repeat("x", 200)), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable},
		{name: "oversize not stored", typ: "get", payload: empty(), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<vCard xmlns="vcard-temp"><FN>Alice &amp; Co</FN></vCard>`},
		{name: "another's", typ: "get", payload: empty(), from: bob, to: alice.Bare(), target: iq.Account,
			want: `<vCard xmlns="vcard-temp"><FN>Alice &amp; Co</FN></vCard>`},
		{name: "another's, none stored", typ: "get", payload: empty(), from: alice, to: jid.MustParse("carol@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "unknown account", typ: "get", payload: empty(), from: alice, to: jid.MustParse("nobody@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "set another's", typ: "set", payload: card("Mallory"), from: bob, to: alice.Bare(), target: iq.Account, wantErr: xmpperr.Forbidden},
		{name: "another's unchanged", typ: "get", payload: empty(), from: bob, to: alice.Bare(), target: iq.Account,
			want: `<vCard xmlns="vcard-temp"><FN>Alice &amp; Co</FN></vCard>`},
		{name: "clear own", typ: "set", payload: empty(), from: alice, to: alice.Bare(), target: iq.Self},
		{name: "cleared", typ: "get", payload: empty(), from: bob, to: alice.Bare(), target: iq.Account, want: emptyCard},
		{name: "corrupt stored", typ: "get", payload: empty(), from: alice, to: jid.MustParse("dave@localhost"), target: iq.Account, wantErr: xmpperr.InternalServerErrorC},
		{name: "server", typ: "get", payload: empty(), from: alice, to: server, target: iq.Server, want: emptyCard},
		{name: "set server", typ: "set", payload: card("Evil"), from: alice, to: server, target: iq.Server, wantErr: xmpperr.Forbidden},
		{name: "wrong element", typ: "get", payload: xml.New(NS, "vcard"), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.ServiceUnavailable},
	} {
		el := stanza.NewIQ(tc.typ, "v1", tc.from.String(), tc.to.String(), tc.payload)
		reply := m.Serve(t.Context(), el, tc.from, tc.to, tc.target)
		if reply == nil || reply.Attr("id") != "v1" {
			t.Fatalf("%s: reply %v", tc.name, reply)
		}
		if tc.wantErr != "" {
			if se := xmpperr.FromElement(reply); reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
				t.Fatalf("%s: reply %s, want error %s", tc.name, reply, tc.wantErr)
			}
			continue
		}
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
	if !slices.Contains(m.Features(iq.Self), NS) || !slices.Contains(m.Features(iq.Server), NS) || len(m.Features(iq.Account)) != 0 {
		t.Errorf("features: self %v, server %v, account %v", m.Features(iq.Self), m.Features(iq.Server), m.Features(iq.Account))
	}
}

func TestDefaultMaxSize(t *testing.T) {
	if s := New(nil, 0); s.max != DefaultMaxSize {
		t.Errorf("max %d, want %d", s.max, DefaultMaxSize)
	}
}
