package jid

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    JID
		str     string
		wantErr bool
	}{
		{in: "alice@example.net/phone", want: JID{"alice", "example.net", "phone"}, str: "alice@example.net/phone"},
		{in: "Alice@Example.NET", want: JID{"alice", "example.net", ""}, str: "alice@example.net"},
		{in: "example.net", want: JID{"", "example.net", ""}, str: "example.net"},
		{in: "room@conference.example.net/Nick With Space", want: JID{"room", "conference.example.net", "Nick With Space"}, str: "room@conference.example.net/Nick With Space"},
		{in: "", wantErr: true},
		{in: "@example.net", wantErr: true},
		{in: "a@b@c", wantErr: true},
		{in: "alice@example.net/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String() = %q, want %q", got.String(), tt.str)
			}
		})
	}
}

func TestParts(t *testing.T) {
	j := MustParse("alice@example.net/phone")
	if j.IsBare() || j.Bare().String() != "alice@example.net" || !j.Bare().IsBare() {
		t.Errorf("Bare() of %v wrong", j)
	}
	if got := j.Bare().WithResource("laptop").String(); got != "alice@example.net/laptop" {
		t.Errorf("WithResource = %q", got)
	}
	if !Domain("example.net").IsDomain() || j.IsDomain() {
		t.Error("IsDomain wrong")
	}
	if l, err := PrepLocal("ALICE"); err != nil || l != "alice" {
		t.Errorf("PrepLocal = %q, %v", l, err)
	}
	if _, err := PrepLocal("a b"); err == nil {
		t.Error("PrepLocal accepted a space")
	}
}
