package router_test

import (
	"context"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/xml"
)

// newFake returns a test session of full, available with priority prio
// if available.
func newFake(full string, prio int, available bool) *sessiontest.Session {
	s := sessiontest.New(full)
	if available {
		s.Available(prio)
	}
	return s
}

// fakeHandlers answers for accounts in a set and records what reached it.
type fakeHandlers struct {
	accounts map[string]bool
	mu       sync.Mutex
	server   []*xml.Element
	iqs      []*xml.Element
	presence []*xml.Element
}

func (h *fakeHandlers) ServerStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	h.mu.Lock()
	h.server = append(h.server, el)
	h.mu.Unlock()
}
func (h *fakeHandlers) AccountIQ(ctx context.Context, el *xml.Element, from, to jid.JID) {
	h.mu.Lock()
	h.iqs = append(h.iqs, el)
	h.mu.Unlock()
}
func (h *fakeHandlers) Presence(ctx context.Context, el *xml.Element, from, to jid.JID) {
	h.mu.Lock()
	h.presence = append(h.presence, el)
	h.mu.Unlock()
}
func (h *fakeHandlers) SessionPresence(ctx context.Context, s router.Session, el *xml.Element, to jid.JID) {
	h.Presence(ctx, el, s.JID(), to)
}
func (h *fakeHandlers) AccountExists(ctx context.Context, local string) bool {
	return h.accounts[local]
}

// fakeOffline stores messages in memory, up to max.
type fakeOffline struct {
	mu  sync.Mutex
	max int
	got map[jid.JID][]*xml.Element
	// beforeStore, if set, runs once as a store begins, before the
	// message is kept: what happens meanwhile races the store.
	beforeStore func()
}

func (o *fakeOffline) StoreOffline(ctx context.Context, user jid.JID, el *xml.Element) error {
	if f := o.beforeStore; f != nil {
		o.beforeStore = nil
		f()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.got == nil {
		o.got = make(map[jid.JID][]*xml.Element)
	}
	if o.max > 0 && len(o.got[user]) >= o.max {
		return errFull
	}
	o.got[user] = append(o.got[user], el)
	return nil
}

// Flush delivers what is kept for the account of s to s, as the offline
// service does when a resource becomes available.
func (o *fakeOffline) Flush(ctx context.Context, s router.Session) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	user := s.JID().Bare()
	n := 0
	for _, el := range o.got[user] {
		if !s.Deliver(el) {
			break
		}
		n++
	}
	if n > 0 {
		o.got[user] = o.got[user][n:]
	}
	return n, nil
}

func (o *fakeOffline) stored(user string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.got[jid.MustParse(user)])
}

type fullError struct{}

func (fullError) Error() string { return "full" }

var errFull = fullError{}
