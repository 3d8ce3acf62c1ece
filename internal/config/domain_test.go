package config

import (
	"strings"
	"testing"
)

// TestSetDomain: the service domains at their default move with the
// server's domain, as a file that sets only domain gets them; one set
// elsewhere, or off, stays.
func TestSetDomain(t *testing.T) {
	c := Default()
	c.SetDomain("example.org")
	if c.Domain != "example.org" || c.MUC.Domain != "conference.example.org" || c.PubSub.Domain != "pubsub.example.org" || c.Upload.Domain != "upload.example.org" {
		t.Errorf("after SetDomain: domain %q muc %q pubsub %q upload %q", c.Domain, c.MUC.Domain, c.PubSub.Domain, c.Upload.Domain)
	}
	// Every service domain that defaults to one derived from the
	// server's: none is left at the old one.
	for _, d := range c.serviceDomains() {
		if strings.Contains(*d.v, "localhost") {
			t.Errorf("%s = %q after SetDomain", d.key, *d.v)
		}
	}
	// The same as loading a file that sets only domain.
	f, err := Parse([]byte(`domain = "example.org"`))
	if err != nil {
		t.Fatal(err)
	}
	if f.MUC.Domain != c.MUC.Domain || f.PubSub.Domain != c.PubSub.Domain || f.Upload.Domain != c.Upload.Domain {
		t.Errorf("SetDomain gives muc %q pubsub %q upload %q, a file with the domain %q %q %q",
			c.MUC.Domain, c.PubSub.Domain, c.Upload.Domain, f.MUC.Domain, f.PubSub.Domain, f.Upload.Domain)
	}

	c = Default()
	c.MUC.Domain = "rooms.example.net"
	c.Upload.Domain = ""
	c.SetDomain("example.org")
	if c.MUC.Domain != "rooms.example.net" || c.Upload.Domain != "" || c.PubSub.Domain != "pubsub.example.org" {
		t.Errorf("set service domains moved: muc %q upload %q pubsub %q", c.MUC.Domain, c.Upload.Domain, c.PubSub.Domain)
	}
}
