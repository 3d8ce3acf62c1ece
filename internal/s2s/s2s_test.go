package s2s

import (
	"strings"
	"testing"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
	"minimix/internal/xmpptest/netproxy"
	"minimix/internal/xmpptest/testca"
)

// Two servers whose certificates nobody trusts authenticate with
// dialback, both ways; a stanza arrives with its addresses, in
// jabber:client, once.
func TestDialback(t *testing.T) {
	a, b := pair(t, selfSigned(t, "a.test"), selfSigned(t, "b.test"), nil)
	a.send("alice@a.test/phone", "bob@b.test", "hello bob")
	eventually(t, "b gets the message", func() bool { return len(b.r.got("hello bob")) == 1 })
	m := b.r.got("hello bob")[0]
	if m.Space != xml.NSClient || m.Attr("from") != "alice@a.test/phone" || m.Attr("to") != "bob@b.test" || m.Attr("type") != "chat" {
		t.Errorf("b got %s", m)
	}
	b.send("bob@b.test/laptop", "alice@a.test/phone", "hello alice")
	eventually(t, "a gets the answer", func() bool { return len(a.r.got("hello alice")) == 1 })

	out := a.list("out")
	if len(out) != 1 || out[0].Auth != "dialback" || out[0].State != "established" || out[0].CertValid || out[0].TLS == "" {
		t.Errorf("a's outgoing streams: %+v", out)
	}
	in := b.list("in")
	var found bool
	for _, s := range in {
		found = found || strings.Join(s.Remote, ",") == "a.test" && s.Auth == "dialback"
	}
	if !found {
		t.Errorf("b's incoming streams: %+v", in)
	}
	if !logged(a, `msg="s2s connection established"`, "direction=out", "remote=b.test", "auth=dialback") {
		t.Errorf("no log line for the established stream:\n%s", a.log)
	}
}

// With a CA both trust, the initiating server authenticates with SASL
// EXTERNAL; our other domain (the MUC service's) rides on the same
// stream, accepted on the strength of the certificate.
func TestSASLExternalAndPiggyback(t *testing.T) {
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	ca1, _ := ca.TLSCertificate("a.test")
	cb, _ := ca.TLSCertificate("b.test")
	a, b := pair(t, ca1, cb, ca.Pool())
	a.send("alice@a.test/phone", "bob@b.test", "one")
	eventually(t, "b gets one", func() bool { return len(b.r.got("one")) == 1 })
	a.send("room@conference.a.test/alice", "bob@b.test/laptop", "two")
	eventually(t, "b gets two", func() bool { return len(b.r.got("two")) == 1 })
	out := a.list("out")
	if len(out) != 1 || out[0].Auth != "sasl-external" || !out[0].CertValid || strings.Join(out[0].Local, ",") != "a.test,conference.a.test" {
		t.Errorf("a's outgoing streams: %+v", out)
	}
}

// Piggybacking with dialback: the second domain is verified by the
// receiving server's dialback to it.
func TestPiggybackDialback(t *testing.T) {
	a, b := pair(t, selfSigned(t, "a.test"), selfSigned(t, "b.test"), nil)
	a.send("alice@a.test/phone", "bob@b.test", "one")
	a.send("room@conference.a.test/alice", "bob@b.test/laptop", "two")
	eventually(t, "b gets both", func() bool { return len(b.r.got("one")) == 1 && len(b.r.got("two")) == 1 })
	out := a.list("out")
	if len(out) != 1 || strings.Join(out[0].Local, ",") != "a.test,conference.a.test" {
		t.Errorf("a's outgoing streams: %+v", out)
	}
}

// A domain nobody answers for: what was queued comes back as
// remote-server-not-found, and while the backoff lasts later stanzas
// come back at once without a new attempt.
func TestUnreachable(t *testing.T) {
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil)
	ln := netproxy.ClosedAddr(t)
	a.srv.SetHost("gone.test", ln)
	a.send("alice@a.test/phone", "bob@gone.test", "q1")
	a.send("alice@a.test/phone", "carol@gone.test", "q2")
	eventually(t, "bounces", func() bool { return len(a.r.bounces("q1")) == 1 && len(a.r.bounces("q2")) == 1 })
	if b := a.r.bounces("q1")[0]; b.cond != xmpperr.RemoteServerNotFound {
		t.Errorf("bounced with %s", b.cond)
	}
	failedBefore := a.srv.Stats.OutFailed.Load()
	a.send("alice@a.test/phone", "bob@gone.test", "q3")
	if b := a.r.bounces("q3"); len(b) != 1 || b[0].cond != xmpperr.RemoteServerNotFound {
		t.Errorf("during the backoff: %+v", b)
	}
	if a.srv.Stats.OutFailed.Load() != failedBefore {
		t.Errorf("a new attempt during the backoff")
	}
	if !logged(a, `msg="s2s connection failed"`, "direction=out", "remote=gone.test", "connection refused") {
		t.Errorf("no log line for the failure:\n%s", a.log)
	}
}
