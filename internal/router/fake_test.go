package router

import (
	"context"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// fakeSession records what it is given.
type fakeSession struct {
	jid   jid.JID
	state State
	mu    sync.Mutex
	got   []*xml.Element
	dead  bool
	count int
	keep  bool // keep delivered stanzas (off in benchmarks)
}

func newFake(s string, prio int, available bool) *fakeSession {
	f := &fakeSession{jid: jid.MustParse(s), keep: true}
	if available {
		f.state.SetPresence(xml.New(xml.NSClient, "presence"), true, prio)
	}
	return f
}

func (f *fakeSession) JID() jid.JID  { return f.jid }
func (f *fakeSession) State() *State { return &f.state }
func (f *fakeSession) Deliver(el *xml.Element) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return false
	}
	f.count++
	if f.keep {
		f.got = append(f.got, el)
	}
	return true
}

func (f *fakeSession) take() []*xml.Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
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
func (h *fakeHandlers) SessionPresence(ctx context.Context, s Session, el *xml.Element, to jid.JID) {
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
}

func (o *fakeOffline) StoreOffline(ctx context.Context, user jid.JID, el *xml.Element) error {
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

type fullError struct{}

func (fullError) Error() string { return "full" }

var errFull = fullError{}
