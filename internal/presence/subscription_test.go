package presence

import (
	"strings"
	"testing"

	"minimix/internal/roster"
	"minimix/internal/storage"
)

// parseState reads a state of RFC 6121 Appendix A written compactly:
// "absent" (no item) or a subscription followed by any of +out (pending
// out), +in (pending in), +approved and +hidden.
func parseState(t *testing.T, s string) (storage.RosterItem, bool) {
	t.Helper()
	if s == "absent" {
		return storage.RosterItem{Contact: "bob@example.net", Subscription: storage.SubNone}, false
	}
	parts := strings.Split(s, "+")
	it := storage.RosterItem{Contact: "bob@example.net", Subscription: storage.Subscription(parts[0])}
	for _, p := range parts[1:] {
		switch p {
		case "out":
			it.PendingOut = true
		case "in":
			it.PendingIn = true
			it.PendingInStanza = []byte("<presence/>")
		case "approved":
			it.Approved = true
		case "hidden":
			it.Hidden = true
		default:
			t.Fatalf("bad state %q", s)
		}
	}
	return it, true
}

func stateString(it storage.RosterItem) string {
	s := string(it.Subscription)
	if it.PendingOut {
		s += "+out"
	}
	if it.PendingIn {
		s += "+in"
	}
	if it.Approved {
		s += "+approved"
	}
	if it.Hidden {
		s += "+hidden"
	}
	return s
}

type stateRow struct {
	before string
	typ    string
	after  string
	change roster.Change
	act    action
}

func runStateRows(t *testing.T, rows []stateRow, apply func(typ string, it *storage.RosterItem, exists bool) action) {
	t.Helper()
	for _, row := range rows {
		t.Run(row.typ+"/"+row.before, func(t *testing.T) {
			before, exists := parseState(t, row.before)
			after := before
			after.PendingInStanza = append([]byte(nil), before.PendingInStanza...)
			if before.PendingInStanza == nil {
				after.PendingInStanza = nil
			}
			act := apply(row.typ, &after, exists)
			change := decide(before, after, exists)
			got := stateString(after)
			if change == roster.Delete || (change == roster.Keep && !exists) {
				got = "absent"
			}
			if got != row.after {
				t.Errorf("state %s, want %s", got, row.after)
			}
			if change != row.change {
				t.Errorf("change %v, want %v", change, row.change)
			}
			if act != row.act {
				t.Errorf("action %+v, want %+v", act, row.act)
			}
			if after.PendingIn != (len(after.PendingInStanza) > 0) {
				t.Errorf("pending in %v with stanza %q", after.PendingIn, after.PendingInStanza)
			}
		})
	}
}

var (
	route        = action{route: true}
	routeUnavl   = action{route: true, sendUnavailable: true}
	approve      = action{route: true, sendPresence: true}
	deliver      = action{deliver: true}
	deliverUnavl = action{deliver: true, sendUnavailable: true}
	autoApprove  = action{autoReply: true, sendPresence: true}
	nothing      = action{}
)

// TestOutbound follows RFC 6121 Appendix A.2, with pre-approval (3.4) and
// hidden items (requests not yet in the roster) added.
func TestOutbound(t *testing.T) {
	const (
		keep  = roster.Keep
		put   = roster.Put
		quiet = roster.PutQuiet
		del   = roster.Delete
	)
	rows := []stateRow{
		// A.2.1 subscribe
		{"absent", subscribe, "none+out", put, route},
		{"none", subscribe, "none+out", put, route},
		{"none+out", subscribe, "none+out", keep, route},
		{"none+in", subscribe, "none+out+in", put, route},
		{"none+in+hidden", subscribe, "none+out+in", put, route},
		{"none+out+in", subscribe, "none+out+in", keep, route},
		{"to", subscribe, "to", keep, route},
		{"to+in", subscribe, "to+in", keep, route},
		{"from", subscribe, "from+out", put, route},
		{"from+out", subscribe, "from+out", keep, route},
		{"both", subscribe, "both", keep, route},
		// A.2.2 unsubscribe
		{"absent", unsubscribe, "absent", keep, route},
		{"none", unsubscribe, "none", keep, route},
		{"none+out", unsubscribe, "none", put, route},
		{"none+in", unsubscribe, "none+in", keep, route},
		{"none+out+in", unsubscribe, "none+in", put, route},
		{"to", unsubscribe, "none", put, route},
		{"to+in", unsubscribe, "none+in", put, route},
		{"from", unsubscribe, "from", keep, route},
		{"from+out", unsubscribe, "from", put, route},
		{"both", unsubscribe, "from", put, route},
		// A.2.3 subscribed: approval of a pending request, else pre-approval
		{"absent", subscribed, "none+approved", put, nothing},
		{"none", subscribed, "none+approved", put, nothing},
		{"none+approved", subscribed, "none+approved", keep, nothing},
		{"none+out", subscribed, "none+out+approved", put, nothing},
		{"none+in", subscribed, "from", put, approve},
		{"none+in+hidden", subscribed, "from", put, approve},
		{"none+out+in", subscribed, "from+out", put, approve},
		{"to", subscribed, "to+approved", put, nothing},
		{"to+in", subscribed, "both", put, approve},
		{"from", subscribed, "from", keep, nothing},
		{"from+out", subscribed, "from+out", keep, nothing},
		{"both", subscribed, "both", keep, nothing},
		// A.2.4 unsubscribed: denial, cancellation, or withdrawn pre-approval
		{"absent", unsubscribed, "absent", keep, route},
		{"none", unsubscribed, "none", keep, route},
		{"none+approved", unsubscribed, "none", put, route},
		{"none+out", unsubscribed, "none+out", keep, route},
		{"none+in", unsubscribed, "none", quiet, route},
		{"none+in+hidden", unsubscribed, "absent", del, route},
		{"none+out+in", unsubscribed, "none+out", quiet, route},
		{"to", unsubscribed, "to", keep, route},
		{"to+in", unsubscribed, "to", quiet, route},
		{"from", unsubscribed, "none", put, routeUnavl},
		{"from+out", unsubscribed, "none+out", put, routeUnavl},
		{"both", unsubscribed, "to", put, routeUnavl},
	}
	runStateRows(t, rows, func(typ string, it *storage.RosterItem, exists bool) action { return outbound(typ, it) })
}

// TestInbound follows RFC 6121 Appendix A.3, with pre-approval (3.4) and
// hidden items added.
func TestInbound(t *testing.T) {
	const (
		keep  = roster.Keep
		put   = roster.Put
		quiet = roster.PutQuiet
		del   = roster.Delete
	)
	rows := []stateRow{
		// A.3.1 subscribe
		{"absent", subscribe, "none+in+hidden", put, deliver},
		{"none", subscribe, "none+in", quiet, deliver},
		{"none+out", subscribe, "none+out+in", quiet, deliver},
		{"none+in", subscribe, "none+in", keep, nothing},
		{"none+in+hidden", subscribe, "none+in+hidden", keep, nothing},
		{"none+out+in", subscribe, "none+out+in", keep, nothing},
		{"to", subscribe, "to+in", quiet, deliver},
		{"to+in", subscribe, "to+in", keep, nothing},
		{"from", subscribe, "from", keep, autoApprove},
		{"from+out", subscribe, "from+out", keep, autoApprove},
		{"both", subscribe, "both", keep, autoApprove},
		{"none+approved", subscribe, "from", put, autoApprove},
		{"none+out+approved", subscribe, "from+out", put, autoApprove},
		{"to+approved", subscribe, "both", put, autoApprove},
		// A.3.2 unsubscribe
		{"absent", unsubscribe, "absent", keep, nothing},
		{"none", unsubscribe, "none", keep, nothing},
		{"none+out", unsubscribe, "none+out", keep, nothing},
		{"none+in", unsubscribe, "none", quiet, deliver},
		{"none+in+hidden", unsubscribe, "absent", del, deliver},
		{"none+out+in", unsubscribe, "none+out", quiet, deliver},
		{"to", unsubscribe, "to", keep, nothing},
		{"to+in", unsubscribe, "to", quiet, deliver},
		{"from", unsubscribe, "none", put, deliverUnavl},
		{"from+out", unsubscribe, "none+out", put, deliverUnavl},
		{"both", unsubscribe, "to", put, deliverUnavl},
		// A.3.3 subscribed
		{"absent", subscribed, "absent", keep, nothing},
		{"none", subscribed, "none", keep, nothing},
		{"none+out", subscribed, "to", put, deliver},
		{"none+in", subscribed, "none+in", keep, nothing},
		{"none+out+in", subscribed, "to+in", put, deliver},
		{"to", subscribed, "to", keep, nothing},
		{"to+in", subscribed, "to+in", keep, nothing},
		{"from", subscribed, "from", keep, nothing},
		{"from+out", subscribed, "both", put, deliver},
		{"both", subscribed, "both", keep, nothing},
		// A.3.4 unsubscribed
		{"absent", unsubscribed, "absent", keep, nothing},
		{"none", unsubscribed, "none", keep, nothing},
		{"none+out", unsubscribed, "none", put, deliver},
		{"none+in", unsubscribed, "none+in", keep, nothing},
		{"none+out+in", unsubscribed, "none+in", put, deliver},
		{"to", unsubscribed, "none", put, deliver},
		{"to+in", unsubscribed, "none+in", put, deliver},
		{"from", unsubscribed, "from", keep, nothing},
		{"from+out", unsubscribed, "from", put, deliver},
		{"both", unsubscribed, "from", put, deliver},
	}
	runStateRows(t, rows, func(typ string, it *storage.RosterItem, exists bool) action {
		return inbound(typ, it, exists, []byte("<presence/>"))
	})
}
