package accountjoin

import (
	"context"
	"strings"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

const (
	alice   = "alice@d.example"
	roomJID = "r@muc.example"
)

const (
	occBob   = `<presence from='r@muc.example/bob' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/></x></presence>`
	selfPres = `<presence from='r@muc.example/al' to='alice@d.example' id='%ID%'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' jid='alice@d.example'/><status code='110'/></x></presence>`
	history1 = `<message type='groupchat' from='r@muc.example/bob' to='alice@d.example'><body>old</body><delay xmlns='urn:xmpp:delay' from='r@muc.example' stamp='2026-01-01T00:00:00Z'/><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s0'/></message>`
	subject  = `<message type='groupchat' from='r@muc.example' to='alice@d.example'><subject>topic</subject></message>`
)

func self(id string) string { return strings.ReplaceAll(selfPres, "%ID%", id) }

// joinFirst runs C1's join through the room's whole answer.
func (w *world) joinFirst(c1 *fakeSession) {
	w.t.Helper()
	if !w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`) {
		w.t.Fatal("join not intercepted")
	}
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("from") != alice || out[0].Attr("to") != roomJID+"/al" || out[0].Child(nsMUC, "x") == nil {
		w.t.Fatalf("join sent to room = %v", str(out))
	}
	for _, raw := range []string{occBob, self("j1"), history1, subject} {
		if !w.room(raw) {
			w.t.Fatalf("room stanza not taken: %s", raw)
		}
	}
}

func TestFirstJoinGoesToRoomOnceAndAnswersReachOnlyThatSession(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	got := c1.take()
	if len(got) != 4 {
		t.Fatalf("C1 got %d stanzas, want 4: %v", len(got), str(got))
	}
	wantOrder := []string{"presence", "presence", "message", "message"}
	for i, e := range got {
		if e.Local != wantOrder[i] || e.Attr("to") != c1.jid.String() {
			t.Errorf("stanza %d = %s", i, e)
		}
	}
	selfEl := got[1]
	if selfEl.Attr("id") != "j1" {
		t.Errorf("self-presence id = %q, want j1", selfEl.Attr("id"))
	}
	if j := selfEl.Child(nsMUCUser, "x").Child(nsMUCUser, "item").Attr("jid"); j != c1.jid.String() {
		t.Errorf("item jid = %q, want C1's full JID", j)
	}
	if n := len(c2.take()); n != 0 {
		t.Errorf("C2 (not joined) got %d stanzas", n)
	}
	if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 1 || recs[0].Nick != "al" {
		t.Errorf("stored joins = %+v", recs)
	}
}

func TestSecondSessionJoinIsSynthesised(t *testing.T) {
	tests := []struct {
		name        string
		join        string
		wantHistory int
		want210     bool
	}{
		{"default history", `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, 1, false},
		{"no history", `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`, 0, false},
		{"other nick", `<presence to='r@muc.example/other' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c1 := w.session(alice + "/phone")
			c2 := w.session(alice + "/laptop")
			w.joinFirst(c1)
			c1.take()
			if !w.send(c2, tt.join) {
				t.Fatal("second join not intercepted")
			}
			if out := w.sender.take(); len(out) != 0 {
				t.Fatalf("second join sent %v to the room", str(out))
			}
			got := c2.take()
			// occupant, self, [history], subject
			if len(got) != 3+tt.wantHistory {
				t.Fatalf("C2 got %v", str(got))
			}
			if got[0].Attr("from") != roomJID+"/bob" {
				t.Errorf("first = %s, want bob's presence", got[0])
			}
			s := got[1]
			codes := statusCodes(s)
			if !codes["110"] || s.Attr("id") != "j2" || s.Attr("to") != c2.jid.String() || codes["210"] != tt.want210 {
				t.Errorf("self = %s (want 110, id j2, 210=%v)", s, tt.want210)
			}
			if tt.wantHistory == 1 {
				h := got[2]
				if h.ChildText("", "body") != "old" || h.Child("urn:xmpp:delay", "delay").Attr("from") != roomJID {
					t.Errorf("history = %s", h)
				}
			}
			last := got[len(got)-1]
			if last.ChildText("", "subject") != "topic" {
				t.Errorf("last = %s, want the subject", last)
			}
			if n := len(c1.take()); n != 0 {
				t.Errorf("C1 got %d stanzas from C2's join", n)
			}
		})
	}
}

func TestJoinInFlightWaitsAndErrorReachesAllWaiters(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if out := w.sender.take(); len(out) != 1 {
		t.Fatalf("room got %d joins, want 1", len(out))
	}
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='error' id='j1'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	for _, c := range []struct {
		s  *fakeSession
		id string
	}{{c1, "j1"}, {c2, "j2"}} {
		got := c.s.take()
		if len(got) != 1 || got[0].Attr("type") != "error" || got[0].Attr("id") != c.id || got[0].Attr("to") != c.s.jid.String() {
			t.Errorf("%s got %v, want its error with id %s", c.s.jid, str(got), c.id)
		}
	}
	if len(w.svc.List(jid.JID{})) != 0 {
		t.Error("state kept after a join error")
	}
	// A new join goes to the room again.
	w.send(c1, `<presence to='r@muc.example/al2' id='j3'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if out := w.sender.take(); len(out) != 1 {
		t.Errorf("rejoin after error sent %d", len(out))
	}
}

func TestJoinInFlightSecondSessionGetsSequenceOnCompletion(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.sender.take()
	for _, raw := range []string{occBob, self("j1"), history1} {
		w.room(raw)
	}
	if n := len(c2.take()); n != 0 {
		t.Fatalf("C2 got %d before the join completed", n)
	}
	w.room(subject)
	got := c2.take()
	if len(got) < 3 || !statusCodes(got[1])["110"] || got[1].Attr("id") != "j2" || got[len(got)-1].ChildText("", "subject") != "topic" {
		t.Errorf("C2 got %v", str(got))
	}
}

func TestTrafficForkedToJoinedSessionsOnlyAndArchivedOnce(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	c3 := w.session(alice + "/tablet")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`)
	c1.take()
	c2.take()
	before := len(w.archive.records)
	w.room(`<message type='groupchat' from='r@muc.example/bob' to='alice@d.example' id='m1'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s1'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@d.example' id='spoofed'/><occupant-id xmlns='urn:xmpp:occupant-id:0' id='o1'/></message>`)
	for _, s := range []*fakeSession{c1, c2} {
		got := s.take()
		if len(got) != 1 {
			t.Fatalf("%s got %d, want 1", s.jid, len(got))
		}
		m := got[0]
		if m.Attr("to") != s.jid.String() || m.Attr("id") != "m1" || m.Child("urn:xmpp:occupant-id:0", "occupant-id") == nil {
			t.Errorf("%s got %s", s.jid, m)
		}
		var ours, rooms int
		for _, c := range m.Elements() {
			if c.Local == "stanza-id" {
				switch c.Attr("by") {
				case alice:
					ours++
					if c.Attr("id") == "spoofed" {
						t.Error("spoofed stanza-id kept")
					}
				case roomJID:
					rooms++
				}
			}
		}
		if ours != 1 || rooms != 1 {
			t.Errorf("stanza-ids: ours %d rooms %d, want 1 and 1", ours, rooms)
		}
	}
	if n := len(c3.take()); n != 0 {
		t.Errorf("non-joined session got %d", n)
	}
	if n := len(w.archive.records) - before; n != 1 {
		t.Errorf("archived %d times, want once", n)
	}
	// A replay (same room stanza-id, as after a rejoin) is neither
	// archived nor delivered again.
	w.room(`<message type='groupchat' from='r@muc.example/bob' to='alice@d.example' id='m1'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s1'/></message>`)
	if n := len(c1.take()); n != 0 {
		t.Errorf("duplicate delivered %d times", n)
	}
}

func TestOutgoingGroupchatAndRefusal(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	c1.take()
	w.send(c1, `<message type='groupchat' to='r@muc.example' id='x1'><body>yo</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("from") != alice || out[0].Attr("id") != "x1" || out[0].Child(nsStanzaID, "origin-id") == nil {
		t.Fatalf("room got %v", str(out))
	}
	w.send(c2, `<message type='groupchat' to='r@muc.example' id='x2'><body>no</body></message>`)
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("non-joined session's groupchat reached the room: %v", str(out))
	}
	got := c2.take()
	if len(got) != 1 || got[0].Attr("type") != "error" || got[0].Child("", "error").Child("", "not-acceptable") == nil {
		t.Errorf("C2 got %v, want not-acceptable", str(got))
	}
}

func TestPrivateMessagesAndIQMapping(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()

	// Outgoing PM: from the account; the other joined session sees it.
	w.send(c1, `<message type='chat' to='r@muc.example/bob' id='p1'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`)
	if out := w.sender.take(); len(out) != 1 || out[0].Attr("from") != alice {
		t.Fatalf("PM to room = %v", str(out))
	}
	if got := c2.take(); len(got) != 1 || got[0].Child("urn:xmpp:carbons:2", "sent") == nil {
		t.Errorf("C2 got %v, want a sent copy", str(got))
	}
	// Incoming PM: every joined session.
	w.room(`<message type='chat' from='r@muc.example/bob' to='alice@d.example'><body>hey</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`)
	if len(c1.take()) != 1 || len(c2.take()) != 1 {
		t.Error("incoming PM not forked to both sessions")
	}

	// IQ to an occupant: mapped id, answer to the asking session only.
	w.send(c2, `<iq type='get' to='r@muc.example/bob' id='v1'><vCard xmlns='vcard-temp'/></iq>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("from") != alice || out[0].Attr("id") == "v1" {
		t.Fatalf("iq to room = %v", str(out))
	}
	w.room(`<iq type='result' from='r@muc.example/bob' to='alice@d.example' id='` + out[0].Attr("id") + `'><vCard xmlns='vcard-temp'/></iq>`)
	got := c2.take()
	if len(got) != 1 || got[0].Attr("id") != "v1" || got[0].Attr("to") != c2.jid.String() {
		t.Errorf("C2 got %v", str(got))
	}
	if n := len(c1.take()); n != 0 {
		t.Errorf("C1 got the other session's iq result")
	}

	// MAM query to the room: results and fin to the asking session only,
	// with its own queryid.
	w.send(c1, `<iq type='set' to='r@muc.example' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='mine'/></iq>`)
	out = w.sender.take()
	qid := out[0].Child(nsMAM, "query").Attr("queryid")
	w.room(`<message from='r@muc.example' to='alice@d.example'><result xmlns='urn:xmpp:mam:2' queryid='` + qid + `' id='a1'><forwarded xmlns='urn:xmpp:forward:0'/></result></message>`)
	w.room(`<iq type='result' from='r@muc.example' to='alice@d.example' id='` + out[0].Attr("id") + `'><fin xmlns='urn:xmpp:mam:2' queryid='` + qid + `' complete='true'/></iq>`)
	got = c1.take()
	if len(got) != 2 || got[0].Child(nsMAM, "result").Attr("queryid") != "mine" || got[1].Attr("id") != "q1" || got[1].Child(nsMAM, "fin").Attr("queryid") != "mine" {
		t.Errorf("C1 got %v", str(got))
	}
	if n := len(c2.take()); n != 0 {
		t.Errorf("C2 got %d MAM stanzas", n)
	}
}

func TestSelfPing(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	c1.take()
	w.send(c1, `<iq type='get' to='r@muc.example/al' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if got := c1.take(); len(got) != 1 || got[0].Attr("type") != "result" || got[0].Attr("id") != "p1" {
		t.Errorf("joined self-ping answer = %v", str(got))
	}
	w.send(c2, `<iq type='get' to='r@muc.example/al' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if got := c2.take(); len(got) != 1 || got[0].Attr("type") != "error" || got[0].Child("", "error").Child("", "not-acceptable") == nil {
		t.Errorf("non-joined self-ping answer = %v", str(got))
	}
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("self-pings reached the room: %v", str(out))
	}
}

func TestPresenceAggregationAndNickChange(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.sender.take()
	// The laptop goes away, the phone stays available: no change.
	w.send(c2, `<presence to='r@muc.example/al'><show>away</show></presence>`)
	for _, p := range w.sender.take() {
		if p.ChildText("", "show") == "away" {
			t.Errorf("room told away while another session is available: %s", p)
		}
	}
	// The phone goes dnd: the most available is now dnd.
	w.send(c1, `<presence to='r@muc.example/al'><show>dnd</show><status>busy</status></presence>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].ChildText("", "show") != "dnd" || out[0].Attr("from") != alice || out[0].Child(nsMUC, "x") != nil {
		t.Errorf("aggregated presence = %v", str(out))
	}
	// Every session gone: offline show.
	w.gone(c1)
	w.gone(c2)
	out = w.sender.take()
	if len(out) == 0 || out[len(out)-1].ChildText("", "show") != "xa" {
		t.Errorf("presence after all sessions left = %v", str(out))
	}
	if len(w.svc.List(jid.JID{})) != 1 {
		t.Error("account left the room when sessions disconnected")
	}
}

func TestNickChangeReachesAllSessions(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()
	w.sender.take()
	w.send(c2, `<presence to='r@muc.example/alice2'/>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("to") != roomJID+"/alice2" || out[0].Attr("from") != alice {
		t.Fatalf("nick change to room = %v", str(out))
	}
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' nick='alice2' jid='alice@d.example'/><status code='303'/><status code='110'/></x></presence>`)
	w.room(`<presence from='r@muc.example/alice2' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' jid='alice@d.example'/><status code='110'/></x></presence>`)
	for _, s := range []*fakeSession{c1, c2} {
		got := s.take()
		if len(got) != 2 || !statusCodes(got[0])["303"] || got[1].Attr("from") != roomJID+"/alice2" {
			t.Errorf("%s got %v", s.jid, str(got))
		}
	}
	if l := w.svc.List(jid.JID{}); l[0].Nick != "alice2" {
		t.Errorf("nick = %q", l[0].Nick)
	}
}

func TestLeaving(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()
	w.sender.take()
	// C2 leaves: answered at once, nothing to the room.
	w.send(c2, `<presence to='r@muc.example/al' type='unavailable' id='l2'/>`)
	got := c2.take()
	if len(got) != 1 || got[0].Attr("type") != "unavailable" || !statusCodes(got[0])["110"] || got[0].Attr("id") != "l2" {
		t.Errorf("C2 leave answer = %v", str(got))
	}
	for _, p := range w.sender.take() {
		if p.Attr("type") == "unavailable" {
			t.Errorf("leave of a non-last session reached the room: %s", p)
		}
	}
	// C1, the last, leaves: the account leaves; the room's answer goes to C1.
	w.send(c1, `<presence to='r@muc.example/al' type='unavailable' id='l1'/>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("type") != "unavailable" || out[0].Attr("from") != alice {
		t.Fatalf("room got %v", str(out))
	}
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none' jid='alice@d.example'/><status code='110'/></x></presence>`)
	got = c1.take()
	if len(got) != 1 || got[0].Attr("id") != "l1" || got[0].Attr("to") != c1.jid.String() {
		t.Errorf("C1 got %v", str(got))
	}
	if len(w.svc.List(jid.JID{})) != 0 {
		t.Error("state kept after the account left")
	}
	if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 0 {
		t.Errorf("stored joins after leaving: %+v", recs)
	}
}

func TestRemovalByRoom(t *testing.T) {
	for _, code := range []string{"307", "301", "321", "322", "332", "333"} {
		t.Run(code, func(t *testing.T) {
			w := newWorld(t)
			c1 := w.session(alice + "/phone")
			c2 := w.session(alice + "/laptop")
			w.joinFirst(c1)
			w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
			c1.take()
			c2.take()
			w.sender.take()
			w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'><reason>bye</reason></item><status code='110'/><status code='` + code + `'/></x></presence>`)
			for _, s := range []*fakeSession{c1, c2} {
				got := s.take()
				if len(got) != 1 || !statusCodes(got[0])[code] || got[0].Child(nsMUCUser, "x").Child(nsMUCUser, "item").ChildText(nsMUCUser, "reason") != "bye" {
					t.Errorf("%s got %v", s.jid, str(got))
				}
			}
			if len(w.svc.List(jid.JID{})) != 0 {
				t.Error("state kept after removal")
			}
			// A new join goes to the room.
			w.send(c1, `<presence to='r@muc.example/al' id='j9'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
			if out := w.sender.take(); len(out) != 1 {
				t.Errorf("join after removal sent %d to the room", len(out))
			}
		})
	}
}

func TestStrayGroupchatIsRefused(t *testing.T) {
	w := newWorld(t)
	w.session(alice + "/phone")
	if !w.room(`<message type='groupchat' from='r@muc.example/bob' to='alice@d.example' id='m'><body>hi</body></message>`) {
		t.Fatal("stray groupchat not handled")
	}
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("type") != "error" || out[0].Child("", "error").Child("", "service-unavailable") == nil || out[0].Attr("to") != roomJID+"/bob" {
		t.Errorf("reply = %v", str(out))
	}
}

func TestRestartRejoinsWithSince(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	w.room(`<message type='groupchat' from='r@muc.example/bob' to='alice@d.example'><body>later</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s5'/></message>`)
	// A new service over the same store and archive, as after a restart.
	svc2 := New(Config{Domain: "d.example", Sessions: w.sessions, Sender: w.sender, Store: w.store, Archive: w.archive})
	t.Cleanup(func() { _ = svc2.Shutdown(context.Background()) })
	w.sender.take()
	if err := svc2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.probeOn(svc2, true)
	out := w.sender.take()
	if len(out) != 1 {
		t.Fatalf("rejoin sent %v", str(out))
	}
	h := out[0].Child(nsMUC, "x").Child(nsMUC, "history")
	if h == nil || h.Attr("since") == "" {
		t.Errorf("rejoin without history since: %s", out[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, h.Attr("since")); err != nil {
		t.Errorf("since = %q: %v", h.Attr("since"), err)
	}
	if out[0].Attr("from") != alice || out[0].ChildText("", "show") != "xa" {
		t.Errorf("rejoin presence = %s", out[0])
	}
}

func TestRejoinAfterShutdownWithBackoff(t *testing.T) {
	w := newWorld(t)
	w.svc.cfg.RejoinBackoff = 20 * time.Millisecond
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	c1.take()
	w.sender.take()
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='110'/><status code='332'/></x></presence>`)
	if got := c1.take(); len(got) != 1 || !statusCodes(got[0])["332"] {
		t.Fatalf("C1 got %v", str(got))
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range w.sender.take() {
			// The rejoin starts with the question whether the room exists.
			if p.Local == "iq" && p.Child(stanza.NSDiscoInfo, "query") != nil && p.Attr("to") == roomJID {
				return // rejoining
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no rejoin after 332")
}

func TestResyncOfJoinedSession(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	c1.take()
	w.sender.take()
	w.send(c1, `<presence to='r@muc.example/al' id='again'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("resync went to the room: %v", str(out))
	}
	got := c1.take()
	if len(got) < 3 || !statusCodes(got[1])["110"] || got[1].Attr("id") != "again" || got[len(got)-1].ChildText("", "subject") != "topic" {
		t.Errorf("resync = %v", str(got))
	}
}

func TestIdleLeave(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.svc.cfg.Now = func() time.Time { return now }
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	w.gone(c1)
	w.sender.take()
	now = now.Add(2 * time.Hour) // IdleLeaveAfter is 1h in newWorld
	w.svc.leaveIdle(context.Background())
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("type") != "unavailable" || out[0].Attr("from") != alice {
		t.Fatalf("idle leave sent %v", str(out))
	}
	if len(w.svc.List(jid.JID{})) != 0 {
		t.Error("idle room kept")
	}
	// A bookmarked room is never idle.
	w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse(roomJID), "al", "", true)
	w.room(self(""))
	w.room(subject)
	now = now.Add(100 * time.Hour)
	w.sender.take()
	w.svc.leaveIdle(context.Background())
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("bookmarked room left as idle: %v", str(out))
	}
}

func TestSynthesisedSelfKeepsJoinCodesAndShowsJoinerPresence(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' id='j1'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/><status code='170'/></x></presence>`)
	w.room(subject)
	// A later self-presence (the account went xa) has no 170.
	w.room(`<presence from='r@muc.example/al' to='alice@d.example'><show>xa</show><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>`)
	c1.take()
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><show>chat</show><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	var self *xml.Element
	for _, e := range c2.take() {
		if statusCodes(e)["110"] {
			self = e
		}
	}
	if self == nil {
		t.Fatal("no self-presence")
	}
	if !statusCodes(self)["170"] {
		t.Errorf("170 lost: %s", self)
	}
	if self.ChildText(xml.NSClient, "show") != "chat" {
		t.Errorf("show = %q, want the joiner's own: %s", self.ChildText(xml.NSClient, "show"), self)
	}
}

// probe takes the disco#info query the service sends before its own join
// and answers it: the room exists, or item-not-found.
func (w *world) probe(exists bool) {
	w.t.Helper()
	w.probeOn(w.svc, exists)
}

// probeOn is probe for the service svc (another over the same fakes).
func (w *world) probeOn(svc *Service, exists bool) {
	w.t.Helper()
	answer := func(raw string) {
		el := parse(w.t, raw)
		svc.ToLocal(context.Background(), el, jid.MustParse(roomJID), jid.MustParse(alice))
	}
	out := w.sender.take()
	if len(out) != 1 || out[0].Local != "iq" || out[0].Attr("to") != roomJID || out[0].Child(stanza.NSDiscoInfo, "query") == nil {
		w.t.Fatalf("sent %v, want a disco#info query to the room before the server's join", str(out))
	}
	id := out[0].Attr("id")
	if exists {
		answer(`<iq type='result' from='r@muc.example' to='alice@d.example' id='` + id + `'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='text'/><feature var='http://jabber.org/protocol/muc'/></query></iq>`)
	} else {
		answer(`<iq type='error' from='r@muc.example' to='alice@d.example' id='` + id + `'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	}
}

// Issue 10 item 5: the server's own join (a rejoin, an autojoin bookmark)
// never creates a room. It asks the room first; a room that is gone ends
// the membership; one that vanished between question and join (201) is
// destroyed again at once. A session's join made meanwhile is the
// session's own, and may create the room as any client's may.
func TestServerJoinNeverCreatesARoom(t *testing.T) {
	t.Run("gone", func(t *testing.T) {
		w := newWorld(t)
		w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse(roomJID), "al", "", true)
		w.probe(false)
		if out := w.sender.take(); len(out) != 0 {
			t.Errorf("sent %v after item-not-found, want nothing", str(out))
		}
		if l := w.svc.List(jid.JID{}); len(l) != 0 {
			t.Errorf("membership kept: %+v", l)
		}
		if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 0 {
			t.Errorf("membership stored: %+v", recs)
		}
	})
	t.Run("created anyway", func(t *testing.T) {
		w := newWorld(t)
		w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse(roomJID), "al", "", true)
		w.probe(true)
		if out := w.sender.take(); len(out) != 1 || out[0].Child(nsMUC, "x") == nil {
			t.Fatalf("sent %v, want the join", str(out))
		}
		w.room(`<presence from='r@muc.example/al' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' jid='alice@d.example'/><status code='110'/><status code='201'/></x></presence>`)
		out := w.sender.take()
		if len(out) != 1 || out[0].Local != "iq" || out[0].Attr("to") != roomJID || out[0].Child(nsMUCOwner, "query").Child(nsMUCOwner, "destroy") == nil {
			t.Fatalf("sent %v, want the new room destroyed", str(out))
		}
		if l := w.svc.List(jid.JID{}); len(l) != 0 {
			t.Errorf("membership kept: %+v", l)
		}
		if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 0 {
			t.Errorf("membership stored: %+v", recs)
		}
	})
	t.Run("a session joins meanwhile", func(t *testing.T) {
		w := newWorld(t)
		c1 := w.session(alice + "/phone")
		w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse(roomJID), "al", "", true)
		w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		w.probe(false)
		out := w.sender.take()
		if len(out) != 1 || out[0].Child(nsMUC, "x") == nil || out[0].Attr("id") != "j1" || w.sender.markedServer(out[0]) {
			t.Fatalf("sent %v, want the session's own join", str(out))
		}
		w.room(`<presence from='r@muc.example/al' to='alice@d.example' id='j1'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' jid='alice@d.example'/><status code='110'/><status code='201'/></x></presence>`)
		if got := c1.take(); len(got) != 1 || !statusCodes(got[0])["201"] {
			t.Errorf("C1 got %v, want the creation (201) to configure", str(got))
		}
		if out := w.sender.take(); len(out) != 0 {
			t.Errorf("sent %v, want the session left to configure its room", str(out))
		}
	})
}

// Issue 10 item 6: the room's presence from the account's own occupant
// JID is the account's, 110 or not; a <destroy/> ends the membership for
// every joined session.
func TestDestroyWithout110EndsMembership(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()
	w.sender.take()
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><destroy jid='new@muc.example'><reason>moving</reason></destroy></x></presence>`)
	for _, s := range []*fakeSession{c1, c2} {
		got := s.take()
		if len(got) != 1 || got[0].Attr("type") != "unavailable" || !statusCodes(got[0])["110"] || got[0].Attr("to") != s.jid.String() {
			t.Fatalf("%s got %v, want its own unavailable with 110", s.jid, str(got))
		}
		d := got[0].Child(nsMUCUser, "x").Child(nsMUCUser, "destroy")
		if d == nil || d.Attr("jid") != "new@muc.example" || d.ChildText(nsMUCUser, "reason") != "moving" {
			t.Errorf("%s: destroy lost: %s", s.jid, got[0])
		}
	}
	if l := w.svc.List(jid.JID{}); len(l) != 0 {
		t.Errorf("state kept after the room was destroyed: %+v", l)
	}
	if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 0 {
		t.Errorf("membership still stored: %+v", recs)
	}
	w.send(c1, `<presence to='r@muc.example/al' id='j9'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if out := w.sender.take(); len(out) != 1 {
		t.Errorf("join after the destroy sent %v to the room, want the join", str(out))
	}
}

// Issue 10 item 3: presence to another nick from a session that joined is
// a nick change even with <x xmlns=muc/> (mcabber sends it so), not a
// re-join answered from local state.
func TestNickChangeWithMUCElement(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()
	w.sender.take()
	w.send(c2, `<presence to='r@muc.example/alice2' id='n1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("to") != roomJID+"/alice2" || out[0].Attr("from") != alice || out[0].Child(nsMUC, "x") != nil {
		t.Fatalf("room got %v, want a nick change (no <x/>) from the account", str(out))
	}
	if got := c2.take(); len(got) != 0 {
		t.Errorf("C2 got %v, want nothing until the room answers", str(got))
	}
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' nick='alice2' jid='alice@d.example'/><status code='303'/><status code='110'/></x></presence>`)
	w.room(`<presence from='r@muc.example/alice2' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' jid='alice@d.example'/><status code='110'/></x></presence>`)
	for _, s := range []*fakeSession{c1, c2} {
		got := s.take()
		if len(got) != 2 || !statusCodes(got[0])["303"] || got[1].Attr("from") != roomJID+"/alice2" {
			t.Errorf("%s got %v", s.jid, str(got))
		}
	}
}

// Issue 10 item 4: status codes that tell of one event (201 the room was
// created, 210 the room changed the nick, 303, 307, 333...) are not
// replayed from the cache to a later session's join; those describing the
// room (100, 170) are.
func TestSynthesisedJoinDoesNotReplayEventCodes(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.send(c1, `<presence to='r@muc.example/Al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.sender.take()
	// The room was created by this join and the room changed the nick.
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' id='j1'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' jid='alice@d.example'/><status code='100'/><status code='110'/><status code='201'/><status code='210'/></x></presence>`)
	w.room(`<presence from='r@muc.example/bob' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='201'/></x></presence>`)
	w.room(subject)
	if got := c1.take(); len(got) != 3 || !statusCodes(got[0])["201"] || !statusCodes(got[0])["210"] {
		t.Fatalf("C1 (live join) got %v, want the room's codes as they came", str(got))
	}
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	var self, bob *xml.Element
	for _, e := range c2.take() {
		switch {
		case statusCodes(e)["110"]:
			self = e
		case e.Attr("from") == roomJID+"/bob":
			bob = e
		}
	}
	if self == nil || bob == nil {
		t.Fatal("synthesised join incomplete")
	}
	codes := statusCodes(self)
	if codes["201"] || codes["210"] || !codes["100"] || !codes["110"] {
		t.Errorf("synthesised self-presence codes %v, want 100 and 110 only: %s", codes, self)
	}
	if len(statusCodes(bob)) != 0 {
		t.Errorf("cached occupant presence replayed with event codes: %s", bob)
	}
	// After a nick change the room assigned (210 on the new presence),
	// a later join still gets no 210 when it asks for the nick it has.
	w.send(c1, `<presence to='r@muc.example/al2'/>`)
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' nick='al2' jid='alice@d.example'/><status code='303'/><status code='110'/></x></presence>`)
	w.room(`<presence from='r@muc.example/al2' to='alice@d.example'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' jid='alice@d.example'/><status code='110'/><status code='210'/></x></presence>`)
	c3 := w.session(alice + "/tablet")
	w.send(c3, `<presence to='r@muc.example/al2' id='j3'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	for _, e := range c3.take() {
		if c := statusCodes(e); c["110"] && (c["210"] || c["303"] || c["201"]) {
			t.Errorf("synthesised self after a nick change: %s", e)
		}
	}
}

// Issue 10 item 7: the room's error for a stanza a session sent reaches
// that session only (matched by the id it went out with); an error that
// matches nothing reaches every joined session.
func TestRoomErrorsReachTheSender(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()
	w.sender.take()

	w.send(c1, `<message type='groupchat' to='r@muc.example' id='x1'><body>too long</body></message>`)
	w.send(c2, `<message type='chat' to='r@muc.example/bob' id='p2'><body>psst</body></message>`)
	w.send(c2, `<presence to='r@muc.example/taken' id='n2'/>`)
	w.sender.take()
	c1.take()
	c2.take()
	w.room(`<message type='error' from='r@muc.example' to='alice@d.example' id='x1'><body>too long</body><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	w.room(`<message type='error' from='r@muc.example/bob' to='alice@d.example' id='p2'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	w.room(`<presence type='error' from='r@muc.example/taken' to='alice@d.example' id='n2'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	got1, got2 := c1.take(), c2.take()
	if len(got1) != 1 || got1[0].Attr("id") != "x1" || got1[0].Attr("to") != c1.jid.String() {
		t.Errorf("C1 got %v, want the error for its groupchat only", str(got1))
	}
	if len(got2) != 2 || got2[0].Attr("id") != "p2" || got2[1].Attr("id") != "n2" || got2[1].Attr("to") != c2.jid.String() {
		t.Errorf("C2 got %v, want the errors for its private message and its nick change", str(got2))
	}
	// An error the account cannot match reaches every joined session.
	w.room(`<message type='error' from='r@muc.example' to='alice@d.example' id='unknown'><error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	if len(c1.take()) != 1 || len(c2.take()) != 1 {
		t.Error("unmatched error not forked to every joined session")
	}
	// A matched error is delivered once: the same id again is unmatched.
	w.room(`<message type='error' from='r@muc.example' to='alice@d.example' id='x1'><error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	if len(c1.take()) != 1 || len(c2.take()) != 1 {
		t.Error("second error with a used id not forked to every joined session")
	}
}

// Issue 9 item 13: a mapped iq's answer, and a MAM query's results, are
// taken only from the address the request went to; the mapped ids are
// random, not a counter another entity could guess.
func TestMappedRepliesMatchIDAndSender(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	c1.take()
	w.sender.take()

	w.send(c1, `<iq type='get' to='r@muc.example/bob' id='version-query-1'><query xmlns='jabber:iq:version'/></iq>`)
	w.send(c1, `<iq type='set' to='r@muc.example' id='archive-query-1'><query xmlns='urn:xmpp:mam:2' queryid='mine'/></iq>`)
	out := w.sender.take()
	if len(out) != 2 {
		t.Fatalf("sent %v", str(out))
	}
	vid, qid := out[0].Attr("id"), out[1].Child(nsMAM, "query").Attr("queryid")
	for _, id := range []string{vid, out[1].Attr("id")} {
		if len(id) < 16 || strings.Contains(id, "version-query-1") || strings.Contains(id, "archive-query-1") {
			t.Errorf("mapped id %q: want at least 16 random characters, nothing of the session's id", id)
		}
	}
	// Forged answers from elsewhere, with the right ids.
	w.room(`<iq type='result' from='r@muc.example/carol' to='alice@d.example' id='` + vid + `'><query xmlns='jabber:iq:version'><name>forged</name></query></iq>`)
	w.room(`<iq type='result' from='evil@muc.example/bob' to='alice@d.example' id='` + vid + `'><query xmlns='jabber:iq:version'><name>forged</name></query></iq>`)
	w.room(`<message from='evil@muc.example' to='alice@d.example'><result xmlns='urn:xmpp:mam:2' queryid='` + qid + `' id='f'><forwarded xmlns='urn:xmpp:forward:0'/></result></message>`)
	if got := c1.take(); len(got) != 0 {
		t.Errorf("forged answers reached the session: %v", str(got))
	}
	// The real ones.
	w.room(`<iq type='result' from='r@muc.example/bob' to='alice@d.example' id='` + vid + `'><query xmlns='jabber:iq:version'><name>real</name></query></iq>`)
	w.room(`<message from='r@muc.example' to='alice@d.example'><result xmlns='urn:xmpp:mam:2' queryid='` + qid + `' id='a1'><forwarded xmlns='urn:xmpp:forward:0'/></result></message>`)
	got := c1.take()
	if len(got) != 2 || got[0].Attr("id") != "version-query-1" || got[1].Child(nsMAM, "result").Attr("queryid") != "mine" {
		t.Errorf("C1 got %v, want the real answer and result", str(got))
	}
}

// Issue 10 item 2: an iq from an occupant to the account (the room relays
// it to the real JID, the bare one) goes to one joined session, the most
// available and then the most recently active, with a mapped id; the
// session's answer goes back to the room as the account's with the
// room's id. With no session joined the account answers
// service-unavailable. Account-level payloads (vCards) stay the server's.
func TestOccupantIQToAccountGoesToASession(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	w.send(c2, `<presence to='r@muc.example/al' id='j2'><show>away</show><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	c2.take()
	w.sender.take()

	if !w.room(`<iq type='get' from='r@muc.example/bob' to='alice@d.example' id='relay1'><query xmlns='jabber:iq:version'/></iq>`) {
		t.Fatal("iq from an occupant not taken")
	}
	if got := c2.take(); len(got) != 0 {
		t.Errorf("the away session got %v", str(got))
	}
	got := c1.take()
	if len(got) != 1 || got[0].Local != "iq" || got[0].Attr("from") != roomJID+"/bob" || got[0].Attr("to") != c1.jid.String() || got[0].Attr("id") == "relay1" {
		t.Fatalf("C1 got %v, want the iq with a mapped id", str(got))
	}
	mapped := got[0].Attr("id")
	// Another session cannot answer in its place.
	w.send(c2, `<iq type='result' to='r@muc.example/bob' id='`+mapped+`'><query xmlns='jabber:iq:version'><name>forged</name></query></iq>`)
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("another session's answer went out: %v", str(out))
	}
	w.send(c1, `<iq type='result' to='r@muc.example/bob' id='`+mapped+`'><query xmlns='jabber:iq:version'><name>phone</name></query></iq>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("id") != "relay1" || out[0].Attr("from") != alice || out[0].Attr("to") != roomJID+"/bob" || out[0].Attr("type") != "result" {
		t.Fatalf("room got %v, want the answer from the account with the room's id", str(out))
	}

	// The most recently active among equally available sessions.
	w.send(c2, `<presence to='r@muc.example/al'/>`)
	w.send(c1, `<message type='groupchat' to='r@muc.example' id='g1'><body>here</body></message>`)
	w.sender.take()
	w.room(`<iq type='get' from='r@muc.example/bob' to='alice@d.example' id='relay2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if len(c1.take()) != 1 || len(c2.take()) != 0 {
		t.Error("iq did not go to the most recently active session (C1, which spoke last)")
	}
	w.send(c2, `<presence to='r@muc.example/al'><status>back</status></presence>`)
	w.sender.take()
	// vCards are the account's: the server answers them.
	if w.room(`<iq type='get' from='r@muc.example/bob' to='alice@d.example' id='relay3'><vCard xmlns='vcard-temp'/></iq>`) {
		t.Error("vCard request taken from the server")
	}
	// A session that ends with a request unanswered: the room gets an error.
	w.room(`<iq type='get' from='r@muc.example/bob' to='alice@d.example' id='relay4'><query xmlns='jabber:iq:version'/></iq>`)
	c2.take()
	w.gone(c2)
	var errs []*xml.Element
	for _, o := range w.sender.take() {
		if o.Local == "iq" {
			errs = append(errs, o)
		}
	}
	if len(errs) != 1 || errs[0].Attr("type") != "error" || errs[0].Attr("id") != "relay4" || errs[0].Attr("to") != roomJID+"/bob" {
		t.Errorf("unanswered request of an ended session: %v, want its error", str(errs))
	}
	// No session joined: service-unavailable from the account.
	w.gone(c1)
	w.sender.take()
	w.room(`<iq type='get' from='r@muc.example/bob' to='alice@d.example' id='relay5'><query xmlns='jabber:iq:version'/></iq>`)
	out = w.sender.take()
	if len(out) != 1 || out[0].Attr("type") != "error" || out[0].Attr("id") != "relay5" || out[0].Attr("from") != alice || out[0].Child("", "error").Child("", "service-unavailable") == nil {
		t.Errorf("no session joined: room got %v, want service-unavailable", str(out))
	}
}

// Issue 9 item 3: a join sent while the account's leave is in flight
// waits for the room's answer to the leave; the late unavailable 110 is
// the leave's, not a removal of the new membership.
func TestJoinDuringLeaveWaitsForTheLeave(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	c1.take()
	w.sender.take()
	w.send(c1, `<presence to='r@muc.example/al' type='unavailable' id='l1'/>`)
	if out := w.sender.take(); len(out) != 1 || out[0].Attr("type") != "unavailable" {
		t.Fatalf("leave: room got %v", str(out))
	}
	w.send(c1, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if out := w.sender.take(); len(out) != 0 {
		t.Fatalf("join sent while the leave is in flight: %v", str(out))
	}
	// The room answers the leave: the leaver gets it, and the join goes out.
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none' jid='alice@d.example'/><status code='110'/></x></presence>`)
	got := c1.take()
	if len(got) != 1 || got[0].Attr("id") != "l1" || got[0].Attr("type") != "unavailable" {
		t.Errorf("C1 got %v, want the leave's answer with the leave's id", str(got))
	}
	out := w.sender.take()
	if len(out) != 1 || out[0].Child(nsMUC, "x") == nil || out[0].Attr("id") != "j2" {
		t.Fatalf("room got %v, want the queued join", str(out))
	}
	for _, raw := range []string{occBob, self("j2"), subject} {
		w.room(raw)
	}
	got = c1.take()
	if len(got) != 3 || !statusCodes(got[1])["110"] || got[1].Attr("id") != "j2" || got[1].Attr("type") != "" {
		t.Errorf("C1 got %v, want the new join's answer", str(got))
	}
	w.room(`<message type='groupchat' from='r@muc.example/bob' to='alice@d.example'><body>welcome back</body></message>`)
	if got := c1.take(); len(got) != 1 {
		t.Errorf("C1 got %v after rejoining", str(got))
	}
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("room got %v, want nothing (no bounce)", str(out))
	}
}

// Issue 9 item 3, the leave timing out: the join goes out then, and the
// room's answer to the old leave, arriving during the new join, is not
// taken for a removal.
func TestLateLeaveAnswerDuringNewJoinIsIgnored(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	w.send(c1, `<presence to='r@muc.example/al' type='unavailable' id='l1'/>`)
	w.send(c1, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c1.take()
	w.sender.take()
	a := w.svc.account(jid.MustParse(alice), false)
	a.mu.Lock()
	rm := a.rooms[jid.MustParse(roomJID)]
	a.mu.Unlock()
	w.svc.leaveTimedOut(a, rm)
	if got := c1.take(); len(got) != 1 || got[0].Attr("id") != "l1" {
		t.Errorf("C1 got %v, want its leave answered", str(got))
	}
	if out := w.sender.take(); len(out) != 1 || out[0].Attr("id") != "j2" {
		t.Fatalf("room got %v, want the queued join", str(out))
	}
	w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='110'/></x></presence>`)
	if got := c1.take(); len(got) != 0 {
		t.Errorf("C1 got %v from the old leave's late answer", str(got))
	}
	for _, raw := range []string{self("j2"), subject} {
		w.room(raw)
	}
	if got := c1.take(); len(got) != 2 || got[0].Attr("id") != "j2" {
		t.Errorf("C1 got %v, want the new join's answer", str(got))
	}
	if l := w.svc.List(jid.JID{}); len(l) != 1 || l[0].State != "joined" {
		t.Errorf("state = %+v, want joined", l)
	}
}

// storedJoin returns the stored membership of alice in the room.
func (w *world) storedJoin() (Record, bool) {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	r, ok := w.store.m[alice+" "+roomJID]
	return r, ok
}

// Issue 9 item 4: a 332 (or 333) keeps the stored membership as it was,
// LastActive included, and the rejoined room is not idle for that.
func TestShutdownRemovalKeepsMembershipAndLastActive(t *testing.T) {
	for _, code := range []string{"332", "333"} {
		t.Run(code, func(t *testing.T) {
			w := newWorld(t)
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			w.svc.cfg.Now = func() time.Time { return now }
			c1 := w.session(alice + "/phone")
			w.joinFirst(c1)
			w.gone(c1) // the last session goes at 12:00
			before, ok := w.storedJoin()
			if !ok || !before.LastActive.Equal(now) {
				t.Fatalf("stored before = %+v", before)
			}
			now = now.Add(10 * time.Minute)
			w.room(`<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='110'/><status code='` + code + `'/></x></presence>`)
			after, ok := w.storedJoin()
			if !ok || after != before {
				t.Errorf("stored after %s = %+v (present %v), want it unchanged: %+v", code, after, ok, before)
			}
			// The rejoin (run here at once) keeps LastActive: 40 minutes
			// after the last session went, the room (idle after 1h) is
			// not left; 70 minutes after, it is.
			w.svc.rejoinAttempt(context.Background(), before, 1, true)
			w.room(self(""))
			w.room(subject)
			now = now.Add(30 * time.Minute)
			w.sender.take()
			w.svc.leaveIdle(context.Background())
			if out := w.sender.take(); len(out) != 0 {
				t.Errorf("left the room as idle 40 minutes after its last session went: %v", str(out))
			}
			if r, _ := w.storedJoin(); !r.LastActive.Equal(before.LastActive) {
				t.Errorf("LastActive after the rejoin = %v, want %v", r.LastActive, before.LastActive)
			}
			now = now.Add(30 * time.Minute)
			w.svc.leaveIdle(context.Background())
			if out := w.sender.take(); len(out) != 1 || out[0].Attr("type") != "unavailable" {
				t.Errorf("70 minutes after its last session went, the sweep sent %v, want the leave", str(out))
			}
		})
	}
}

// Issue 9 item 4: after a restart the stored LastActive holds; a record
// without one (an older server's) counts from the restart.
func TestRestartKeepsLastActive(t *testing.T) {
	w := newWorld(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	w.store.PutJoin(context.Background(), Record{Account: jid.MustParse(alice), Room: jid.MustParse(roomJID), Nick: "al", LastActive: now.Add(-30 * time.Minute)})
	w.store.PutJoin(context.Background(), Record{Account: jid.MustParse(alice), Room: jid.MustParse("old@muc.example"), Nick: "al"})
	svc := New(Config{Domain: "d.example", Sessions: w.sessions, Sender: w.sender, Store: w.store, Archive: w.archive, IdleLeaveAfter: time.Hour, Now: clock})
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.sender.take()
	for _, r := range []string{roomJID, "old@muc.example"} {
		el := parse(t, strings.ReplaceAll(self(""), roomJID, r))
		svc.ToLocal(context.Background(), el, jid.MustParse(r+"/al"), jid.MustParse(alice))
	}
	now = now.Add(20 * time.Minute)
	svc.leaveIdle(context.Background())
	if out := w.sender.take(); len(out) != 0 {
		t.Errorf("rooms left 20 minutes after a restart: %v", str(out))
	}
	now = now.Add(20 * time.Minute) // 70 minutes after the first room's last session
	svc.leaveIdle(context.Background())
	out := w.sender.take()
	if len(out) != 1 || out[0].Attr("to") != roomJID+"/al" || out[0].Attr("type") != "unavailable" {
		t.Errorf("sweep 40 minutes after the restart sent %v, want the leave of %s only", str(out), roomJID)
	}
}

// Issue 9 item 13: Shutdown stops scheduled rejoins, and none is
// scheduled once the service is stopped (the local MUC's 332 at our own
// shutdown comes after).
func TestShutdownStopsRejoins(t *testing.T) {
	w := newWorld(t)
	w.svc.cfg.RejoinBackoff = time.Hour
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	shutdown := `<presence from='r@muc.example/al' to='alice@d.example' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='110'/><status code='332'/></x></presence>`
	w.room(shutdown)
	w.svc.mu.Lock()
	n := len(w.svc.rejoins)
	w.svc.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d rejoins scheduled, want 1", n)
	}
	if err := w.svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.svc.mu.Lock()
	n = len(w.svc.rejoins)
	w.svc.mu.Unlock()
	if n != 0 {
		t.Errorf("%d rejoins left after Shutdown", n)
	}
	// A 332 after Shutdown (the MUC stops after us) reaches the session
	// and schedules nothing.
	w.svc.rejoinAttempt(context.Background(), Record{Account: jid.MustParse(alice), Room: jid.MustParse(roomJID), Nick: "al", LastActive: time.Now()}, 0, false)
	w.room(self(""))
	w.room(shutdown)
	w.svc.mu.Lock()
	n = len(w.svc.rejoins)
	w.svc.mu.Unlock()
	if n != 0 {
		t.Errorf("%d rejoins scheduled after Shutdown", n)
	}
	if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 1 || recs[0].LastActive.IsZero() {
		t.Errorf("stored memberships after our own shutdown = %+v, want the one with its LastActive", recs)
	}
}

// Issue 9 item 5: the server's own joins (rejoins, autojoin bookmarks) go
// out marked as such, for the local MUC not to rate-limit them; a wait
// error keeps the membership and rejoins later; a refusal ends it.
func TestServerRejoinErrors(t *testing.T) {
	rec := Record{Account: jid.MustParse(alice), Room: jid.MustParse(roomJID), Nick: "al", LastActive: time.Now().Add(-time.Minute)}
	for _, tc := range []struct {
		name, err string
		keep      bool
		atProbe   bool // the room's answer to the question whether it exists
	}{
		{"wait", `<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`, true, false},
		{"timeout", `<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`, true, false},
		{"banned", `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`, false, false},
		{"server unreachable", `<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`, true, true},
		{"server not found", `<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.svc.cfg.RejoinBackoff = time.Hour
			w.store.PutJoin(context.Background(), rec)
			if err := w.svc.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.atProbe {
				out := w.sender.take()
				if len(out) != 1 || out[0].Local != "iq" {
					t.Fatalf("sent %v, want the probe", str(out))
				}
				w.room(`<iq type='error' from='r@muc.example' to='alice@d.example' id='` + out[0].Attr("id") + `'>` + tc.err + `</iq>`)
			} else {
				w.probe(true)
				out := w.sender.take()
				if len(out) != 1 || !w.sender.markedServer(out[0]) {
					t.Fatalf("rejoin sent %v, marked %v; want one join marked as the server's", str(out), len(out) == 1 && w.sender.markedServer(out[0]))
				}
				w.room(`<presence type='error' from='r@muc.example/al' to='alice@d.example'>` + tc.err + `</presence>`)
			}
			got, kept := w.storedJoin()
			if kept != tc.keep || kept && got != rec {
				t.Errorf("stored after the error: %+v (%v), want kept=%v", got, kept, tc.keep)
			}
			w.svc.mu.Lock()
			n := len(w.svc.rejoins)
			w.svc.mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.keep]; n != want {
				t.Errorf("%d rejoins scheduled, want %d", n, want)
			}
			if l := w.svc.List(jid.JID{}); len(l) != 0 {
				t.Errorf("state kept in memory: %+v", l)
			}
		})
	}
	// A session's join is its own, not marked.
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if out := w.sender.take(); len(out) != 1 || w.sender.markedServer(out[0]) {
		t.Errorf("a session's join went out marked as the server's")
	}
}

// Issue 10 item 8: LeaveAll (account deletion) leaves every room at once.
func TestLeaveAll(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	w.joinFirst(c1)
	w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse("other@muc.example"), "al", "", true)
	c1.take()
	w.sender.take()
	if n := w.svc.LeaveAll(context.Background(), jid.MustParse(alice)); n != 2 {
		t.Errorf("LeaveAll = %d, want 2", n)
	}
	rooms := map[string]bool{}
	for _, p := range w.sender.take() {
		if p.Local == "presence" && p.Attr("type") == "unavailable" && p.Attr("from") == alice {
			rooms[p.Attr("to")] = true
		}
	}
	if !rooms[roomJID+"/al"] || !rooms["other@muc.example/al"] {
		t.Errorf("leaves sent to %v, want both rooms", rooms)
	}
	if got := c1.take(); len(got) != 1 || got[0].Attr("type") != "unavailable" || !statusCodes(got[0])["110"] {
		t.Errorf("C1 got %v, want its unavailable 110", str(got))
	}
	if l := w.svc.List(jid.JID{}); len(l) != 0 {
		t.Errorf("memberships left: %+v", l)
	}
	if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 0 {
		t.Errorf("memberships stored: %+v", recs)
	}
}

// TestSynthesisReadsHistoryOutsideTheLock: while a second session's join
// waits for its history from the archive (a slow disk), the account's
// lock is free, so the room's messages keep reaching the joined session;
// the joining one gets them after its history, each once (issue 9,
// item 9).
func TestSynthesisReadsHistoryOutsideTheLock(t *testing.T) {
	w := newWorld(t)
	c1 := w.session(alice + "/phone")
	c2 := w.session(alice + "/laptop")
	w.joinFirst(c1)
	c1.take()
	w.archive.block = make(chan struct{})
	join := parse(t, `<presence to='r@muc.example/al' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	join.SetAttr("from", c2.jid.String())
	w.svc.FromSession(context.Background(), c2, join, jid.MustParse(roomJID+"/al"))

	// The history read is blocked; the room's messages still get through.
	done := make(chan bool)
	go func() {
		done <- w.svc.ToLocal(context.Background(), parse(t, `<message xmlns='jabber:client' type='groupchat' from='r@muc.example/bob' to='alice@d.example' id='m2'><body>during</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.example' id='s2'/></message>`),
			jid.MustParse(roomJID+"/bob"), jid.MustParse(alice))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a room message waited for another session's history read")
	}
	w.svc.ToLocal(context.Background(), parse(t, `<message xmlns='jabber:client' type='groupchat' from='r@muc.example/bob' to='alice@d.example' id='m3'><body>unarchived</body><no-store xmlns='urn:xmpp:hints'/></message>`),
		jid.MustParse(roomJID+"/bob"), jid.MustParse(alice))
	if got := c1.take(); len(got) != 2 {
		t.Errorf("the joined session got %d messages while the other's join waited, want 2: %v", len(got), str(got))
	}
	if got := c2.take(); len(got) != 0 {
		t.Errorf("the joining session got %v before its history", str(got))
	}

	close(w.archive.block)
	w.svc.syntheses.Wait()
	var bodies []string
	for _, e := range c2.take() {
		if b := e.Child("", "body"); b != nil {
			bodies = append(bodies, b.Text())
		}
	}
	// The history (the first message and the one that arrived meanwhile,
	// archived by then), then what the archive does not have.
	if strings.Join(bodies, " ") != "old during unarchived" {
		t.Errorf("the joining session's messages: %q, want history then held, each once", bodies)
	}
	if _, ok := w.svc.accounts[jid.MustParse(alice)].rooms[jid.MustParse(roomJID)].sessions[c2.jid]; !ok {
		t.Error("the session is not joined after its synthesised join")
	}
}

// TestServerJoinToServiceThatNeverCreates: for a room whose service
// answers the server's own join with item-not-found rather than create
// the room (the local MUC, Config.NoCreate), the join goes out without a
// probe; item-not-found ends the membership, unless a session asked to
// join meanwhile, whose join then goes out as its own.
func TestServerJoinToServiceThatNeverCreates(t *testing.T) {
	notFound := `<presence from='r@muc.example/al' to='alice@d.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`
	newNoCreateWorld := func(t *testing.T) *world {
		w := newWorld(t)
		w.svc.cfg.NoCreate = func(room jid.JID) bool { return room.Domain == "muc.example" }
		return w
	}
	t.Run("gone", func(t *testing.T) {
		w := newNoCreateWorld(t)
		w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse(roomJID), "al", "", true)
		w.settle()
		out := w.sender.take()
		if len(out) != 1 || out[0].Local != "presence" || out[0].Child(nsMUC, "x") == nil || !w.sender.markedServer(out[0]) {
			t.Fatalf("sent %v, want the server's join at once, no probe", str(out))
		}
		w.room(notFound)
		if l := w.svc.List(jid.JID{}); len(l) != 0 {
			t.Errorf("membership kept: %+v", l)
		}
		if recs, _ := w.store.ListJoins(context.Background()); len(recs) != 0 {
			t.Errorf("membership stored: %+v", recs)
		}
	})
	t.Run("a session joins meanwhile", func(t *testing.T) {
		w := newNoCreateWorld(t)
		c1 := w.session(alice + "/phone")
		w.svc.Join(context.Background(), jid.MustParse(alice), jid.MustParse(roomJID), "al", "", true)
		w.send(c1, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		w.sender.take()
		w.room(notFound)
		out := w.sender.take()
		if len(out) != 1 || out[0].Child(nsMUC, "x") == nil || out[0].Attr("id") != "j1" || w.sender.markedServer(out[0]) {
			t.Fatalf("sent %v, want the session's own join", str(out))
		}
		if got := c1.take(); len(got) != 0 {
			t.Errorf("C1 got %v, want nothing yet: its join goes on", str(got))
		}
	})
}

// The session whose join the room is answering leaves before the room's
// join sequence ends (its subject): it is joined already, so as the last
// joined session its leave takes the account out of the room (it stayed
// in, the session's leave answered locally, when the session was also
// still counted among those waiting for the sequence to end).
func TestLeaveBeforeTheSubjectEndsTheMembership(t *testing.T) {
	w := newWorld(t)
	phone := w.session(alice + "/phone")
	if !w.send(phone, `<presence to='r@muc.example/al' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`) {
		t.Fatal("join not intercepted")
	}
	w.sender.take()
	for _, raw := range []string{occBob, self("j1"), history1} {
		if !w.room(raw) {
			t.Fatalf("room stanza not taken: %s", raw)
		}
	}
	phone.take()
	w.send(phone, `<presence to='r@muc.example/al' type='unavailable' id='l1'/>`)
	out := w.sender.take()
	if len(out) != 1 || out[0].Local != "presence" || out[0].Attr("type") != "unavailable" || out[0].Attr("to") != roomJID+"/al" {
		t.Fatalf("the last session's leave sent %v, want the account's unavailable presence", str(out))
	}
}
