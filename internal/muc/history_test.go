package muc

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHistorySelection(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HistoryDefault = 3 })
	h.create(alice, roomJID, "Alice")
	start := h.clock()
	for i := 1; i <= 6; i++ {
		h.send(alice, fmt.Sprintf("<message to='%s' type='groupchat'><body>m%d</body></message>", roomJID, i))
		h.advance(time.Minute)
	}
	// m1 at start, m6 at start+5m; now is start+6m.
	h.drop()
	for _, tc := range []struct {
		name, history string
		want          string
	}{
		{"default", "", "m4 m5 m6"},
		{"maxstanzas", "<history maxstanzas='2'/>", "m5 m6"},
		{"maxstanzas above the default", "<history maxstanzas='5'/>", "m2 m3 m4 m5 m6"},
		{"maxstanzas 0", "<history maxstanzas='0'/>", ""},
		{"maxchars 0", "<history maxchars='0'/>", ""},
		{"seconds", "<history seconds='150'/>", "m5 m6"},
		{"since", "<history since='" + start.Add(90*time.Second).Format(time.RFC3339) + "'/>", "m3 m4 m5 m6"},
		{"since and maxstanzas", "<history since='" + start.Add(90*time.Second).Format(time.RFC3339) + "' maxstanzas='1'/>", "m6"},
		{"bad values ignored", "<history maxstanzas='-1' seconds='x'/>", "m4 m5 m6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := h.join(bob, roomJID, "Bob", tc.history)
			var b []string
			for _, m := range only(got, "message") {
				if body := m.ChildText("", "body"); body != "" {
					b = append(b, body)
					if d := m.Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("from") != roomJID {
						t.Errorf("no delay from the room: %s", m)
					}
				}
			}
			if strings.Join(b, " ") != tc.want {
				t.Errorf("history %q, want %q", strings.Join(b, " "), tc.want)
			}
			h.send(bob, "<presence type='unavailable' to='"+roomJID+"/Bob'/>")
			h.drop()
		})
	}
	t.Run("maxchars", func(t *testing.T) {
		// Two stanzas' worth of characters, as the room counts them.
		h.svc.mu.Lock()
		r := h.svc.rooms["room"]
		h.svc.mu.Unlock()
		r.mu.Lock()
		n := len([]rune(string(r.history[len(r.history)-1].el.AppendXML(nil, "")))) +
			len([]rune(string(r.history[len(r.history)-2].el.AppendXML(nil, ""))))
		r.mu.Unlock()
		got := h.join(bob, roomJID, "Bob", fmt.Sprintf("<history maxchars='%d'/>", n))
		if m := only(got, "message"); len(m) != 3 || m[0].ChildText("", "body") != "m5" {
			t.Errorf("maxchars %d: %s", n, dump(got))
		}
	})
}

func TestHistoryLengthAndHints(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.configure(alice, roomJID, map[string]string{fHistory: "2"})
	for i := 1; i <= 4; i++ {
		h.send(alice, fmt.Sprintf("<message to='%s' type='groupchat'><body>m%d</body></message>", roomJID, i))
	}
	// Not kept: no body, or hinted no-store.
	h.send(alice, "<message to='"+roomJID+"' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	h.drop()
	got := h.join(bob, roomJID, "Bob", "<history maxstanzas='10'/>")
	if m := only(got, "message"); len(m) != 3 || m[0].ChildText("", "body") != "m3" || m[1].ChildText("", "body") != "m4" {
		t.Errorf("history length 2: %s", dump(got))
	}
}
