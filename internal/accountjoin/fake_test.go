package accountjoin

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// fakeSession records what it receives.
type fakeSession struct {
	jid   jid.JID
	state router.State
	mu    sync.Mutex
	got   []*xml.Element
}

func (f *fakeSession) JID() jid.JID         { return f.jid }
func (f *fakeSession) State() *router.State { return &f.state }
func (f *fakeSession) Deliver(el *xml.Element) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, el)
	return true
}

func (f *fakeSession) take() []*xml.Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
}

type fakeSessions struct {
	mu sync.Mutex
	m  map[jid.JID]*fakeSession
}

func (f *fakeSessions) Sessions(bare jid.JID) []router.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []router.Session
	for j, s := range f.m {
		if j.Bare() == bare {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeSessions) Get(full jid.JID) router.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.m[full]; ok {
		return s
	}
	return nil
}

// fakeSender records what the feature sends out (to rooms), and which of
// it went out marked as the server's own joins.
type fakeSender struct {
	mu     sync.Mutex
	sent   []*xml.Element
	server map[*xml.Element]bool
}

func (f *fakeSender) Route(ctx context.Context, el *xml.Element, from, to jid.JID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, el)
	if IsServerJoin(ctx) {
		if f.server == nil {
			f.server = make(map[*xml.Element]bool)
		}
		f.server[el] = true
	}
}

func (f *fakeSender) markedServer(el *xml.Element) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.server[el]
}

func (f *fakeSender) take() []*xml.Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.sent
	f.sent = nil
	return g
}

type fakeStore struct {
	mu sync.Mutex
	m  map[string]Record
}

func (f *fakeStore) PutJoin(ctx context.Context, r Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[r.Account.String()+" "+r.Room.String()] = r
	return nil
}
func (f *fakeStore) DeleteJoin(ctx context.Context, account, room jid.JID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, account.String()+" "+room.String())
	return nil
}
func (f *fakeStore) ListJoins(ctx context.Context) ([]Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Record
	for _, r := range f.m {
		out = append(out, r)
	}
	return out, nil
}

// fakeArchive keeps each room message once, de-duplicated by the room's
// stanza-id, readable by the accounts in the room when it was stored.
type fakeArchive struct {
	// block, when set, makes History wait for it to be closed, as a
	// slow disk would.
	block chan struct{}

	mu       sync.Mutex
	records  []fakeRecord
	byOrigin map[string]int // room + " " + stanza-id → index in records
	members  map[string]bool
}

type fakeRecord struct {
	room    jid.JID
	ref     GroupchatRef
	stamp   time.Time
	el      *xml.Element
	readers map[jid.JID]bool
}

func newFakeArchive() *fakeArchive {
	return &fakeArchive{byOrigin: make(map[string]int), members: make(map[string]bool)}
}

func (f *fakeArchive) Joined(ctx context.Context, account, room jid.JID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[account.String()+" "+room.String()] = true
	return nil
}

func (f *fakeArchive) Left(ctx context.Context, account, room jid.JID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.members, account.String()+" "+room.String())
	return nil
}

func (f *fakeArchive) Groupchat(ctx context.Context, account, room jid.JID, el *xml.Element) (GroupchatRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if el.Child("", "body") == nil {
		return GroupchatRef{}, nil
	}
	sid := stanza.StanzaID(el, room)
	if i, ok := f.byOrigin[room.String()+" "+sid]; ok && sid != "" {
		ref := f.records[i].ref
		ref.Dup = true
		return ref, nil
	}
	if !f.members[account.String()+" "+room.String()] {
		return GroupchatRef{}, nil
	}
	seq := int64(len(f.records) + 1)
	rec := fakeRecord{room: room, ref: GroupchatRef{ID: fmt.Sprintf("arch%d", seq), Order: uint64(seq)}, stamp: time.Now(), el: el.Clone(), readers: make(map[jid.JID]bool)}
	for k := range f.members {
		acct, r, _ := strings.Cut(k, " ")
		if r == room.String() {
			rec.readers[jid.MustParse(acct)] = true
		}
	}
	if sid != "" {
		f.byOrigin[room.String()+" "+sid] = len(f.records)
	}
	f.records = append(f.records, rec)
	return rec.ref, nil
}

func (f *fakeArchive) History(ctx context.Context, owner, room jid.JID, max int, since time.Time) ([]HistoryItem, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []HistoryItem
	for _, r := range f.records {
		if r.room == room && r.readers[owner] {
			c := r.el.Clone()
			c.Append(xml.New(nsStanzaID, "stanza-id", "id", r.ref.ID, "by", owner.String()))
			out = append(out, HistoryItem{Stamp: r.stamp, Stanza: c})
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out, nil
}

func (f *fakeArchive) Last(ctx context.Context, owner, room jid.JID) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.records) - 1; i >= 0; i-- {
		if f.records[i].room == room {
			return f.records[i].stamp, nil
		}
	}
	return time.Time{}, nil
}

// world is one account-join service with fakes around it.
type world struct {
	t        *testing.T
	svc      *Service
	sessions *fakeSessions
	sender   *fakeSender
	store    *fakeStore
	archive  *fakeArchive
}

func newWorld(t *testing.T) *world {
	w := &world{
		t:        t,
		sessions: &fakeSessions{m: make(map[jid.JID]*fakeSession)},
		sender:   &fakeSender{},
		store:    &fakeStore{m: make(map[string]Record)},
		archive:  newFakeArchive(),
	}
	w.svc = New(Config{
		Domain: "d.example", Sessions: w.sessions, Sender: w.sender, Store: w.store, Archive: w.archive,
		OfflineShow: "xa", IdleLeaveAfter: time.Hour,
	})
	t.Cleanup(func() { _ = w.svc.Shutdown(context.Background()) })
	return w
}

func (w *world) session(full string) *fakeSession {
	s := &fakeSession{jid: jid.MustParse(full)}
	w.sessions.mu.Lock()
	w.sessions.m[s.jid] = s
	w.sessions.mu.Unlock()
	return s
}

func (w *world) gone(s *fakeSession) {
	w.sessions.mu.Lock()
	delete(w.sessions.m, s.jid)
	w.sessions.mu.Unlock()
	w.svc.SessionEnded(context.Background(), s.jid)
}

// send makes a session send raw XML (from is stamped as c2s does).
func (w *world) send(s *fakeSession, raw string) bool {
	w.t.Helper()
	el := parse(w.t, raw)
	el.SetAttr("from", s.jid.String())
	to, _ := jid.Parse(el.Attr("to"))
	ok := w.svc.FromSession(context.Background(), s, el, to)
	w.settle()
	return ok
}

// settle waits for what the service finishes in the background: joins
// answered from local state, and membership writes.
func (w *world) settle() {
	w.svc.syntheses.Wait()
	if err := w.svc.flushStore(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// room makes the room send raw XML to the account.
func (w *world) room(raw string) bool {
	w.t.Helper()
	el := parse(w.t, raw)
	from, _ := jid.Parse(el.Attr("from"))
	to, _ := jid.Parse(el.Attr("to"))
	ok := w.svc.ToLocal(context.Background(), el, from, to)
	w.settle()
	return ok
}

func parse(t *testing.T, raw string) *xml.Element {
	t.Helper()
	if end := strings.IndexByte(raw, '>'); end > 0 && !strings.Contains(raw[:end], "xmlns=") {
		i := strings.IndexAny(raw, " />")
		raw = raw[:i] + " xmlns='jabber:client'" + raw[i:]
	}
	el, err := xml.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	return el
}

// str renders stanzas for comparisons and failure messages.
func str(els []*xml.Element) []string {
	out := make([]string, len(els))
	for i, e := range els {
		out[i] = e.String()
	}
	return out
}
