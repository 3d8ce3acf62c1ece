package sasl

import (
	"context"
	"errors"
	"testing"

	"minimix/internal/storage"
)

// FuzzSCRAM feeds arbitrary client messages to the server side of every
// mechanism: whatever a peer sends, a step returns either a challenge, a
// success or a *Failure, and never panics.
func FuzzSCRAM(f *testing.F) {
	creds, err := NewCredentials("pencil", 4096)
	if err != nil {
		f.Fatal(err)
	}
	lookup := func(ctx context.Context, u string) (storage.Credentials, error) {
		if u == "user" {
			return creds, nil
		}
		return storage.Credentials{}, storage.ErrNotFound
	}
	srv := NewServer(lookup, []byte("fuzz secret fuzz secret fuzz sec"))
	seeds := [][2]string{
		{"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="},
		{"y,,n=user,r=abc", "c=eSws,r=abc,p=AAAA"},
		{"p=tls-exporter,,n=user,r=abc", "c=cD10bHMtZXhwb3J0ZXIsLA==,r=abc,p=AAAA"},
		{"n,a=user@example.net,n=user,r=abc", ""},
		{"\x00user\x00pencil", ""},
		{"n,,n=us=2Cer,r=x,m=ext", ""},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, first, final string) {
		for _, mech := range []string{SCRAMSHA256, SCRAMSHA1, Plain} {
			neg, err := srv.Start(ctx, mech, ConnState{AllowPlain: true})
			if err != nil {
				t.Fatalf("start %s: %v", mech, err)
			}
			challenge, done, err := neg.Step(ctx, []byte(first))
			if err != nil {
				var fl *Failure
				if !errors.As(err, &fl) {
					t.Fatalf("%s: error %v is not a *Failure", mech, err)
				}
				continue
			}
			if done {
				if neg.Username() == "" {
					t.Fatalf("%s: success without a username", mech)
				}
				continue
			}
			if mech != Plain && first != "" && len(challenge) == 0 {
				t.Fatalf("%s: no challenge after an accepted client-first message", mech)
			}
			_, _, err = neg.Step(ctx, []byte(final))
			if err != nil {
				var fl *Failure
				if !errors.As(err, &fl) {
					t.Fatalf("%s: error %v is not a *Failure", mech, err)
				}
			}
		}
	})
}
