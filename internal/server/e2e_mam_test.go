package server_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/xmpptest"
)

const (
	nsMAM = "urn:xmpp:mam:2"
	nsRSM = "http://jabber.org/protocol/rsm"
)

var queryIDs atomic.Int64

// mamQuery sends a urn:xmpp:mam:2 query set with the given inner XML and
// returns the result messages, which must have arrived before the iq
// result (XEP-0313 4.2), and the result's <fin/>. It checks the envelope
// of every result.
func mamQuery(t *testing.T, c *xmpptest.Client, to, inner string) ([]Node, Node) {
	t.Helper()
	qid := fmt.Sprintf("q%d", queryIDs.Add(1))
	toAttr := ""
	if to != "" {
		toAttr = ` to='` + to + `'`
	}
	r := c.IQ(t, `<iq type='set' id='`+qid+`'`+toAttr+`><query xmlns='urn:xmpp:mam:2' queryid='`+qid+`'>`+inner+`</query></iq>`)
	if r.Attr("type") != "result" {
		return nil, r
	}
	var results []Node
	for {
		select {
		case n := <-c.In:
			res := n.Child(nsMAM, "result")
			if n.XMLName.Local != "message" || res == nil {
				continue
			}
			if res.Attr("queryid") != qid {
				t.Errorf("result for query %q during %s: %s", res.Attr("queryid"), qid, n)
				continue
			}
			wantAttrs(t, n, "from", bare(c), "to", c.JID.String())
			if res.Attr("id") == "" {
				t.Errorf("result without archive id: %s", n)
			}
			fwd := res.Child("urn:xmpp:forward:0", "forwarded")
			if fwd == nil || fwd.Child("urn:xmpp:delay", "delay") == nil || fwd.Child("jabber:client", "message") == nil {
				t.Fatalf("result without forwarded, delay and message: %s", n)
			}
			results = append(results, n)
			continue
		default:
		}
		break
	}
	fin := r.Child(nsMAM, "fin")
	if fin == nil {
		t.Fatalf("iq result without <fin/>: %s", r)
	}
	if fin.HasAttr("queryid") && fin.Attr("queryid") != qid {
		t.Errorf("fin queryid %q, want %q", fin.Attr("queryid"), qid)
	}
	return results, *fin
}

// mamRecord is one result, flattened.
type mamRecord struct{ id, body, stamp, from, to string }

func mamFlatten(results []Node) []mamRecord {
	var out []mamRecord
	for _, n := range results {
		res := n.Child(nsMAM, "result")
		fwd := res.Child("urn:xmpp:forward:0", "forwarded")
		m := fwd.Child("jabber:client", "message")
		body, _ := child(*m, "body")
		out = append(out, mamRecord{res.Attr("id"), body, fwd.Child("urn:xmpp:delay", "delay").Attr("stamp"), m.Attr("from"), m.Attr("to")})
	}
	return out
}

func mamBodies(a []mamRecord) string {
	var b []string
	for _, x := range a {
		b = append(b, x.body)
	}
	return strings.Join(b, " ")
}

// wantPage checks the bodies of a page and its fin.
func wantPage(t *testing.T, what string, results []Node, fin Node, want string, complete bool, first, last string, count int) {
	t.Helper()
	if got := mamBodies(mamFlatten(results)); got != want {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
	if got := fin.Attr("complete"); got != fmt.Sprint(complete) && !(got == "" && !complete) {
		t.Errorf("%s: complete=%q, want %v", what, got, complete)
	}
	set := fin.Child(nsRSM, "set")
	if set == nil {
		t.Fatalf("%s: fin without <set/>: %s", what, fin)
	}
	f, _ := child(*set, "first")
	l, _ := child(*set, "last")
	cnt, _ := child(*set, "count")
	if f != first || l != last {
		t.Errorf("%s: first/last %q %q, want %q %q", what, f, l, first, last)
	}
	if count >= 0 && cnt != fmt.Sprint(count) {
		t.Errorf("%s: count %q, want %d", what, cnt, count)
	}
}

// form wraps urn:xmpp:mam:2 form fields in a submit form.
func mamForm(fields string) string {
	return `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` + fields + `</x>`
}

func mamField(name string, values ...string) string {
	s := `<field var='` + name + `'>`
	for _, v := range values {
		s += `<value>` + v + `</value>`
	}
	return s + `</field>`
}

func rsmSet(inner string) string {
	return `<set xmlns='http://jabber.org/protocol/rsm'>` + inner + `</set>`
}

// TestE2EMAM checks XEP-0313 on a personal archive after a real chat:
// the stanza-ids stamped on delivered messages are the archive ids, and
// queries filter by with, start and end, page with RSM, select by
// before-id, after-id and ids, and follow the preferences.
func TestE2EMAM(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob", "carol"})
	a := goOnline(t, srv, "alice", "")
	b := goOnline(t, srv, "bob", "")

	// The conversation; bob records the stanza-id of what he receives.
	seen := map[string]string{}
	for i, m := range []struct {
		from, to *xmpptest.Client
		body     string
	}{{a, b, "m1"}, {b, a, "m2"}, {a, b, "m3"}, {b, a, "m4"}, {a, b, "m5"}} {
		m.from.SendRaw(t, fmt.Sprintf(`<message to='%s' type='chat' id='id%d'><body>%s</body></message>`, bare(m.to), i+1, m.body))
		n := m.to.Expect(t, m.body, isBody(m.body))
		sids := n.Children("urn:xmpp:sid:0", "stanza-id")
		if len(sids) != 1 || sids[0].Attr("by") != bare(m.to) || sids[0].Attr("id") == "" {
			t.Fatalf("delivered message needs exactly one stanza-id by %s: %s", bare(m.to), n)
		}
		if m.to == b {
			seen[m.body] = sids[0].Attr("id")
		}
	}
	a.SendRaw(t, `<message to='carol@localhost' type='chat' id='c1'><body>c1</body></message>`)
	expectNone(t, a, a, "error", isStanza("message", "error"))

	// The whole archive, oldest first, before the iq result.
	results, fin := mamQuery(t, b, "", "")
	all := mamFlatten(results)
	if len(all) != 5 {
		t.Fatalf("bob's archive holds %q, want m1 to m5", mamBodies(all))
	}
	id := map[string]string{}
	stamp := map[string]string{}
	for _, x := range all {
		id[x.body], stamp[x.body] = x.id, x.stamp
		if _, err := time.Parse(time.RFC3339Nano, x.stamp); err != nil {
			t.Errorf("%s: bad delay stamp %q", x.body, x.stamp)
		}
	}
	wantPage(t, "all", results, fin, "m1 m2 m3 m4 m5", true, id["m1"], id["m5"], 5)
	for _, body := range []string{"m1", "m3", "m5"} {
		if seen[body] != id[body] {
			t.Errorf("%s: delivered with stanza-id %q, mamRecord as %q", body, seen[body], id[body])
		}
	}
	if all[0].from != a.JID.String() || all[0].to != "bob@localhost" || all[1].from != b.JID.String() || all[1].to != "alice@localhost" {
		t.Errorf("mamRecord addresses: %+v", all[:2])
	}

	for _, tc := range []struct {
		name, inner string
		want        string
		complete    bool
		first, last string
		count       int
	}{
		{"with alice", mamForm(mamField("with", "alice@localhost")), "m1 m2 m3 m4 m5", true, "m1", "m5", 5},
		{"with carol", mamForm(mamField("with", "carol@localhost")), "", true, "", "", 0},
		// A full JID selects the messages to and from that resource only.
		{"with alice's full JID", mamForm(mamField("with", a.JID.String())), "m1 m3 m5", true, "m1", "m5", 3},
		{"start", mamForm(mamField("start", stamp["m3"])), "m3 m4 m5", true, "m3", "m5", 3},
		{"end", mamForm(mamField("end", stamp["m2"])), "m1 m2", true, "m1", "m2", 2},
		{"start and end", mamForm(mamField("start", stamp["m2"]) + mamField("end", stamp["m4"])), "m2 m3 m4", true, "m2", "m4", 3},
		{"max", rsmSet(`<max>2</max>`), "m1 m2", false, "m1", "m2", 5},
		{"after", rsmSet(`<max>2</max><after>` + id["m2"] + `</after>`), "m3 m4", false, "m3", "m4", -1},
		{"after to the end", rsmSet(`<max>2</max><after>` + id["m4"] + `</after>`), "m5", true, "m5", "m5", -1},
		{"last page", rsmSet(`<max>2</max><before/>`), "m4 m5", false, "m4", "m5", 5},
		{"before", rsmSet(`<max>2</max><before>` + id["m4"] + `</before>`), "m2 m3", false, "m2", "m3", -1},
		{"before to the start", rsmSet(`<max>2</max><before>` + id["m2"] + `</before>`), "m1", true, "m1", "m1", -1},
		// The count of after-id and before-id queries is not checked:
		// the server counts the whole archive, not the range (XEP-0059
		// lets a count be approximate).
		{"after-id", mamForm(mamField("after-id", id["m2"])), "m3 m4 m5", true, "m3", "m5", -1},
		{"before-id", mamForm(mamField("before-id", id["m4"])), "m1 m2 m3", true, "m1", "m3", -1},
		{"after-id and before-id", mamForm(mamField("after-id", id["m1"]) + mamField("before-id", id["m5"])), "m2 m3 m4", true, "m2", "m4", -1},
		{"before-id with max", mamForm(mamField("before-id", id["m5"])) + rsmSet(`<max>2</max>`), "m1 m2", false, "m1", "m2", -1},
		{"ids", mamForm(mamField("ids", id["m4"], id["m2"])), "m2 m4", true, "m2", "m4", 2},
		{"with and max", mamForm(mamField("with", "alice@localhost")) + rsmSet(`<max>1</max>`), "m1", false, "m1", "m1", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results, fin := mamQuery(t, b, "", tc.inner)
			if fin.XMLName.Local != "fin" {
				t.Fatalf("query failed: %s", fin)
			}
			wantPage(t, tc.name, results, fin, tc.want, tc.complete, id[tc.first], id[tc.last], tc.count)
		})
	}

	// Alice's archive has her side of the same messages and the one to
	// carol, who was offline.
	results, fin = mamQuery(t, a, "alice@localhost", mamForm(mamField("with", "carol@localhost")))
	wantPage(t, "alice with carol", results, fin, "c1", true, mamFlatten(results)[0].id, mamFlatten(results)[0].id, 1)
	results, _ = mamQuery(t, a, "", "")
	if got := mamBodies(mamFlatten(results)); got != "m1 m2 m3 m4 m5 c1" {
		t.Errorf("alice's archive: %q", got)
	}

	// Errors: unknown ids, and somebody else's archive (XEP-0313 8.1).
	for _, tc := range []struct{ name, inner, typ, cond string }{
		{"unknown after-id", mamForm(mamField("after-id", "no-such-id")), "cancel", "item-not-found"},
		{"unknown rsm after", rsmSet(`<after>no-such-id</after>`), "cancel", "item-not-found"},
		{"unknown field", mamForm(mamField("full-text-search", "m1")), "cancel", "feature-not-implemented"},
		{"bad start", mamForm(mamField("start", "yesterday")), "modify", "bad-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := mamQuery(t, b, "", tc.inner)
			wantError(t, r, tc.typ, tc.cond)
		})
	}
	_, r := mamQuery(t, b, "alice@localhost", "")
	wantError(t, r, "auth", "forbidden")
	wantAttrs(t, r, "from", "alice@localhost")

	// 4.1.1: a query get returns the form with every supported field.
	r = b.IQ(t, `<iq type='get' id='f1'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	x := r.Find("query/x")
	if x == nil {
		t.Fatalf("no form: %s", r)
	}
	var vars []string
	for _, f := range x.Children("jabber:x:data", "field") {
		vars = append(vars, f.Attr("var"))
	}
	for _, v := range []string{"FORM_TYPE", "with", "start", "end", "after-id", "before-id", "ids"} {
		if !slices.Contains(vars, v) {
			t.Errorf("query form lacks %q: %s", v, r)
		}
	}

	// Preferences (XEP-0441): the default is always, and never for alice
	// keeps her messages out of bob's archive (and off his stanza-ids).
	r = b.IQ(t, `<iq type='get' id='p1'><prefs xmlns='urn:xmpp:mam:2'/></iq>`)
	p := r.Child(nsMAM, "prefs")
	if p == nil || p.Attr("default") != "always" || p.Child(nsMAM, "always") == nil || p.Child(nsMAM, "never") == nil {
		t.Fatalf("default prefs: %s", r)
	}
	r = b.IQ(t, `<iq type='set' id='p2'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@localhost</jid></always><never><jid>alice@localhost</jid></never></prefs></iq>`)
	wantAttrs(t, r, "type", "result", "id", "p2")
	r = b.IQ(t, `<iq type='get' id='p3'><prefs xmlns='urn:xmpp:mam:2'/></iq>`)
	p = r.Child(nsMAM, "prefs")
	if p == nil || p.Attr("default") != "roster" || p.Find("always/jid") == nil || p.Find("always/jid").Text != "carol@localhost" || p.Find("never/jid") == nil || p.Find("never/jid").Text != "alice@localhost" {
		t.Errorf("prefs as stored: %s", r)
	}
	a.SendRaw(t, `<message to='bob@localhost' type='chat'><body>m6</body></message>`)
	n := b.Expect(t, "m6", isBody("m6"))
	if n.Child("urn:xmpp:sid:0", "stanza-id") != nil {
		t.Errorf("message not mamRecord carries a stanza-id: %s", n)
	}
	results, _ = mamQuery(t, b, "", "")
	if got := mamBodies(mamFlatten(results)); got != "m1 m2 m3 m4 m5" {
		t.Errorf("bob's archive after never: %q", got)
	}
}

// TestE2EStanzaIDForgery checks XEP-0359 section 5: a <stanza-id/> a
// sender claims in the recipient's name never reaches the recipient,
// whatever the message type and whether or not it is archived, since
// clients trust stanza-ids by their own account.
func TestE2EStanzaIDForgery(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob"})
	a := goOnline(t, srv, "alice", "")
	b := goOnline(t, srv, "bob", "")
	forged := `<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/>`
	for _, tc := range []struct{ name, to, typ string }{
		{"chat", "alice@localhost", "chat"},
		{"normal", "alice@localhost", "normal"},
		{"headline", "alice@localhost", "headline"},
		{"chat to full JID", a.JID.String(), "chat"},
		{"headline to full JID", a.JID.String(), "headline"},
		{"groupchat to full JID", a.JID.String(), "groupchat"},
		{"error to full JID", a.JID.String(), "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "forged " + tc.name
			b.SendRaw(t, `<message to='`+tc.to+`' type='`+tc.typ+`'><body>`+body+`</body>`+forged+`</message>`)
			n := a.Expect(t, body, isBody(body))
			for _, sid := range n.Children("urn:xmpp:sid:0", "stanza-id") {
				if sid.Attr("by") == "alice@localhost" && sid.Attr("id") == "forged" {
					t.Errorf("forged stanza-id delivered: %s", n)
				}
			}
		})
	}
}
