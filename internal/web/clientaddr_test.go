package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientAddr: X-Forwarded-For is believed only from a proxy in
// secure_networks, and then its last hop is the client.
func TestClientAddr(t *testing.T) {
	h := New(Config{SecureNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.7:4000", nil, "192.0.2.7"},
		{"192.0.2.7:4000", []string{"198.51.100.1"}, "192.0.2.7"}, // not a proxy of ours
		{"10.1.2.3:4000", nil, "10.1.2.3"},
		{"10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:4000", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"}, // the proxy's own hop
		{"10.1.2.3:4000", []string{"203.0.113.9", "198.51.100.2"}, "198.51.100.2"},
		{"10.1.2.3:4000", []string{"[2001:db8::1]:555"}, "2001:db8::1"},
		{"10.1.2.3:4000", []string{"not an address"}, "10.1.2.3"},
		{"[::ffff:10.1.2.3]:4000", []string{"::ffff:198.51.100.3"}, "198.51.100.3"},
	} {
		r := httptest.NewRequest("POST", "/http-bind", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.clientAddr(r); got.String() != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}
