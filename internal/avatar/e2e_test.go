package avatar_test

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	"minimix/internal/config"
	"minimix/internal/xmpptest"
)

const (
	nsData     = "urn:xmpp:avatar:data"
	nsMetadata = "urn:xmpp:avatar:metadata"
	nsUpdate   = "vcard-temp:x:update"
	nsPubSub   = "http://jabber.org/protocol/pubsub"
	nsDisco    = "http://jabber.org/protocol/disco#info"
	room       = "avatars@conference.localhost"
)

func pw(u string) string { return u + "-secret" }

func start(t *testing.T) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, xmpptest.WithConfig(func(c *config.Config) { c.AccountJoin.Enabled = false }))
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, pw(u))
	}
	return srv
}

// dial logs user in; bob sends his initial presence, so that presence
// to his bare JID reaches him.
func dial(t *testing.T, srv *xmpptest.Server, user string) *xmpptest.Client {
	t.Helper()
	c := srv.Dial(t, user, pw(user), xmpptest.DialOptions{})
	if user == "bob" {
		c.SendRaw(t, "<presence/>")
		c.Expect(t, "own presence", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" })
	}
	return c
}

// image is a small "image" and its XEP-0084 id.
func image(seed string) (b64, id string) {
	raw := []byte("\x89PNG\r\n\x1a\n" + seed)
	sum := sha1.Sum(raw)
	return base64.StdEncoding.EncodeToString(raw), hex.EncodeToString(sum[:])
}

func publish(t *testing.T, c *xmpptest.Client, node, id, payload string) {
	t.Helper()
	r := c.IQ(t, fmt.Sprintf("<iq type='set' id='pub-%s'><pubsub xmlns='%s'><publish node='%s'><item id='%s'>%s</item></publish></pubsub></iq>", id, nsPubSub, node, id, payload))
	if r.Attr("type") != "result" {
		t.Fatalf("publish to %s: %v", node, r)
	}
}

func vcardOf(t *testing.T, c *xmpptest.Client, user string) xmpptest.Node {
	t.Helper()
	r := c.IQ(t, fmt.Sprintf("<iq type='get' id='vc' to='%s@localhost'><vCard xmlns='vcard-temp'/></iq>", user))
	v := r.Child("vcard-temp", "vCard")
	if r.Attr("type") != "result" || v == nil {
		t.Fatalf("vCard of %s: %v", user, r)
	}
	return *v
}

// photoIn returns the vcard-temp:x:update photo of a presence and
// whether there is one.
func photoIn(n xmpptest.Node) (string, bool) {
	x := n.Child(nsUpdate, "x")
	if x == nil {
		return "", false
	}
	p := x.Child(nsUpdate, "photo")
	if p == nil {
		return "", false
	}
	return p.Text, true
}

// directed sends presence raw to bob and returns what bob receives.
func directed(t *testing.T, from, bob *xmpptest.Client, raw string) xmpptest.Node {
	t.Helper()
	from.SendRaw(t, raw)
	return bob.Expect(t, "a presence from "+from.JID.String(), func(n xmpptest.Node) bool {
		return n.XMLName.Local == "presence" && n.Attr("from") == from.JID.String()
	})
}

// XEP-0398: the account advertises the conversion; a PEP avatar becomes
// the vCard's PHOTO and its hash is in every available presence
// (XEP-0153), a directed one and a MUC join included; disabling it
// removes both.
func TestPEPToVCard(t *testing.T) {
	srv := start(t)
	alice := dial(t, srv, "alice")
	bob := dial(t, srv, "bob")

	info := alice.IQ(t, "<iq type='get' id='d' to='alice@localhost'><query xmlns='"+nsDisco+"'/></iq>")
	var conv bool
	for _, f := range info.Child(nsDisco, "query").Children(nsDisco, "feature") {
		conv = conv || f.Attr("var") == "urn:xmpp:pep-vcard-conversion:0"
	}
	if !conv {
		t.Fatalf("account lacks urn:xmpp:pep-vcard-conversion:0: %v", info)
	}

	// Before any avatar, presence says there is none.
	if p, ok := photoIn(directed(t, alice, bob, "<presence to='bob@localhost'/>")); !ok || p != "" {
		t.Errorf("presence without an avatar: photo %q, %v", p, ok)
	}

	b64, id := image("alice")
	publish(t, alice, nsData, id, fmt.Sprintf("<data xmlns='%s'>%s</data>", nsData, b64))
	publish(t, alice, nsMetadata, id, fmt.Sprintf("<metadata xmlns='%s'><info id='%s' bytes='12' type='image/png' width='1' height='1'/></metadata>", nsMetadata, id))

	v := vcardOf(t, bob, "alice")
	photo := v.Child("vcard-temp", "PHOTO")
	if photo == nil || photo.Child("vcard-temp", "BINVAL") == nil || photo.Child("vcard-temp", "BINVAL").Text != b64 ||
		photo.Child("vcard-temp", "TYPE") == nil || photo.Child("vcard-temp", "TYPE").Text != "image/png" {
		t.Fatalf("vCard after the PEP avatar: %v", v)
	}

	for _, tc := range []struct{ name, raw, want string }{
		{"no x", "<presence to='bob@localhost'/>", id},
		{"x without photo", "<presence to='bob@localhost'><x xmlns='" + nsUpdate + "'/></presence>", id},
		{"the client's own hash", "<presence to='bob@localhost'><x xmlns='" + nsUpdate + "'><photo>abc</photo></x></presence>", "abc"},
		{"empty photo", "<presence to='bob@localhost'><x xmlns='" + nsUpdate + "'><photo/></x></presence>", ""},
	} {
		p, ok := photoIn(directed(t, alice, bob, tc.raw))
		if !ok || p != tc.want {
			t.Errorf("%s: photo %q (%v), want %q", tc.name, p, ok, tc.want)
		}
	}

	// A MUC join is a directed presence: the room shows the hash.
	bob.SendRaw(t, "<presence to='"+room+"/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	bob.Expect(t, "room created", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == room+"/Bob" })
	if r := bob.IQ(t, "<iq type='set' id='inst' to='"+room+"'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>"); r.Attr("type") != "result" {
		t.Fatalf("instant room: %v", r)
	}
	alice.SendRaw(t, "<presence to='"+room+"/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	joined := bob.Expect(t, "alice in the room", func(n xmpptest.Node) bool { return n.XMLName.Local == "presence" && n.Attr("from") == room+"/Alice" })
	if p, _ := photoIn(joined); p != id {
		t.Errorf("alice's presence in the room: %v", joined)
	}

	// Disabling the PEP avatar removes the PHOTO.
	publish(t, alice, nsMetadata, "off", fmt.Sprintf("<metadata xmlns='%s'/>", nsMetadata))
	if v := vcardOf(t, bob, "alice"); v.Child("vcard-temp", "PHOTO") != nil {
		t.Errorf("vCard after disabling the avatar: %v", v)
	}
	if p, ok := photoIn(directed(t, alice, bob, "<presence to='bob@localhost'/>")); !ok || p != "" {
		t.Errorf("presence after disabling the avatar: photo %q, %v", p, ok)
	}
}

// XEP-0398 section 3.2: a vCard with a PHOTO is published as the PEP
// avatar (data, then metadata naming it), and presence carries its hash;
// the rest of the vCard stays as uploaded.
func TestVCardToPEP(t *testing.T) {
	srv := start(t)
	carol := dial(t, srv, "carol")
	bob := dial(t, srv, "bob")
	b64, id := image("carol")
	r := carol.IQ(t, fmt.Sprintf("<iq type='set' id='vs'><vCard xmlns='vcard-temp'><FN>Carol</FN><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard></iq>", b64))
	if r.Attr("type") != "result" {
		t.Fatalf("vCard upload: %v", r)
	}
	items := func(node string) []xmpptest.Node {
		r := carol.IQ(t, fmt.Sprintf("<iq type='get' id='it' to='carol@localhost'><pubsub xmlns='%s'><items node='%s'/></pubsub></iq>", nsPubSub, node))
		if r.Attr("type") != "result" {
			t.Fatalf("items of %s: %v", node, r)
		}
		return r.Child(nsPubSub, "pubsub").Child(nsPubSub, "items").Children(nsPubSub, "item")
	}
	data := items(nsData)
	if len(data) != 1 || data[0].Attr("id") != id || data[0].Child(nsData, "data") == nil || data[0].Child(nsData, "data").Text != b64 {
		t.Fatalf("data node: %v", data)
	}
	meta := items(nsMetadata)
	if len(meta) != 1 || meta[0].Attr("id") != id {
		t.Fatalf("metadata node: %v", meta)
	}
	info := meta[0].Child(nsMetadata, "metadata").Child(nsMetadata, "info")
	if info == nil || info.Attr("id") != id || info.Attr("type") != "image/jpeg" || info.Attr("bytes") != "13" {
		t.Errorf("metadata info: %v", meta[0])
	}
	if v := vcardOf(t, bob, "carol"); v.Child("vcard-temp", "FN") == nil || v.Child("vcard-temp", "PHOTO") == nil {
		t.Errorf("vCard as stored: %v", v)
	}
	if p, _ := photoIn(directed(t, carol, bob, "<presence to='bob@localhost'/>")); p != id {
		t.Errorf("presence after the vCard upload: %q, want %q", p, id)
	}
}
