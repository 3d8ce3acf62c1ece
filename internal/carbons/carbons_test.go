package carbons

import (
	"slices"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// TestCarbons runs its steps in order against one registry.
func TestCarbons(t *testing.T) {
	reg := router.NewRegistry()
	phone := sessiontest.New("alice@localhost/phone")
	laptop := sessiontest.New("alice@localhost/laptop")
	reg.Add(phone)
	reg.Add(laptop)
	m := iq.NewMux(nil)
	New(reg).Register(m)

	server := jid.Domain("localhost")
	gone := jid.MustParse("alice@localhost/gone")
	for _, tc := range []struct {
		name       string
		typ        string
		op         string // enable or disable
		from, to   jid.JID
		target     iq.Target
		wantErr    xmpperr.Condition
		wantPhone  bool
		wantLaptop bool
	}{
		{name: "enable", typ: "set", op: "enable", from: phone.JID(), to: phone.JID().Bare(), target: iq.Self, wantPhone: true},
		{name: "enable again", typ: "set", op: "enable", from: phone.JID(), to: phone.JID().Bare(), target: iq.Self, wantPhone: true},
		{name: "enable via server", typ: "set", op: "enable", from: laptop.JID(), to: server, target: iq.Server, wantPhone: true, wantLaptop: true},
		{name: "disable", typ: "set", op: "disable", from: phone.JID(), to: phone.JID().Bare(), target: iq.Self, wantLaptop: true},
		{name: "get", typ: "get", op: "enable", from: phone.JID(), to: phone.JID().Bare(), target: iq.Self, wantErr: xmpperr.BadRequest, wantLaptop: true},
		{name: "no such session", typ: "set", op: "enable", from: gone, to: gone.Bare(), target: iq.Self, wantErr: xmpperr.NotAllowed, wantLaptop: true},
		{name: "bare sender", typ: "set", op: "enable", from: phone.JID().Bare(), to: server, target: iq.Server, wantErr: xmpperr.NotAllowed, wantLaptop: true},
		{name: "remote sender", typ: "set", op: "enable", from: jid.MustParse("eve@example.org/x"), to: server, target: iq.Server, wantErr: xmpperr.NotAllowed, wantLaptop: true},
		{name: "to another account", typ: "set", op: "enable", from: phone.JID(), to: jid.MustParse("bob@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable, wantLaptop: true},
		{name: "unknown element", typ: "set", op: "private", from: phone.JID(), to: phone.JID().Bare(), target: iq.Self, wantErr: xmpperr.ServiceUnavailable, wantLaptop: true},
	} {
		el := stanza.NewIQ(tc.typ, "c1", tc.from.String(), tc.to.String(), xml.New(NS, tc.op))
		reply := m.Serve(t.Context(), el, tc.from, tc.to, tc.target)
		if reply == nil || reply.Attr("id") != "c1" {
			t.Fatalf("%s: reply %v", tc.name, reply)
		}
		if tc.wantErr != "" {
			if se := xmpperr.FromElement(reply); reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
				t.Fatalf("%s: reply %s, want error %s", tc.name, reply, tc.wantErr)
			}
		} else if reply.Attr("type") != "result" || len(reply.Elements()) != 0 {
			t.Fatalf("%s: reply %s, want empty result", tc.name, reply)
		}
		if got := phone.State().Carbons(); got != tc.wantPhone {
			t.Errorf("%s: phone carbons %v, want %v", tc.name, got, tc.wantPhone)
		}
		if got := laptop.State().Carbons(); got != tc.wantLaptop {
			t.Errorf("%s: laptop carbons %v, want %v", tc.name, got, tc.wantLaptop)
		}
	}
	for _, target := range []iq.Target{iq.Server, iq.Self} {
		if !slices.Contains(m.Features(target), NS) {
			t.Errorf("%s not advertised on target %d", NS, target)
		}
	}
	if len(m.Features(iq.Account)) != 0 {
		t.Errorf("account features %v", m.Features(iq.Account))
	}
}
