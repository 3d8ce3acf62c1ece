package accountjoin

import (
	"strings"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// Rooms on other servers after the link to them broke (remote.go).

const (
	occDave   = `<presence from='r@muc.example/dave' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>`
	occCarol  = `<presence from='r@muc.example/carol' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>`
	msgBefore = `<message type='groupchat' from='r@muc.example/bob' to='alice@d.example'><body>before</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s1'/></message>`
	msgMissed = `<message type='groupchat' from='r@muc.example/bob' to='alice@d.example'><body>missed</body><delay xmlns='urn:xmpp:delay' from='r@muc.example' stamp='2026-01-01T00:00:01Z'/><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s2'/></message>`
)

// twoJoined has phone and laptop joined to the room (laptop's join
// synthesised) with bob and dave in it, and one message archived.
func (w *world) twoJoined() (phone, laptop *fakeSession) {
	w.t.Helper()
	w.svc.cfg.SelfPingAfter = 5 * time.Millisecond
	phone, laptop = w.session(alice+"/phone"), w.session(alice+"/laptop")
	w.joinFirst(phone)
	w.room(occDave)
	w.send(laptop, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.room(msgBefore)
	phone.take()
	laptop.take()
	w.sender.take()
	return phone, laptop
}

// awaitSent waits for the service to send what match accepts, and
// returns it; what else it sent is kept in others.
func (w *world) awaitSent(what string, match func(*xml.Element) bool) (*xml.Element, []*xml.Element) {
	w.t.Helper()
	var others []*xml.Element
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		for _, el := range w.sender.take() {
			if match(el) {
				return el, others
			}
			others = append(others, el)
		}
	}
	w.t.Fatalf("nothing sent like %s (sent: %v)", what, str(others))
	return nil, nil
}

func isSelfPing(el *xml.Element) bool {
	return el.Local == "iq" && el.Attr("type") == "get" && el.Child(nsPing, "ping") != nil &&
		el.Attr("from") == alice && el.Attr("to") == roomJID+"/al"
}

// The link to the room's server broke; after the wait the account
// self-pings from its bare JID, and a room that answers keeps it: nobody
// is told anything.
func TestSelfPingAfterLinkLost(t *testing.T) {
	w := newWorld(t)
	phone, laptop := w.twoJoined()
	w.svc.RemoteLinkLost("muc.example")
	w.svc.RemoteLinkLost("muc.example") // one check for both
	ping, _ := w.awaitSent("a self-ping", isSelfPing)
	if !w.room(`<iq type='result' from='r@muc.example/al' to='alice@d.example' id='` + ping.Attr("id") + `'/>`) {
		t.Fatal("the answer to the self-ping was not taken")
	}
	// The answer is taken synchronously: anything it made went out.
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("sent after a good answer: %v", str(out))
	}
	if got := append(phone.take(), laptop.take()...); len(got) != 0 {
		t.Errorf("sessions were told: %v", str(got))
	}
	// A client that does not do pings (the room passed it on) also says
	// the account is there.
	w.svc.RemoteLinkLost("muc.example")
	ping, _ = w.awaitSent("a second self-ping", isSelfPing)
	w.room(`<iq type='error' from='r@muc.example/al' to='alice@d.example' id='` + ping.Attr("id") + `'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("sent after service-unavailable: %v", str(out))
	}
}

// The room lost the account (its server restarted): the server joins
// again with history since its last archived message, keeping the
// sessions joined; they see what they missed, once, and changes in the
// occupants, and nothing of what they know.
func TestRejoinKeepingSessions(t *testing.T) {
	w := newWorld(t)
	phone, laptop := w.twoJoined()
	w.svc.RemoteLinkLost("muc.example")
	ping, _ := w.awaitSent("a self-ping", isSelfPing)
	w.room(`<iq type='error' from='r@muc.example/al' to='alice@d.example' id='` + ping.Attr("id") + `'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	w.probe(true)
	out := w.sender.take()
	if len(out) != 1 || out[0].Local != "presence" || out[0].Attr("from") != alice || out[0].Attr("to") != roomJID+"/al" {
		t.Fatalf("rejoin: %v", str(out))
	}
	if h := out[0].Child(nsMUC, "x").Child(nsMUC, "history"); h == nil || h.Attr("since") == "" {
		t.Errorf("rejoin without history since: %s", out[0])
	}
	// The room's answer: bob unchanged, dave gone, carol new, the
	// account's self-presence, history (one message known, one missed),
	// the same subject.
	for _, raw := range []string{occBob, occCarol, self(out[0].Attr("id")), msgBefore, msgMissed, subject} {
		if !w.room(raw) {
			t.Fatalf("not taken: %s", raw)
		}
	}
	for _, s := range []*fakeSession{phone, laptop} {
		var got []string
		for _, el := range s.take() {
			switch {
			case el.Attr("from") == roomJID+"/carol" && el.Attr("type") == "":
				got = append(got, "carol joined")
			case el.Attr("from") == roomJID+"/dave" && el.Attr("type") == "unavailable":
				got = append(got, "dave left")
			case el.ChildText("", "body") == "missed":
				got = append(got, "missed")
			default:
				got = append(got, el.String())
			}
			if el.Attr("to") != s.jid.String() {
				t.Errorf("%s got a stanza addressed to %s", s.jid, el.Attr("to"))
			}
		}
		if strings.Join(got, ", ") != "carol joined, missed, dave left" {
			t.Errorf("%s saw %q", s.jid, got)
		}
	}
	// Joined: traffic flows as before, and a repeat is not doubled.
	w.room(msgMissed)
	w.room(`<message type='groupchat' from='r@muc.example/bob' to='alice@d.example'><body>after</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s3'/></message>`)
	for _, s := range []*fakeSession{phone, laptop} {
		if got := s.take(); len(got) != 1 || got[0].ChildText("", "body") != "after" {
			t.Errorf("%s got %v", s.jid, str(got))
		}
	}
	if n := len(w.archive.records); n != 4 { // old, before, missed, after
		t.Errorf("%d archived messages, want 4", n)
	}
	if st := w.svc.List(jid.MustParse(alice))[0]; st.State != "joined" || len(st.Sessions) != 2 {
		t.Errorf("membership after the rejoin: %+v", st)
	}
}

// A rejoin the room refuses takes the sessions out with 110 and 333.
func TestRejoinKeepingSessionsRefused(t *testing.T) {
	w := newWorld(t)
	phone, laptop := w.twoJoined()
	w.svc.RemoteLinkLost("muc.example")
	ping, _ := w.awaitSent("a self-ping", isSelfPing)
	w.room(`<iq type='error' from='r@muc.example/al' to='alice@d.example' id='` + ping.Attr("id") + `'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	w.probe(true)
	w.sender.take()
	w.room(`<presence type='error' from='r@muc.example/al' to='alice@d.example'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	for _, s := range []*fakeSession{phone, laptop} {
		got := s.take()
		if len(got) != 1 || got[0].Attr("type") != "unavailable" || !statusCodes(got[0])["110"] || !statusCodes(got[0])["333"] {
			t.Errorf("%s got %v", s.jid, str(got))
		}
	}
	if l := w.svc.List(jid.MustParse(alice)); len(l) != 0 {
		t.Errorf("memberships left: %+v", l)
	}
}

// While the room's server cannot be reached, the self-ping is tried
// again, with a growing pause.
func TestSelfPingRetriedWhileUnreachable(t *testing.T) {
	w := newWorld(t)
	phone, _ := w.twoJoined()
	w.svc.RemoteLinkLost("muc.example")
	ping, _ := w.awaitSent("a self-ping", isSelfPing)
	w.room(`<iq type='error' from='r@muc.example/al' to='alice@d.example' id='` + ping.Attr("id") + `'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	again, others := w.awaitSent("another self-ping", isSelfPing)
	if again.Attr("id") == ping.Attr("id") || len(others) != 0 {
		t.Errorf("second ping %s, also sent %v", again, str(others))
	}
	if got := phone.take(); len(got) != 0 {
		t.Errorf("the session was told: %v", str(got))
	}
}

// What a joined session says while the account's join is sent again
// (the room lost the account) is held until the room has the account
// back, then sent; a room that refuses the rejoin makes it an error for
// that session. A message sent before would reach the room from a
// non-occupant, which refuses it.
func TestRejoinHoldsWhatSessionsSay(t *testing.T) {
	for _, refused := range []bool{false, true} {
		w := newWorld(t)
		phone, _ := w.twoJoined()
		w.svc.RejoinRooms([]jid.JID{jid.MustParse("r@muc.example")})
		w.probe(true)
		out := w.sender.take()
		if len(out) != 1 || out[0].Local != "presence" || out[0].Attr("to") != roomJID+"/al" {
			t.Fatalf("rejoin: %v", str(out))
		}
		if !w.send(phone, `<message type='groupchat' to='r@muc.example' id='m1'><body>during</body></message>`) {
			t.Fatal("the message was not taken")
		}
		if got := w.sender.take(); len(got) != 0 {
			t.Fatalf("sent to the room during the rejoin: %v", str(got))
		}
		phone.take()
		if refused {
			w.room(`<presence type='error' from='r@muc.example/al' to='alice@d.example'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
			var errs []string
			for _, el := range phone.take() {
				if el.Local == "message" && el.Attr("type") == "error" && el.Attr("id") == "m1" {
					errs = append(errs, el.String())
				}
			}
			if len(errs) != 1 {
				t.Errorf("refused rejoin: the phone got errors %v, want one for m1", errs)
			}
			if got := w.sender.take(); len(got) != 0 {
				t.Errorf("sent after the refused rejoin: %v", str(got))
			}
			continue
		}
		w.room(self(out[0].Attr("id")))
		got := w.sender.take()
		if len(got) != 1 || got[0].ChildText("", "body") != "during" || got[0].Attr("from") != alice || got[0].Attr("to") != "r@muc.example" {
			t.Errorf("after the rejoin sent %v, want the held message from the account", str(got))
		}
	}
}
