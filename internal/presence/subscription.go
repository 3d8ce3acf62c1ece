package presence

import (
	"bytes"

	"minimix/internal/roster"
	"minimix/internal/storage"
)

// The subscription state machine of RFC 6121 Appendix A, as two pure
// functions over a roster item: one for what the user sends (A.2), one for
// what a contact sends to the user (A.3). They change the item and say
// what must be sent; the caller stores, pushes and routes. Keeping them
// pure lets the state tables be tested row by row.

// Presence subscription types.
const (
	subscribe    = "subscribe"
	subscribed   = "subscribed"
	unsubscribe  = "unsubscribe"
	unsubscribed = "unsubscribed"
)

// action is what a subscription stanza requires besides the item change.
type action struct {
	// route: send the stanza on to the contact (outbound).
	route bool
	// deliver: hand the stanza to the user's available resources (inbound).
	deliver bool
	// autoReply: answer the contact's subscribe with subscribed on the
	// user's behalf (inbound, RFC 6121 3.1.3).
	autoReply bool
	// sendPresence: the contact just got a subscription to the user, so
	// send the current presence of each available resource (3.1.5).
	sendPresence bool
	// sendUnavailable: the contact just lost its subscription to the user,
	// so tell it each available resource is now unavailable (3.2.2).
	sendUnavailable bool
}

func hasTo(s storage.Subscription) bool   { return s == storage.SubTo || s == storage.SubBoth }
func hasFrom(s storage.Subscription) bool { return s == storage.SubFrom || s == storage.SubBoth }

// withTo returns s with the user's subscription to the contact added or
// removed.
func withTo(s storage.Subscription, on bool) storage.Subscription {
	from := hasFrom(s)
	switch {
	case on && from:
		return storage.SubBoth
	case on:
		return storage.SubTo
	case from:
		return storage.SubFrom
	}
	return storage.SubNone
}

// withFrom returns s with the contact's subscription to the user added or
// removed.
func withFrom(s storage.Subscription, on bool) storage.Subscription {
	to := hasTo(s)
	switch {
	case on && to:
		return storage.SubBoth
	case on:
		return storage.SubFrom
	case to:
		return storage.SubTo
	}
	return storage.SubNone
}

// outbound applies a subscription stanza the user sends to the contact
// (RFC 6121 3.1.2, 3.2.2, 3.3.2, 3.4 and Appendix A.2).
//
// Requests and cancellations (subscribe, unsubscribe, unsubscribed) are
// always routed, even when they change nothing here: the contact's server
// ignores what does not apply to its own state (A.3), and a stale state
// there gets repaired. subscribed is routed only when it answers a pending
// request; otherwise it is a pre-approval (3.4), which the contact must
// not see, or has nothing to approve.
func outbound(typ string, it *storage.RosterItem) action {
	var a action
	switch typ {
	case subscribe:
		a.route = true
		it.Hidden = false // asking for a subscription adds the contact
		if !hasTo(it.Subscription) {
			it.PendingOut = true
		}
	case unsubscribe:
		a.route = true
		it.PendingOut = false
		it.Subscription = withTo(it.Subscription, false)
	case subscribed:
		switch {
		case it.PendingIn:
			it.PendingIn, it.PendingInStanza = false, nil
			it.Approved = false
			it.Hidden = false // approving adds the contact
			it.Subscription = withFrom(it.Subscription, true)
			a.route, a.sendPresence = true, true
		case !hasFrom(it.Subscription):
			it.Approved = true
			it.Hidden = false
		}
	case unsubscribed:
		a.route = true
		it.Approved = false
		it.PendingIn, it.PendingInStanza = false, nil
		if hasFrom(it.Subscription) {
			it.Subscription = withFrom(it.Subscription, false)
			a.sendUnavailable = true
		}
	}
	return a
}

// inbound applies a subscription stanza from the contact to the user
// (RFC 6121 3.1.3, 3.1.6, 3.2.3, 3.3.3 and Appendix A.3). req is the
// serialised subscribe request, kept for redelivery at login.
//
// A subscribe the user already answered (the contact has from or both) or
// pre-approved is answered by the server, followed by the user's presence. One that is already pending is
// not delivered again: the user has it, or gets it at the next login.
// Every other inbound stanza is delivered only when it changes the state,
// as the tables of Appendix A.3 require.
func inbound(typ string, it *storage.RosterItem, exists bool, req []byte) action {
	var a action
	switch typ {
	case subscribe:
		switch {
		case hasFrom(it.Subscription):
			// The contact lost track of its subscription; with the
			// reply its state becomes "to" again and it needs presence.
			a.autoReply, a.sendPresence = true, true
		case it.Approved:
			it.Approved = false
			it.PendingIn, it.PendingInStanza = false, nil
			it.Subscription = withFrom(it.Subscription, true)
			a.autoReply, a.sendPresence = true, true
		case it.PendingIn:
		default:
			it.PendingIn, it.PendingInStanza = true, req
			if !exists {
				// Not in the roster until the user approves or adds it.
				it.Hidden = true
			}
			a.deliver = true
		}
	case subscribed:
		if it.PendingOut {
			it.PendingOut = false
			it.Subscription = withTo(it.Subscription, true)
			a.deliver = true
		}
	case unsubscribe:
		if it.PendingIn || hasFrom(it.Subscription) {
			// RFC 6121 3.3.3: a contact that loses its subscription is
			// told that every available resource is now unavailable.
			a.sendUnavailable = hasFrom(it.Subscription)
			it.PendingIn, it.PendingInStanza = false, nil
			it.Subscription = withFrom(it.Subscription, false)
			a.deliver = true
		}
	case unsubscribed:
		if it.PendingOut || hasTo(it.Subscription) {
			it.PendingOut = false
			it.Subscription = withTo(it.Subscription, false)
			a.deliver = true
		}
	}
	return a
}

// decide turns an item's change into what roster.Update should do.
func decide(before, after storage.RosterItem, exists bool) roster.Change {
	switch {
	case sameState(before, after):
		return roster.Keep
	case after.Hidden && after.Subscription == storage.SubNone && !after.PendingIn && !after.PendingOut && !after.Approved:
		// A remembered request that is gone leaves nothing to remember.
		if exists {
			return roster.Delete
		}
		return roster.Keep
	case exists && sameVisible(before, after):
		return roster.PutQuiet
	}
	return roster.Put
}

// sameState compares the subscription state of two items.
func sameState(a, b storage.RosterItem) bool {
	return sameVisible(a, b) && a.PendingIn == b.PendingIn && bytes.Equal(a.PendingInStanza, b.PendingInStanza)
}

// sameVisible compares what a roster push would show of the subscription
// state (pending inbound requests are not shown).
func sameVisible(a, b storage.RosterItem) bool {
	return a.Subscription == b.Subscription && a.PendingOut == b.PendingOut &&
		a.Approved == b.Approved && a.Hidden == b.Hidden
}
