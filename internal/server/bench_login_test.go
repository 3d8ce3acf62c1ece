package server_test

import (
	"testing"

	"minimix/internal/xmpptest"
)

// BenchmarkLogin measures a phone's reconnection over direct TLS
// (XEP-0368), from the TCP connect to a bound session with resumable
// stream management and carbons, the three ways minimix offers: SASL
// (SCRAM-SHA-256, stream restart, bind, enable SM, enable carbons), SASL2
// with the password and Bind 2, and SASL2 with a FAST token and Bind 2.
// The client's SCRAM work (PBKDF2) is part of the first two, as it is on
// a phone.
func BenchmarkLogin(b *testing.B) {
	srv := xmpptest.Start(b)
	srv.AddUser(b, "alice", pw("alice"))
	open := func() *xmpptest.Raw {
		r := srv.DialRaw(b, xmpptest.RawOptions{DirectTLS: true})
		r.Open()
		return r
	}
	const bind2 = `<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`
	b.Run("SASL", func(b *testing.B) {
		for b.Loop() {
			r := open()
			r.Authenticate("alice", pw("alice"))
			r.Bind("phone")
			r.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/><iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
			r.Expect(xmpptest.NSSM, "enabled")
			r.ExpectStanza("carbons", 5e9, func(n xmpptest.Node) bool { return n.Attr("id") == "c" })
			r.Close()
		}
	})
	b.Run("SASL2-password", func(b *testing.B) {
		for b.Loop() {
			r := open()
			if n := r.SASL2SCRAM("alice", pw("alice"), uaPhone+bind2); n.XMLName.Local != "success" {
				b.Fatal(n)
			}
			r.Expect(xmpptest.NSStream, "features")
			r.Close()
		}
	})
	b.Run("SASL2-FAST", func(b *testing.B) {
		r := open()
		n := r.SASL2SCRAM("alice", pw("alice"), uaPhone+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`)
		token := n.Child(xmpptest.NSFAST, "token").Attr("token")
		r.Close()
		for b.Loop() {
			r := open()
			if n := r.SASL2FAST("alice", token, "HT-SHA-256-NONE", uaPhone+bind2+`<fast xmlns='urn:xmpp:fast:0'/>`); n.XMLName.Local != "success" {
				b.Fatal(n)
			}
			r.Expect(xmpptest.NSStream, "features")
			r.Close()
		}
	})
}
