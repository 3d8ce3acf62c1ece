package disco

import (
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// The two worked examples of XEP-0115 section 5.
func TestVerificationString(t *testing.T) {
	for _, tc := range []struct{ name, query, want string }{
		{"simple", `<query xmlns='http://jabber.org/protocol/disco#info'>
			<identity category='client' name='Exodus 0.9.1' type='pc'/>
			<feature var='http://jabber.org/protocol/caps'/>
			<feature var='http://jabber.org/protocol/disco#info'/>
			<feature var='http://jabber.org/protocol/disco#items'/>
			<feature var='http://jabber.org/protocol/muc'/></query>`, "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"complex", `<query xmlns='http://jabber.org/protocol/disco#info'>
			<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
			<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
			<feature var='http://jabber.org/protocol/caps'/>
			<feature var='http://jabber.org/protocol/disco#info'/>
			<feature var='http://jabber.org/protocol/disco#items'/>
			<feature var='http://jabber.org/protocol/muc'/>
			<x xmlns='jabber:x:data' type='result'>
			  <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
			  <field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>
			  <field var='os'><value>Mac</value></field>
			  <field var='os_version'><value>10.5.1</value></field>
			  <field var='software'><value>Psi</value></field>
			  <field var='software_version'><value>0.11</value></field>
			</x></query>`, "q07IKJEyjvHSyhy//CH0CxmKi8w="},
	} {
		q, err := xml.Parse([]byte(tc.query))
		if err != nil {
			t.Fatal(err)
		}
		if got := VerificationString(q); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// The server's <c/> names the hash of what disco#info answers, and the
// server answers disco#info at node#ver with the same; an old ver is an
// unknown node.
func TestServerCaps(t *testing.T) {
	m, s := newMux(t)
	alice := jid.MustParse("alice@localhost/phone")
	server := jid.Domain("localhost")
	ask := func(node string) *xml.Element {
		q := xml.New(stanza.NSDiscoInfo, "query")
		if node != "" {
			q.SetAttr("node", node)
		}
		return m.Serve(t.Context(), stanza.NewIQ("get", "c1", alice.String(), server.String(), q), alice, server, iq.Server)
	}
	c := s.CapsElement()
	if c.Space != NSCaps || c.Attr("hash") != "sha-1" || c.Attr("node") != CapsNode {
		t.Fatalf("caps element %s", c)
	}
	plain := ask("").Child(stanza.NSDiscoInfo, "query")
	if got := VerificationString(plain); got != c.Attr("ver") {
		t.Fatalf("ver %s is not the hash %s of disco#info", c.Attr("ver"), got)
	}
	reply := ask(CapsNode + "#" + c.Attr("ver"))
	q := reply.Child(stanza.NSDiscoInfo, "query")
	if reply.Attr("type") != "result" || q == nil || q.Attr("node") != CapsNode+"#"+c.Attr("ver") || VerificationString(q) != c.Attr("ver") {
		t.Fatalf("caps node: %s", reply)
	}
	// A feature registered later changes ver; the old one is gone.
	m.Feature(iq.Server, "urn:example:late")
	if s.CapsElement().Attr("ver") == c.Attr("ver") {
		t.Fatal("ver did not follow a new feature")
	}
	if reply := ask(CapsNode + "#" + c.Attr("ver")); reply.Attr("type") != "error" {
		t.Fatalf("old ver answered: %s", reply)
	}
}
