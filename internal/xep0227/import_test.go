package xep0227

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"minimix/internal/bookmarks"
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/sasl"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
)

func newImporter(t *testing.T) *Importer {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "minimix.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := pep.New(pep.Config{Domain: "localhost", Store: db})
	return &Importer{Domain: "localhost", Store: db, PEP: p, Bookmarks: bookmarks.New("localhost", p, nil)}
}

// scramXML is a <scram-credentials/> element for password: values in
// base64 as Prosody writes them, or, when double, in base64 of base64 as
// ejabberd does (it keeps them encoded and its exporter encodes again).
func scramXML(t *testing.T, password string, double bool) (string, storage.ScramCredential) {
	t.Helper()
	c, err := sasl.NewCredentials(password, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := base64.StdEncoding.EncodeToString
	if double {
		b = func(v []byte) string {
			return base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(v)))
		}
	}
	return fmt.Sprintf(`<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>%d</iter-count><salt>%s</salt><server-key>%s</server-key><stored-key>%s</stored-key></scram-credentials>`,
		c.SHA1.Iters, b(c.SHA1.Salt), b(c.SHA1.ServerKey), b(c.SHA1.StoredKey)), c.SHA1
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ejabberdExport is what ejabberdctl export_piefxis DIR writes: an index
// that XIncludes one file per host.
func ejabberdExport(t *testing.T, scram string) string {
	dir := t.TempDir()
	write(t, dir, "20261206-120000.xml", `<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='20261206-120000_localhost.xml'/><xi:include href='20261206-120000_other_example.xml'/></server-data>`)
	write(t, dir, "20261206-120000_other_example.xml", `<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='other.example'><user name='zed' password='zed-password'/></host>`)
	write(t, dir, "20261206-120000_localhost.xml", `<?xml version='1.0' encoding='UTF-8'?>
<host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='localhost'>
<user name='alice' password='alice-old-pw'>
  <offline-messages><message xmlns='jabber:client' from='bob@localhost/phone' to='alice@localhost' type='chat' id='o1'><body>while you were out</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-12-01T10:00:00.000Z'/></message></offline-messages>
  <vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME></vCard>
  <query xmlns='jabber:iq:roster'>
    <item jid='bob@localhost' name='Bob' subscription='both'><group>Friends</group><group>Work</group></item>
    <item jid='carol@example.net' subscription='none' ask='subscribe'/>
    <item jid='Alice@localhost' subscription='both'/>
  </query>
  <presence xmlns='jabber:client' from='dave@example.org' to='alice@localhost' type='subscribe'/>
  <query xmlns='jabber:iq:private'>
    <storage xmlns='storage:bookmarks'><conference jid='tea@conference.localhost' autojoin='true' name='Tea party'><nick>Alice</nick></conference></storage>
    <notes xmlns='storage:rosternotes'><note jid='bob@localhost'>likes tea</note></notes>
  </query>
  <query xmlns='jabber:iq:privacy'/>
</user>
<user name='bob'>`+scram+`<query xmlns='jabber:iq:roster'><item jid='alice@localhost' subscription='both'/></query></user>
<user name='carl' password='scram:AAAA,BBBB'/>
</host>`)
	return dir
}

// prosodyExport is what prosody-migrator writes with a xep0227 output:
// one file per user.
func prosodyExport(t *testing.T, scram string) string {
	dir := t.TempDir()
	write(t, dir, "pat@localhost.xml", `<?xml version='1.0' encoding='utf-8'?>
<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='pat'>`+scram+`
<vCard xmlns='vcard-temp'><FN>Pat</FN></vCard>
<query xmlns='jabber:iq:roster' version='3'><item jid='alice@localhost' subscription='to' name='Alice'/></query>
<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>
 <configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#max_items'><value>max</value></field></x></configure>
 <configure node='http://jabber.org/protocol/nick'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#title'><value>ignored</value></field><field type='boolean' var='pubsub#persist_items'/><field type='text-single' var='pubsub#max_items'/></x></configure>
</pubsub>
<pubsub xmlns='http://jabber.org/protocol/pubsub'>
 <items node='urn:xmpp:bookmarks:1'><item id='garden@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true' name='Garden'><nick>Pat</nick></conference></item></items>
 <items node='http://jabber.org/protocol/nick'><item id='current'><nick xmlns='http://jabber.org/protocol/nick'>Patricia</nick></item></items>
</pubsub>
<archive xmlns='urn:xmpp:pie:0#mam'>
 <result xmlns='urn:xmpp:mam:2' id='a1b2'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-30T09:00:00Z'/><message xmlns='jabber:client' from='alice@localhost/laptop' to='pat@localhost' type='chat' id='m1'><body>hello pat</body></message></forwarded></result>
 <result xmlns='urn:xmpp:mam:2' id='c3d4'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-30T09:01:00Z'/><message xmlns='jabber:client' from='pat@localhost/phone' to='alice@localhost' type='chat' id='m2'><body>hi alice</body></message></forwarded></result>
</archive>
</user></host></server-data>`)
	return dir
}

func TestImportEjabberd(t *testing.T) {
	ctx := context.Background()
	scram, bobCred := scramXML(t, "bob-old-pw", true)
	dir := ejabberdExport(t, scram)
	im := newImporter(t)
	st := im.Store

	// A dry run reads everything and writes nothing.
	im.DryRun = true
	s, err := im.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Users.Written != 2 || s.Roster.Written != 4 || s.Offline.Written != 1 || s.Bookmarks.Written != 1 {
		t.Errorf("dry run summary: %+v", s)
	}
	if names, _ := st.ListAccounts(ctx); len(names) != 0 {
		t.Fatalf("the dry run created accounts %v", names)
	}

	im.DryRun = false
	s, err = im.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.Write(&out)
	t.Logf("summary:\n%s", out.String())
	if s.SkippedHosts["other.example"] != 1 {
		t.Errorf("other.example not skipped: %v", s.SkippedHosts)
	}
	for _, want := range []string{"carl: ", "jabber:iq:privacy", "alice: roster item for the account itself"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if names, _ := st.ListAccounts(ctx); strings.Join(names, ",") != "alice,bob" {
		t.Fatalf("accounts %v, want alice and bob (and not carl, whose scram: data is broken, nor zed of another host)", names)
	}
	creds, _ := st.GetCredentials(ctx, "alice")
	if !sasl.CredentialsMatch(creds, "alice-old-pw") || len(creds.SHA256.StoredKey) != 32 {
		t.Errorf("alice's plaintext password was not hashed for both mechanisms: %+v", creds)
	}
	creds, _ = st.GetCredentials(ctx, "bob")
	if !bytes.Equal(creds.SHA1.StoredKey, bobCred.StoredKey) || !bytes.Equal(creds.SHA1.Salt, bobCred.Salt) || creds.SHA1.Iters != bobCred.Iters {
		t.Errorf("bob's SCRAM-SHA-1 data not kept as is")
	}
	if !sasl.CredentialsMatch(creds, "bob-old-pw") {
		t.Errorf("bob's old password does not match his imported SCRAM data")
	}

	items, _, _ := st.RosterItems(ctx, "alice")
	got := map[string]storage.RosterItem{}
	for _, it := range items {
		got[it.Contact] = it
	}
	if b := got["bob@localhost"]; b.Subscription != storage.SubBoth || b.Name != "Bob" || strings.Join(b.Groups, ",") != "Friends,Work" {
		t.Errorf("bob in alice's roster: %+v", b)
	}
	if c := got["carol@example.net"]; !c.PendingOut || c.Subscription != storage.SubNone {
		t.Errorf("carol: %+v", c)
	}
	if d := got["dave@example.org"]; !d.PendingIn || !d.Hidden || len(d.PendingInStanza) == 0 {
		t.Errorf("dave's pending request: %+v", d)
	}
	if v, err := st.GetVCard(ctx, "alice"); err != nil || !strings.Contains(string(v), "Alice Liddell") {
		t.Errorf("vCard: %q, %v", v, err)
	}
	if p, err := st.GetPrivate(ctx, "alice", "notes storage:rosternotes"); err != nil || !strings.Contains(string(p), "likes tea") {
		t.Errorf("private notes: %q, %v", p, err)
	}
	alice := jid.JID{Local: "alice", Domain: "localhost"}
	bms, err := im.Bookmarks.Bookmarks(ctx, alice)
	if err != nil || len(bms) != 1 || bms[0].Room.String() != "tea@conference.localhost" || !bms[0].Autojoin || bms[0].Nick != "Alice" {
		t.Errorf("private XML bookmarks did not become native ones: %+v, %v", bms, err)
	}
	if off, _ := st.OfflineMessages(ctx, "alice"); len(off) != 1 || !bytes.Contains(off[0].Stanza, []byte("while you were out")) || off[0].Stamp.Format("2006-01-02") != "2026-12-01" {
		t.Errorf("offline messages: %+v", off)
	}

	// Again: nothing new, nothing doubled.
	s, err = im.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if c := k.c(s); c.Written != 0 {
			t.Errorf("second import wrote %d %s", c.Written, k.name)
		}
	}
	if s.Users.Unchanged != 2 || s.Roster.Unchanged != 4 || s.Offline.Unchanged != 1 || s.Bookmarks.Unchanged != 1 {
		t.Errorf("second import: %+v", s)
	}
	if off, _ := st.OfflineMessages(ctx, "alice"); len(off) != 1 {
		t.Errorf("%d offline messages after a second import", len(off))
	}
	if bms, _ := im.Bookmarks.Bookmarks(ctx, alice); len(bms) != 1 {
		t.Errorf("%d bookmarks after a second import", len(bms))
	}
}

func TestImportProsody(t *testing.T) {
	ctx := context.Background()
	scram, patCred := scramXML(t, "pat-old-pw", false)
	dir := prosodyExport(t, scram)
	im := newImporter(t)
	st := im.Store
	s, err := im.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Users.Written != 1 || s.Roster.Written != 1 || s.VCards.Written != 1 || s.Bookmarks.Written != 1 || s.PEPItems.Written != 1 || s.Archive.Written != 2 {
		var out bytes.Buffer
		s.Write(&out)
		t.Errorf("summary:\n%s", out.String())
	}
	creds, _ := st.GetCredentials(ctx, "pat")
	if !bytes.Equal(creds.SHA1.ServerKey, patCred.ServerKey) || len(creds.SHA256.StoredKey) != 0 || !sasl.CredentialsMatch(creds, "pat-old-pw") {
		t.Errorf("pat's SCRAM-SHA-1 credentials: %+v", creds)
	}
	pat := jid.JID{Local: "pat", Domain: "localhost"}
	bms, err := im.Bookmarks.Bookmarks(ctx, pat)
	if err != nil || len(bms) != 1 || bms[0].Room.String() != "garden@conference.localhost" || !bms[0].Autojoin || bms[0].Name != "Garden" {
		t.Errorf("bookmarks: %+v, %v", bms, err)
	}
	// The legacy copy follows the native bookmarks, for XEP-0048 clients.
	if legacy, _ := im.Bookmarks.GetFragment(ctx, "pat"); legacy == nil || !strings.Contains(legacy.String(), "garden@conference.localhost") {
		t.Errorf("legacy bookmarks: %v", legacy)
	}
	node, err := st.PEPNode(ctx, "pat", "http://jabber.org/protocol/nick")
	if err != nil {
		t.Fatalf("nick node: %v", err)
	}
	// Options Prosody left empty keep the defaults: items persist.
	if !bytes.Contains(node.Config, []byte("open")) || !bytes.Contains(node.Config, []byte(`"persist_items":true`)) {
		t.Errorf("nick node's access model from the form not kept: %s", node.Config)
	}
	if its, _ := st.PEPItems(ctx, "pat", "http://jabber.org/protocol/nick", 0); len(its) != 1 || !bytes.Contains(its[0].Payload, []byte("Patricia")) {
		t.Errorf("nick items: %+v", its)
	}
	page, err := st.QueryArchive(ctx, "pat@localhost", storage.ArchiveQuery{Max: 10})
	if err != nil || len(page.Records) != 2 || page.Records[0].ID != "a1b2" || page.Records[0].With != "alice@localhost" || page.Records[1].With != "alice@localhost" {
		t.Errorf("archive: %+v, %v", page.Records, err)
	}
	s, err = im.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if c := k.c(s); c.Written != 0 {
			t.Errorf("second import wrote %d %s", c.Written, k.name)
		}
	}
	if page, _ := st.QueryArchive(ctx, "pat@localhost", storage.ArchiveQuery{Max: 10}); len(page.Records) != 2 {
		t.Errorf("%d archived messages after a second import", len(page.Records))
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"truncated.xml": `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='a' password='x'>`,
		"nohost.xml":    `<server-data xmlns='urn:xmpp:pie:0'><user name='a' password='x'/></server-data>`,
		"loop.xml":      `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='loop.xml'/></server-data>`,
	} {
		p := write(t, dir, name, body)
		if err := Read(p, func(*User) error { return nil }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := Read(filepath.Join(dir, "missing.xml"), func(*User) error { return nil }); err == nil {
		t.Error("missing file: no error")
	}
}

// TestExportRoundTrip imports both samples, exports them, and imports the
// export into an empty store: the same accounts, credentials, rosters,
// vCards, private XML, bookmarks, PEP items, offline messages and
// archives come out.
func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	scram, _ := scramXML(t, "bob-old-pw", false)
	src := newImporter(t)
	for _, dir := range []string{ejabberdExport(t, scram), prosodyExport(t, scram)} {
		if _, err := src.Import(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "export")
	ex := &Exporter{Domain: "localhost", Store: src.Store, PEP: src.PEP}
	n, err := ex.Export(ctx, out)
	if err != nil || n != 3 {
		t.Fatalf("export: %d, %v", n, err)
	}
	if _, err := ex.Export(ctx, out); err == nil {
		t.Error("export into a non-empty directory")
	}
	if fi, err := os.Stat(filepath.Join(out, "bob@localhost.xml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("bob's file: %v, %v", fi, err)
	}
	dst := newImporter(t)
	s, err := dst.Import(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	s.Write(&sum)
	t.Logf("re-import:\n%s", sum.String())
	for _, u := range []string{"alice", "bob", "pat"} {
		a, _ := src.Store.GetCredentials(ctx, u)
		b, err := dst.Store.GetCredentials(ctx, u)
		if err != nil || !sameCreds(a, b) {
			t.Errorf("%s: credentials differ after the round trip (%v)", u, err)
		}
		ra, _, _ := src.Store.RosterItems(ctx, u)
		rb, _, _ := dst.Store.RosterItems(ctx, u)
		if len(ra) != len(rb) {
			t.Errorf("%s: roster %d items, %d after", u, len(ra), len(rb))
		}
		for i := range min(len(ra), len(rb)) {
			if !sameItem(ra[i], rb[i]) {
				t.Errorf("%s: roster item %+v became %+v", u, ra[i], rb[i])
			}
		}
		va, _ := src.Store.GetVCard(ctx, u)
		vb, _ := dst.Store.GetVCard(ctx, u)
		if string(va) != string(vb) {
			t.Errorf("%s: vCard %q became %q", u, va, vb)
		}
		owner := jid.JID{Local: u, Domain: "localhost"}
		ba, _ := src.Bookmarks.Bookmarks(ctx, owner)
		bb, _ := dst.Bookmarks.Bookmarks(ctx, owner)
		if len(ba) != len(bb) || (len(ba) > 0 && !ba[0].Equal(bb[0])) {
			t.Errorf("%s: bookmarks %+v became %+v", u, ba, bb)
		}
		oa, _ := src.Store.OfflineMessages(ctx, u)
		ob, _ := dst.Store.OfflineMessages(ctx, u)
		if len(oa) != len(ob) {
			t.Errorf("%s: %d offline messages became %d", u, len(oa), len(ob))
		}
		pa, _ := src.Store.QueryArchive(ctx, u+"@localhost", storage.ArchiveQuery{Max: 100})
		pb, _ := dst.Store.QueryArchive(ctx, u+"@localhost", storage.ArchiveQuery{Max: 100})
		if len(pa.Records) != len(pb.Records) {
			t.Errorf("%s: %d archived messages became %d", u, len(pa.Records), len(pb.Records))
		}
	}
	if p, err := dst.Store.GetPrivate(ctx, "alice", "notes storage:rosternotes"); err != nil || !strings.Contains(string(p), "likes tea") {
		t.Errorf("private notes after the round trip: %q, %v", p, err)
	}
	if its, _ := dst.Store.PEPItems(ctx, "pat", "http://jabber.org/protocol/nick", 0); len(its) != 1 {
		t.Errorf("pat's nick after the round trip: %+v", its)
	}
}

// TestImportVCard4: Prosody with its default modules (vcard4,
// vcard_legacy) keeps a vCard in PEP only; the import makes the
// vcard-temp one that Prosody served from it, avatar included.
func TestImportVCard4(t *testing.T) {
	ctx := context.Background()
	scram, _ := scramXML(t, "quinn-pw", false)
	dir := t.TempDir()
	write(t, dir, "quinn@localhost.xml", `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='quinn'>`+scram+`
<pubsub xmlns='http://jabber.org/protocol/pubsub'>
 <items node='urn:xmpp:vcard4'><item id='current'><vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'>
  <fn><text>Quinn Q.</text></fn><n><surname>Q.</surname><given>Quinn</given></n><nickname><text>qq</text></nickname>
  <email><parameters><type><text>work</text></type></parameters><text>quinn@example.org</text></email>
  <tel><uri>tel:+123</uri></tel><impp><uri>xmpp:quinn@localhost</uri></impp><org><text>Acme</text></org>
 </vcard></item></items>
 <items node='urn:xmpp:avatar:metadata'><item id='abc'><metadata xmlns='urn:xmpp:avatar:metadata'><info id='abc' type='image/png' bytes='3'/></metadata></item></items>
 <items node='urn:xmpp:avatar:data'><item id='abc'><data xmlns='urn:xmpp:avatar:data'>AAEC</data></item></items>
</pubsub></user></host></server-data>`)
	im := newImporter(t)
	s, err := im.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.VCards.Written != 1 {
		t.Errorf("summary: %+v", s)
	}
	v, err := im.Store.GetVCard(ctx, "quinn")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<FN>Quinn Q.</FN>", "<FAMILY>Q.</FAMILY>", "<GIVEN>Quinn</GIVEN>", "<NICKNAME>qq</NICKNAME>",
		"<USERID>quinn@example.org</USERID>", "<WORK/>", "<NUMBER>+123</NUMBER>", "<JABBERID>quinn@localhost</JABBERID>",
		"<ORGNAME>Acme</ORGNAME>", "<TYPE>image/png</TYPE>", "<BINVAL>AAEC</BINVAL>"} {
		if !strings.Contains(string(v), want) {
			t.Errorf("vCard lacks %s: %s", want, v)
		}
	}
	// The PEP nodes come along as they are.
	if its, _ := im.Store.PEPItems(ctx, "quinn", "urn:xmpp:vcard4", 0); len(its) != 1 {
		t.Errorf("vcard4 node: %+v", its)
	}
	if s, _ := im.Import(ctx, dir); s.VCards.Written != 0 || s.VCards.Unchanged != 1 {
		t.Errorf("second import: %+v", s.VCards)
	}
}
