package tlsconf

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"sync"
	"time"
)

// ticketer encrypts session tickets with keys it replaces every lifetime,
// and refuses tickets older than lifetime. crypto/tls on its own accepts
// tickets for seven days and keeps a ticket key for as long; here a key
// encrypts tickets for at most one lifetime and is forgotten after two,
// so a key that leaks exposes at most that much recorded traffic.
type ticketer struct {
	lifetime time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys []ticketKey // newest first; at most two
}

type ticketKey struct {
	id      [4]byte
	aead    cipher.AEAD
	created time.Time
}

// A ticket is key id (4 bytes), nonce, then sealed: issue time (8 bytes,
// Unix seconds) and the session state.
const (
	ticketIDLen   = 4
	ticketTimeLen = 8
)

func newTicketer(lifetime time.Duration, now func() time.Time) *ticketer {
	if now == nil {
		now = time.Now
	}
	return &ticketer{lifetime: lifetime, now: now}
}

// current returns the key to encrypt with, replacing it when it has been
// in use for a lifetime, and drops keys no ticket still valid can need.
func (t *ticketer) current(now time.Time) (ticketKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	if len(t.keys) > 0 && now.Sub(t.keys[0].created) < t.lifetime {
		return t.keys[0], nil
	}
	var raw [32]byte
	var k ticketKey
	if _, err := rand.Read(raw[:]); err != nil {
		return k, err
	}
	if _, err := rand.Read(k.id[:]); err != nil {
		return k, err
	}
	block, err := aes.NewCipher(raw[:])
	if err != nil {
		return k, err
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return k, err
	}
	k.created = now
	t.keys = append([]ticketKey{k}, t.keys...)
	if len(t.keys) > 2 {
		t.keys = t.keys[:2]
	}
	return k, nil
}

// expireLocked forgets keys that stopped encrypting more than a lifetime
// ago: every ticket they made has expired.
func (t *ticketer) expireLocked(now time.Time) {
	for len(t.keys) > 0 && now.Sub(t.keys[len(t.keys)-1].created) >= 2*t.lifetime {
		t.keys = t.keys[:len(t.keys)-1]
	}
}

func (t *ticketer) key(id []byte, now time.Time) (ticketKey, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	for _, k := range t.keys {
		if string(k.id[:]) == string(id) {
			return k, true
		}
	}
	return ticketKey{}, false
}

// wrap is tls.Config.WrapSession.
func (t *ticketer) wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	state, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	now := t.now()
	k, err := t.current(now)
	if err != nil {
		return nil, err
	}
	out := make([]byte, ticketIDLen+k.aead.NonceSize(), ticketIDLen+k.aead.NonceSize()+ticketTimeLen+len(state)+k.aead.Overhead())
	copy(out, k.id[:])
	nonce := out[ticketIDLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	plain := binary.BigEndian.AppendUint64(make([]byte, 0, ticketTimeLen+len(state)), uint64(now.Unix()))
	plain = append(plain, state...)
	return k.aead.Seal(out, nonce, plain, out[:ticketIDLen]), nil
}

// unwrap is tls.Config.UnwrapSession. A ticket it cannot read or that
// has expired is ignored (nil, nil): the client gets a full handshake.
func (t *ticketer) unwrap(identity []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	now := t.now()
	if len(identity) < ticketIDLen {
		return nil, nil
	}
	k, ok := t.key(identity[:ticketIDLen], now)
	if !ok || len(identity) < ticketIDLen+k.aead.NonceSize() {
		return nil, nil
	}
	nonce := identity[ticketIDLen : ticketIDLen+k.aead.NonceSize()]
	plain, err := k.aead.Open(nil, nonce, identity[ticketIDLen+k.aead.NonceSize():], identity[:ticketIDLen])
	if err != nil || len(plain) < ticketTimeLen {
		return nil, nil
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(plain)), 0)
	if age := now.Sub(issued); age < 0 || age >= t.lifetime {
		return nil, nil
	}
	ss, err := tls.ParseSessionState(plain[ticketTimeLen:])
	if err != nil {
		return nil, nil
	}
	return ss, nil
}
