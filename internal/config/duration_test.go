package config

import (
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		text    string
		wantErr bool
	}{
		{in: "5m", want: 5 * time.Minute, text: "5m"},
		{in: "90s", want: 90 * time.Second, text: "1m30s"},
		{in: "1h", want: time.Hour, text: "1h"},
		{in: "1h30m", want: 90 * time.Minute, text: "1h30m"},
		{in: "2h0m5s", want: 2*time.Hour + 5*time.Second, text: "2h0m5s"},
		{in: "250ms", want: 250 * time.Millisecond, text: "250ms"},
		{in: "0s", want: 0, text: "0s"},
		{in: "0", want: 0, text: "0s"},
		{in: "-1m", want: -time.Minute, text: "-1m"},
		{in: "5", wantErr: true},
		{in: "", wantErr: true},
		{in: "5 m", wantErr: true},
		{in: "five minutes", wantErr: true},
	}
	for _, tc := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("UnmarshalText(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if d.Duration != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tc.in, d.Duration, tc.want)
		}
		text, err := d.MarshalText()
		if err != nil || string(text) != tc.text {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", tc.want, text, err, tc.text)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %q = %v, %v", text, back, err)
		}
	}
}
