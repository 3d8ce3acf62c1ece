package s2s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// defaultPort is where a domain without SRV records is reached (RFC 6120
// 3.2.2), with STARTTLS.
const defaultPort = 5269

// target is one place to try for a remote domain.
type target struct {
	host      string
	port      uint16
	directTLS bool // XEP-0368: TLS from the first byte
}

func (t target) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(int(t.port))) }

func (t target) String() string {
	if t.directTLS {
		return "tls://" + t.addr()
	}
	return t.addr()
}

// errNoService says the domain published that it offers no
// server-to-server service (an SRV target of ".", RFC 2782).
var errNoService = errors.New("the domain says it has no XMPP server service (SRV target \".\")")

// resolve returns where to connect for domain, in order: the static table
// ([s2s] hosts) when it names the domain; else the SRV records of
// _xmpps-server._tcp (direct TLS, XEP-0368) and _xmpp-server._tcp
// (STARTTLS) merged by priority, direct TLS first among equals; else,
// when neither has records, the domain itself on port 5269 (its A and
// AAAA records, looked up when dialing).
func (s *Server) resolve(ctx context.Context, domain string) ([]target, error) {
	if hp, ok := s.host(domain); ok {
		host, port, err := splitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("s2s.hosts entry for %s: %w", domain, err)
		}
		return []target{{host: host, port: port}}, nil
	}
	r := s.cfg.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	_, tlsRecs, tlsErr := r.LookupSRV(ctx, "xmpps-server", "tcp", domain)
	_, tcpRecs, tcpErr := r.LookupSRV(ctx, "xmpp-server", "tcp", domain)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	type rec struct {
		*net.SRV
		direct bool
	}
	var recs []rec
	for _, r := range tlsRecs {
		recs = append(recs, rec{r, true})
	}
	for _, r := range tcpRecs {
		recs = append(recs, rec{r, false})
	}
	if len(recs) == 0 {
		// No records (or lookups that failed, as for most small
		// domains that publish none): the domain itself.
		s.log.Debug("s2s: no SRV records; trying the domain on 5269", "domain", domain, "xmpps_err", tlsErr, "xmpp_err", tcpErr)
		return []target{{host: domain, port: defaultPort}}, nil
	}
	// Each list comes sorted by priority and shuffled by weight within a
	// priority; merging keeps that order, direct TLS first at equal
	// priority.
	slices.SortStableFunc(recs, func(a, b rec) int {
		if a.Priority != b.Priority {
			return int(a.Priority) - int(b.Priority)
		}
		switch {
		case a.direct && !b.direct:
			return -1
		case b.direct && !a.direct:
			return 1
		}
		return 0
	})
	var out []target
	for _, r := range recs {
		host := strings.TrimSuffix(r.Target, ".")
		if host == "" {
			continue // "." : no service at this name
		}
		out = append(out, target{host: host, port: r.Port, directTLS: r.direct})
	}
	if len(out) == 0 {
		return nil, errNoService
	}
	return out, nil
}

func splitHostPort(hp string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, defaultPort, nil //nolint:nilerr // a bare host takes the default port
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port in %q", hp)
	}
	return host, uint16(p), nil
}
