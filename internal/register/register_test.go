package register

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// fakeAccounts records what the service asked for.
type fakeAccounts struct {
	passwords map[string]string
	kicked    []string
}

func (f *fakeAccounts) config() Config {
	return Config{
		SetPassword: func(ctx context.Context, user, password string) error {
			switch password {
			case "short":
				return xmpperr.New(xmpperr.NotAcceptable, "too short")
			case "fail":
				return errors.New("disk on fire")
			}
			f.passwords[user] = password
			return nil
		},
		Remove: func(ctx context.Context, user string) error {
			if _, ok := f.passwords[user]; !ok {
				return errors.New("no such account")
			}
			delete(f.passwords, user)
			return nil
		},
		Kick:   func(user string) { f.kicked = append(f.kicked, user) },
		Logger: slog.New(slog.DiscardHandler),
	}
}

func query(children ...*xml.Element) *xml.Element { return xml.New(NS, "query").Append(children...) }

func text(local, s string) *xml.Element { return xml.New(NS, local).AppendText(s) }

// TestRegister runs its steps in order against one fake.
func TestRegister(t *testing.T) {
	accounts := &fakeAccounts{passwords: map[string]string{"alice": "old", "bob": "bob's"}}
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	New(accounts.config()).Register(m)

	alice := jid.MustParse("alice@localhost/phone")
	bob := jid.MustParse("bob@localhost/laptop")
	server := jid.Domain("localhost")
	for _, tc := range []struct {
		name         string
		typ          string
		payload      *xml.Element
		from, to     jid.JID
		target       iq.Target
		want         string // payload of a result; "" for an empty result
		wantErr      xmpperr.Condition
		wantPassword string // alice's password afterwards; "" if removed
		wantKicked   []string
	}{
		{name: "get", typ: "get", payload: query(), from: alice, to: alice.Bare(), target: iq.Self,
			want: `<query xmlns="jabber:iq:register"><registered/><username>alice</username></query>`, wantPassword: "old"},
		{name: "get via server", typ: "get", payload: query(), from: alice, to: server, target: iq.Server,
			want: `<query xmlns="jabber:iq:register"><registered/><username>alice</username></query>`, wantPassword: "old"},
		{name: "change", typ: "set", payload: query(text("username", "alice"), text("password", "new")), from: alice, to: alice.Bare(), target: iq.Self, wantPassword: "new"},
		{name: "change via server, username prepared", typ: "set", payload: query(text("username", "Alice"), text("password", "newer")), from: alice, to: server, target: iq.Server, wantPassword: "newer"},
		{name: "change another's", typ: "set", payload: query(text("username", "bob"), text("password", "x")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.Forbidden, wantPassword: "newer"},
		{name: "bad username", typ: "set", payload: query(text("username", "a@b"), text("password", "x")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.Forbidden, wantPassword: "newer"},
		{name: "no password", typ: "set", payload: query(text("username", "alice")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.BadRequest, wantPassword: "newer"},
		{name: "no username", typ: "set", payload: query(text("password", "x")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.BadRequest, wantPassword: "newer"},
		{name: "empty set", typ: "set", payload: query(), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.BadRequest, wantPassword: "newer"},
		{name: "empty password", typ: "set", payload: query(text("username", "alice"), text("password", "")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable, wantPassword: "newer"},
		{name: "policy refuses", typ: "set", payload: query(text("username", "alice"), text("password", "short")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.NotAcceptable, wantPassword: "newer"},
		{name: "store fails", typ: "set", payload: query(text("username", "alice"), text("password", "fail")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.InternalServerErrorC, wantPassword: "newer"},
		{name: "to another account", typ: "set", payload: query(xml.New(NS, "remove")), from: alice, to: bob.Bare(), target: iq.Account, wantErr: xmpperr.ServiceUnavailable, wantPassword: "newer"},
		{name: "remote via server", typ: "set", payload: query(xml.New(NS, "remove")), from: jid.MustParse("alice@example.org/x"), to: server, target: iq.Server, wantErr: xmpperr.ServiceUnavailable, wantPassword: "newer"},
		{name: "server itself", typ: "get", payload: query(), from: jid.Domain("example.org"), to: server, target: iq.Server, wantErr: xmpperr.ServiceUnavailable, wantPassword: "newer"},
		{name: "remove", typ: "set", payload: query(xml.New(NS, "remove")), from: alice, to: alice.Bare(), target: iq.Self, wantKicked: []string{"alice"}},
		{name: "remove again fails", typ: "set", payload: query(xml.New(NS, "remove")), from: alice, to: alice.Bare(), target: iq.Self, wantErr: xmpperr.InternalServerErrorC, wantKicked: []string{"alice"}},
	} {
		el := stanza.NewIQ(tc.typ, "r1", tc.from.String(), tc.to.String(), tc.payload)
		reply := m.Serve(t.Context(), el, tc.from, tc.to, tc.target)
		if reply == nil || reply.Attr("id") != "r1" {
			t.Fatalf("%s: reply %v", tc.name, reply)
		}
		if tc.wantErr != "" {
			if se := xmpperr.FromElement(reply); reply.Attr("type") != "error" || se == nil || se.Condition != tc.wantErr {
				t.Fatalf("%s: reply %s, want error %s", tc.name, reply, tc.wantErr)
			}
		} else {
			if reply.Attr("type") != "result" {
				t.Fatalf("%s: reply %s, want result", tc.name, reply)
			}
			got := ""
			if p := reply.FirstElement(); p != nil {
				got = p.String()
			}
			if got != tc.want {
				t.Errorf("%s: payload\n got %s\nwant %s", tc.name, got, tc.want)
			}
		}
		if got := accounts.passwords["alice"]; got != tc.wantPassword {
			t.Errorf("%s: alice's password %q, want %q", tc.name, got, tc.wantPassword)
		}
		if !slices.Equal(accounts.kicked, tc.wantKicked) {
			t.Errorf("%s: kicked %v, want %v", tc.name, accounts.kicked, tc.wantKicked)
		}
	}
	if accounts.passwords["bob"] != "bob's" {
		t.Errorf("bob's account changed: %v", accounts.passwords)
	}
	for _, target := range []iq.Target{iq.Server, iq.Self} {
		if !slices.Contains(m.Features(target), NS) {
			t.Errorf("%s not advertised on target %d", NS, target)
		}
	}
}

func TestDisabled(t *testing.T) {
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	New(Config{Logger: slog.New(slog.DiscardHandler)}).Register(m)
	alice := jid.MustParse("alice@localhost/phone")
	for _, tc := range []struct {
		name    string
		payload *xml.Element
	}{
		{"change", query(text("username", "alice"), text("password", "new"))},
		{"remove", query(xml.New(NS, "remove"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := stanza.NewIQ("set", "r1", alice.String(), "", tc.payload)
			reply := m.Serve(t.Context(), el, alice, alice.Bare(), iq.Self)
			if se := xmpperr.FromElement(reply); se == nil || se.Condition != xmpperr.NotAllowed {
				t.Fatalf("reply %s, want not-allowed", reply)
			}
		})
	}
}
