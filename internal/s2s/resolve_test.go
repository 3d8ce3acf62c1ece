package s2s

import (
	"context"
	"net"
	"strconv"
	"testing"
)

func port(t testing.TB, addr string) uint16 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

// resolve merges the two SRV services by priority, direct TLS first
// among equals; without records it falls back to the domain on 5269; the
// static table comes before DNS; a "." target means no service.
func TestResolve(t *testing.T) {
	dns := newFakeDNS(t)
	s := New(Config{Domain: "a.test", Resolver: dns.resolver(), Hosts: map[string]string{"static.test": "10.0.0.5:5299", "bare.test": "10.0.0.6"}})
	dns.addSRV("_xmpp-server._tcp.both.test.", net.SRV{Target: "plain.both.test.", Port: 5269, Priority: 10}, net.SRV{Target: "backup.both.test.", Port: 5269, Priority: 20})
	dns.addSRV("_xmpps-server._tcp.both.test.", net.SRV{Target: "tls.both.test.", Port: 5270, Priority: 10})
	dns.addSRV("_xmpp-server._tcp.none.test.", net.SRV{Target: ".", Port: 0})
	for _, c := range []struct {
		domain string
		want   []target
		fails  bool
	}{
		{"both.test", []target{{"tls.both.test", 5270, true}, {"plain.both.test", 5269, false}, {"backup.both.test", 5269, false}}, false},
		{"nosrv.test", []target{{"nosrv.test", 5269, false}}, false},
		{"static.test", []target{{"10.0.0.5", 5299, false}}, false},
		{"bare.test", []target{{"10.0.0.6", 5269, false}}, false},
		{"conference.static.test", []target{{"10.0.0.5", 5299, false}}, false}, // the parent's entry
		{"test", []target{{"test", 5269, false}}, false},                       // not "the parent" of anything
		{"none.test", nil, true},
	} {
		got, err := s.resolve(context.Background(), c.domain)
		if (err != nil) != c.fails {
			t.Errorf("%s: err %v", c.domain, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.domain, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.domain, got, c.want)
			}
		}
	}
}

// Found through _xmpps-server SRV records, a peer is reached with direct
// TLS (XEP-0368) and the xmpp-server ALPN protocol.
func TestDirectTLSBySRV(t *testing.T) {
	dns := newFakeDNS(t)
	withDNS := func(c *Config) { c.Resolver = dns.resolver() }
	a := newPeer(t, "a.test", selfSigned(t, "a.test"), nil, withDNS)
	b := newPeer(t, "b.test", selfSigned(t, "b.test"), nil, withDNS)
	dns.addSRV("_xmpps-server._tcp.b.test.", net.SRV{Target: "xmpp.b.test.", Port: port(t, b.tlsAddr), Priority: 1})
	dns.addSRV("_xmpp-server._tcp.b.test.", net.SRV{Target: "xmpp.b.test.", Port: port(t, b.addr), Priority: 1})
	dns.addA("xmpp.b.test.", net.IPv4(127, 0, 0, 1))
	dns.addSRV("_xmpp-server._tcp.a.test.", net.SRV{Target: "xmpp.a.test.", Port: port(t, a.addr), Priority: 1})
	dns.addA("xmpp.a.test.", net.IPv4(127, 0, 0, 1))
	a.send("alice@a.test/phone", "bob@b.test", "over direct TLS")
	eventually(t, "b gets it", func() bool { return len(b.r.got("over direct TLS")) == 1 })
	out := a.list("out")
	if len(out) != 1 || !out[0].DirectTLS || out[0].Auth != "dialback" {
		t.Errorf("a's stream: %+v", out)
	}
	var direct bool
	for _, in := range b.list("in") {
		direct = direct || in.DirectTLS && in.State == "established"
	}
	if !direct {
		t.Errorf("b's incoming streams: %+v", b.list("in"))
	}
}
