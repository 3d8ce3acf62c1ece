package sasl

import (
	"bytes"
	"testing"

	"github.com/xdg-go/scram"

	"minimix/internal/storage"
)

func TestNewCredentials(t *testing.T) {
	for _, tc := range []struct {
		name      string
		password  string
		iters     int
		wantIters int
		// same is a password that must give the same keys for the same salt.
		same string
	}{
		{"default iterations", "pencil", 0, DefaultIters, "pencil"},
		{"given iterations", "pencil", 5000, 5000, "pencil"},
		{"soft hyphen is mapped to nothing", "pen\u00adcil", 0, DefaultIters, "pencil"},
		{"NFKC", "I\u2168", 0, DefaultIters, "IIX"},
		{"non-ASCII space", "a\u00a0b", 0, DefaultIters, "a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCredentials(tc.password, tc.iters)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []struct {
				hs  scramHash
				xdg scram.HashGeneratorFcn
			}{{sha1Hash, scram.SHA1}, {sha256Hash, scram.SHA256}} {
				sc := *h.hs.cred(&c)
				if len(sc.Salt) != saltLen || sc.Iters != tc.wantIters || !usable(h.hs, sc) {
					t.Fatalf("%s: %d byte salt, %d iterations, usable %v", h.hs.name, len(sc.Salt), sc.Iters, usable(h.hs, sc))
				}
				// xdg-go/scram derives the same keys from the prepared form.
				cl, err := h.xdg.NewClient("alice", tc.same, "")
				if err != nil {
					t.Fatal(err)
				}
				want := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(sc.Salt), Iters: sc.Iters})
				if !bytes.Equal(sc.StoredKey, want.StoredKey) || !bytes.Equal(sc.ServerKey, want.ServerKey) {
					t.Errorf("%s: keys differ from xdg-go/scram's for %q", h.hs.name, tc.same)
				}
				if !verifyPassword(h.hs, sc, tc.same) || verifyPassword(h.hs, sc, tc.same+"x") {
					t.Errorf("%s: verifyPassword does not tell %q from another", h.hs.name, tc.same)
				}
			}
			if bytes.Equal(c.SHA1.Salt, c.SHA256.Salt) {
				t.Error("both hashes got the same salt")
			}
			again, _ := NewCredentials(tc.password, tc.iters)
			if bytes.Equal(c.SHA256.Salt, again.SHA256.Salt) {
				t.Error("salt repeated across calls")
			}
		})
	}
}

func TestNewCredentialsRefused(t *testing.T) {
	for _, tc := range []struct{ name, password string }{
		{"empty", ""},
		{"empty once prepared", "\u00ad"},
		{"control character", "pen\u0007cil"},
		{"unassigned in Unicode 3.2", "pencil\U0001F600"},
		{"bidi mix", "\u0627a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewCredentials(tc.password, 0); err == nil {
				t.Errorf("NewCredentials(%q) succeeded", tc.password)
			}
		})
	}
}

func TestFakeCredentials(t *testing.T) {
	a := fakeCredentials([]byte("one"), "mallory")
	for _, tc := range []struct {
		name  string
		other storage.Credentials
		same  bool
	}{
		{"same secret and user", fakeCredentials([]byte("one"), "mallory"), true},
		{"other user", fakeCredentials([]byte("one"), "trudy"), false},
		{"other secret", fakeCredentials([]byte("two"), "mallory"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Equal(a.SHA256.Salt, tc.other.SHA256.Salt); got != tc.same {
				t.Errorf("salts equal = %v, want %v", got, tc.same)
			}
		})
	}
	if !usable(sha1Hash, a.SHA1) || !usable(sha256Hash, a.SHA256) || a.SHA1.Iters != DefaultIters {
		t.Errorf("fake credentials do not look real: %+v", a)
	}
}
