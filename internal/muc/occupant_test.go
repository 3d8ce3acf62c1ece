package muc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"minimix/internal/jid"
)

func TestPrepareNick(t *testing.T) {
	for _, tc := range []struct {
		in, nick, key string
		modified      bool
		err           string
	}{
		{"Alice", "Alice", "alice", false, ""},
		{"  Al  ice ", "Al ice", "al ice", true, ""},
		{"ｆｕｌｌ", "full", "full", true, ""},
		{"😀", "😀", "😀", false, ""},
		{"   ", "", "", false, "jid-malformed"},
		{"a\u0007b", "", "", false, "jid-malformed"},
		{"a\u200db", "", "", false, "jid-malformed"},
		{strings.Repeat("n", maxNickBytes+1), "", "", false, "not-acceptable"},
	} {
		nick, key, mod, err := prepareNick(tc.in)
		if c := errCondition(err); c != tc.err || nick != tc.nick || key != tc.key || mod != tc.modified {
			t.Errorf("prepareNick(%q) = %q, %q, %v, %q; want %q, %q, %v, %q", tc.in, nick, key, mod, c, tc.nick, tc.key, tc.modified, tc.err)
		}
	}
}

func TestOccupantID(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.drop()
	say := func(from, body string) string {
		h.send(from, "<message to='"+roomJID+"' type='groupchat'><body>"+body+"</body><occupant-id xmlns='"+NSOccupantID+"' id='forged'/></message>")
		m := last(h.take(carolOr(from)), "message")
		if n := len(only(m.Elements(), "occupant-id")); n != 1 {
			t.Fatalf("%d occupant-ids: %s", n, m)
		}
		return m.Child(NSOccupantID, "occupant-id").Attr("id")
	}
	a1 := say(alice, "one")
	h.send(alice, "<presence to='"+roomJID+"/Alicia'/>")
	h.join(alice2, roomJID, "Alicia")
	a2 := say(alice2, "two")
	b := say(bob, "three")
	if a1 == "forged" || a1 != a2 || a1 == b {
		t.Errorf("alice %q then %q, bob %q", a1, a2, b)
	}
	other := h.svc.occupantID(jid.MustParse("other@"+domain), jid.MustParse("alice@example.net"))
	if other == a1 {
		t.Errorf("the same occupant-id in two rooms")
	}
	// The same secret gives the same id after a restart.
	h2 := newHarness(t)
	if h2.svc.occupantID(jid.MustParse(roomJID), jid.MustParse("alice@example.net")) != a1 {
		t.Errorf("occupant-id depends on more than the secret")
	}
}

// carolOr returns who watches a message from from: bob for alice's, alice
// for everyone else's.
func carolOr(from string) string {
	if strings.HasPrefix(from, "alice") {
		return bob
	}
	return alice
}

func TestSelfPingAndRelay(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	h.join(alice2, roomJID, "Alice")
	h.drop()
	ping := "<ping xmlns='urn:xmpp:ping'/>"
	for _, tc := range []struct {
		name, from, to, payload, want string
	}{
		{"self-ping", alice, roomJID + "/Alice", ping, "result"},
		{"self-ping, other session", alice2, roomJID + "/Alice", ping, "result"},
		{"self-ping, nick case", bob, roomJID + "/BOB", ping, "result"},
		{"non-occupant", carol, roomJID + "/Alice", ping, "not-acceptable"},
		{"no such nick", bob, roomJID + "/Nobody", ping, "item-not-found"},
		{"no such room", bob, "nothere@" + domain + "/Bob", ping, "item-not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.iq(tc.from, tc.to, "get", tc.payload)
			got := r.Attr("type")
			if got == "error" {
				got = condition(r)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s: %s", got, tc.want, r)
			}
			if got == "result" && r.Attr("from") != tc.to {
				t.Errorf("answered from %q", r.Attr("from"))
			}
		})
	}

	// A ping to another occupant goes to its first session, with an id
	// that brings the answer back to the asker.
	h.send(bob, "<iq type='get' id='p1' to='"+roomJID+"/Alice'>"+ping+"</iq>")
	fwd := last(h.take(alice), "iq")
	if fwd == nil || fwd.Attr("from") != roomJID+"/Bob" || fwd.Attr("id") == "p1" {
		t.Fatalf("relayed: %v", fwd)
	}
	if len(only(h.take(alice2), "iq")) != 0 {
		t.Errorf("relayed to two sessions")
	}
	h.send(alice, "<iq type='result' id='"+fwd.Attr("id")+"' to='"+roomJID+"/Bob'/>")
	ans := last(h.take(bob), "iq")
	if ans == nil || ans.Attr("id") != "p1" || ans.Attr("from") != roomJID+"/Alice" || ans.Attr("type") != "result" {
		t.Fatalf("answer: %v", ans)
	}
	// Only the JID the request went to may answer it.
	h.send(alice2, "<iq type='result' id='"+fwd.Attr("id")+"' to='"+roomJID+"/Bob'/>")
	if got := h.take(bob); len(got) != 0 {
		t.Errorf("a forged answer went through: %s", dump(got))
	}
	// vCards go to the bare JID, which the account's server answers.
	h.send(bob, "<iq type='get' id='v1' to='"+roomJID+"/Alice'><vCard xmlns='vcard-temp'/></iq>")
	if v := last(h.take("alice@example.net"), "iq"); v == nil {
		t.Errorf("vCard request not sent to the bare JID")
	}
}

func TestShutdown332(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.configure(alice, roomJID, map[string]string{fPersistent: "1"})
	h.join(bob, roomJID, "Bob")
	h.join(alice2, roomJID, "Alice")
	h.drop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, real := range []string{alice, alice2, bob} {
		got := h.take(real)
		if len(got) != 1 || got[0].Attr("type") != "unavailable" || !hasStatus(got[0], "332") || !hasStatus(got[0], "110") {
			t.Errorf("%s: %s", real, dump(got))
		}
	}
	// Refused afterwards.
	if got := h.join(carol, roomJID, "Carol"); condition(last(got, "presence")) != "service-unavailable" {
		t.Errorf("join after shutdown: %s", dump(got))
	}
}

func TestPersistence(t *testing.T) {
	h := newHarness(t)
	h.create(alice, roomJID, "Alice")
	h.configure(alice, roomJID, map[string]string{fPersistent: "1", fName: "Kept", fMembersOnly: "1"})
	h.iq(alice, roomJID, "set", "<query xmlns='"+NSAdmin+"'><item jid='bob@example.net' affiliation='member'/><item jid='carol@example.net' affiliation='outcast'/></query>")
	h.send(alice, "<message to='"+roomJID+"' type='groupchat'><subject>topic</subject></message>")
	h.send(alice, "<message to='"+roomJID+"' type='groupchat'><body>kept</body></message>")
	h.svc.Shutdown(context.Background())

	h2 := newHarnessOn(t, h.store)
	got := h2.join(bob, roomJID, "Bob")
	self := last(only(got, "presence"), "presence")
	if condition(self) != "" || item(self).Attr("affiliation") != "member" || hasStatus(self, "201") {
		t.Fatalf("bob after restart: %s", dump(got))
	}
	msgs := only(got, "message")
	if len(msgs) != 2 || msgs[0].ChildText("", "body") != "kept" || msgs[1].ChildText("", "subject") != "topic" ||
		msgs[1].Attr("from") != roomJID+"/Alice" {
		t.Errorf("history and subject after restart: %s", dump(msgs))
	}
	if got := h2.join(carol, roomJID, "Carol"); condition(last(got, "presence")) != "forbidden" {
		t.Errorf("outcast after restart: %s", dump(got))
	}
	info := h2.iq(bob, roomJID, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	if !strings.Contains(info.String(), `name="Kept"`) || !strings.Contains(info.String(), "muc_membersonly") {
		t.Errorf("info after restart: %s", info)
	}
	// Destroying it forgets it.
	h2.iq(alice, roomJID, "set", "<query xmlns='"+NSOwner+"'><destroy/></query>")
	if recs, _ := h2.store.ListRooms(context.Background(), domain); len(recs) != 0 {
		t.Errorf("destroyed room still stored: %v", recs)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, time.Second)
	k := jid.MustParse("a@b")
	t0 := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false} {
		if got := l.allow(k, t0); got != want {
			t.Errorf("try %d: %v", i, got)
		}
	}
	if !l.allow(k, t0.Add(time.Second)) || l.allow(k, t0.Add(time.Second)) {
		t.Errorf("refill")
	}
	for i := range limiterMaxEntries + 10 {
		l.allow(jid.JID{Local: "u" + strings.Repeat("x", i%7), Domain: "d", Resource: string(rune(i))}, t0)
	}
	if len(l.buckets) > limiterMaxEntries {
		t.Errorf("%d buckets", len(l.buckets))
	}
}

func TestCreationLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Creation = CreateAdmins })
	if got := h.join(alice, roomJID, "Alice"); condition(last(got, "presence")) != "not-allowed" {
		t.Errorf("creation by a non-admin: %s", dump(got))
	}
	if got := h.join("boss@example.net/x", roomJID, "Boss"); !hasStatus(last(got, "presence"), "201") {
		t.Errorf("creation by an admin: %s", dump(got))
	}
	h = newHarness(t)
	if got := h.join("eve@evil.example/x", roomJID, "Eve"); condition(last(got, "presence")) != "not-allowed" {
		t.Errorf("creation by a remote user: %s", dump(got))
	}
	lim := DefaultLimits()
	var last string
	for i := 0; i < lim.CreateBurst+1; i++ {
		got := h.join(alice, fmt.Sprintf("r%d@%s", i, domain), "Alice")
		last = condition(lastPresence(got))
		if i == 10 && last != "" {
			t.Fatalf("the 11th room in a row was refused (%s): an ordinary client meets the limit", last)
		}
	}
	if last != "resource-constraint" {
		t.Errorf("creation flood ended with %q", last)
	}
	h.advance(lim.CreateInterval)
	if got := h.join(alice, "later@"+domain, "Alice"); !hasStatus(lastPresence(got), "201") {
		t.Errorf("after the refill: %s", dump(got))
	}
	// Admins are not limited.
	for i := 0; i < lim.CreateBurst+5; i++ {
		if got := h.join("boss@example.net/x", fmt.Sprintf("boss%d@%s", i, domain), "Boss"); !hasStatus(lastPresence(got), "201") {
			t.Fatalf("admin's room %d refused: %s", i, dump(got))
		}
	}
}

func TestNickLengthLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxNickLength = 5 })
	if got := h.join(alice, roomJID, "Alice"); !hasStatus(lastPresence(got), "201") {
		t.Fatalf("a nick of the limit's length: %s", dump(got))
	}
	if got := h.join(bob, roomJID, "Bobbie"); condition(lastPresence(got)) != "not-acceptable" {
		t.Errorf("a nick over the limit: %s", dump(got))
	}
}

func TestRoomFull(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOccupants = 2 })
	h.create(alice, roomJID, "Alice")
	h.join(bob, roomJID, "Bob")
	got := h.join(carol, roomJID, "Carol")
	if p := lastPresence(got); condition(p) != "service-unavailable" || p.Child("", "error").Attr("type") != "wait" {
		t.Errorf("full room: %s", dump(got))
	}
	// Another session of an occupant is no new occupant.
	if got := h.join(alice2, roomJID, "Alice"); condition(lastPresence(got)) != "" {
		t.Errorf("second session in a full room: %s", dump(got))
	}
}

type serverJoinKey struct{}

// Issue 9 item 5: the per-JID join limit does not apply to the joins the
// server makes itself (an account rejoining its rooms after a restart),
// which Config.ExemptJoin recognises by their context.
func TestJoinLimitExemptsServerJoins(t *testing.T) {
	const burst = 3
	h := newHarness(t, func(c *Config) {
		c.Limits.JoinBurst, c.Limits.JoinInterval = burst, time.Hour
		c.ExemptJoin = func(ctx context.Context) bool { return ctx.Value(serverJoinKey{}) != nil }
	})
	const account = "acct@example.net"
	for i := range burst + 2 {
		h.create("boss@example.net/x", fmt.Sprintf("r%d@%s", i, domain), "Boss")
	}
	h.drop()
	// Enough joins at once to empty the bucket...
	for i := range burst {
		if got := h.join(account, fmt.Sprintf("r%d@%s", i, domain), "Acct"); !hasStatus(lastPresence(got), "110") {
			t.Fatalf("join %d: %s", i, dump(got))
		}
	}
	// ...then a stranger's join is refused, the server's own is not.
	if got := h.join(account, fmt.Sprintf("r%d@%s", burst, domain), "Acct"); condition(lastPresence(got)) != "resource-constraint" {
		t.Fatalf("join past the limit: %s", dump(got))
	}
	ctx := context.WithValue(context.Background(), serverJoinKey{}, true)
	h.sendCtx(ctx, account, fmt.Sprintf("<presence to='r%d@%s/Acct' id='rejoin'><x xmlns='%s'/></presence>", burst+1, domain, NS))
	if got := h.take(account); !hasStatus(lastPresence(got), "110") {
		t.Errorf("the server's own join past the limit: %s", dump(got))
	}
}

// A join the server makes on its own (an account's rejoin) never creates
// a room: a room that does not exist answers item-not-found, and stays
// absent (account-join rule 24).
func TestServerJoinNeverCreates(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.ExemptJoin = func(ctx context.Context) bool { return ctx.Value(serverJoinKey{}) != nil }
	})
	const account = "acct@example.net"
	ctx := context.WithValue(context.Background(), serverJoinKey{}, true)
	h.sendCtx(ctx, account, fmt.Sprintf("<presence to='gone@%s/Acct' id='rejoin'><x xmlns='%s'/></presence>", domain, NS))
	if got := h.take(account); condition(lastPresence(got)) != "item-not-found" {
		t.Fatalf("the server's join to a room that does not exist: %s", dump(got))
	}
	// An ordinary join still creates it.
	if got := h.join(account, "gone@"+domain, "Acct"); !hasStatus(lastPresence(got), "201") {
		t.Errorf("a session's join: %s", dump(got))
	}
}
