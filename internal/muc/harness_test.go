package muc

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/stanza"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// fakeRouter records what the service routes, by recipient. Stanzas for
// the service's own domain go back into it, as the real router does, and
// a groupchat message to a real JID marked gone bounces at once, on the
// same goroutine, as the router bounces one for a session that ended.
type fakeRouter struct {
	svc *Service

	mu   sync.Mutex
	got  map[jid.JID][]*xml.Element
	gone map[jid.JID]bool
	n    int // stanzas delivered
	keep bool
}

func (f *fakeRouter) Route(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if to.Domain == f.svc.domain.Domain {
		f.svc.RouteStanza(ctx, el, from, to)
		return
	}
	f.mu.Lock()
	gone := f.gone[to]
	f.mu.Unlock()
	if gone {
		if el.Local == stanza.Message && el.Attr("type") == "groupchat" {
			reply := stanza.ErrorReply(el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
			reply.SetAttr("from", to.String())
			reply.SetAttr("to", from.String())
			f.svc.RouteStanza(ctx, reply, to, from)
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if !f.keep {
		return
	}
	if got := el.Attr("to"); got != to.String() {
		panic("routed to " + to.String() + " with to=" + got + ": " + el.String())
	}
	f.got[to] = append(f.got[to], el)
}

// harness is a Service on a real SQLite store and archive, driven
// synchronously: when send returns, everything it caused was routed.
type harness struct {
	t     testing.TB
	svc   *Service
	r     *fakeRouter
	store *sqlite.DB
	now   time.Time
	mu    sync.Mutex
}

const domain = "conference.example.net"

func newHarness(t testing.TB, edit ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newHarnessOn(t, store, edit...)
}

func newHarnessOn(t testing.TB, store *sqlite.DB, edit ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, store: store, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h.r = &fakeRouter{got: make(map[jid.JID][]*xml.Element), gone: make(map[jid.JID]bool), keep: true}
	cfg := Config{
		Domain:         domain,
		ServerDomain:   "example.net",
		HistoryDefault: 20,
		MaxOccupants:   1000,
		Creation:       CreateLocal,
		Admins:         []jid.JID{jid.MustParse("boss@example.net")},
		Limits:         DefaultLimits(),
		Secret:         []byte("0123456789abcdef0123456789abcdef"),
		Router:         h.r,
		Store:          store,
		Archive:        mam.New(store, nil, slog.New(slog.DiscardHandler)),
		Logger:         slog.New(slog.DiscardHandler),
		Now:            h.clock,
	}
	for _, e := range edit {
		e(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	h.r.svc = svc
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// send parses raw (a stanza with a to) and routes it from from.
func (h *harness) send(from string, raw string) {
	h.t.Helper()
	h.sendCtx(context.Background(), from, raw)
}

// sendCtx is send with the context the router would pass.
func (h *harness) sendCtx(ctx context.Context, from string, raw string) {
	h.t.Helper()
	if first, _, _ := strings.Cut(raw, ">"); !strings.Contains(first, "xmlns=") {
		i := strings.IndexAny(raw, " />")
		raw = raw[:i] + " xmlns='jabber:client'" + raw[i:]
	}
	el, err := xml.Parse([]byte(raw))
	if err != nil {
		h.t.Fatalf("parse %s: %v", raw, err)
	}
	f := jid.MustParse(from)
	el.SetAttr("from", f.String())
	to, err := stanza.To(el)
	if err != nil {
		h.t.Fatalf("to of %s: %v", raw, err)
	}
	h.svc.RouteStanza(ctx, el, f, to)
	h.settle()
}

// settle waits until the service has routed everything.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.svc.idle(ctx); err != nil {
		h.t.Fatalf("service not idle: %v", err)
	}
}

// take returns and forgets what to received.
func (h *harness) take(to string) []*xml.Element {
	j := jid.MustParse(to)
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	got := h.r.got[j]
	delete(h.r.got, j)
	return got
}

// drop forgets everything received so far.
func (h *harness) drop() {
	h.r.mu.Lock()
	clear(h.r.got)
	h.r.mu.Unlock()
}

// join enters room as nick from real and returns what real received.
func (h *harness) join(real, room, nick string, extra ...string) []*xml.Element {
	h.t.Helper()
	x := "<x xmlns='" + NS + "'>" + strings.Join(extra, "") + "</x>"
	h.send(real, "<presence to='"+room+"/"+nick+"' id='join-"+nick+"'>"+x+"</presence>")
	return h.take(real)
}

// create makes room as an instant room owned by real, as nick.
func (h *harness) create(real, room, nick string) {
	h.t.Helper()
	got := h.join(real, room, nick)
	if !hasStatus(last(got, "presence"), "201") {
		h.t.Fatalf("%s: no 201 creating %s: %s", real, room, dump(got))
	}
	h.iq(real, room, "set", "<query xmlns='"+NSOwner+"'><x xmlns='jabber:x:data' type='submit'/></query>")
	h.drop()
}

// iq sends an iq and returns the reply to it.
func (h *harness) iq(from, to, typ, payload string) *xml.Element {
	h.t.Helper()
	id := "iq-" + randomID()
	h.send(from, "<iq to='"+to+"' type='"+typ+"' id='"+id+"'>"+payload+"</iq>")
	for _, el := range h.take(from) {
		if el.Local == "iq" && el.Attr("id") == id {
			return el
		}
	}
	h.t.Fatalf("no reply to iq %s to %s", payload, to)
	return nil
}

// configure submits a configuration form with the given fields.
func (h *harness) configure(owner, room string, fields map[string]string) *xml.Element {
	h.t.Helper()
	var b strings.Builder
	b.WriteString("<query xmlns='" + NSOwner + "'><x xmlns='jabber:x:data' type='submit'>")
	b.WriteString("<field var='FORM_TYPE'><value>" + NSRoomConfig + "</value></field>")
	for k, v := range fields {
		b.WriteString("<field var='" + k + "'><value>" + v + "</value></field>")
	}
	b.WriteString("</x></query>")
	return h.iq(owner, room, "set", b.String())
}

func dump(els []*xml.Element) string {
	var b strings.Builder
	for _, e := range els {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	return b.String()
}

func last(els []*xml.Element, local string) *xml.Element {
	for i := len(els) - 1; i >= 0; i-- {
		if els[i].Local == local {
			return els[i]
		}
	}
	return nil
}

func only(els []*xml.Element, local string) []*xml.Element {
	var out []*xml.Element
	for _, e := range els {
		if e.Local == local {
			out = append(out, e)
		}
	}
	return out
}

// statuses returns the muc#user status codes of el.
func statuses(el *xml.Element) []string {
	if el == nil {
		return nil
	}
	x := el.Child(NSUser, "x")
	if x == nil {
		return nil
	}
	var out []string
	for _, c := range x.Elements() {
		if c.Local == "status" {
			out = append(out, c.Attr("code"))
		}
	}
	return out
}

func hasStatus(el *xml.Element, code string) bool {
	for _, c := range statuses(el) {
		if c == code {
			return true
		}
	}
	return false
}

// item returns the muc#user item of a presence.
func item(el *xml.Element) *xml.Element {
	if x := el.Child(NSUser, "x"); x != nil {
		return x.Child(NSUser, "item")
	}
	return nil
}

// condition returns the error condition of an error stanza, "" if none.
func condition(el *xml.Element) string {
	if el == nil || el.Attr("type") != "error" {
		return ""
	}
	se := xmpperr.FromElement(el)
	if se == nil {
		return ""
	}
	return string(se.Condition)
}

// errCondition is the stanza error condition of err, "" for nil.
func errCondition(err error) string {
	if err == nil {
		return ""
	}
	var se *xmpperr.StanzaError
	if errors.As(err, &se) {
		return string(se.Condition)
	}
	return "not a stanza error: " + err.Error()
}

func lastPresence(els []*xml.Element) *xml.Element { return last(els, "presence") }
