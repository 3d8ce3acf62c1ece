package muc

import (
	"testing"

	"minimix/internal/dataform"
)

func TestConfigApply(t *testing.T) {
	base := (&Service{cfg: Config{HistoryDefault: 20, Limits: DefaultLimits()}}).defaultConfig()
	form := func(kv ...string) *dataform.Form {
		f := dataform.New(dataform.TypeSubmit, NSRoomConfig)
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	for _, tc := range []struct {
		name  string
		form  *dataform.Form
		check func(c roomConfig) bool
		want  string // condition
	}{
		{"instant room keeps defaults", form(), func(c roomConfig) bool { return c == base }, ""},
		{"every field", form(fName, "Room", fDesc, "About", fPersistent, "1", fPublic, "0", fMembersOnly, "true",
			fModerated, "1", fPasswordProt, "1", fSecret, "pw", fWhois, "anyone", fMaxUsers, "30", fHistory, "5",
			fChangeSubject, "1", fAllowPM, "moderators", fAllowInvites, "1", fLogging, "0"),
			func(c roomConfig) bool {
				return c == roomConfig{Name: "Room", Description: "About", Persistent: true, MembersOnly: true, Moderated: true,
					PasswordProtected: true, Password: "pw", Whois: whoisAnyone, MaxUsers: 30, HistoryLength: 5,
					ChangeSubject: true, AllowPM: pmModerators, AllowInvites: true}
			}, ""},
		{"maxusers none", form(fMaxUsers, "none"), func(c roomConfig) bool { return c.MaxUsers == 0 }, ""},
		{"password alone protects", form(fSecret, "pw"), func(c roomConfig) bool { return c.passwordRequired() }, ""},
		{"unknown fields ignored", form("x-custom", "1"), func(c roomConfig) bool { return c == base }, ""},
		{"bad boolean", form(fPersistent, "maybe"), nil, "bad-request"},
		{"two values", &dataform.Form{Type: dataform.TypeSubmit, Fields: []dataform.Field{{Var: fName, Values: []string{"a", "b"}}}}, nil, "bad-request"},
		{"bad whois", form(fWhois, "everyone"), nil, "not-acceptable"},
		{"bad allowpm", form(fAllowPM, "friends"), nil, "not-acceptable"},
		{"maxusers over the service", form(fMaxUsers, "5000"), nil, "not-acceptable"},
		{"maxusers negative", form(fMaxUsers, "-1"), nil, "not-acceptable"},
		{"history too long", form(fHistory, "100000"), nil, "not-acceptable"},
		{"history not a number", form(fHistory, "lots"), nil, "not-acceptable"},
		{"protected without password", form(fPasswordProt, "1"), nil, "not-acceptable"},
		{"name too long", form(fName, string(make([]byte, maxTextField+1))), nil, "not-acceptable"},
		{"wrong FORM_TYPE", dataform.New(dataform.TypeSubmit, "urn:other"), nil, "bad-request"},
		{"too many fields", func() *dataform.Form {
			f := form()
			for i := 0; i <= maxFormFields; i++ {
				f.Set("x-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "1")
			}
			return f
		}(), nil, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := base.apply(tc.form, 1000, 200)
			if c := errCondition(err); c != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if tc.check != nil && !tc.check(got) {
				t.Errorf("config %+v", got)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	s := &Service{cfg: Config{HistoryDefault: 20, Limits: DefaultLimits()}}
	c := s.defaultConfig()
	c.Name, c.Persistent, c.Whois, c.MaxUsers = "x", true, whoisAnyone, 7
	got, err := s.unmarshalConfig(c.marshal())
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// A stored configuration lacking fields gets the defaults for them.
	got, err = s.unmarshalConfig([]byte(`{"name":"old"}`))
	if err != nil || got.Name != "old" || got.AllowPM != pmAnyone || !got.Logging {
		t.Fatalf("old record: %+v, %v", got, err)
	}
}
