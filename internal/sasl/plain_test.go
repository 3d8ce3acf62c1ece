package sasl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"minimix/internal/storage"

	msasl "mellium.im/sasl"
)

func TestPlain(t *testing.T) {
	srv := testServer(t)
	raw := func(msgs ...string) func(*testing.T) client {
		return func(*testing.T) client {
			i := 0
			return client{next: func([]byte) ([]byte, error) {
				m := msgs[i]
				i++
				return []byte(m), nil
			}}
		}
	}
	for _, tc := range []struct {
		name      string
		client    func(*testing.T) client
		want      string
		wantUser  string
		wantAuthz string
	}{
		{name: "success", client: mellium(msasl.Plain, "alice", "pencil", "", nil), wantUser: "alice"},
		{name: "authzid is own bare JID", client: mellium(msasl.Plain, "alice", "pencil", "alice@example.net", nil),
			wantUser: "alice", wantAuthz: "alice@example.net"},
		{name: "authzid case mapped", client: mellium(msasl.Plain, "alice", "pencil", "Alice@Example.net", nil),
			wantUser: "alice", wantAuthz: "alice@example.net"},
		{name: "authzid of another account", client: mellium(msasl.Plain, "alice", "pencil", "bob@example.net", nil), want: InvalidAuthzID},
		{name: "authzid full JID", client: mellium(msasl.Plain, "alice", "pencil", "alice@example.net/phone", nil), want: InvalidAuthzID},
		{name: "authzid not a JID", client: mellium(msasl.Plain, "alice", "pencil", "@", nil), want: InvalidAuthzID},
		{name: "username is case mapped", client: mellium(msasl.Plain, "ALICE", "pencil", "", nil), wantUser: "alice"},
		{name: "username with , and =", client: mellium(msasl.Plain, "x=y,z", "secret", "", nil), wantUser: "x=y,z"},
		{name: "password is SASLprepped", client: mellium(msasl.Plain, "alice", "pen\u00adcil", "", nil), wantUser: "alice"},
		{name: "wrong password", client: mellium(msasl.Plain, "alice", "Pencil", "", nil), want: NotAuthorized},
		{name: "unknown user", client: mellium(msasl.Plain, "mallory", "pencil", "", nil), want: NotAuthorized},
		{name: "invalid username", client: mellium(msasl.Plain, "al ice", "pencil", "", nil), want: NotAuthorized},
		{name: "password SASLprep refuses", client: mellium(msasl.Plain, "alice", "pen\u0007cil", "", nil), want: NotAuthorized},
		{name: "no initial response", client: raw("", "\x00alice\x00pencil"), wantUser: "alice"},
		{name: "empty twice", client: raw("", ""), want: MalformedRequest},
		{name: "one NUL", client: raw("alice\x00pencil"), want: MalformedRequest},
		{name: "three NULs", client: raw("\x00alice\x00pencil\x00"), want: MalformedRequest},
		{name: "empty authcid", client: raw("\x00\x00pencil"), want: MalformedRequest},
		{name: "empty password", client: raw("\x00alice\x00"), want: MalformedRequest},
		{name: "not UTF-8", client: raw("\x00alice\x00pen\xffcil"), want: MalformedRequest},
		{name: "field over 255 bytes", client: raw("\x00alice\x00" + strings.Repeat("p", 256)), want: MalformedRequest},
		{name: "over 4 KiB", client: raw(strings.Repeat("a", MaxMessageSize+1)), want: MalformedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			neg, err := srv.Start(ctx, Plain, ConnState{AllowPlain: true})
			if err != nil {
				t.Fatal(err)
			}
			err = exchange(ctx, neg, tc.client(t))
			if got := condition(t, err); got != tc.want {
				t.Fatalf("exchange = %q (%v), want %q", got, err, tc.want)
			}
			if neg.Username() != tc.wantUser || neg.AuthzID() != tc.wantAuthz {
				t.Errorf("Username, AuthzID = %q, %q, want %q, %q", neg.Username(), neg.AuthzID(), tc.wantUser, tc.wantAuthz)
			}
			if _, _, err := neg.Step(ctx, []byte("\x00alice\x00pencil")); condition(t, err) != MalformedRequest {
				t.Errorf("Step after the end = %v, want malformed-request", err)
			}
		})
	}
}

// CheckPassword (the admin page's login) takes the same path as PLAIN:
// prepared names and passwords, the stored keys, nothing for unknown users.
func TestCheckPassword(t *testing.T) {
	srv := testServer(t)
	for _, tc := range []struct {
		user, password string
		wantUser       string
		ok, err        bool
	}{
		{"alice", "pencil", "alice", true, false},
		{"ALICE", "pen\u00adcil", "alice", true, false},
		{"alice", "pencil2", "alice", false, false},
		{"alice", "", "alice", false, false},
		{"nobody", "pencil", "nobody", false, false},
		{"", "pencil", "", false, true},
		{"a@b", "pencil", "", false, true},
	} {
		user, ok, err := srv.CheckPassword(context.Background(), tc.user, tc.password)
		if user != tc.wantUser || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("CheckPassword(%q, %q) = %q, %v, %v; want %q, %v, error %v", tc.user, tc.password, user, ok, err, tc.wantUser, tc.ok, tc.err)
		}
	}
}

// TestPlainCompletesCredentials: an account with SCRAM-SHA-1 credentials
// only (imported from Prosody) gets SCRAM-SHA-256 ones at its first PLAIN
// login, and can then log in with SCRAM-SHA-256; complete accounts and
// failed logins are left alone.
func TestPlainCompletesCredentials(t *testing.T) {
	ctx := context.Background()
	full, err := NewCredentials("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	a := accounts{"pat": {SHA1: full.SHA1}, "alice": full}
	srv := NewServer(a.lookup, []byte("test secret"))
	var completed []string
	srv.SetCompleter(func(_ context.Context, user string, c storage.Credentials) {
		completed = append(completed, user)
		a[user] = c
	})
	login := func(mech, user, pw string) error {
		neg, err := srv.Start(ctx, mech, ConnState{AllowPlain: true})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]msasl.Mechanism{Plain: msasl.Plain, SCRAMSHA256: msasl.ScramSha256}[mech]
		return exchange(ctx, neg, mellium(m, user, pw, "", nil)(t))
	}
	if err := login(SCRAMSHA256, "pat", "pencil"); err == nil {
		t.Fatal("SCRAM-SHA-256 worked with SHA-1 credentials only")
	}
	if err := login(Plain, "pat", "wrong"); err == nil || len(completed) != 0 {
		t.Fatalf("a wrong password: %v, completed %v", err, completed)
	}
	if err := login(Plain, "pat", "pencil"); err != nil {
		t.Fatal(err)
	}
	if err := login(Plain, "alice", "pencil"); err != nil {
		t.Fatal(err)
	}
	if len(completed) != 1 || completed[0] != "pat" {
		t.Fatalf("completed %v, want pat alone", completed)
	}
	if !bytes.Equal(a["pat"].SHA1.StoredKey, full.SHA1.StoredKey) {
		t.Error("the SHA-1 record was replaced")
	}
	if err := login(SCRAMSHA256, "pat", "pencil"); err != nil {
		t.Errorf("SCRAM-SHA-256 after the completion: %v", err)
	}
}
