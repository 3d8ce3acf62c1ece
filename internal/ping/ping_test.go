package ping

import (
	"slices"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

func TestPing(t *testing.T) {
	m := iq.NewMux(nil)
	Register(m)
	alice := jid.MustParse("alice@localhost/phone")
	for _, tc := range []struct {
		name    string
		typ     string
		payload *xml.Element
		to      jid.JID
		target  iq.Target
		wantErr xmpperr.Condition
	}{
		{"server", "get", xml.New(NS, "ping"), jid.Domain("localhost"), iq.Server, ""},
		{"self", "get", xml.New(NS, "ping"), alice.Bare(), iq.Self, ""},
		{"account", "get", xml.New(NS, "ping"), jid.MustParse("bob@localhost"), iq.Account, ""},
		{"set", "set", xml.New(NS, "ping"), jid.Domain("localhost"), iq.Server, xmpperr.BadRequest},
		{"wrong name", "get", xml.New(NS, "pong"), jid.Domain("localhost"), iq.Server, xmpperr.ServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := stanza.NewIQ(tc.typ, "p1", alice.String(), tc.to.String(), tc.payload)
			reply := m.Serve(t.Context(), el, alice, tc.to, tc.target)
			if reply == nil || reply.Attr("id") != "p1" {
				t.Fatalf("reply %v", reply)
			}
			if tc.wantErr != "" {
				if se := xmpperr.FromElement(reply); reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
					t.Fatalf("reply %s, want error %s", reply, tc.wantErr)
				}
				return
			}
			if reply.Attr("type") != "result" || len(reply.Elements()) != 0 {
				t.Fatalf("reply %s, want empty result", reply)
			}
			if reply.Attr("from") != tc.to.String() {
				t.Errorf("reply from %q, want %q", reply.Attr("from"), tc.to)
			}
		})
	}
	for _, target := range []iq.Target{iq.Server, iq.Self, iq.Account} {
		if !slices.Contains(m.Features(target), NS) {
			t.Errorf("%s not advertised on target %d", NS, target)
		}
	}
}
