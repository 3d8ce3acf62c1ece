package s2s

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS is a DNS server on loopback UDP that answers SRV and A
// queries from its tables and NXDOMAIN otherwise, for a net.Resolver
// whose Dial points at it: the standard library's resolver, exercised
// for real.
type fakeDNS struct {
	pc  net.PacketConn
	mu  sync.Mutex
	srv map[string][]net.SRV // "_xmpp-server._tcp.b.test."
	a   map[string]net.IP    // "host.test."
	wg  sync.WaitGroup
}

func newFakeDNS(t testing.TB) *fakeDNS {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{pc: pc, srv: map[string][]net.SRV{}, a: map[string]net.IP{}}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() { pc.Close(); d.wg.Wait() })
	return d
}

// resolver is a net.Resolver that asks only d.
func (d *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "udp", d.pc.LocalAddr().String())
	}}
}

func (d *fakeDNS) addSRV(name string, rr ...net.SRV) {
	d.mu.Lock()
	d.srv[name] = append(d.srv[name], rr...)
	d.mu.Unlock()
}

func (d *fakeDNS) addA(name string, ip net.IP) {
	d.mu.Lock()
	d.a[name] = ip
	d.mu.Unlock()
}

func (d *fakeDNS) serve() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		name := strings.ToLower(q.Name.String())
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		found := false
		d.mu.Lock()
		switch q.Type {
		case dnsmessage.TypeSRV:
			for _, r := range d.srv[name] {
				found = true
				_ = b.SRVResource(rh, dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: dnsmessage.MustNewName(r.Target)})
			}
		case dnsmessage.TypeA:
			if ip := d.a[name]; ip != nil {
				found = true
				var a [4]byte
				copy(a[:], ip.To4())
				_ = b.AResource(rh, dnsmessage.AResource{A: a})
			}
		}
		_, known := d.srv[name]
		_, knownA := d.a[name]
		d.mu.Unlock()
		msg, err := b.Finish()
		if err != nil {
			continue
		}
		if !found && !known && !knownA {
			// NXDOMAIN: rewrite the header's rcode.
			msg[3] = msg[3]&0xF0 | byte(dnsmessage.RCodeNameError)
		}
		_, _ = d.pc.WriteTo(msg, from)
	}
}
