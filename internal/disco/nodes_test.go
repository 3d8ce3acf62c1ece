package disco

import (
	"context"
	"log/slog"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// TestAccountNodes checks the account identity and node listing that PEP
// plugs in.
func TestAccountNodes(t *testing.T) {
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	s := New(fakeAccounts{"alice": true, "bob": true})
	s.Register(m)
	s.AddAccountIdentity("pubsub", "pep", "")
	s.SetAccountNodes(func(ctx context.Context, account, requester jid.JID) ([]string, error) {
		if requester.Bare() == account {
			return []string{"urn:example:a", "urn:example:private"}, nil
		}
		return []string{"urn:example:a"}, nil
	})
	alice, bob := jid.MustParse("alice@localhost/phone"), jid.MustParse("bob@localhost/pc")
	ask := func(from jid.JID, ns, node string) *xml.Element {
		t.Helper()
		q := xml.New(ns, "query")
		q.SetAttr("node", node)
		target := iq.Account
		if from.Bare() == alice.Bare() {
			target = iq.Self
		}
		return m.Serve(context.Background(), stanza.NewIQ("get", "d", from.String(), "alice@localhost", q), from, alice.Bare(), target)
	}
	for _, tc := range []struct {
		name     string
		from     jid.JID
		ns, node string
		want     string
	}{
		{"own info", alice, stanza.NSDiscoInfo, "", `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="account" type="registered"/><feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/><identity category="pubsub" type="pep"/></query>`},
		{"other's info", bob, stanza.NSDiscoInfo, "", `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="account" type="registered"/><feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/><identity category="pubsub" type="pep"/></query>`},
		{"own items", alice, stanza.NSDiscoItem, "", `<query xmlns="http://jabber.org/protocol/disco#items"><item jid="alice@localhost" node="urn:example:a"/><item jid="alice@localhost" node="urn:example:private"/></query>`},
		{"other's items", bob, stanza.NSDiscoItem, "", `<query xmlns="http://jabber.org/protocol/disco#items"><item jid="alice@localhost" node="urn:example:a"/></query>`},
		{"node info", bob, stanza.NSDiscoInfo, "urn:example:a", `<query xmlns="http://jabber.org/protocol/disco#info" node="urn:example:a"><identity category="pubsub" type="leaf"/><feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/></query>`},
		{"hidden node info", bob, stanza.NSDiscoInfo, "urn:example:private", "error"},
		{"own hidden node info", alice, stanza.NSDiscoInfo, "urn:example:private", `<query xmlns="http://jabber.org/protocol/disco#info" node="urn:example:private"><identity category="pubsub" type="leaf"/><feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/></query>`},
	} {
		r := ask(tc.from, tc.ns, tc.node)
		got := r.Attr("type")
		if got == "result" {
			got = r.FirstElement().String()
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	r := m.Serve(context.Background(), stanza.NewIQ("get", "d", bob.String(), "nobody@localhost", xml.New(stanza.NSDiscoInfo, "query", "node", "urn:example:a")), bob, jid.MustParse("nobody@localhost"), iq.Account)
	if r.Attr("type") != "error" {
		t.Errorf("node info of a missing account: %s", r)
	}
}

// fakeNodes answers about one node of the server, and refuses another.
type fakeNodes struct{}

func (fakeNodes) NodeInfo(ctx context.Context, req iq.Request, node string) (*xml.Element, error) {
	switch node {
	case "urn:example:list":
		q := xml.New(stanza.NSDiscoInfo, "query", "node", node)
		return q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "automation", "type", "command-list")), nil
	case "urn:example:secret":
		return nil, xmpperr.New(xmpperr.Forbidden, "")
	}
	return nil, nil
}

func (fakeNodes) NodeItems(ctx context.Context, req iq.Request, node string) (*xml.Element, error) {
	if node != "urn:example:list" {
		return nil, nil
	}
	q := xml.New(stanza.NSDiscoItem, "query", "node", node)
	return q.Append(xml.New(stanza.NSDiscoItem, "item", "jid", "localhost", "node", "one", "name", req.From.Local)), nil
}

// TestServerNodes checks that a NodeHandler answers about its nodes of
// the server, and that other nodes stay item-not-found.
func TestServerNodes(t *testing.T) {
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	s := New(fakeAccounts{})
	s.Register(m)
	s.AddServerNodes(fakeNodes{})
	alice := jid.MustParse("alice@localhost/phone")
	for _, tc := range []struct {
		ns, node, typ string
		want          string
	}{
		{stanza.NSDiscoInfo, "urn:example:list", "get", `<query xmlns="http://jabber.org/protocol/disco#info" node="urn:example:list"><identity category="automation" type="command-list"/></query>`},
		{stanza.NSDiscoItem, "urn:example:list", "get", `<query xmlns="http://jabber.org/protocol/disco#items" node="urn:example:list"><item jid="localhost" node="one" name="alice"/></query>`},
		{stanza.NSDiscoInfo, "urn:example:secret", "get", "forbidden"},
		{stanza.NSDiscoItem, "urn:example:secret", "get", "item-not-found"},
		{stanza.NSDiscoInfo, "urn:example:other", "get", "item-not-found"},
		{stanza.NSDiscoItem, "urn:example:list", "set", "bad-request"},
	} {
		q := xml.New(tc.ns, "query", "node", tc.node)
		r := m.Serve(context.Background(), stanza.NewIQ(tc.typ, "d", alice.String(), "localhost", q), alice, jid.Domain("localhost"), iq.Server)
		got := r.Attr("type")
		switch got {
		case "result":
			got = r.FirstElement().String()
		case "error":
			got = string(r.Child("", "error").FirstElement().Local)
		}
		if got != tc.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", tc.typ, tc.ns, tc.node, got, tc.want)
		}
	}
}
