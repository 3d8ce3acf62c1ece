package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string such as "90s" or
// "5m", parsed by time.ParseDuration.
type Duration struct {
	time.Duration
}

// UnmarshalText parses a duration such as "5m" or "1h30m".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a number and a unit, like \"90s\" or \"5m\")", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way it would be typed: "5m", not "5m0s".
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String formats the duration without trailing zero units.
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
