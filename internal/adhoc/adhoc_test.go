package adhoc

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// env is a Service on an iq mux with a fake clock.
type env struct {
	t   *testing.T
	svc *Service
	m   *iq.Mux
	now time.Time
}

func newEnv(t *testing.T, maxSessions int, cmds ...Command) *env {
	e := &env{t: t, m: iq.NewMux(slog.New(slog.DiscardHandler)), now: time.Unix(1700000000, 0)}
	e.svc = New(Config{Domain: "example.net", SessionTimeout: time.Minute, MaxSessions: maxSessions,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return e.now }})
	for _, c := range cmds {
		e.svc.Add(c)
	}
	e.svc.Register(e.m)
	return e
}

// run sends a command request from from and returns the reply.
func (e *env) run(from, attrs, body string) *xml.Element {
	e.t.Helper()
	p, err := xml.Parse([]byte(`<command xmlns='` + NS + `' ` + attrs + `>` + body + `</command>`))
	if err != nil {
		e.t.Fatal(err)
	}
	f := jid.MustParse(from)
	return e.m.Serve(context.Background(), stanza.NewIQ("set", "c1", from, "example.net", p), f, jid.Domain("example.net"), iq.Server)
}

// result returns the <command/> of a result, failing on an error.
func result(t *testing.T, r *xml.Element) *xml.Element {
	t.Helper()
	if r.Attr("type") != "result" {
		t.Fatalf("want a result: %s", r)
	}
	return r.Child(NS, "command")
}

// wantError checks the condition and command condition of an error.
func wantError(t *testing.T, r *xml.Element, cond, app string) {
	t.Helper()
	if r.Attr("type") != "error" {
		t.Fatalf("want error %s/%s: %s", cond, app, r)
	}
	e := r.Child("", "error")
	var gotCond, gotApp string
	for _, c := range e.Elements() {
		switch c.Space {
		case "urn:ietf:params:xml:ns:xmpp-stanzas":
			if c.Local != "text" {
				gotCond = c.Local
			}
		case NS:
			gotApp = c.Local
		}
	}
	if gotCond != cond || gotApp != app {
		t.Fatalf("error %s/%s, want %s/%s: %s", gotCond, gotApp, cond, app, r)
	}
}

// wizard is a three-stage command: name, then colour (with prev), then
// done, echoing what it got.
func wizard() Command {
	return Command{Node: "wizard", Name: "Wizard", New: func() Handler {
		stage := 0
		var name string
		return HandlerFunc(func(ctx context.Context, req Request) (Response, error) {
			switch req.Action {
			case Execute:
				stage = 1
			case Next:
				if req.Form != nil {
					name = req.Form.Value("name")
				}
				stage = 2
			case Prev:
				stage = 1
			case Complete:
				colour := ""
				if req.Form != nil {
					colour = req.Form.Value("colour")
				}
				return Done(Info, name+" likes "+colour), nil
			}
			if stage == 1 {
				return Response{Form: dataform.New(dataform.TypeForm, "", dataform.Field{Var: "name", Type: dataform.TextSingle}), Actions: []Action{Next}, Default: Next}, nil
			}
			return Response{Form: dataform.New(dataform.TypeForm, "", dataform.Field{Var: "colour", Type: dataform.TextSingle}), Actions: []Action{Prev, Complete}, Default: Complete}, nil
		})
	}}
}

func submit(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'>`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(`<field var='` + fields[i] + `'><value>` + fields[i+1] + `</value></field>`)
	}
	b.WriteString(`</x>`)
	return b.String()
}

func TestWizard(t *testing.T) {
	e := newEnv(t, 4, wizard())
	const alice = "alice@example.net/pc"
	c := result(t, e.run(alice, `node='wizard' action='execute'`, ""))
	sid := c.Attr("sessionid")
	if c.Attr("status") != "executing" || sid == "" || c.Attr("node") != "wizard" {
		t.Fatalf("first stage: %s", c)
	}
	acts := c.Child(NS, "actions")
	if acts == nil || acts.Attr("execute") != "next" || acts.Child(NS, "next") == nil || acts.Child(NS, "complete") != nil {
		t.Fatalf("first stage actions: %s", c)
	}
	// complete is not allowed at the first stage; the session survives.
	wantError(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='complete'`, ""), "bad-request", "bad-action")
	// "execute" is the stage's default, next.
	c = result(t, e.run(alice, `node='wizard' sessionid='`+sid+`'`, submit("name", "Alice")))
	if c.Attr("status") != "executing" || c.Child(NS, "actions").Attr("execute") != "complete" {
		t.Fatalf("second stage: %s", c)
	}
	c = result(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='prev'`, ""))
	if dataform.Find(c).Child(dataform.NS, "field").Attr("var") != "name" {
		t.Fatalf("prev went back to: %s", c)
	}
	result(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='next'`, submit("name", "Alice")))
	c = result(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='complete'`, submit("colour", "green")))
	if c.Attr("status") != "completed" || c.ChildText(NS, "note") != "Alice likes green" || c.Child(NS, "actions") != nil {
		t.Fatalf("completed: %s", c)
	}
	// A completed session is gone, and says so.
	wantError(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='next'`, ""), "not-allowed", "session-expired")
	if n := e.svc.Sessions(); n != 0 {
		t.Errorf("%d sessions open, want 0", n)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, 4, wizard(), Command{Node: "secret", Name: "Secret",
		Allowed: func(from jid.JID) bool { return from.Local == "admin" },
		New: func() Handler {
			return HandlerFunc(func(context.Context, Request) (Response, error) { return Done(Info, "ok"), nil })
		}})
	const alice, alice2, bob = "alice@example.net/pc", "alice@example.net/phone", "bob@example.net/pc"
	sid := result(t, e.run(alice, `node='wizard'`, "")).Attr("sessionid")
	for _, tc := range []struct {
		name, from, attrs, body string
		cond, app               string
	}{
		{"unknown command", alice, `node='nope'`, "", "item-not-found", ""},
		{"no node", alice, ``, "", "bad-request", ""},
		{"not allowed", alice, `node='secret'`, "", "forbidden", ""},
		{"unknown action", alice, `node='wizard' action='jump'`, "", "bad-request", "malformed-action"},
		{"next without a session", alice, `node='wizard' action='next'`, "", "bad-request", "bad-sessionid"},
		{"cancel without a session", alice, `node='wizard' action='cancel'`, "", "bad-request", "bad-sessionid"},
		{"made-up session", alice, `node='wizard' sessionid='x.y'`, "", "bad-request", "bad-sessionid"},
		{"another resource's session", alice2, `node='wizard' sessionid='` + sid + `'`, "", "bad-request", "bad-sessionid"},
		{"another user's session", bob, `node='wizard' sessionid='` + sid + `'`, "", "bad-request", "bad-sessionid"},
		{"the session with another command", alice, `node='secret' sessionid='` + sid + `'`, "", "forbidden", ""},
		{"a form of type result", alice, `node='wizard' sessionid='` + sid + `'`, `<x xmlns='jabber:x:data' type='result'/>`, "bad-request", "bad-payload"},
		{"a malformed form", alice, `node='wizard' sessionid='` + sid + `'`, `<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>`, "bad-request", "bad-payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.run(tc.from, tc.attrs, tc.body), tc.cond, tc.app)
		})
	}
	// None of that touched alice's session.
	c := result(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='cancel'`, ""))
	if c.Attr("status") != "canceled" || c.Attr("sessionid") != sid {
		t.Fatalf("cancel: %s", c)
	}
	wantError(t, e.run(alice, `node='wizard' sessionid='`+sid+`'`, ""), "not-allowed", "session-expired")
	// A get is no way to run a command.
	p := xml.New(NS, "command", "node", "wizard")
	r := e.m.Serve(context.Background(), stanza.NewIQ("get", "g", alice, "example.net", p), jid.MustParse(alice), jid.Domain("example.net"), iq.Server)
	wantError(t, r, "bad-request", "")
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, 4, wizard())
	const alice = "alice@example.net/pc"
	sid := result(t, e.run(alice, `node='wizard'`, "")).Attr("sessionid")
	e.now = e.now.Add(59 * time.Second)
	result(t, e.run(alice, `node='wizard' sessionid='`+sid+`'`, submit("name", "A")))
	// Each step restarts the timeout.
	e.now = e.now.Add(59 * time.Second)
	c := result(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='prev'`, ""))
	if c.Attr("status") != "executing" {
		t.Fatal(c)
	}
	e.now = e.now.Add(time.Minute)
	wantError(t, e.run(alice, `node='wizard' sessionid='`+sid+`' action='next'`, ""), "not-allowed", "session-expired")
	if n := e.svc.Sessions(); n != 0 {
		t.Errorf("%d sessions open after expiry", n)
	}
	// Abandoned sessions of others go with a later request's sweep.
	for range 3 {
		result(t, e.run("bob@example.net/pc", `node='wizard'`, ""))
	}
	e.now = e.now.Add(2 * time.Minute)
	result(t, e.run(alice, `node='wizard'`, ""))
	if n := e.svc.Sessions(); n != 1 {
		t.Errorf("%d sessions open, want alice's new one only", n)
	}
}

func TestSessionBound(t *testing.T) {
	e := newEnv(t, 2, wizard())
	const pc, phone = "alice@example.net/pc", "alice@example.net/phone"
	first := result(t, e.run(pc, `node='wizard'`, "")).Attr("sessionid")
	e.now = e.now.Add(time.Second)
	second := result(t, e.run(phone, `node='wizard'`, "")).Attr("sessionid")
	e.now = e.now.Add(time.Second)
	// Using the first makes the second the least recently used.
	result(t, e.run(pc, `node='wizard' sessionid='`+first+`'`, submit("name", "A")))
	e.now = e.now.Add(time.Second)
	// A third session of alice's (any resource) ends the second.
	third := result(t, e.run(pc, `node='wizard'`, "")).Attr("sessionid")
	wantError(t, e.run(phone, `node='wizard' sessionid='`+second+`'`, ""), "not-allowed", "session-expired")
	result(t, e.run(pc, `node='wizard' sessionid='`+first+`' action='prev'`, ""))
	result(t, e.run(pc, `node='wizard' sessionid='`+third+`'`, submit("name", "B")))
	// bob has a bound of his own.
	result(t, e.run("bob@example.net/pc", `node='wizard'`, ""))
	if n := e.svc.Sessions(); n != 3 {
		t.Errorf("%d sessions, want 3", n)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, 4, PingCommand(), Command{Node: "secret", Name: "Secret",
		Allowed: func(from jid.JID) bool { return from.Local == "admin" },
		New:     func() Handler { return nil }})
	req := func(from string) iq.Request { return iq.Request{From: jid.MustParse(from)} }
	nodes := func(from string) []string {
		q, err := e.svc.NodeItems(context.Background(), req(from), NS)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range q.Elements() {
			if it.Attr("jid") != "example.net" {
				t.Errorf("item of another JID: %s", it)
			}
			out = append(out, it.Attr("node")+"="+it.Attr("name"))
		}
		return out
	}
	if got := nodes("admin@example.net/x"); !slices.Equal(got, []string{"ping=Ping", "secret=Secret"}) {
		t.Errorf("admin sees %v", got)
	}
	if got := nodes("bob@example.net/x"); !slices.Equal(got, []string{"ping=Ping"}) {
		t.Errorf("bob sees %v", got)
	}
	q, err := e.svc.NodeInfo(context.Background(), req("bob@example.net/x"), "ping")
	if err != nil || q.Child(stanza.NSDiscoInfo, "identity").Attr("type") != "command-node" {
		t.Errorf("ping info %s, %v", q, err)
	}
	if _, err := e.svc.NodeInfo(context.Background(), req("bob@example.net/x"), "secret"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("secret info for bob: %v", err)
	}
	if q, err := e.svc.NodeInfo(context.Background(), req("bob@example.net/x"), "other"); q != nil || err != nil {
		t.Errorf("unknown node: %s, %v", q, err)
	}
	c := result(t, e.run("bob@example.net/x", `node='ping'`, ""))
	if c.Attr("status") != "completed" || c.ChildText(NS, "note") != "Pong" {
		t.Errorf("ping: %s", c)
	}
}
