package server_test

import (
	"testing"

	"minimix/internal/xmpptest"
)

// pushOf returns the item of the roster push for contact that c receives
// next, checking the push's envelope.
func pushOf(t *testing.T, c *xmpptest.Client, contact string) Node {
	t.Helper()
	it, _ := wantPush(t, c, c.Expect(t, "roster push for "+contact, isPush(contact)))
	return it
}

// wantSub checks a roster item's subscription, ask and approved.
func wantSub(t *testing.T, it Node, sub, ask, approved string) {
	t.Helper()
	wantAttrs(t, it, "subscription", sub, "ask", ask, "approved", approved)
}

// TestE2ESubscription walks RFC 6121 section 3 between two online
// accounts: request, approval, mutual subscription, then cancellation
// from both sides, checking what each side receives at every step.
func TestE2ESubscription(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a := goOnline(t, srv, "alice", "")
	b := goOnline(t, srv, "bob", "<priority>1</priority>")
	const alice, bob = "alice@localhost", "bob@localhost"

	// 3.1.2: alice asks; her roster shows the pending request.
	a.SendRaw(t, `<presence to='bob@localhost' type='subscribe' id='sub1'/>`)
	wantSub(t, pushOf(t, a, bob), "none", "subscribe", "")
	// 3.1.3: bob gets the request from alice's bare JID, and no push: a
	// request does not put alice in his roster.
	n := b.Expect(t, "subscribe", isPresence(alice, "subscribe"))
	wantAttrs(t, n, "to", bob, "id", "sub1")
	expectNone(t, a, b, "roster push for a mere request", isPush(alice))
	r := b.IQ(t, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	if items := rosterItems(t, r); len(items) != 0 {
		t.Errorf("bob's roster lists the requester: %s", r)
	}

	// 3.1.5: bob approves; his roster gets alice with from, and alice
	// gets bob's current presence.
	b.SendRaw(t, `<presence to='alice@localhost' type='subscribed' id='ok1'/>`)
	wantSub(t, pushOf(t, b, alice), "from", "", "")
	// 3.1.6: alice gets the approval from bob's bare JID, a push with
	// subscription to, and bob's presence from his full JID.
	got := collect(t, a, map[string]match{
		"subscribed": isPresence(bob, "subscribed"),
		"push":       isPush(bob),
		"presence":   isPresence(b.JID.String(), ""),
	})
	wantAttrs(t, got["subscribed"], "to", alice, "id", "ok1")
	it, _ := wantPush(t, a, got["push"])
	wantSub(t, it, "to", "", "")
	if p := got["presence"].Child("", "priority"); p == nil || p.Text != "1" {
		t.Errorf("bob's presence lost its priority: %s", got["presence"])
	}

	// Presence now flows from bob to alice, not from alice to bob.
	b.SendRaw(t, `<presence><show>away</show><priority>1</priority></presence>`)
	n = a.Expect(t, "bob away", isPresence(b.JID.String(), ""))
	if s := n.Child("", "show"); s == nil || s.Text != "away" {
		t.Errorf("presence without show: %s", n)
	}
	a.SendRaw(t, `<presence><show>dnd</show></presence>`)
	expectNone(t, a, b, "presence from a non-subscriber's contact", isPresence(a.JID.String(), ""))

	// Mutual: bob subscribes to alice, who approves; both end with both.
	b.SendRaw(t, `<presence to='alice@localhost' type='subscribe'/>`)
	wantSub(t, pushOf(t, b, alice), "from", "subscribe", "")
	a.Expect(t, "subscribe", isPresence(bob, "subscribe"))
	a.SendRaw(t, `<presence to='bob@localhost' type='subscribed'/>`)
	wantSub(t, pushOf(t, a, bob), "both", "", "")
	got = collect(t, b, map[string]match{
		"subscribed": isPresence(alice, "subscribed"),
		"push":       isPush(alice),
		"presence":   isPresence(a.JID.String(), ""),
	})
	it, _ = wantPush(t, b, got["push"])
	wantSub(t, it, "both", "", "")
	if s := got["presence"].Child("", "show"); s == nil || s.Text != "dnd" {
		t.Errorf("alice's current presence not sent on approval: %s", got["presence"])
	}

	// 3.3: bob unsubscribes from alice. He no longer sees her presence:
	// alice's server sends him unavailable from her resources (3.3.3).
	b.SendRaw(t, `<presence to='alice@localhost' type='unsubscribe'/>`)
	wantSub(t, pushOf(t, b, alice), "from", "", "")
	got = collect(t, a, map[string]match{
		"unsubscribe": isPresence(bob, "unsubscribe"),
		"push":        isPush(bob),
	})
	it, _ = wantPush(t, a, got["push"])
	wantSub(t, it, "to", "", "")
	b.Expect(t, "alice unavailable", isPresence(a.JID.String(), "unavailable"))

	// 3.2: bob cancels alice's subscription to him. Alice loses bob's
	// presence: his server sends her unavailable (3.2.2).
	b.SendRaw(t, `<presence to='alice@localhost' type='unsubscribed'/>`)
	wantSub(t, pushOf(t, b, alice), "none", "", "")
	got = collect(t, a, map[string]match{
		"unsubscribed": isPresence(bob, "unsubscribed"),
		"push":         isPush(bob),
		"unavailable":  isPresence(b.JID.String(), "unavailable"),
	})
	it, _ = wantPush(t, a, got["push"])
	wantSub(t, it, "none", "", "")

	// With no subscription left, neither sees the other's presence.
	b.SendRaw(t, `<presence><show>xa</show></presence>`)
	expectNone(t, b, a, "presence after unsubscribed", isPresence(b.JID.String(), ""))
	a.SendRaw(t, `<presence/>`)
	expectNone(t, a, b, "presence after unsubscribe", isPresence(a.JID.String(), ""))
}

// TestE2EPreApproval checks RFC 6121 3.4: a subscribed sent before any
// request is remembered (approved='true') without reaching the contact,
// and the contact's later request is approved by the server.
func TestE2EPreApproval(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"bob", "carol"})
	b := goOnline(t, srv, "bob", "")
	c := goOnline(t, srv, "carol", "")

	b.SendRaw(t, `<presence to='carol@localhost' type='subscribed'/>`)
	it := pushOf(t, b, "carol@localhost")
	wantAttrs(t, it, "jid", "carol@localhost", "subscription", "none", "approved", "true", "ask", "")
	expectNone(t, b, c, "pre-approval", isPresence("bob@localhost", "subscribed"))

	c.SendRaw(t, `<presence to='bob@localhost' type='subscribe'/>`)
	wantSub(t, pushOf(t, c, "bob@localhost"), "none", "subscribe", "")
	// Bob's server answers for him: carol is subscribed and gets his
	// presence; bob sees the item become from, and no request.
	got := collect(t, c, map[string]match{
		"subscribed": isPresence("bob@localhost", "subscribed"),
		"push":       allOf(isPush("bob@localhost"), func(n Node) bool { return rosterItems(t, n)[0].Attr("subscription") == "to" }),
		"presence":   isPresence(b.JID.String(), ""),
	})
	it, _ = wantPush(t, c, got["push"])
	wantSub(t, it, "to", "", "")
	wantSub(t, pushOf(t, b, "carol@localhost"), "from", "", "")
	expectNone(t, c, b, "subscribe that was pre-approved", isPresence("carol@localhost", "subscribe"))
}

// TestE2ESubscriptionOffline checks that a request sent while the
// contact has no available resource reaches it at its next login (RFC
// 6121 3.1.3), once, and again at the login after that while it stays
// unanswered.
func TestE2ESubscriptionOffline(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "dave"})
	a := goOnline(t, srv, "alice", "")
	a.SendRaw(t, `<presence to='dave@localhost' type='subscribe' id='req'><status>it is alice</status></presence>`)
	wantSub(t, pushOf(t, a, "dave@localhost"), "none", "subscribe", "")
	// The push reaches alice before her server has routed the request on
	// to dave's account, which stores it: a login of dave's in between
	// would find nothing to redeliver, or, available by the time it is
	// stored, get it live and again from storage. An iq answered after
	// the push is the barrier (one connection's stanzas are handled in
	// order).
	a.IQ(t, `<iq type='get' to='localhost' id='barrier'><ping xmlns='urn:xmpp:ping'/></iq>`)

	for i := range 2 {
		d := loginAs(t, srv, "dave")
		d.SendRaw(t, `<presence/>`)
		n := d.Expect(t, "stored subscribe", isPresence("alice@localhost", "subscribe"))
		wantAttrs(t, n, "to", "dave@localhost")
		if s := n.Child("", "status"); s == nil || s.Text != "it is alice" {
			t.Errorf("login %d: request lost its status: %s", i+1, n)
		}
		expectNone(t, d, d, "a second copy of the request", isPresence("alice@localhost", "subscribe"))
		d.Close()
	}
	d := goOnline(t, srv, "dave", "")
	d.SendRaw(t, `<presence to='alice@localhost' type='subscribed'/>`)
	wantSub(t, pushOf(t, a, "dave@localhost"), "to", "", "")
	d.Close()
	d = loginAs(t, srv, "dave")
	d.SendRaw(t, `<presence/>`)
	expectNone(t, d, d, "an answered request", isPresence("alice@localhost", "subscribe"))
}

// TestE2ESubscriptionWithdrawn checks that a request the user cancels
// (unsubscribe, RFC 6121 3.3 and A.3.1) before the offline contact saw
// it is not delivered at the contact's next login.
func TestE2ESubscriptionWithdrawn(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "dave"})
	a := goOnline(t, srv, "alice", "")
	a.SendRaw(t, `<presence to='dave@localhost' type='subscribe'/>`)
	wantSub(t, pushOf(t, a, "dave@localhost"), "none", "subscribe", "")
	a.SendRaw(t, `<presence to='dave@localhost' type='unsubscribe'/>`)
	wantSub(t, pushOf(t, a, "dave@localhost"), "none", "", "")
	// The push reaches alice before her server has routed the
	// unsubscribe on to dave's account; an iq answered after it is the
	// barrier (one connection's stanzas are handled in order).
	a.IQ(t, `<iq type='get' to='localhost' id='barrier'><ping xmlns='urn:xmpp:ping'/></iq>`)

	d := goOnline(t, srv, "dave", "")
	expectNone(t, d, d, "a withdrawn request", isPresence("alice@localhost", "subscribe"))
	r := d.IQ(t, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	if items := rosterItems(t, r); len(items) != 0 {
		t.Errorf("dave's roster: %s", r)
	}
}

// TestE2ERosterRemoveCancels checks RFC 6121 2.5.2: removing a contact
// with a mutual subscription cancels both directions, so the contact's
// roster shows none and neither sees the other's presence any more.
func TestE2ERosterRemoveCancels(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a := goOnline(t, srv, "alice", "")
	b := goOnline(t, srv, "bob", "")
	befriend(t, a, b)

	r := a.IQ(t, `<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>`)
	wantAttrs(t, r, "type", "result", "id", "rm")
	wantAttrs(t, pushOf(t, a, "bob@localhost"), "subscription", "remove")
	got := collect(t, b, map[string]match{
		"unsubscribe":  isPresence("alice@localhost", "unsubscribe"),
		"unsubscribed": isPresence("alice@localhost", "unsubscribed"),
		"unavailable":  isPresence(a.JID.String(), "unavailable"),
		"push none":    allOf(isPush("alice@localhost"), func(n Node) bool { return rosterItems(t, n)[0].Attr("subscription") == "none" }),
	})
	it, _ := wantPush(t, b, got["push none"])
	wantSub(t, it, "none", "", "")
	// Bob's server tells alice that bob is gone for her (3.3.3).
	a.Expect(t, "bob unavailable", isPresence(b.JID.String(), "unavailable"))

	b.SendRaw(t, `<presence><status>still here</status></presence>`)
	expectNone(t, b, a, "presence after removal", isPresence(b.JID.String(), ""))
	a.SendRaw(t, `<presence><status>me too</status></presence>`)
	expectNone(t, a, b, "presence after removal", isPresence(a.JID.String(), ""))
}
