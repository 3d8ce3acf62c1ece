package c2s_test

import (
	"testing"
	"time"

	"minimix/internal/xml"
	"minimix/internal/xmpptest"
)

// TestCSIActiveFlushes checks that presences held while the client was
// inactive (XEP-0352) are written as soon as it says <active/>, not only
// when something else comes for it.
func TestCSIActiveFlushes(t *testing.T) {
	srv := startServer(t)
	r := srv.login(t, "alice", "phone")
	r.Send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	sess := srv.session(t, "alice@localhost/phone")
	waitFor(t, "the session to be inactive", sess.(interface{ Inactive() bool }).Inactive)
	p := xml.New(xml.NSClient, "presence", "from", "bob@localhost/laptop", "to", "alice@localhost/phone").
		Append(xml.New(xml.NSClient, "show").AppendText("away"))
	if !sess.Deliver(p) {
		t.Fatal("presence refused")
	}
	r.Send(`<active xmlns='urn:xmpp:csi:0'/>`)
	r.ExpectStanza("the presence held while inactive", 5*time.Second, func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == "bob@localhost/laptop"
	})
}
