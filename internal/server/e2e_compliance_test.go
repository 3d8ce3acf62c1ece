package server_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/disco"
	"minimix/internal/jid"
	mxml "minimix/internal/xml"
	"minimix/internal/xmpptest"
)

// The compliance check: a client logs in as Conversations' compliance
// tester does (STARTTLS, SASL, stream features, bind, then service
// discovery of the server, the account and the server's items) and, for
// every feature XEP-0479 (XMPP Compliance Suites 2023) asks of an
// Advanced Server in the Core, IM and Mobile suites, checks that it is
// advertised where clients look for it AND that it works: each is used
// once, end to end, with the outcome checked. The server runs with its
// default configuration plus what an operator adds for these features
// (an HTTPS listener for uploads, a push app server as a component).

const complianceApp = "push.localhost"

var complianceIDs atomic.Int64

// ciq sends raw (with id 'ID' replaced by a fresh one) on r and returns
// the answer.
func ciq(t *testing.T, r *xmpptest.Raw, raw string) Node {
	t.Helper()
	id := fmt.Sprintf("c-%d", complianceIDs.Add(1))
	r.Send(strings.Replace(raw, "'ID'", "'"+id+"'", 1))
	return r.ExpectStanza("answer "+id, 10*time.Second, func(n Node) bool { return n.XMLName.Local == "iq" && n.Attr("id") == id })
}

// cciq is ciq for a mellium client.
func cciq(t *testing.T, c *xmpptest.Client, raw string) Node {
	t.Helper()
	id := fmt.Sprintf("c-%d", complianceIDs.Add(1))
	return c.IQ(t, strings.Replace(raw, "'ID'", "'"+id+"'", 1))
}

func wantResult(t *testing.T, what string, n Node) {
	t.Helper()
	if n.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, n)
	}
}

func discoInfo(to string) string {
	return `<iq type='get' id='ID' to='` + to + `'><query xmlns='` + nsDiscoInfo + `'/></iq>`
}

func hasIdentity(n Node, category, typ string) bool {
	q := n.Child(nsDiscoInfo, "query")
	if q == nil {
		return false
	}
	for _, id := range q.Children(nsDiscoInfo, "identity") {
		if id.Attr("category") == category && id.Attr("type") == typ {
			return true
		}
	}
	return false
}

func wantAdvertised(t *testing.T, who string, n Node, vars ...string) {
	t.Helper()
	for _, v := range vars {
		if !hasFeature(n, v) {
			t.Errorf("%s does not advertise %s", who, v)
		}
	}
}

// nextMatching reads r until match, failing on anything forbidden seen
// before it.
func nextMatching(t *testing.T, r *xmpptest.Raw, what string, match, forbidden func(Node) bool) Node {
	t.Helper()
	for {
		n, err := r.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if forbidden != nil && forbidden(n) {
			t.Fatalf("before %s came %s", what, n)
		}
		if match(n) {
			return n
		}
	}
}

func bodyIs(text string) func(Node) bool {
	return func(n Node) bool {
		b := n.Child("", "body")
		return n.XMLName.Local == "message" && b != nil && b.Text == text
	}
}

func TestE2ECompliance(t *testing.T) {
	t.Parallel()
	srv := startServer(t, []string{"alice", "bob", "carol", "dave"}, xmpptest.WithConfig(func(c *config.Config) {
		c.HTTP.TLSListen = "127.0.0.1:0"
		c.Components.External = []config.ExternalComponent{{Domain: complianceApp, Secret: "app-secret"}}
	}))
	app := srv.Component(t, complianceApp, "app-secret")

	// The login, as the compliance tester does it.
	r := srv.DialRaw(t, xmpptest.RawOptions{})
	pre := r.Open()
	tlsFeatures := r.StartTLS()
	features := r.Authenticate("alice", pw("alice"))
	full := r.Bind("compliance")
	serverInfo := ciq(t, r, discoInfo("localhost"))
	accountInfo := ciq(t, r, discoInfo("alice@localhost"))
	items := ciq(t, r, `<iq type='get' id='ID' to='localhost'><query xmlns='`+nsDiscoItems+`'/></iq>`)
	serverItem := func(want string) bool {
		for _, it := range items.Find("query").Children(nsDiscoItems, "item") {
			if it.Attr("jid") == want {
				return true
			}
		}
		return false
	}
	// Friends for presence and messages: alice's laptop and bob.
	laptop, bob := goOnline(t, srv, "alice", ""), goOnline(t, srv, "bob", "")
	befriend(t, laptop, bob)
	r.Send(`<presence/>`)
	nextMatching(t, r, "own presence", func(n Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == full }, nil)

	// Core suite.
	t.Run("RFC 6120 and RFC 7590: TLS required, then SASL and bind", func(t *testing.T) {
		st := pre.Child(xmpptest.NSTLS, "starttls")
		if st == nil || st.Child(xmpptest.NSTLS, "required") == nil || pre.Child(xmpptest.NSSASL, "mechanisms") != nil {
			t.Errorf("before TLS: want only a required STARTTLS: %s", pre)
		}
		if v := r.Conn().(*tls.Conn).ConnectionState().Version; v < tls.VersionTLS12 {
			t.Errorf("TLS version %x", v)
		}
		if !strings.Contains(tlsFeatures.String(), "SCRAM-SHA-256") || features.Child(xmpptest.NSBind, "bind") == nil {
			t.Errorf("SASL and bind: %s %s", tlsFeatures, features)
		}
	})
	t.Run("XEP-0368 direct TLS", func(t *testing.T) {
		d := srv.DialRaw(t, xmpptest.RawOptions{DirectTLS: true})
		f := d.Open()
		if f.Child(xmpptest.NSSASL, "mechanisms") == nil {
			t.Fatalf("no SASL on direct TLS: %s", f)
		}
		d.Authenticate("carol", pw("carol"))
		if j := d.Bind("direct"); j != "carol@localhost/direct" {
			t.Errorf("bound %s", j)
		}
	})
	t.Run("XEP-0030 service discovery", func(t *testing.T) {
		if !hasIdentity(serverInfo, "server", "im") {
			t.Errorf("no server/im identity: %s", serverInfo)
		}
		wantAdvertised(t, "the server", serverInfo, nsDiscoInfo, nsDiscoItems)
		wantAdvertised(t, "the account", accountInfo, nsDiscoInfo, nsDiscoItems)
		if !serverItem("conference.localhost") || !serverItem("upload.localhost") {
			t.Errorf("server items: %s", items)
		}
	})
	t.Run("XEP-0115 entity capabilities", func(t *testing.T) {
		for _, f := range []Node{tlsFeatures, features} {
			c := f.Child(disco.NSCaps, "c")
			if c == nil || c.Attr("hash") != "sha-1" || c.Attr("node") == "" || c.Attr("ver") == "" {
				t.Fatalf("no caps in the stream features: %s", f)
			}
			res := ciq(t, r, `<iq type='get' id='ID' to='localhost'><query xmlns='`+nsDiscoInfo+`' node='`+c.Attr("node")+`#`+c.Attr("ver")+`'/></iq>`)
			if res.Attr("type") != "result" {
				t.Fatalf("disco#info of the caps node: %s", res)
			}
			q, err := mxml.Parse([]byte(res.Child(nsDiscoInfo, "query").String()))
			if err != nil {
				t.Fatal(err)
			}
			if got := disco.VerificationString(q); got != c.Attr("ver") {
				t.Errorf("caps ver %s, but the node's disco#info hashes to %s", c.Attr("ver"), got)
			}
		}
	})
	t.Run("XEP-0114 external components", func(t *testing.T) {
		r.Send(`<message to='` + complianceApp + `' id='to-app'><body>hello component</body></message>`)
		n := app.ExpectStanza("alice's message", 10*time.Second, bodyIs("hello component"))
		if n.Attr("from") != full {
			t.Errorf("component got %s", n)
		}
		app.Send(`<message from='` + complianceApp + `' to='` + full + `'><body>hello alice</body></message>`)
		nextMatching(t, r, "the component's message", bodyIs("hello alice"), nil)
	})
	t.Run("XEP-0163 PEP", func(t *testing.T) {
		if !hasIdentity(accountInfo, "pubsub", "pep") {
			t.Fatalf("no pubsub/pep identity on the account: %s", accountInfo)
		}
		wantResult(t, "publish", ciq(t, r, `<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/tune'><item id='current'><tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist></tune></item></publish></pubsub></iq>`))
		got := cciq(t, bob, `<iq type='get' id='ID' to='alice@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/tune'/></pubsub></iq>`)
		if a := got.Find("pubsub/items/item/tune/artist"); a == nil || a.Text != "Yes" {
			t.Errorf("a contact reading the tune: %s", got)
		}
	})

	// IM suite.
	t.Run("RFC 6121 roster versioning", func(t *testing.T) {
		if features.Child("urn:xmpp:features:rosterver", "ver") == nil {
			t.Fatalf("no roster versioning feature: %s", features)
		}
		res := ciq(t, r, `<iq type='get' id='ID'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
		q := res.Child("jabber:iq:roster", "query")
		if q == nil || q.Attr("ver") == "" {
			t.Fatalf("roster without a version: %s", res)
		}
		// Unchanged since that version: an empty result.
		res = ciq(t, r, `<iq type='get' id='ID'><query xmlns='jabber:iq:roster' ver='`+q.Attr("ver")+`'/></iq>`)
		if res.Attr("type") != "result" || res.Child("jabber:iq:roster", "query") != nil {
			t.Errorf("roster at its own version: %s", res)
		}
	})
	t.Run("XEP-0054 vcard-temp", func(t *testing.T) {
		wantAdvertised(t, "the server", serverInfo, "vcard-temp")
		wantResult(t, "vCard set", ciq(t, r, `<iq type='set' id='ID'><vCard xmlns='vcard-temp'><FN>Alice Compliance</FN></vCard></iq>`))
		got := cciq(t, bob, `<iq type='get' id='ID' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)
		if fn := got.Find("vCard/FN"); fn == nil || fn.Text != "Alice Compliance" {
			t.Errorf("vCard: %s", got)
		}
	})
	t.Run("XEP-0398 and XEP-0153 avatar compatibility", func(t *testing.T) {
		wantAdvertised(t, "the account", accountInfo, "urn:xmpp:pep-vcard-conversion:0")
		img := []byte("\x89PNG\r\n\x1a\ncompliance")
		sum := sha1.Sum(img)
		id, b64 := hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(img)
		wantResult(t, "avatar data", ciq(t, r, `<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'><item id='`+id+`'><data xmlns='urn:xmpp:avatar:data'>`+b64+`</data></item></publish></pubsub></iq>`))
		wantResult(t, "avatar metadata", ciq(t, r, `<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='`+id+`'><metadata xmlns='urn:xmpp:avatar:metadata'><info id='`+id+`' bytes='`+fmt.Sprint(len(img))+`' type='image/png' width='1' height='1'/></metadata></item></publish></pubsub></iq>`))
		// XEP-0398: a vCard client sees the PEP avatar as the PHOTO.
		v := cciq(t, bob, `<iq type='get' id='ID' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)
		if bin := v.Find("vCard/PHOTO/BINVAL"); bin == nil || bin.Text != b64 {
			t.Errorf("vCard PHOTO after the PEP avatar: %s", v)
		}
		// XEP-0153: alice's presence carries the avatar's hash (her
		// presences from before the avatar, with an empty <photo/>, may
		// still be on their way to bob).
		r.Send(`<presence/>`)
		p := bob.Expect(t, "alice's presence with the avatar hash", func(n Node) bool {
			ph := n.Find("x/photo")
			return n.XMLName.Local == "presence" && n.Attr("from") == full && ph != nil && ph.Text != ""
		})
		if ph := p.Find("x/photo"); ph == nil || ph.Text != id {
			t.Errorf("presence without the avatar's hash %s: %s", id, p)
		}
	})
	t.Run("XEP-0280 carbons", func(t *testing.T) {
		wantAdvertised(t, "the server", serverInfo, "urn:xmpp:carbons:2")
		wantResult(t, "enable", ciq(t, r, `<iq type='set' id='ID'><enable xmlns='urn:xmpp:carbons:2'/></iq>`))
		laptop.SendRaw(t, `<message to='bob@localhost' type='chat'><body>carbon copy</body></message>`)
		nextMatching(t, r, "the sent carbon", func(n Node) bool {
			b := n.Find("sent/forwarded/message/body")
			return b != nil && b.Text == "carbon copy"
		}, nil)
	})
	t.Run("XEP-0191 blocking", func(t *testing.T) {
		wantAdvertised(t, "the server", serverInfo, "urn:xmpp:blocking")
		wantResult(t, "block", ciq(t, r, `<iq type='set' id='ID'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>`))
		list := ciq(t, r, `<iq type='get' id='ID'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
		if it := list.Find("blocklist/item"); it == nil || it.Attr("jid") != "bob@localhost" {
			t.Fatalf("blocklist: %s", list)
		}
		bob.SendRaw(t, `<message to='`+full+`' type='chat' id='blocked'><body>blocked</body></message>`)
		bob.Expect(t, "the error for a blocked message", func(n Node) bool { return n.Attr("id") == "blocked" && n.Attr("type") == "error" })
		wantResult(t, "unblock", ciq(t, r, `<iq type='set' id='ID'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>`))
		bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>unblocked</body></message>`)
		nextMatching(t, r, "the message after unblocking", bodyIs("unblocked"), bodyIs("blocked"))
	})
	const room = "compliance@conference.localhost"
	t.Run("XEP-0045 and XEP-0249 group chat", func(t *testing.T) {
		muc := cciq(t, bob, discoInfo("conference.localhost"))
		if !hasIdentity(muc, "conference", "text") {
			t.Fatalf("no conference/text identity: %s", muc)
		}
		wantAdvertised(t, "the MUC service", muc, "http://jabber.org/protocol/muc")
		bob.SendRaw(t, `<presence to='`+room+`/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		bob.Expect(t, "bob's self-presence", isSelfPresence(room+"/bob"))
		wantResult(t, "instant room", cciq(t, bob, `<iq type='set' id='ID' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`))
		// XEP-0249: bob invites alice directly; she joins.
		bob.SendRaw(t, `<message to='alice@localhost'><x xmlns='jabber:x:conference' jid='`+room+`'/></message>`)
		inv := nextMatching(t, r, "the invitation", func(n Node) bool { return n.Child("jabber:x:conference", "x") != nil }, nil)
		if inv.Child("jabber:x:conference", "x").Attr("jid") != room {
			t.Fatalf("invitation: %s", inv)
		}
		r.Send(`<presence to='` + room + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		nextMatching(t, r, "alice's self-presence", isSelfPresence(room+"/alice"), nil)
		bob.SendRaw(t, `<message to='`+room+`' type='groupchat'><body>welcome</body></message>`)
		nextMatching(t, r, "bob's groupchat message", bodyIs("welcome"), nil)
	})
	t.Run("advanced group chat: XEP-0313 in rooms, XEP-0410, XEP-0402 and XEP-0048", func(t *testing.T) {
		info := ciq(t, r, discoInfo(room))
		wantAdvertised(t, "the room", info, "urn:xmpp:mam:2")
		res := complianceMAM(t, r, room, "")
		if !res["welcome"] {
			t.Errorf("the room archive lacks bob's message: %v", res)
		}
		// XEP-0410: pinging oneself in the room says one is joined.
		wantResult(t, "self-ping", ciq(t, r, `<iq type='get' id='ID' to='`+room+`/alice'><ping xmlns='urn:xmpp:ping'/></iq>`))
		// XEP-0402 with compat: a bookmark published as PEP is what a
		// XEP-0048 client reads from private storage.
		wantAdvertised(t, "the account", accountInfo, "urn:xmpp:bookmarks:1#compat")
		wantResult(t, "bookmark", ciq(t, r, `<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='`+room+`'><conference xmlns='urn:xmpp:bookmarks:1' name='Compliance' autojoin='true'><nick>alice</nick></conference></item></publish>`+
			`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`+
			`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>`+
			`<field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`))
		legacy := ciq(t, r, `<iq type='get' id='ID'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
		if c := legacy.Find("query/storage/conference"); c == nil || c.Attr("jid") != room {
			t.Errorf("XEP-0048 view of the bookmark: %s", legacy)
		}
	})
	t.Run("XEP-0223 private PEP storage", func(t *testing.T) {
		wantAdvertised(t, "the account", accountInfo, "http://jabber.org/protocol/pubsub#publish-options")
		wantResult(t, "private publish", ciq(t, r, `<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:example:compliance'><item id='current'><secret xmlns='urn:example:compliance'>42</secret></item></publish>`+
			`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`+
			`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`))
		own := ciq(t, r, `<iq type='get' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:example:compliance'/></pubsub></iq>`)
		if s := own.Find("pubsub/items/item/secret"); s == nil || s.Text != "42" {
			t.Errorf("owner reading: %s", own)
		}
		if other := cciq(t, bob, `<iq type='get' id='ID' to='alice@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:example:compliance'/></pubsub></iq>`); other.Attr("type") != "error" {
			t.Errorf("a contact read a whitelist node: %s", other)
		}
	})
	t.Run("XEP-0049 private XML storage", func(t *testing.T) {
		wantAdvertised(t, "the account", accountInfo, "jabber:iq:private")
		wantResult(t, "private set", ciq(t, r, `<iq type='set' id='ID'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><theme>dark</theme></prefs></query></iq>`))
		got := ciq(t, r, `<iq type='get' id='ID'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>`)
		if th := got.Find("query/prefs/theme"); th == nil || th.Text != "dark" {
			t.Errorf("private get: %s", got)
		}
	})
	t.Run("XEP-0313 message archive", func(t *testing.T) {
		wantAdvertised(t, "the account", accountInfo, "urn:xmpp:mam:2")
		bob.SendRaw(t, `<message to='alice@localhost' type='chat'><body>archived</body></message>`)
		nextMatching(t, r, "bob's message", bodyIs("archived"), nil)
		if res := complianceMAM(t, r, "", "bob@localhost"); !res["archived"] {
			t.Errorf("the archive lacks bob's message: %v", res)
		}
	})
	t.Run("XEP-0363 HTTP file upload", func(t *testing.T) {
		info := ciq(t, r, discoInfo("upload.localhost"))
		wantAdvertised(t, "upload.localhost", info, "urn:xmpp:http:upload:0")
		slot := ciq(t, r, `<iq type='get' id='ID' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='hello.txt' size='6' content-type='text/plain'/></iq>`)
		put, get := slot.Find("slot/put"), slot.Find("slot/get")
		if put == nil || get == nil || !strings.HasPrefix(get.Attr("url"), "https://") {
			t.Fatalf("slot: %s", slot)
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.RootCAs}}}
		defer hc.CloseIdleConnections()
		req, _ := http.NewRequest("PUT", put.Attr("url"), bytes.NewReader([]byte("hello\n")))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT: %s", resp.Status)
		}
		resp, err = hc.Get(get.Attr("url"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "hello\n" {
			t.Errorf("GET: %s %q", resp.Status, b)
		}
	})

	// Mobile suite (and stream management, which IM asks for too).
	t.Run("XEP-0352 client state indication", func(t *testing.T) {
		if features.Child("urn:xmpp:csi:0", "csi") == nil {
			t.Fatalf("no CSI feature: %s", features)
		}
		r.Send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
		// A round trip: the server has read <inactive/> before bob acts.
		wantResult(t, "ping", ciq(t, r, `<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`))
		away := func(n Node) bool {
			s := n.Child("", "show")
			return n.XMLName.Local == "presence" && n.Attr("from") == bob.JID.String() && s != nil && s.Text == "away"
		}
		bob.SendRaw(t, `<presence><show>away</show></presence>`)
		bob.SendRaw(t, `<message to='`+full+`' type='chat'><body>while inactive</body></message>`)
		nextMatching(t, r, "a message while inactive", bodyIs("while inactive"), away)
		r.Send(`<active xmlns='urn:xmpp:csi:0'/>`)
		nextMatching(t, r, "the presence held while inactive", away, nil)
	})
	t.Run("XEP-0198 stream management", func(t *testing.T) {
		if features.Child(xmpptest.NSSM, "sm") == nil {
			t.Fatalf("no SM feature: %s", features)
		}
		p := srv.Login(t, "carol", pw("carol"), "phone")
		p.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
		en := p.Expect(xmpptest.NSSM, "enabled")
		if en.Attr("resume") != "true" || en.Attr("id") == "" {
			t.Fatalf("enabled: %s", en)
		}
		counted := p.Handled // stanzas before <enabled/> are not counted
		p.Send(`<iq type='get' id='sm-ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>`)
		// The ack and the ping's result, in either order.
		var acked, answered bool
		for !acked || !answered {
			n := nextMatching(t, p, "the ack and the ping result", func(n Node) bool {
				return n.XMLName.Space == xmpptest.NSSM && n.XMLName.Local == "a" || n.Attr("id") == "sm-ping"
			}, nil)
			if n.XMLName.Local == "a" {
				acked = true
				if n.Attr("h") != "1" {
					t.Errorf("ack %s, want h=1", n)
				}
			} else {
				answered = true
			}
		}
		h := p.Handled - counted
		p.Kill()
		cb := loginAs(t, srv, "bob")
		cb.SendRaw(t, `<message to='`+p.JID+`' type='chat'><body>while away</body></message>`)
		p2 := srv.DialRaw(t, xmpptest.RawOptions{})
		p2.Open()
		p2.StartTLS()
		p2.Authenticate("carol", pw("carol"))
		p2.Send(fmt.Sprintf(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>`, en.Attr("id"), h))
		p2.Expect(xmpptest.NSSM, "resumed")
		p2.ExpectStanza("the message sent while away", 10*time.Second, bodyIs("while away"))
	})
	t.Run("XEP-0357 push notifications", func(t *testing.T) {
		wantAdvertised(t, "the account", accountInfo, "urn:xmpp:push:0")
		p := srv.Login(t, "dave", pw("dave"), "phone")
		p.Send(`<presence/>`)
		wantResult(t, "enable", ciq(t, p, `<iq type='set' id='ID'><enable xmlns='urn:xmpp:push:0' jid='`+complianceApp+`' node='dave-phone'/></iq>`))
		p.Close()
		gone := jid.MustParse(p.JID)
		for deadline := time.Now().Add(10 * time.Second); srv.Registry.Get(gone) != nil; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("dave's session did not end")
			}
		}
		bob.SendRaw(t, `<message to='dave@localhost' type='chat'><body>wake up</body></message>`)
		pub := app.ExpectStanza("the push", 10*time.Second, func(n Node) bool { return n.XMLName.Local == "iq" && n.Attr("type") == "set" })
		if pub.Attr("from") != "dave@localhost" || pub.Find("pubsub/publish") == nil || pub.Find("pubsub/publish").Attr("node") != "dave-phone" {
			t.Errorf("publish: %s", pub)
		}
		app.Send(`<iq type='result' from='` + complianceApp + `' to='dave@localhost' id='` + pub.Attr("id") + `'/>`)
	})
}

// isSelfPresence matches the room's presence of occupant that carries
// status 110 (XEP-0045: this is you).
func isSelfPresence(occupant string) func(Node) bool {
	return func(n Node) bool {
		if n.XMLName.Local != "presence" || n.Attr("from") != occupant || n.Attr("type") == "error" {
			return false
		}
		x := n.Child("http://jabber.org/protocol/muc#user", "x")
		if x == nil {
			return false
		}
		for _, s := range x.Children("http://jabber.org/protocol/muc#user", "status") {
			if s.Attr("code") == "110" {
				return true
			}
		}
		return false
	}
}

// complianceMAM runs a XEP-0313 query to archive ("" for the account's own),
// optionally filtered by with, and returns the bodies it found.
func complianceMAM(t *testing.T, r *xmpptest.Raw, archive, with string) map[string]bool {
	t.Helper()
	id := fmt.Sprintf("mam-%d", complianceIDs.Add(1))
	to := ""
	if archive != "" {
		to = ` to='` + archive + `'`
	}
	form := ""
	if with != "" {
		form = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>` + with + `</value></field></x>`
	}
	r.Send(`<iq type='set' id='` + id + `'` + to + `><query xmlns='urn:xmpp:mam:2' queryid='` + id + `'>` + form + `</query></iq>`)
	bodies := map[string]bool{}
	for {
		n, err := r.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("MAM query: %v", err)
		}
		if res := n.Child("urn:xmpp:mam:2", "result"); res != nil && res.Attr("queryid") == id {
			if b := res.Find("forwarded/message/body"); b != nil {
				bodies[b.Text] = true
			}
		}
		if n.XMLName.Local == "iq" && n.Attr("id") == id {
			if n.Attr("type") != "result" || n.Child("urn:xmpp:mam:2", "fin") == nil {
				t.Fatalf("MAM query: %s", n)
			}
			return bodies
		}
	}
}
