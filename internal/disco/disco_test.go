package disco

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// fakeAccounts is the set of existing accounts; "broken" fails.
type fakeAccounts map[string]bool

func (f fakeAccounts) AccountExists(ctx context.Context, user string) (bool, error) {
	if user == "broken" {
		return false, errors.New("disk on fire")
	}
	return f[user], nil
}

func contactForm(addr string) *xml.Element {
	return xml.New(NSData, "x", "type", "result").Append(
		xml.New(NSData, "field", "var", "FORM_TYPE", "type", "hidden").Append(
			xml.New(NSData, "value").AppendText("http://jabber.org/network/serverinfo")),
		xml.New(NSData, "field", "var", "admin-addresses").Append(
			xml.New(NSData, "value").AppendText(addr)),
	)
}

func newMux(t *testing.T) (*iq.Mux, *Service) {
	t.Helper()
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	s := New(fakeAccounts{"bob": true, "alice": true})
	s.Register(m)
	// Features other packages would advertise; registered after disco on
	// purpose, as disco must read them at request time.
	m.Feature(iq.Server|iq.Self|iq.Account, "urn:xmpp:ping")
	m.Feature(iq.Server, "jabber:iq:version")
	m.Feature(iq.Self, "jabber:iq:roster")
	if err := s.AddServerForm(contactForm("xmpp:old@localhost")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddServerForm(contactForm("xmpp:admin@localhost")); err != nil {
		t.Fatal(err)
	}
	for _, it := range []struct{ j, name string }{
		{"conference.localhost", "Rooms"},
		{"upload.localhost", ""},
		{"gone.localhost", "Gone"},
		{"conference.localhost", "Chatrooms"},
	} {
		if err := s.AddServerItem(it.j, it.name); err != nil {
			t.Fatal(err)
		}
	}
	s.RemoveServerItem("gone.localhost")
	return m, s
}

func TestDisco(t *testing.T) {
	m, _ := newMux(t)
	alice := jid.MustParse("alice@localhost/phone")
	server := jid.Domain("localhost")
	const (
		info  = stanza.NSDiscoInfo
		items = stanza.NSDiscoItem
	)
	serverInfo := `<query xmlns="` + info + `"><identity category="server" type="im" name="minimix"/>` +
		`<feature var="` + info + `"/><feature var="` + items + `"/>` +
		`<feature var="jabber:iq:version"/><feature var="urn:xmpp:ping"/>` +
		`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>http://jabber.org/network/serverinfo</value></field>` +
		`<field var="admin-addresses"><value>xmpp:admin@localhost</value></field></x></query>`
	accountIdentity := `<identity category="account" type="registered"/>`
	for _, tc := range []struct {
		name    string
		typ     string
		ns      string
		node    string
		from    jid.JID
		to      jid.JID
		target  iq.Target
		want    string // payload, when the reply is a result
		wantErr xmpperr.Condition
	}{
		{name: "server info", typ: "get", ns: info, from: alice, to: server, target: iq.Server, want: serverInfo},
		{name: "server info node", typ: "get", ns: info, node: "x", from: alice, to: server, target: iq.Server, wantErr: xmpperr.ItemNotFound},
		{name: "server info set", typ: "set", ns: info, from: alice, to: server, target: iq.Server, wantErr: xmpperr.BadRequest},
		{name: "server items", typ: "get", ns: items, from: alice, to: server, target: iq.Server,
			want: `<query xmlns="` + items + `"><item jid="conference.localhost" name="Chatrooms"/><item jid="upload.localhost"/></query>`},
		{name: "server items node", typ: "get", ns: items, node: "x", from: alice, to: server, target: iq.Server, wantErr: xmpperr.ItemNotFound},
		{name: "self info", typ: "get", ns: info, from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="` + info + `">` + accountIdentity + `<feature var="` + info + `"/><feature var="` + items + `"/>` +
				`<feature var="jabber:iq:roster"/><feature var="urn:xmpp:ping"/></query>`},
		{name: "self info node", typ: "get", ns: info, node: "x", from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.ItemNotFound},
		{name: "self items", typ: "get", ns: items, from: alice, to: alice.Bare(), target: iq.Self, want: `<query xmlns="` + items + `"/>`},
		{name: "account info", typ: "get", ns: info, from: alice, to: jid.MustParse("bob@localhost"), target: iq.Account,
			want: `<query xmlns="` + info + `">` + accountIdentity + `<feature var="` + info + `"/><feature var="` + items + `"/>` +
				`<feature var="urn:xmpp:ping"/></query>`},
		{name: "account info unknown", typ: "get", ns: info, from: alice, to: jid.MustParse("nobody@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "account info unknown with node", typ: "get", ns: info, node: "x", from: alice, to: jid.MustParse("nobody@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "account info node", typ: "get", ns: info, node: "x", from: alice, to: jid.MustParse("bob@localhost"), target: iq.Account, wantErr: xmpperr.ItemNotFound},
		{name: "account info store fails", typ: "get", ns: info, from: alice, to: jid.MustParse("broken@localhost"), target: iq.Account, wantErr: xmpperr.InternalServerErrorC},
		{name: "account items", typ: "get", ns: items, from: alice, to: jid.MustParse("bob@localhost"), target: iq.Account, want: `<query xmlns="` + items + `"/>`},
		{name: "account items unknown", typ: "get", ns: items, from: alice, to: jid.MustParse("nobody@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "account items set", typ: "set", ns: items, from: alice, to: jid.MustParse("bob@localhost"), target: iq.Account, wantErr: xmpperr.BadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := xml.New(tc.ns, "query")
			q.SetAttr("node", tc.node)
			el := stanza.NewIQ(tc.typ, "id1", tc.from.String(), tc.to.String(), q)
			reply := m.Serve(t.Context(), el, tc.from, tc.to, tc.target)
			if reply == nil {
				t.Fatal("no reply")
			}
			if reply.Attr("id") != "id1" || reply.Attr("to") != tc.from.String() {
				t.Errorf("reply %s: wrong id or to", reply)
			}
			if tc.wantErr != "" {
				se := xmpperr.FromElement(reply)
				if reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
					t.Fatalf("reply %s, want error %s", reply, tc.wantErr)
				}
				return
			}
			if reply.Attr("type") != "result" {
				t.Fatalf("reply %s, want result", reply)
			}
			if got := reply.FirstElement().String(); got != tc.want {
				t.Errorf("payload\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAddServerFormRejects(t *testing.T) {
	s := New(fakeAccounts{})
	for _, tc := range []struct {
		name string
		form *xml.Element
	}{
		{"nil", nil},
		{"not a form", xml.New("urn:example", "x", "type", "result")},
		{"form type", xml.New(NSData, "x", "type", "form").Append(
			xml.New(NSData, "field", "var", "FORM_TYPE").Append(xml.New(NSData, "value").AppendText("urn:example")))},
		{"no FORM_TYPE", xml.New(NSData, "x", "type", "result").Append(
			xml.New(NSData, "field", "var", "other").Append(xml.New(NSData, "value").AppendText("urn:example")))},
		{"empty FORM_TYPE", xml.New(NSData, "x", "type", "result").Append(xml.New(NSData, "field", "var", "FORM_TYPE"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.AddServerForm(tc.form); err == nil {
				t.Error("AddServerForm accepted it")
			}
		})
	}
	if err := s.AddServerItem("not a jid@", ""); err == nil {
		t.Error("AddServerItem accepted a bad JID")
	}
}

// TestServerFormIsCopied checks that a caller changing its form later
// does not change what disco serves.
func TestServerFormIsCopied(t *testing.T) {
	m := iq.NewMux(nil)
	s := New(fakeAccounts{})
	s.Register(m)
	f := contactForm("xmpp:admin@localhost")
	if err := s.AddServerForm(f); err != nil {
		t.Fatal(err)
	}
	f.Children = nil
	from, to := jid.MustParse("a@localhost/r"), jid.Domain("localhost")
	reply := m.Serve(t.Context(), stanza.NewIQ("get", "1", from.String(), to.String(), xml.New(stanza.NSDiscoInfo, "query")), from, to, iq.Server)
	x := reply.FirstElement().Child(NSData, "x")
	if x == nil || len(x.Elements()) != 2 {
		t.Fatalf("form changed with the caller's copy: %s", reply)
	}
}
