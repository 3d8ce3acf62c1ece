package server_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/commands"
	mjid "mellium.im/xmpp/jid"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

// End-to-end tests of ad-hoc commands (XEP-0050) and service
// administration (XEP-0133): mellium's commands client for the list and
// the simple flow, raw iqs for every step and error.

const (
	nsCommands = "http://jabber.org/protocol/commands"
	nsAdmin    = "http://jabber.org/protocol/admin"
	nsData     = "jabber:x:data"
)

// adminNodes are the XEP-0133 commands the server offers, in its order.
var adminNodes = []string{
	nsAdmin + "#add-user",
	nsAdmin + "#delete-user",
	nsAdmin + "#change-user-password",
	nsAdmin + "#end-user-session",
	nsAdmin + "#get-registered-users-num",
	nsAdmin + "#get-online-users-num",
	nsAdmin + "#get-registered-users-list",
	nsAdmin + "#get-online-users-list",
	nsAdmin + "#announce",
}

// withAdmin makes alice the server's admin.
func withAdmin(c *config.Config) { c.Admins = []string{"alice@localhost"} }

// command sends a <command/> to the server and returns the reply.
func command(t *testing.T, c *xmpptest.Client, attrs, body string) Node {
	t.Helper()
	return c.IQ(t, `<iq type='set' id='cmd' to='localhost'><command xmlns='`+nsCommands+`' `+attrs+`>`+body+`</command></iq>`)
}

// completed returns the <command/> of a result with status st, failing
// otherwise.
func commandStatus(t *testing.T, r Node, st string) *Node {
	t.Helper()
	if r.Attr("type") != "result" {
		t.Fatalf("want a command result, got %s", r)
	}
	c := r.Child(nsCommands, "command")
	if c == nil || c.Attr("status") != st {
		t.Fatalf("want status %s: %s", st, r)
	}
	return c
}

// cmdError checks an error's condition and ad-hoc condition ("" none).
func cmdError(t *testing.T, r Node, typ, cond, app string) {
	t.Helper()
	wantError(t, r, typ, cond)
	var got string
	if e := r.Child("", "error"); e != nil {
		for _, a := range e.Nodes {
			if a.XMLName.Space == nsCommands {
				got = a.XMLName.Local
			}
		}
	}
	if got != app {
		t.Errorf("command condition %q, want %q in %s", got, app, r)
	}
}

// formXML is a submitted XEP-0133 form with the given var, value pairs;
// a var given several times gets several values.
func formXML(fields ...string) string {
	var vars []string
	values := map[string][]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		if _, ok := values[fields[i]]; !ok {
			vars = append(vars, fields[i])
		}
		values[fields[i]] = append(values[fields[i]], fields[i+1])
	}
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + nsAdmin + `</value></field>`)
	for _, v := range vars {
		b.WriteString(`<field var='` + v + `'>`)
		for _, val := range values[v] {
			b.WriteString(`<value>` + val + `</value>`)
		}
		b.WriteString(`</field>`)
	}
	b.WriteString(`</x>`)
	return b.String()
}

// runForm runs a two-stage admin command as clients do: execute, check
// the form asks for the wanted fields, complete with the submitted form.
func runForm(t *testing.T, c *xmpptest.Client, node string, want []string, submitted string) Node {
	t.Helper()
	first := commandStatus(t, command(t, c, `node='`+node+`' action='execute'`, ""), "executing")
	x := first.Child(nsData, "x")
	if x == nil || x.Attr("type") != "form" {
		t.Fatalf("%s: no form: %s", node, first)
	}
	var vars []string
	for _, f := range x.Children(nsData, "field") {
		vars = append(vars, f.Attr("var"))
	}
	for _, w := range append([]string{"FORM_TYPE"}, want...) {
		if !slices.Contains(vars, w) {
			t.Errorf("%s: form fields %v lack %s", node, vars, w)
		}
	}
	if a := first.Child(nsCommands, "actions"); a == nil || a.Attr("execute") != "complete" || a.Child(nsCommands, "complete") == nil {
		t.Errorf("%s: actions %s", node, first)
	}
	return command(t, c, `node='`+node+`' sessionid='`+first.Attr("sessionid")+`' action='complete'`, submitted)
}

// notes returns the notes of a command as "type: text".
func notes(c *Node) []string {
	var out []string
	for _, n := range c.Children(nsCommands, "note") {
		out = append(out, n.Attr("type")+": "+n.Text)
	}
	return out
}

// resultField returns the values of field v of the result form of c.
func resultField(t *testing.T, c *Node, v string) []string {
	t.Helper()
	x := c.Child(nsData, "x")
	if x == nil || x.Attr("type") != "result" {
		t.Fatalf("no result form: %s", c)
	}
	for _, f := range x.Children(nsData, "field") {
		if f.Attr("var") == v {
			var vals []string
			for _, val := range f.Children(nsData, "value") {
				vals = append(vals, val.Text)
			}
			return vals
		}
	}
	t.Fatalf("no field %s: %s", v, c)
	return nil
}

// TestE2EAdhocDiscovery lists and describes the commands as a client
// does: the admin sees ping and the XEP-0133 commands, a user ping only,
// and the admin commands are forbidden to the user.
func TestE2EAdhocDiscovery(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(withAdmin))
	alice, bob := loginAs(t, srv, "alice"), loginAs(t, srv, "bob")

	info := bob.IQ(t, `<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !hasFeature(info, nsCommands) {
		t.Errorf("the server does not advertise %s: %s", nsCommands, info)
	}

	list := func(c *xmpptest.Client) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := commands.Fetch(ctx, mjid.MustParse("localhost"), c.Session)
		var out []string
		for iter.Next() {
			cmd := iter.Command()
			if cmd.JID.String() != "localhost" || cmd.Name == "" {
				t.Errorf("command %+v", cmd)
			}
			out = append(out, cmd.Node)
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := list(alice), append([]string{"ping"}, adminNodes...); !slices.Equal(got, want) {
		t.Errorf("admin's commands %v, want %v", got, want)
	}
	if got := list(bob); !slices.Equal(got, []string{"ping"}) {
		t.Errorf("user's commands %v, want [ping]", got)
	}

	nodeInfo := func(c *xmpptest.Client, node string) Node {
		return c.IQ(t, `<iq type='get' id='ni' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='`+node+`'/></iq>`)
	}
	r := nodeInfo(alice, nsAdmin+"#add-user")
	id := r.Find("query/identity")
	if r.Attr("type") != "result" || id == nil || id.Attr("category") != "automation" || id.Attr("type") != "command-node" ||
		!hasFeature(r, nsCommands) || !hasFeature(r, nsData) {
		t.Errorf("command info: %s", r)
	}
	wantError(t, nodeInfo(bob, nsAdmin+"#add-user"), "auth", "forbidden")
	r = nodeInfo(bob, nsCommands)
	if id := r.Find("query/identity"); id == nil || id.Attr("type") != "command-list" {
		t.Errorf("command list info: %s", r)
	}
	wantError(t, nodeInfo(bob, "no-such-node"), "cancel", "item-not-found")

	for _, node := range adminNodes {
		cmdError(t, command(t, bob, `node='`+node+`' action='execute'`, ""), "auth", "forbidden", "")
	}
}

// TestE2EAdhocPing runs the ping command with mellium's commands client,
// as any user may.
func TestE2EAdhocPing(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"bob"})
	bob := loginAs(t, srv, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, payload, err := commands.Command{JID: mjid.MustParse("localhost"), Node: "ping"}.Execute(ctx, nil, bob.Session)
	if err != nil {
		t.Fatal(err)
	}
	// The payload is the command's children: one note.
	var got []Node
	d := xml.NewTokenDecoder(payload)
	for {
		var n Node
		if err := d.Decode(&n); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, n)
	}
	payload.Close()
	if resp.Status != "completed" || resp.SID == "" || len(got) != 1 || got[0].XMLName.Local != "note" || got[0].Text != "Pong" || got[0].Attr("type") != "info" {
		t.Errorf("ping: %+v %v", resp, got)
	}
}

// TestE2EAdhocSessionErrors drives a session through its errors on the
// wire: an action the stage does not allow, a session that is not the
// requester's, one that ended, cancelling, and the bound on open
// sessions per requester (adhoc.max_sessions).
func TestE2EAdhocSessionErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice"}, xmpptest.WithConfig(func(c *config.Config) {
		withAdmin(c)
		c.Adhoc.MaxSessions = 2
	}))
	pc := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "pc"})
	phone := srv.Dial(t, "alice", pw("alice"), xmpptest.DialOptions{Resource: "phone"})
	node := nsAdmin + "#announce"

	first := commandStatus(t, command(t, pc, `node='`+node+`'`, ""), "executing")
	sid := first.Attr("sessionid")
	cmdError(t, command(t, pc, `node='`+node+`' sessionid='`+sid+`' action='next'`, ""), "modify", "bad-request", "bad-action")
	cmdError(t, command(t, pc, `node='`+node+`' sessionid='`+sid+`' action='fly'`, ""), "modify", "bad-request", "malformed-action")
	cmdError(t, command(t, phone, `node='`+node+`' sessionid='`+sid+`'`, formXML("announcement", "hi")), "modify", "bad-request", "bad-sessionid")
	cmdError(t, command(t, pc, `node='`+nsAdmin+`#add-user' sessionid='`+sid+`'`, ""), "modify", "bad-request", "bad-sessionid")
	// A submission without the required field ends the session.
	cmdError(t, command(t, pc, `node='`+node+`' sessionid='`+sid+`' action='complete'`, formXML()), "modify", "bad-request", "bad-payload")
	cmdError(t, command(t, pc, `node='`+node+`' sessionid='`+sid+`' action='complete'`, formXML("announcement", "hi")), "cancel", "not-allowed", "session-expired")

	sid = commandStatus(t, command(t, pc, `node='`+node+`'`, ""), "executing").Attr("sessionid")
	c := commandStatus(t, command(t, pc, `node='`+node+`' sessionid='`+sid+`' action='cancel'`, ""), "canceled")
	wantAttrs(t, Node(*c), "sessionid", sid, "node", node)
	cmdError(t, command(t, pc, `node='`+node+`' sessionid='`+sid+`'`, ""), "cancel", "not-allowed", "session-expired")

	// Two sessions are open at most per account: a third ends the least
	// recently used.
	s1 := commandStatus(t, command(t, pc, `node='`+node+`'`, ""), "executing").Attr("sessionid")
	s2 := commandStatus(t, command(t, phone, `node='`+node+`'`, ""), "executing").Attr("sessionid")
	s3 := commandStatus(t, command(t, pc, `node='`+node+`'`, ""), "executing").Attr("sessionid")
	cmdError(t, command(t, pc, `node='`+node+`' sessionid='`+s1+`' action='complete'`, formXML("announcement", "one")), "cancel", "not-allowed", "session-expired")
	commandStatus(t, command(t, phone, `node='`+node+`' sessionid='`+s2+`' action='complete'`, formXML("announcement", "two")), "completed")
	commandStatus(t, command(t, pc, `node='`+node+`' sessionid='`+s3+`'`, formXML("announcement", "three")), "completed")
}

// TestE2EAdminAccounts adds a user, changes its password and deletes it
// through XEP-0133, checking each with a login, and the refusals on the
// way.
func TestE2EAdminAccounts(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"}, xmpptest.WithConfig(withAdmin))
	alice := loginAs(t, srv, "alice")
	addFields := []string{"accountjid", "password", "password-verify", "email", "given_name", "surname"}

	c := commandStatus(t, runForm(t, alice, nsAdmin+"#add-user", addFields,
		formXML("accountjid", "carol@localhost", "password", "carol-secret", "password-verify", "carol-secret", "given_name", "Carol")), "completed")
	if got := notes(c); len(got) != 1 || !strings.HasPrefix(got[0], "info: ") {
		t.Errorf("add-user notes %v", got)
	}
	carol := loginAs(t, srv, "carol")
	carol.Close()

	for _, tc := range []struct {
		name, form string
		typ, cond  string
		app        string
	}{
		{"taken", formXML("accountjid", "bob@localhost", "password", "bob-other", "password-verify", "bob-other"), "cancel", "conflict", ""},
		{"mismatch", formXML("accountjid", "dave@localhost", "password", "dave-secret", "password-verify", "dave-other"), "modify", "bad-request", "bad-payload"},
		{"no password", formXML("accountjid", "dave@localhost"), "modify", "bad-request", "bad-payload"},
		{"other domain", formXML("accountjid", "dave@example.org", "password", "dave-secret"), "modify", "bad-request", "bad-payload"},
		{"short password", formXML("accountjid", "dave@localhost", "password", "abc", "password-verify", "abc"), "modify", "not-acceptable", ""},
	} {
		t.Run("add "+tc.name, func(t *testing.T) {
			cmdError(t, runForm(t, alice, nsAdmin+"#add-user", addFields, tc.form), tc.typ, tc.cond, tc.app)
		})
	}
	if _, err := srv.TryDial(t, "dave", "dave-secret", xmpptest.DialOptions{}); err == nil {
		t.Error("dave exists after refused add-user commands")
	}

	commandStatus(t, runForm(t, alice, nsAdmin+"#change-user-password", []string{"accountjid", "password"},
		formXML("accountjid", "carol@localhost", "password", "carol-new-secret")), "completed")
	if _, err := srv.TryDial(t, "carol", "carol-secret", xmpptest.DialOptions{}); err == nil {
		t.Error("the old password still works")
	}
	carol = srv.Dial(t, "carol", "carol-new-secret", xmpptest.DialOptions{})
	cmdError(t, runForm(t, alice, nsAdmin+"#change-user-password", []string{"accountjid", "password"},
		formXML("accountjid", "nobody@localhost", "password", "whatever-secret")), "cancel", "item-not-found", "")

	// Deleting ends the account's session, as minimix user del does.
	c = commandStatus(t, runForm(t, alice, nsAdmin+"#delete-user", []string{"accountjids"},
		formXML("accountjids", "carol@localhost", "accountjids", "nobody@localhost")), "completed")
	if got, want := notes(c), []string{"info: Deleted: carol@localhost", "error: No such account: nobody@localhost"}; !slices.Equal(got, want) {
		t.Errorf("delete-user notes %v, want %v", got, want)
	}
	select {
	case <-carol.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("carol's session survived the deletion of her account")
	}
	if _, err := srv.TryDial(t, "carol", "carol-new-secret", xmpptest.DialOptions{}); err == nil {
		t.Error("carol can log in after her deletion")
	}
	// The XEP-0133 flow of a client that fills the form in at once.
	c = commandStatus(t, command(t, alice, `node='`+nsAdmin+`#get-registered-users-num'`, ""), "completed")
	if got := resultField(t, c, "registeredusersnum"); !slices.Equal(got, []string{"2"}) {
		t.Errorf("registered users %v, want 2", got)
	}
}

// TestE2EAdminSessions counts and lists online users, ends sessions of a
// full and of a bare JID, and sends an announcement to every session.
func TestE2EAdminSessions(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob", "carol", "dave"}, xmpptest.WithConfig(withAdmin))
	alice := loginAs(t, srv, "alice")
	bobPC := srv.Dial(t, "bob", pw("bob"), xmpptest.DialOptions{Resource: "pc"})
	bobPhone := srv.Login(t, "bob", pw("bob"), "phone")
	carol := srv.Login(t, "carol", pw("carol"), "laptop")

	c := commandStatus(t, command(t, alice, `node='`+nsAdmin+`#get-online-users-num'`, ""), "completed")
	if got := resultField(t, c, "onlineusersnum"); !slices.Equal(got, []string{"3"}) {
		t.Errorf("online users %v, want 3 (alice, bob, carol)", got)
	}
	c = commandStatus(t, runForm(t, alice, nsAdmin+"#get-online-users-list", []string{"max_items"}, formXML("max_items", "none")), "completed")
	if got, want := resultField(t, c, "onlineuserjids"), []string{"alice@localhost", "bob@localhost", "carol@localhost"}; !slices.Equal(got, want) {
		t.Errorf("online users %v, want %v", got, want)
	}
	c = commandStatus(t, runForm(t, alice, nsAdmin+"#get-online-users-list", []string{"max_items"}, formXML("max_items", "2")), "completed")
	if got := resultField(t, c, "onlineuserjids"); len(got) != 2 || !slices.Equal(notes(c), []string{"info: 2 of 3 shown"}) {
		t.Errorf("online users, at most 2: %v %v", got, notes(c))
	}
	c = commandStatus(t, runForm(t, alice, nsAdmin+"#get-registered-users-list", []string{"max_items"}, formXML("max_items", "25")), "completed")
	if got, want := resultField(t, c, "registereduserjids"), []string{"alice@localhost", "bob@localhost", "carol@localhost", "dave@localhost"}; !slices.Equal(got, want) {
		t.Errorf("registered users %v, want %v", got, want)
	}

	// An announcement reaches every session, as a headline from the
	// server.
	commandStatus(t, runForm(t, alice, nsAdmin+"#announce", []string{"announcement"},
		formXML("announcement", "Maintenance at noon.", "announcement", "Back soon.")), "completed")
	isAnnouncement := func(n Node) bool {
		return n.XMLName.Local == "message" && n.Attr("from") == "localhost" && n.Attr("type") == "headline" &&
			n.Child("", "body") != nil && n.Child("", "body").Text == "Maintenance at noon.\nBack soon."
	}
	bobPC.Expect(t, "announcement", isAnnouncement)
	bobPhone.ExpectStanza("announcement", 10*time.Second, isAnnouncement)
	carol.ExpectStanza("announcement", 10*time.Second, isAnnouncement)
	alice.Expect(t, "announcement", isAnnouncement)

	// A full JID ends that session only.
	c = commandStatus(t, runForm(t, alice, nsAdmin+"#end-user-session", []string{"accountjids"},
		formXML("accountjids", "bob@localhost/phone")), "completed")
	if got := notes(c); !slices.Equal(got, []string{"info: Sessions ended: bob@localhost/phone"}) {
		t.Errorf("end-user-session notes %v", got)
	}
	bobPhone.ExpectStreamError("policy-violation")
	if r := bobPC.IQ(t, `<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Attr("type") != "result" {
		t.Errorf("bob's other session: %s", r)
	}
	// A bare JID ends them all.
	commandStatus(t, runForm(t, alice, nsAdmin+"#end-user-session", []string{"accountjids"},
		formXML("accountjids", "bob@localhost", "accountjids", "carol@localhost")), "completed")
	carol.ExpectStreamError("policy-violation")
	select {
	case <-bobPC.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("bob's session survived end-user-session")
	}
	c = commandStatus(t, runForm(t, alice, nsAdmin+"#end-user-session", []string{"accountjids"},
		formXML("accountjids", "dave@localhost")), "completed")
	if got := notes(c); !slices.Equal(got, []string{"error: No session: dave@localhost"}) {
		t.Errorf("end-user-session of an offline user: notes %v", got)
	}
}

// TestE2EAdminDeleteUserLeavesRooms deletes, through XEP-0133, an account
// that is in a room with no session online (account-based group chat keeps
// it there): the deletion goes through the account manager as minimix
// user del does, so the account leaves the room at once.
func TestE2EAdminDeleteUserLeavesRooms(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob", "carol"}, xmpptest.WithConfig(withAdmin))
	re := &roomEnv{t: t, srv: srv}
	room := "admin-delete@" + srv.Config.MUC.Domain
	bob, carol := re.dial("bob"), re.dial("carol")
	re.enter(bob, room, "bob", "")
	re.enter(carol, room, "carol", "")
	bob.Expect(t, "carol joins", xmpptest.IsPresenceFrom(room+"/carol", ""))
	carol.Close()
	alice := loginAs(t, srv, "alice")
	commandStatus(t, runForm(t, alice, nsAdmin+"#delete-user", []string{"accountjids"},
		formXML("accountjids", "carol@localhost")), "completed")
	bob.Expect(t, "carol leaving", xmpptest.IsPresenceFrom(room+"/carol", "unavailable"))
}
