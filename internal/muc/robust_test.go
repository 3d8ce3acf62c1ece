package muc

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// FuzzRouteStanza feeds the service arbitrary stanzas from an occupant, an
// owner and a stranger, in a room with occupants; nothing may panic or
// leave the service busy. The seeds run with every go test.
func FuzzRouteStanza(f *testing.F) {
	for _, s := range []string{
		"<presence to='room@" + domain + "/x'><x xmlns='" + NS + "'><history maxchars='-1' maxstanzas='99999999999999999999' since='yesterday'/></x></presence>",
		"<presence to='room@" + domain + "/x' type='unavailable'/>",
		"<presence to='room@" + domain + "' type='error'><error/></presence>",
		"<message to='room@" + domain + "' type='groupchat'><subject/><body/></message>",
		"<message to='room@" + domain + "'><x xmlns='" + NSUser + "'><invite/><decline to='room@" + domain + "'/></x></message>",
		"<message to='room@" + domain + "'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + NSRequest + "</value></field><field var='muc#request_allow'><value>1</value></field></x></message>",
		"<message to='room@" + domain + "/Bob' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
		"<iq to='room@" + domain + "' type='set' id='1'><query xmlns='" + NSAdmin + "'><item nick='Bob' role='none'/><item jid='x' affiliation='owner'/></query></iq>",
		"<iq to='room@" + domain + "' type='set' id='1'><query xmlns='" + NSOwner + "'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>0</value></field></x></query></iq>",
		"<iq to='room@" + domain + "' type='set' id='1'><query xmlns='" + NSOwner + "'><destroy jid='not a jid'/></query></iq>",
		"<iq to='room@" + domain + "' type='set' id='1'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set></query></iq>",
		"<iq to='room@" + domain + "/Bob' type='result' id='mf1.a.b.c.d'/>",
		"<iq to='room@" + domain + "/Bob' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
		"<iq to='" + domain + "' type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#items'><set xmlns='http://jabber.org/protocol/rsm'><max>-1</max><index>99</index></set></query></iq>",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	h := newHarness(f)
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.keepNothing()
	senders := []jid.JID{jid.MustParse(alice), jid.MustParse(bob), jid.MustParse(carol)}
	f.Fuzz(func(t *testing.T, raw string, who uint8) {
		el, err := xml.Parse([]byte(raw))
		if err != nil {
			return
		}
		if el.Space == "" {
			el.Space = xml.NSClient
		}
		to, err := stanza.To(el)
		if err != nil || to.Domain != domain {
			return
		}
		from := senders[int(who)%len(senders)]
		h.svc.RouteStanza(context.Background(), el, from, to)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.svc.idle(ctx); err != nil {
			t.Fatalf("service busy after %s: %v", raw, err)
		}
	})
}

// keepNothing makes the fake router count deliveries without keeping them.
func (h *harness) keepNothing() {
	h.r.mu.Lock()
	h.r.keep = false
	h.r.mu.Unlock()
}

func TestNoGoroutineLeak(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	runtime.GC()
	before := runtime.NumGoroutine()
	for i := range 200 {
		real := fmt.Sprintf("user%d@example.net/r", i)
		h.join(real, roomJID, fmt.Sprint("u", i))
		h.send(real, "<message to='"+roomJID+"' type='groupchat'><body>hi</body></message>")
		if i%2 == 0 {
			h.send(real, "<presence type='unavailable' to='"+roomJID+"/u"+fmt.Sprint(i)+"'/>")
		}
		h.join(real, fmt.Sprintf("temp%d@%s", i%5, domain), "x")
	}
	h.drop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines, %d before", n, before)
	}
}
