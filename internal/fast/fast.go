// Package fast keeps the tokens of FAST (XEP-0484): a client that logged
// in with its password over SASL2 asks for a token, and reconnects with
// it in one round trip (an HT mechanism, internal/sasl).
//
// Each client of an account (by its SASL2 user-agent id) has two slots,
// as the XEP's implementation notes suggest: "new", where a token just
// issued waits, and "current", the one last used. Using the new token
// moves it to current and so invalidates the older one; a client that
// missed the new token (its connection dropped before <success/>) still
// has the current one. A token is bound to the mechanism it was issued
// for and to the account's password: changing the password invalidates
// every token.
//
// Tokens live in the account's private storage under a key that no
// XEP-0049 request can name, so they survive restarts, are shared by the
// nodes of one database, and go with the account.
package fast

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"minimix/internal/sasl"
	"minimix/internal/storage"
)

// NS is the XEP-0484 namespace.
const NS = "urn:xmpp:fast:0"

// storageKey is the private storage key of an account's tokens. A
// XEP-0049 key is "local space" with a non-empty local name, so this one
// is out of clients' reach.
const storageKey = " urn:minimix:fast-tokens"

// maxClients bounds the clients of one account that hold tokens; the one
// whose tokens expire first makes room.
const maxClients = 32

// Store is where tokens are kept, and how the password they are bound to
// is read; storage.Store is one.
type Store interface {
	GetPrivate(ctx context.Context, user, key string) ([]byte, error)
	SetPrivate(ctx context.Context, user, key string, data []byte) error
	GetCredentials(ctx context.Context, username string) (storage.Credentials, error)
}

// Tokens issues and checks FAST tokens.
type Tokens struct {
	store    Store
	lifetime time.Duration
	now      func() time.Time
	// Log, when set, hears of token records that could not be read.
	Log *slog.Logger

	mu sync.Mutex // serialises read-modify-write of one server's logins
}

// New returns Tokens valid for lifetime after they are issued.
func New(store Store, lifetime time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{store: store, lifetime: lifetime, now: now}
}

type token struct {
	Token  []byte `json:"t"`
	Mech   string `json:"m"`
	Expiry int64  `json:"e"`
	Cred   []byte `json:"c"`           // fingerprint of the password it is bound to
	Count  uint64 `json:"n,omitempty"` // the highest XEP-0484 count seen with it
}

type slots struct {
	Current *token `json:"current,omitempty"`
	New     *token `json:"new,omitempty"`
}

type record map[string]*slots // user-agent id -> slots

func (t *Tokens) load(ctx context.Context, user string) (record, error) {
	b, err := t.store.GetPrivate(ctx, user, storageKey)
	if errors.Is(err, storage.ErrNotFound) {
		return record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fast: reading tokens: %w", err)
	}
	r := record{}
	if err := json.Unmarshal(b, &r); err != nil {
		// Unreadable: as if none were issued, so that the client logs in
		// with its password and the next token overwrites the record.
		if t.Log != nil {
			t.Log.Warn("fast: an unreadable token record is ignored", "user", user, "err", err)
		}
		return record{}, nil
	}
	return r, nil
}

func (t *Tokens) save(ctx context.Context, user string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("fast: %w", err)
	}
	if err := t.store.SetPrivate(ctx, user, storageKey, b); err != nil {
		return fmt.Errorf("fast: storing tokens: %w", err)
	}
	return nil
}

// fingerprint identifies the account's current password.
func (t *Tokens) fingerprint(ctx context.Context, user string) ([]byte, error) {
	c, err := t.store.GetCredentials(ctx, user)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(c.SHA256.StoredKey)
	h.Write(c.SHA1.StoredKey)
	return h.Sum(nil)[:16], nil
}

// Issue makes a token for user's client uaid and mechanism mech, in the
// client's "new" slot (replacing one not yet used), and returns it with
// its expiry.
func (t *Tokens) Issue(ctx context.Context, user, uaid, mech string) (string, time.Time, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp, err := t.fingerprint(ctx, user)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("fast: %w", err)
	}
	r, err := t.load(ctx, user)
	if err != nil {
		return "", time.Time{}, err
	}
	now := t.now()
	r.prune(now)
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	// The token is sent as an attribute value and used as the HMAC key
	// as sent: a printable form of the random bytes.
	tok := []byte(base64.RawURLEncoding.EncodeToString(b))
	exp := now.Add(t.lifetime).Truncate(time.Second)
	s := r[uaid]
	if s == nil {
		s = &slots{}
		r[uaid] = s
	}
	s.New = &token{Token: tok, Mech: mech, Expiry: exp.Unix(), Cred: fp}
	r.bound(maxClients, uaid)
	if err := t.save(ctx, user, r); err != nil {
		return "", time.Time{}, err
	}
	return string(tok), exp, nil
}

// Verify implements sasl.Tokens: the new slot first, then the current
// one; using the new token makes it current. A count (XEP-0484's replay
// counter; 0 when the client sent none) must be above the last one seen
// with the token, and becomes the last one.
func (t *Tokens) Verify(ctx context.Context, user, uaid, mech string, count uint64, match func([]byte) bool) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp, err := t.fingerprint(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fast: %w", err)
	}
	r, err := t.load(ctx, user)
	if err != nil {
		return false, err
	}
	s := r[uaid]
	if s == nil {
		return false, nil
	}
	now := t.now().Unix()
	usable := func(k *token) bool {
		return k != nil && k.Mech == mech && k.Expiry > now && subtle.ConstantTimeCompare(k.Cred, fp) == 1
	}
	var k *token
	switch {
	case usable(s.New) && match(s.New.Token):
		k = s.New
	case usable(s.Current) && match(s.Current.Token):
		k = s.Current
	default:
		return false, nil
	}
	if count > 0 {
		if count <= k.Count {
			return false, sasl.ErrTokenReplayed
		}
		k.Count = count
	} else if k == s.Current {
		return true, nil // nothing changed
	}
	if k == s.New {
		s.Current, s.New = s.New, nil
	}
	return true, t.save(ctx, user, r)
}

// Due reports whether the token user's client uaid last used is past
// half its life, so that the login which used it gets a new one
// (XEP-0484 rotation).
func (t *Tokens) Due(ctx context.Context, user, uaid string) (bool, error) {
	exp, err := t.Expiry(ctx, user, uaid)
	if err != nil || exp.IsZero() {
		return false, err
	}
	return exp.Sub(t.now()) < t.lifetime/2, nil
}

// Expiry returns when the token user's client uaid last used expires
// (zero if none), for the rotation decision.
func (t *Tokens) Expiry(ctx context.Context, user, uaid string) (time.Time, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, err := t.load(ctx, user)
	if err != nil {
		return time.Time{}, err
	}
	if s := r[uaid]; s != nil && s.Current != nil {
		return time.Unix(s.Current.Expiry, 0), nil
	}
	return time.Time{}, nil
}

// Invalidate drops every token of user's client uaid (XEP-0484's
// invalidate='true').
func (t *Tokens) Invalidate(ctx context.Context, user, uaid string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, err := t.load(ctx, user)
	if err != nil {
		return err
	}
	if _, ok := r[uaid]; !ok {
		return nil
	}
	delete(r, uaid)
	return t.save(ctx, user, r)
}

// prune drops expired tokens and clients left with none.
func (r record) prune(now time.Time) {
	for id, s := range r {
		if s.New != nil && s.New.Expiry <= now.Unix() {
			s.New = nil
		}
		if s.Current != nil && s.Current.Expiry <= now.Unix() {
			s.Current = nil
		}
		if s.New == nil && s.Current == nil {
			delete(r, id)
		}
	}
}

// bound keeps at most n clients, dropping those whose newest token
// expires first, never keep.
func (r record) bound(n int, keep string) {
	if len(r) <= n {
		return
	}
	type c struct {
		id  string
		exp int64
	}
	var cs []c
	for id, s := range r {
		if id == keep {
			continue
		}
		var e int64
		for _, k := range []*token{s.Current, s.New} {
			if k != nil && k.Expiry > e {
				e = k.Expiry
			}
		}
		cs = append(cs, c{id, e})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].exp < cs[j].exp })
	for _, x := range cs[:len(r)-n] {
		delete(r, x.id)
	}
}
