package private

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// fragment keeps one fragment per user in memory, refusing sets whose
// root has refuse='1'.
type fragment map[string]*xml.Element

func (f fragment) GetFragment(ctx context.Context, user string) (*xml.Element, error) {
	return f[user], nil
}

func (f fragment) SetFragment(ctx context.Context, user string, el *xml.Element) error {
	if el.Attr("refuse") == "1" {
		return xmpperr.New(xmpperr.BadRequest, "refused")
	}
	f[user] = el.Clone()
	return nil
}

// TestFragment checks that a Fragment serves its key instead of the raw
// store, and that its refusal stores nothing of the set.
func TestFragment(t *testing.T) {
	db := openStore(t)
	m := iq.NewMux(slog.New(slog.DiscardHandler))
	s := New(db, 0, 0)
	f := fragment{}
	s.Handle(Key(bookmarks("")), f)
	s.Register(m)
	alice := jid.MustParse("alice@localhost/phone")
	do := func(typ string, payload *xml.Element) *xml.Element {
		t.Helper()
		return m.Serve(t.Context(), stanza.NewIQ(typ, "f", alice.String(), alice.Bare().String(), payload), alice, alice.Bare(), iq.Self)
	}

	if r := do("get", query(bookmarks(""))); r.FirstElement().String() != `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query>` {
		t.Errorf("empty get: %s", r)
	}
	prefs := xml.New("urn:example:prefs", "prefs").AppendText("dark")
	if r := do("set", query(bookmarks("r@conference.localhost"), prefs)); r.Attr("type") != "result" {
		t.Fatalf("set: %s", r)
	}
	if f["alice"] == nil || f["alice"].String() != bookmarks("r@conference.localhost").String() {
		t.Errorf("fragment got %v", f["alice"])
	}
	if _, err := db.GetPrivate(t.Context(), "alice", Key(bookmarks(""))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the handled key reached the raw store: %v", err)
	}
	if r := do("get", query(bookmarks(""))); r.FirstElement().FirstElement().String() != bookmarks("r@conference.localhost").String() {
		t.Errorf("get from the fragment: %s", r)
	}

	refused := bookmarks("")
	refused.SetAttr("refuse", "1")
	other := xml.New("urn:example:prefs", "prefs").AppendText("light")
	r := do("set", query(refused, other))
	if se := xmpperr.FromElement(r); se == nil || se.Condition != xmpperr.BadRequest {
		t.Fatalf("refused set: %s", r)
	}
	b, err := db.GetPrivate(t.Context(), "alice", Key(prefs))
	if err != nil || string(b) != prefs.String() {
		t.Errorf("a refused set stored its other fragment: %s, %v", b, err)
	}
}
