package version

import (
	"slices"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

func TestVersion(t *testing.T) {
	alice := jid.MustParse("alice@localhost/phone")
	server := jid.Domain("localhost")
	for _, tc := range []struct {
		name        string
		version, os string
		typ         string
		to          jid.JID
		target      iq.Target
		want        string
		wantErr     xmpperr.Condition
	}{
		{name: "no os", version: "1.2.3", typ: "get", to: server, target: iq.Server,
			want: `<query xmlns="jabber:iq:version"><name>minimix</name><version>1.2.3</version></query>`},
		{name: "os", version: "1.2.3", os: "linux", typ: "get", to: server, target: iq.Server,
			want: `<query xmlns="jabber:iq:version"><name>minimix</name><version>1.2.3</version><os>linux</os></query>`},
		{name: "no version", typ: "get", to: server, target: iq.Server,
			want: `<query xmlns="jabber:iq:version"><name>minimix</name><version>unknown</version></query>`},
		{name: "set", version: "1", typ: "set", to: server, target: iq.Server, wantErr: xmpperr.BadRequest},
		{name: "to an account", version: "1", typ: "get", to: jid.MustParse("bob@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "to self", version: "1", typ: "get", to: alice.Bare(), target: iq.Self, wantErr: xmpperr.ServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := iq.NewMux(nil)
			New(tc.version, tc.os).Register(m)
			el := stanza.NewIQ(tc.typ, "v1", alice.String(), tc.to.String(), xml.New(NS, "query"))
			reply := m.Serve(t.Context(), el, alice, tc.to, tc.target)
			if reply == nil || reply.Attr("id") != "v1" {
				t.Fatalf("reply %v", reply)
			}
			if tc.wantErr != "" {
				if se := xmpperr.FromElement(reply); reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
					t.Fatalf("reply %s, want error %s", reply, tc.wantErr)
				}
				return
			}
			if reply.Attr("type") != "result" {
				t.Fatalf("reply %s, want result", reply)
			}
			if got := reply.FirstElement().String(); got != tc.want {
				t.Errorf("payload\n got %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(m.Features(iq.Server), []string{NS}) || len(m.Features(iq.Account)) != 0 {
				t.Errorf("features: server %v, account %v", m.Features(iq.Server), m.Features(iq.Account))
			}
		})
	}
}
