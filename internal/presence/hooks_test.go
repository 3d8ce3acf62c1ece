package presence

import (
	"context"
	"slices"
	"testing"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// TestHooks checks when the optional hooks of Config are called: each
// broadcast available presence of a session (initial or not), the end of
// an available session, and presence other entities send to an account.
func TestHooks(t *testing.T) {
	e := newEnv(t)
	e.setItem("alice", "bob@example.net", "both")
	e.setItem("bob", "alice@example.net", "both")
	var calls []string
	e.p.onAvailable = func(ctx context.Context, sess router.Session, p *xml.Element, initial bool) {
		calls = append(calls, "available "+sess.JID().String()+" from="+p.Attr("from")+" initial="+map[bool]string{true: "yes", false: "no"}[initial])
	}
	e.p.onUnavailable = func(ctx context.Context, sess router.Session) {
		calls = append(calls, "unavailable "+sess.JID().String())
	}
	e.p.onInbound = func(ctx context.Context, el *xml.Element, from, to jid.JID) {
		calls = append(calls, "inbound "+from.String()+" to "+to.String()+" type="+el.Attr("type"))
	}
	want := func(what string, w ...string) {
		t.Helper()
		if !slices.Equal(calls, w) {
			t.Errorf("%s: hooks %q, want %q", what, calls, w)
		}
		calls = nil
	}

	a := e.online("alice@example.net/phone", "0")
	want("alice's initial presence: broadcast to bob, probe answered for him, then the hook",
		"inbound alice@example.net/phone to bob@example.net type=",
		"inbound bob@example.net to alice@example.net type=unavailable",
		"available alice@example.net/phone from=alice@example.net/phone initial=yes")
	e.send(a, `<presence><show>away</show></presence>`)
	want("an update",
		"inbound alice@example.net/phone to bob@example.net type=",
		"available alice@example.net/phone from=alice@example.net/phone initial=no")
	b := e.online("bob@example.net/pc", "0")
	want("bob's initial presence reaches alice's account, and her answer to his probe his",
		"inbound bob@example.net/pc to alice@example.net type=",
		"inbound alice@example.net/phone to bob@example.net type=",
		"available bob@example.net/pc from=bob@example.net/pc initial=yes")
	e.send(a, `<presence type='unavailable'/>`)
	want("alice goes unavailable", "inbound alice@example.net/phone to bob@example.net type=unavailable", "unavailable alice@example.net/phone")
	e.logout(a)
	want("the end of an unavailable session")
	e.logout(b)
	want("bob's session ends", "inbound bob@example.net/pc to alice@example.net type=unavailable", "unavailable bob@example.net/pc")
}
