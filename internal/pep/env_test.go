package pep

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/sessiontest"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

const domain = "example.net"

// env is a PEP service over a real SQLite store, with fake sessions.
type env struct {
	t   *testing.T
	db  *sqlite.DB
	svc *Service
	mux *iq.Mux
	reg *router.Registry
}

func newEnv(t *testing.T, tune func(*Config)) *env {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "minimix.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := db.CreateAccount(t.Context(), u, storage.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	reg := router.NewRegistry()
	r := router.New(router.Config{Domain: domain, Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	clock := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cfg := Config{
		Domain: domain, Store: db, Router: r, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { clock = clock.Add(time.Second); return clock },
	}
	if tune != nil {
		tune(&cfg)
	}
	svc := New(cfg)
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	svc.Register(mux)
	return &env{t: t, db: db, svc: svc, mux: mux, reg: reg}
}

// iq sends the iq xml (without from and to) from from to to and returns
// the reply.
func (e *env) iq(from, to, typ, payload string) *xml.Element {
	e.t.Helper()
	el := parse(e.t, `<iq xmlns='jabber:client' id='q1' type='`+typ+`'>`+payload+`</iq>`)
	f, t := jid.MustParse(from), jid.MustParse(to)
	el.SetAttr("from", f.String())
	el.SetAttr("to", t.String())
	target := iq.Account
	if f.Bare() == t {
		target = iq.Self
	}
	return e.mux.Serve(context.Background(), el, f, t, target)
}

// roster gives user a contact with subscription sub.
func (e *env) roster(user, contact string, sub storage.Subscription) {
	e.t.Helper()
	if _, err := e.db.PutRosterItem(e.t.Context(), user, storage.RosterItem{Contact: contact, Subscription: sub}); err != nil {
		e.t.Fatal(err)
	}
}

func parse(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

// stanzaError returns the defined condition and the pubsub#errors
// condition of an error reply, "" and "" for a result.
func stanzaError(el *xml.Element) (cond, app string) {
	se := xmpperr.FromElement(el)
	if se == nil || el.Attr("type") != "error" {
		return "", ""
	}
	if se.App != nil && se.App.Space == NSErrors {
		app = se.App.Local
	}
	return string(se.Condition), app
}

// online binds a session of full and makes it available with presence p
// (caps and all), as presence would, calling the service's hook.
func (e *env) online(full, p string) *sessiontest.Session {
	e.t.Helper()
	s := sessiontest.New(full)
	e.reg.Add(s)
	pres := parse(e.t, p)
	pres.SetAttr("from", full)
	s.State().SetPresence(pres, true, 0)
	e.svc.SessionAvailable(context.Background(), s, pres, true)
	return s
}

// caps returns presence with capabilities ver, and records ver in the
// cache as wanting the notifications of nodes.
func (e *env) caps(ver string, nodes ...string) string {
	set := make(map[string]struct{})
	for _, n := range nodes {
		set[n] = struct{}{}
	}
	e.svc.caps.store("sha-1 "+ver, set)
	return `<presence xmlns='jabber:client'><c xmlns='` + NSCaps + `' hash='sha-1' node='https://example.org/client' ver='` + ver + `'/></presence>`
}

// events returns, per notification message in got, the node and the ids
// published (or "-id" for retracted, "delete"/"purge" for those).
func events(got []*xml.Element) []string {
	var out []string
	for _, m := range got {
		ev := m.Child(NSEvent, "event")
		if m.Local != "message" || ev == nil {
			continue
		}
		for _, c := range ev.Elements() {
			switch c.Local {
			case "items":
				for _, it := range c.Elements() {
					if it.Local == "item" {
						out = append(out, c.Attr("node")+" "+it.Attr("id"))
					} else {
						out = append(out, c.Attr("node")+" -"+it.Attr("id"))
					}
				}
			default:
				out = append(out, c.Attr("node")+" "+c.Local)
			}
		}
	}
	return out
}
