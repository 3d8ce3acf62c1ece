package entitytime

import (
	"slices"
	"testing"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

func TestTime(t *testing.T) {
	// A clock in a non-UTC zone, to check the answer is converted.
	zone := time.FixedZone("X", -7*3600)
	clock := func() time.Time { return time.Date(2006, 12, 19, 10, 58, 35, 123456789, zone) }
	m := iq.NewMux(nil)
	New(clock).Register(m)
	alice := jid.MustParse("alice@localhost/phone")
	server := jid.Domain("localhost")
	for _, tc := range []struct {
		name    string
		typ     string
		payload *xml.Element
		to      jid.JID
		target  iq.Target
		want    string
		wantErr xmpperr.Condition
	}{
		{name: "get", typ: "get", payload: xml.New(NS, "time"), to: server, target: iq.Server,
			want: `<time xmlns="urn:xmpp:time"><tzo>+00:00</tzo><utc>2006-12-19T17:58:35.123Z</utc></time>`},
		{name: "set", typ: "set", payload: xml.New(NS, "time"), to: server, target: iq.Server, wantErr: xmpperr.BadRequest},
		{name: "to an account", typ: "get", payload: xml.New(NS, "time"), to: jid.MustParse("bob@localhost"), target: iq.Account, wantErr: xmpperr.ServiceUnavailable},
		{name: "wrong element", typ: "get", payload: xml.New(NS, "query"), to: server, target: iq.Server, wantErr: xmpperr.ServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := stanza.NewIQ(tc.typ, "t1", alice.String(), tc.to.String(), tc.payload)
			reply := m.Serve(t.Context(), el, alice, tc.to, tc.target)
			if reply == nil || reply.Attr("id") != "t1" {
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
		})
	}
	if !slices.Equal(m.Features(iq.Server), []string{NS}) {
		t.Errorf("server features %v", m.Features(iq.Server))
	}
}

func TestDefaultClock(t *testing.T) {
	m := iq.NewMux(nil)
	New(nil).Register(m)
	from, to := jid.MustParse("a@localhost/r"), jid.Domain("localhost")
	reply := m.Serve(t.Context(), stanza.NewIQ("get", "1", from.String(), to.String(), xml.New(NS, "time")), from, to, iq.Server)
	utc := reply.FirstElement().ChildText(NS, "utc")
	got, err := time.Parse(utcLayout, utc)
	if err != nil {
		t.Fatalf("utc %q: %v", utc, err)
	}
	if d := time.Since(got); d < -time.Minute || d > time.Minute {
		t.Errorf("utc %q is %v away from now", utc, d)
	}
}
