package xep0227

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"minimix/internal/accounts"
	"minimix/internal/bookmarks"
	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/private"
	"minimix/internal/pubsub"
	"minimix/internal/sasl"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	mxml "minimix/internal/xml"
)

// Importer writes what XEP-0227 files hold into a store. Every write
// first compares with what is stored, so importing a file again changes
// nothing and duplicates nothing.
type Importer struct {
	// Domain is the served domain: users of other hosts are skipped.
	Domain string
	Store  storage.Store
	// PEP and Bookmarks are the services the server runs over Store, so
	// that PEP items are stored as a publish stores them and bookmarks
	// (native, legacy PEP or private XML) end up as the server keeps
	// them: native XEP-0402 items, which account-based group chat joins
	// from at the server's next start, with the legacy copy in step.
	PEP       *pep.Service
	Bookmarks *bookmarks.Service
	// Iters is the PBKDF2 iteration count for plaintext passwords
	// (sasl.DefaultIters when 0).
	Iters int
	// DryRun reads and compares but writes nothing.
	DryRun bool
	Log    *slog.Logger
	// Now stamps offline messages that carry no <delay/>; nil: time.Now.
	Now func() time.Time
}

// Count is how many things of one kind were written (or, in a dry run,
// would be) and how many were stored already as the file has them.
type Count struct{ Written, Unchanged int }

// Summary is what an import did.
type Summary struct {
	DryRun bool
	// Users counts the accounts: Written are new ones or ones whose
	// credentials changed.
	Users        Count
	Roster       Count
	VCards       Count
	Private      Count
	PEPItems     Count
	Bookmarks    Count
	Offline      Count
	Archive      Count
	SkippedHosts map[string]int
	// Skipped says what was not imported and why, one line each.
	Skipped []string
}

var kinds = []struct {
	name string
	c    func(*Summary) *Count
}{
	{"accounts", func(s *Summary) *Count { return &s.Users }},
	{"roster items", func(s *Summary) *Count { return &s.Roster }},
	{"vCards", func(s *Summary) *Count { return &s.VCards }},
	{"private XML fragments", func(s *Summary) *Count { return &s.Private }},
	{"PEP items", func(s *Summary) *Count { return &s.PEPItems }},
	{"bookmarks", func(s *Summary) *Count { return &s.Bookmarks }},
	{"offline messages", func(s *Summary) *Count { return &s.Offline }},
	{"archived messages", func(s *Summary) *Count { return &s.Archive }},
}

// Write prints the summary, one line per kind.
func (s *Summary) Write(w io.Writer) {
	verb := "imported"
	if s.DryRun {
		verb = "to import (dry run, nothing written)"
	}
	for _, k := range kinds {
		c := k.c(s)
		fmt.Fprintf(w, "%-22s %6d %s, %d already there\n", k.name+":", c.Written, verb, c.Unchanged)
	}
	hosts := make([]string, 0, len(s.SkippedHosts))
	for h := range s.SkippedHosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		fmt.Fprintf(w, "skipped: host %s (%d users): not the domain served here\n", h, s.SkippedHosts[h])
	}
	for _, l := range s.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", l)
	}
}

// Import reads path (a file or a directory) and imports every user of
// the served domain.
func (im *Importer) Import(ctx context.Context, path string) (*Summary, error) {
	s := &Summary{DryRun: im.DryRun, SkippedHosts: make(map[string]int)}
	if im.Log == nil {
		im.Log = slog.New(slog.DiscardHandler)
	}
	if im.Now == nil {
		im.Now = time.Now
	}
	err := Read(path, func(u *User) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !strings.EqualFold(u.Host, im.Domain) {
			s.SkippedHosts[u.Host]++
			return nil
		}
		return im.user(ctx, s, u)
	})
	return s, err
}

func (im *Importer) skip(s *Summary, user, format string, args ...any) {
	line := user + ": " + fmt.Sprintf(format, args...)
	s.Skipped = append(s.Skipped, line)
	im.Log.Warn("xep0227: not imported", "what", line)
}

func (im *Importer) user(ctx context.Context, s *Summary, u *User) error {
	local, err := accounts.Prepare(u.Name)
	if err != nil {
		im.skip(s, u.Name, "%v", err)
		return nil
	}
	if u.Err != nil {
		im.skip(s, local, "%v", u.Err)
		return nil
	}
	ok, err := im.account(ctx, s, local, u)
	if err != nil || !ok {
		return err
	}
	owner := jid.JID{Local: local, Domain: im.Domain}
	var pending []*mxml.Element
	var pubOwner, pubItems, archive *mxml.Element
	hasVCard := false
	for _, el := range u.El.Elements() {
		switch {
		case el.Space == NSSCRAM:
		case el.Space == NSRoster && el.Local == "query":
			// after the loop, with the pending requests
		case el.Local == "presence" && el.Attr("type") == "subscribe":
			pending = append(pending, el)
		case el.Space == NSVCard && el.Local == "vCard":
			hasVCard = true
			if err := im.vcard(ctx, s, local, el); err != nil {
				return err
			}
		case el.Space == NSPrivate && el.Local == "query":
			// after PEP: native bookmarks win over the private copy
		case el.Space == NSPubSubOwner && el.Local == "pubsub":
			pubOwner = el
		case el.Space == NSPubSub && el.Local == "pubsub":
			pubItems = el
		case el.Local == "offline-messages":
			if err := im.offline(ctx, s, local, el); err != nil {
				return err
			}
		case el.Space == NSMAM && el.Local == "archive":
			archive = el
		default:
			im.skip(s, local, "<%s xmlns='%s'> is not supported", el.Local, el.Space)
		}
	}
	if err := im.roster(ctx, s, local, u.El.Child(NSRoster, "query"), pending); err != nil {
		return err
	}
	if !hasVCard && pubItems != nil {
		if v := vcardFromPEP(nodeItems(pubItems)); v != nil {
			if err := im.vcard(ctx, s, local, v); err != nil {
				return err
			}
		}
	}
	native, err := im.pep(ctx, s, owner, pubOwner, pubItems)
	if err != nil {
		return err
	}
	if q := u.El.Child(NSPrivate, "query"); q != nil {
		if err := im.private(ctx, s, owner, q, native); err != nil {
			return err
		}
	}
	if archive != nil {
		if err := im.archive(ctx, s, owner, archive); err != nil {
			return err
		}
	}
	return nil
}

// account creates the account or brings its credentials to what the
// file says; false when the user cannot be imported.
func (im *Importer) account(ctx context.Context, s *Summary, local string, u *User) (bool, error) {
	exists, err := im.Store.AccountExists(ctx, local)
	if err != nil {
		return false, err
	}
	var old storage.Credentials
	if exists {
		if old, err = im.Store.GetCredentials(ctx, local); err != nil {
			return false, err
		}
	}
	var creds storage.Credentials
	switch {
	case u.Password != "":
		if exists && sasl.CredentialsMatch(old, u.Password) {
			s.Users.Unchanged++
			return true, nil
		}
		if creds, err = sasl.NewCredentials(u.Password, im.Iters); err != nil {
			im.skip(s, local, "password: %v", err)
			return false, nil
		}
	case len(u.SCRAM) > 0:
		var have bool
		for _, sc := range u.SCRAM {
			c := storage.ScramCredential{Salt: sc.Salt, Iters: sc.Iters, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
			switch {
			case sc.Mechanism == "SCRAM-SHA-1" && len(sc.StoredKey) == 20 && len(sc.ServerKey) == 20:
				creds.SHA1, have = c, true
			case sc.Mechanism == "SCRAM-SHA-256" && len(sc.StoredKey) == 32 && len(sc.ServerKey) == 32:
				creds.SHA256, have = c, true
			default:
				im.skip(s, local, "%s credentials (minimix keeps SCRAM-SHA-1 and SCRAM-SHA-256)", sc.Mechanism)
			}
		}
		if !have {
			im.skip(s, local, "no credentials minimix can use")
			return false, nil
		}
		if exists && sameCreds(old, creds) {
			s.Users.Unchanged++
			return true, nil
		}
	default:
		if exists {
			// Data for an account that is here already, without a
			// password: keep the one it has.
			s.Users.Unchanged++
			return true, nil
		}
		im.skip(s, local, "no password or SCRAM credentials in the file")
		return false, nil
	}
	s.Users.Written++
	if im.DryRun {
		return true, nil
	}
	if exists {
		return true, im.Store.SetCredentials(ctx, local, creds)
	}
	return true, im.Store.CreateAccount(ctx, local, creds)
}

func sameCreds(a, b storage.Credentials) bool {
	eq := func(x, y storage.ScramCredential) bool {
		return x.Iters == y.Iters && bytes.Equal(x.Salt, y.Salt) && bytes.Equal(x.StoredKey, y.StoredKey) && bytes.Equal(x.ServerKey, y.ServerKey)
	}
	return eq(a.SHA1, b.SHA1) && eq(a.SHA256, b.SHA256)
}

func bareJID(s string) (string, bool) {
	j, err := jid.Parse(s)
	if err != nil || j.Domain == "" {
		return "", false
	}
	return j.Bare().String(), true
}

func (im *Importer) roster(ctx context.Context, s *Summary, local string, q *mxml.Element, pending []*mxml.Element) error {
	items := make(map[string]storage.RosterItem)
	var order []string
	if q != nil {
		for _, el := range q.Elements() {
			if el.Local != "item" {
				continue
			}
			contact, ok := bareJID(el.Attr("jid"))
			if !ok {
				im.skip(s, local, "roster item %q is not a JID", el.Attr("jid"))
				continue
			}
			if contact == local+"@"+im.Domain {
				im.skip(s, local, "roster item for the account itself")
				continue
			}
			it := storage.RosterItem{Contact: contact, Name: el.Attr("name"), Subscription: storage.SubNone}
			switch sub := el.Attr("subscription"); sub {
			case "", "none":
			case "to", "from", "both":
				it.Subscription = storage.Subscription(sub)
			case "remove":
				continue
			default:
				im.skip(s, local, "roster item %s: subscription %q", contact, sub)
				continue
			}
			it.PendingOut = el.Attr("ask") == "subscribe"
			for _, g := range el.Elements() {
				if g.Local == "group" && g.Text() != "" && !slices.Contains(it.Groups, g.Text()) {
					it.Groups = append(it.Groups, g.Text())
				}
			}
			if _, dup := items[contact]; !dup {
				order = append(order, contact)
			}
			items[contact] = it
		}
	}
	for _, p := range pending {
		contact, ok := bareJID(p.Attr("from"))
		if !ok {
			continue
		}
		it, found := items[contact]
		if !found {
			it = storage.RosterItem{Contact: contact, Subscription: storage.SubNone, Hidden: true}
			order = append(order, contact)
		}
		if it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth {
			continue
		}
		req := mxml.New(nsClient, "presence", "from", contact, "to", local+"@"+im.Domain, "type", "subscribe")
		for _, c := range p.Elements() {
			if c.Local == "status" {
				req.Append(mxml.New(nsClient, "status").WithText(c.Text()))
			}
		}
		it.PendingIn, it.PendingInStanza = true, stanza.Encode(req)
		items[contact] = it
	}
	for _, contact := range order {
		it := items[contact]
		old, err := im.Store.RosterItem(ctx, local, contact)
		switch {
		case err == nil && sameItem(old, it):
			s.Roster.Unchanged++
			continue
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return err
		}
		s.Roster.Written++
		if !im.DryRun {
			if _, err := im.Store.PutRosterItem(ctx, local, it); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameItem(a, b storage.RosterItem) bool {
	return a.Contact == b.Contact && a.Name == b.Name && a.Subscription == b.Subscription &&
		a.PendingOut == b.PendingOut && a.PendingIn == b.PendingIn && a.Approved == b.Approved &&
		a.Hidden == b.Hidden && slices.Equal(a.Groups, b.Groups)
}

func (im *Importer) vcard(ctx context.Context, s *Summary, local string, el *mxml.Element) error {
	data := el.AppendXML(nil, "")
	old, err := im.Store.GetVCard(ctx, local)
	switch {
	case err == nil && sameXML(old, el):
		s.VCards.Unchanged++
		return nil
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	s.VCards.Written++
	if im.DryRun {
		return nil
	}
	return im.Store.SetVCard(ctx, local, data)
}

// sameXML reports whether stored XML is el, whatever its serialisation.
func sameXML(stored []byte, el *mxml.Element) bool {
	o, err := mxml.Parse(stored)
	return err == nil && o.String() == el.String()
}

var bookmarksKey = private.Key(mxml.New(bookmarks.NSLegacy, "storage"))

func (im *Importer) private(ctx context.Context, s *Summary, owner jid.JID, q *mxml.Element, haveNative bool) error {
	for _, el := range q.Elements() {
		key := private.Key(el)
		if key == bookmarksKey {
			if haveNative {
				im.skip(s, owner.Local, "private XML storage:bookmarks: the account's PEP bookmarks (XEP-0402) were imported instead")
				continue
			}
			if err := im.legacyBookmarks(ctx, s, owner, el); err != nil {
				return err
			}
			continue
		}
		if el.Space == "" || el.Space == NSPrivate {
			im.skip(s, owner.Local, "private XML <%s/> has no namespace of its own", el.Local)
			continue
		}
		old, err := im.Store.GetPrivate(ctx, owner.Local, key)
		switch {
		case err == nil && sameXML(old, el):
			s.Private.Unchanged++
			continue
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return err
		}
		s.Private.Written++
		if !im.DryRun {
			if err := im.Store.SetPrivate(ctx, owner.Local, key, el.AppendXML(nil, "")); err != nil {
				return err
			}
		}
	}
	return nil
}

// legacyBookmarks imports a XEP-0048 <storage xmlns='storage:bookmarks'/>
// (private XML, or the item of the legacy PEP node) as the server's
// bookmarks service takes a set of it.
func (im *Importer) legacyBookmarks(ctx context.Context, s *Summary, owner jid.JID, el *mxml.Element) error {
	current, err := im.Bookmarks.Bookmarks(ctx, owner)
	if err != nil {
		return err
	}
	have := make(map[string]bookmarks.Bookmark)
	for _, b := range current {
		have[b.Room.String()] = b
	}
	changed := 0
	for _, c := range el.Elements() {
		if c.Local != "conference" {
			continue
		}
		room, ok := bareJID(c.Attr("jid"))
		if !ok {
			continue
		}
		auto := c.Attr("autojoin") == "true" || c.Attr("autojoin") == "1"
		b, found := have[room]
		if found && b.Autojoin == auto && b.Name == c.Attr("name") && b.Nick == c.ChildText(bookmarks.NSLegacy, "nick") {
			s.Bookmarks.Unchanged++
			continue
		}
		s.Bookmarks.Written++
		changed++
	}
	if changed == 0 || im.DryRun {
		return nil
	}
	// A legacy list replaces the bookmarks: merge it into what the
	// account has (an earlier import, native bookmarks) first.
	doc, err := im.Bookmarks.GetFragment(ctx, owner.Local)
	if err != nil {
		return err
	}
	if doc == nil {
		doc = mxml.New(bookmarks.NSLegacy, "storage")
	} else {
		doc = doc.Clone()
	}
	for _, c := range el.Elements() {
		room, _ := bareJID(c.Attr("jid"))
		doc.RemoveFunc(func(o *mxml.Element) bool {
			if c.Local == "conference" && o.Local == "conference" {
				r, _ := bareJID(o.Attr("jid"))
				return r == room
			}
			return o.String() == c.String()
		})
		doc.Append(c.Clone())
	}
	if err := im.Bookmarks.SetFragment(ctx, owner.Local, doc); err != nil {
		im.skip(s, owner.Local, "bookmarks: %v", err)
	}
	return nil
}

// pep imports nodes and items. It reports whether the account has native
// bookmarks in the file.
func (im *Importer) pep(ctx context.Context, s *Summary, owner jid.JID, ownerEl, itemsEl *mxml.Element) (bool, error) {
	configs := make(map[string]*mxml.Element)
	var nodes []string
	if ownerEl != nil {
		for _, c := range ownerEl.Elements() {
			name := c.Attr("node")
			if c.Local != "configure" || name == "" {
				continue
			}
			if _, ok := configs[name]; !ok {
				nodes = append(nodes, name)
			}
			configs[name] = c.Child(dataform.NS, "x")
		}
	}
	items := make(map[string][]*mxml.Element)
	if itemsEl != nil {
		for _, c := range itemsEl.Elements() {
			name := c.Attr("node")
			if c.Local != "items" || name == "" {
				continue
			}
			if _, ok := configs[name]; !ok {
				if _, ok := items[name]; !ok {
					nodes = append(nodes, name)
				}
			}
			items[name] = append(items[name], c.Elements()...)
		}
	}
	native := len(items[bookmarks.NS]) > 0
	for _, name := range nodes {
		if name == bookmarks.NSLegacy && native {
			// The legacy node is a copy of the native bookmarks (on
			// Prosody as here), which the bookmarks service rewrites
			// from the native ones.
			continue
		}
		if name == bookmarks.NSLegacy {
			for _, it := range items[name] {
				if st := it.Child(bookmarks.NSLegacy, "storage"); st != nil {
					if err := im.legacyBookmarks(ctx, s, owner, st); err != nil {
						return native, err
					}
				}
			}
			continue
		}
		if err := im.pepNode(ctx, s, owner, name, configs[name], items[name]); err != nil {
			return native, err
		}
	}
	return native, nil
}

func (im *Importer) nodeConfig(name string, form *mxml.Element) pep.NodeConfig {
	switch name {
	case bookmarks.NS:
		// XEP-0402's configuration, whatever the old server had.
		return bookmarks.NativeConfig()
	}
	cfg := pep.DefaultNodeConfig()
	if form == nil {
		return cfg
	}
	f, err := dataform.Parse(form)
	if err != nil {
		return cfg
	}
	opts := &pubsub.Options{
		AccessModels:  []string{pep.AccessOpen, pep.AccessPresence, pep.AccessWhitelist},
		PublishModels: []string{pubsub.PublishPublishers},
		SendLast:      []string{pep.SendLastNever, pep.SendLastOnSub, pep.SendLastOnSubAndPresence},
		MaxItems:      im.PEP.MaxItems(),
	}
	// One field at a time: an option minimix does not offer leaves the
	// default, it does not lose the node.
	for _, fl := range f.Fields {
		if fl.Value() == "" {
			// Prosody writes every option, those it leaves at its
			// default empty: they keep minimix's default.
			continue
		}
		one := dataform.New(dataform.TypeSubmit, pubsub.FormNodeConfig, fl)
		_ = opts.Apply(&cfg, one, true)
	}
	return cfg
}

func (im *Importer) pepNode(ctx context.Context, s *Summary, owner jid.JID, name string, form *mxml.Element, els []*mxml.Element) error {
	cfg := im.nodeConfig(name, form)
	var ids []string
	byID := make(map[string]*mxml.Element)
	for _, it := range els {
		if it.Local != "item" || it.FirstElement() == nil {
			continue
		}
		id := it.Attr("id")
		if id == "" {
			im.skip(s, owner.Local, "an item of PEP node %s without an id", name)
			continue
		}
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = it.FirstElement()
	}
	stored, err := im.Store.PEPItemsByID(ctx, owner.Local, name, ids)
	if err != nil {
		return err
	}
	have := make(map[string][]byte, len(stored))
	for _, it := range stored {
		have[it.ID] = it.Payload
	}
	count := &s.PEPItems
	if name == bookmarks.NS {
		count = &s.Bookmarks
	}
	var publish []string
	for _, id := range ids {
		if old, ok := have[id]; ok && sameXML(old, byID[id]) {
			count.Unchanged++
			continue
		}
		count.Written++
		publish = append(publish, id)
	}
	if im.DryRun {
		return nil
	}
	_, nodeErr := im.Store.PEPNode(ctx, owner.Local, name)
	if len(publish) == 0 && nodeErr == nil {
		return nil
	}
	err = im.PEP.Update(ctx, owner, func(tx *pep.Tx) error {
		if _, exists, err := tx.Node(name); err != nil {
			return err
		} else if !exists {
			if err := tx.Create(name, cfg); err != nil {
				return err
			}
		}
		for _, id := range publish {
			it := pep.Item{ID: id, Publisher: owner.String(), Payload: byID[id].Clone()}
			if err := tx.Publish(name, it, &cfg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// A node or item the server refuses (a bad bookmark, too many
		// nodes) is reported, and the rest goes on.
		count.Written -= len(publish)
		im.skip(s, owner.Local, "PEP node %s: %v", name, err)
	}
	return nil
}

func (im *Importer) offline(ctx context.Context, s *Summary, local string, el *mxml.Element) error {
	stored, err := im.Store.OfflineMessages(ctx, local)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(stored))
	for _, m := range stored {
		if el, err := stanza.Decode(m.Stanza, "message"); err == nil {
			have[offlineKey(el)] = true
		}
	}
	for _, m := range el.Elements() {
		if m.Local != "message" {
			continue
		}
		m = m.Clone()
		stanza.SetSpace(m, m.Space, nsClient)
		key := offlineKey(m)
		if have[key] {
			s.Offline.Unchanged++
			continue
		}
		have[key] = true
		s.Offline.Written++
		if im.DryRun {
			continue
		}
		stamp := im.Now()
		if d := m.Child(NSDelay, "delay"); d != nil {
			if t, err := time.Parse(time.RFC3339Nano, d.Attr("stamp")); err == nil {
				stamp = t
			}
		} else {
			m.Append(mxml.New(NSDelay, "delay", "from", im.Domain, "stamp", stamp.UTC().Format("2006-01-02T15:04:05.000Z")))
		}
		if err := im.Store.StoreOffline(ctx, local, stanza.Encode(m), stamp, math.MaxInt32); err != nil {
			return err
		}
	}
	return nil
}

// offlineKey is a message without its delays, which the exporter and the
// offline store add.
func offlineKey(m *mxml.Element) string {
	c := m.Clone()
	c.RemoveChildren(NSDelay, "delay")
	return c.String()
}

func (im *Importer) archive(ctx context.Context, s *Summary, owner jid.JID, el *mxml.Element) error {
	self := owner.String()
	for _, r := range el.Elements() {
		if r.Local != "result" {
			continue
		}
		id := r.Attr("id")
		fw := r.Child(NSForward, "forwarded")
		var msg *mxml.Element
		var stamp time.Time
		if fw != nil {
			msg = fw.Child(nsClient, "message")
			if d := fw.Child(NSDelay, "delay"); d != nil {
				stamp, _ = time.Parse(time.RFC3339Nano, d.Attr("stamp"))
			}
		}
		if id == "" || msg == nil || stamp.IsZero() {
			im.skip(s, owner.Local, "an archived message without id, message or stamp")
			continue
		}
		from, _ := jid.Parse(msg.Attr("from"))
		to, _ := jid.Parse(msg.Attr("to"))
		with := to.Bare().String()
		if with == self || with == "" {
			with = from.Bare().String()
		}
		rec := storage.ArchiveRecord{Owner: self, ID: id, Stamp: stamp, With: with,
			Groupchat: msg.Attr("type") == "groupchat", Stanza: stanza.Encode(msg)}
		if rec.Groupchat {
			rec.FromNick = from.Resource
			rec.With = from.Bare().String()
		}
		if im.DryRun {
			page, err := im.Store.QueryArchive(ctx, self, storage.ArchiveQuery{IDs: []string{id}, Max: 1, OwnOnly: true})
			if err != nil {
				return err
			}
			if len(page.Records) > 0 {
				s.Archive.Unchanged++
			} else {
				s.Archive.Written++
			}
			continue
		}
		switch err := im.Store.AppendArchive(ctx, rec); {
		case err == nil:
			s.Archive.Written++
		case errors.Is(err, storage.ErrExists):
			s.Archive.Unchanged++
		default:
			return err
		}
	}
	return nil
}

// nodeItems returns the <item/> elements of each node of a
// <pubsub xmlns='http://jabber.org/protocol/pubsub'/>.
func nodeItems(pubsubEl *mxml.Element) map[string][]*mxml.Element {
	out := make(map[string][]*mxml.Element)
	for _, c := range pubsubEl.Elements() {
		if c.Local == "items" && c.Attr("node") != "" {
			out[c.Attr("node")] = append(out[c.Attr("node")], c.Elements()...)
		}
	}
	return out
}
