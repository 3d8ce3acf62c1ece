// Package bookmarks keeps an account's group chat bookmarks: PEP Native
// Bookmarks (XEP-0402, node urn:xmpp:bookmarks:1, one item per room) are
// what is stored, and the two legacy forms of XEP-0048 are kept in step
// with them, as the compatibility modes of XEP-0402 section 6 describe:
//
//   - #compat: Private XML (XEP-0049) storage:bookmarks is served from the
//     native bookmarks, and a set is turned into changes of them;
//   - #compat-pep: the PEP node storage:bookmarks (one item, "current",
//     holding the whole list) is rewritten whenever the native bookmarks
//     change, and a publish to it is turned into changes of them.
//
// A change through any of the three is one pep.Service.Update: the
// native items that change are published or retracted (so clients get
// item-level notifications for what changed only), the legacy item is
// rewritten, and nothing is stored if any part is refused. Legacy
// <url/> bookmarks and other non-conference children of a legacy list are
// kept in the legacy item, which is where they came from. Deleting or
// purging the legacy node, or retracting its item, removes only that
// copy (it comes back with the next change): a client cleaning up after
// migrating to XEP-0402 must not lose its bookmarks.
//
// OnBookmarksChanged tells the server (account-based group chat, for
// autojoin) about every committed change, whichever path it came by.
package bookmarks

import (
	"context"
	"fmt"
	"log/slog"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Namespaces, nodes and features.
const (
	// NS is the namespace and node of native bookmarks.
	NS = "urn:xmpp:bookmarks:1"
	// NSLegacy is the namespace of XEP-0048 bookmarks and the node of
	// their PEP form.
	NSLegacy = "storage:bookmarks"
	// FeatureCompat and FeatureCompatPEP are the compatibility modes the
	// account advertises (XEP-0402 section 6).
	FeatureCompat    = NS + "#compat"
	FeatureCompatPEP = NS + "#compat-pep"
	// LegacyItem is the item id of the legacy PEP node (XEP-0048 section
	// 3.3, XEP-0223).
	LegacyItem = "current"
)

// Service keeps the bookmarks of every local account. It is safe for
// concurrent use; set OnBookmarksChanged before serving.
type Service struct {
	domain string
	pep    *pep.Service
	log    *slog.Logger

	// OnBookmarksChanged, when set, is called after every committed
	// change of an account's bookmarks, from any of the three paths, with
	// the bookmarks that are new or different and the rooms whose
	// bookmark is gone. It runs with the account's PEP nodes locked, so
	// that calls for one account come in the order of the changes; it
	// must be quick and must not change the account's bookmarks itself
	// (hand slow work, such as joining rooms, to another goroutine).
	OnBookmarksChanged func(ctx context.Context, account jid.JID, changed []Bookmark, removed []jid.JID)
}

// New returns a Service over p for the accounts of domain and registers
// its watchers of the two bookmark nodes on p.
func New(domain string, p *pep.Service, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{domain: domain, pep: p, log: log}
	p.Watch(NS, s.nativeChanged)
	p.Watch(NSLegacy, s.legacyChanged)
	p.SetDefaultConfig(NS, NativeConfig())
	p.SetDefaultConfig(NSLegacy, LegacyConfig())
	return s
}

// Register advertises both compatibility modes on accounts.
func (s *Service) Register(m *iq.Mux) {
	m.Feature(iq.Self|iq.Account, FeatureCompat, FeatureCompatPEP)
}

// NativeConfig is the configuration XEP-0402 section 4 asks for the
// native node: only the owner sees it, every item is kept, and nothing is
// sent on presence.
func NativeConfig() pep.NodeConfig {
	c := pep.DefaultNodeConfig()
	c.AccessModel = pep.AccessWhitelist
	c.PersistItems = true
	c.MaxItems = pep.MaxItemsMax
	c.SendLastPublishedItem = pep.SendLastNever
	return c
}

// LegacyConfig is the configuration of the legacy node that XEP-0048
// section 3.3 asks for: private and persistent.
func LegacyConfig() pep.NodeConfig {
	c := pep.DefaultNodeConfig()
	c.AccessModel = pep.AccessWhitelist
	c.PersistItems = true
	return c
}

// Bookmarks returns the bookmarks of account, for rejoining autojoin
// rooms at startup. A stored item that does not read as a bookmark is
// logged and skipped.
func (s *Service) Bookmarks(ctx context.Context, account jid.JID) ([]Bookmark, error) {
	items, err := s.pep.Items(ctx, account.Bare(), NS)
	if err != nil {
		return nil, fmt.Errorf("bookmarks of %s: %w", account.Bare(), err)
	}
	return s.parse(account, items), nil
}

func (s *Service) parse(account jid.JID, items []pep.Item) []Bookmark {
	out := make([]Bookmark, 0, len(items))
	for _, it := range items {
		b, err := fromItem(it)
		if err != nil {
			s.log.Warn("bookmarks: stored item is no bookmark", "account", account.Bare().String(), "item", it.ID, "err", err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// nativeChanged is the watcher of the native node: a request published,
// retracted, purged, deleted or reconfigured it. Published items must be
// bookmarks; the legacy copy follows.
func (s *Service) nativeChanged(ctx context.Context, tx *pep.Tx, node string) error {
	for _, it := range tx.Published(NS) {
		if _, err := fromItem(it); err != nil {
			return err
		}
	}
	if err := s.track(tx); err != nil {
		return err
	}
	return s.mirror(tx, nil)
}

// legacyChanged is the watcher of the legacy node. A published list
// becomes the native bookmarks: the rooms it adds or changes are
// published, those it lacks retracted. Other changes of the legacy node
// touch only that copy.
func (s *Service) legacyChanged(ctx context.Context, tx *pep.Tx, node string) error {
	pub := tx.Published(NSLegacy)
	if len(pub) == 0 {
		return nil
	}
	return s.apply(tx, pub[len(pub)-1].Payload)
}

// apply makes the native bookmarks what the legacy list doc says, and
// rewrites the legacy copy from them.
func (s *Service) apply(tx *pep.Tx, doc *xml.Element) error {
	if doc == nil || doc.Space != NSLegacy || doc.Local != "storage" {
		return badItem("legacy bookmarks are a <storage xmlns='" + NSLegacy + "'/>")
	}
	native, err := tx.Items(NS)
	if err != nil {
		return err
	}
	current := make(map[jid.JID]int, len(native)) // room → index in have
	var have []Bookmark
	var ids []string
	for _, it := range native {
		b, err := fromItem(it)
		if err != nil {
			continue // not a bookmark; left alone
		}
		current[b.Room] = len(have)
		have = append(have, b)
		ids = append(ids, it.ID)
	}
	want := make(map[jid.JID]Bookmark)
	var order []jid.JID
	for _, c := range doc.Elements() {
		if c.Space != NSLegacy || c.Local != "conference" {
			continue
		}
		var old *Bookmark
		if room, ok := parseRoom(c.Attr("jid")); ok {
			if i, ok := current[room]; ok {
				old = &have[i]
			}
		}
		b, err := fromLegacy(c, old)
		if err != nil {
			return err
		}
		if _, dup := want[b.Room]; !dup {
			order = append(order, b.Room)
		}
		want[b.Room] = b
	}
	cfg, exists, err := tx.Node(NS)
	if err != nil {
		return err
	}
	if !exists {
		cfg = NativeConfig()
	}
	if max := cfg.EffectiveMax(s.pep.MaxItems()); len(want) > max {
		return pep.Error(xmpperr.PolicyViolationC, "max-items-exceeded",
			fmt.Sprintf("at most %d bookmarks", max))
	}
	if err := s.track(tx); err != nil {
		return err
	}
	owner := tx.Owner()
	for _, room := range order {
		b := want[room]
		id := room.String()
		if i, ok := current[room]; ok {
			if have[i].Equal(b) {
				continue
			}
			id = ids[i]
		}
		create := NativeConfig()
		if err := tx.Publish(NS, pep.Item{ID: id, Publisher: owner.String(), Payload: b.payload()}, &create); err != nil {
			return err
		}
	}
	for i, b := range have {
		if _, keep := want[b.Room]; !keep {
			if err := tx.Retract(NS, ids[i], true); err != nil {
				return err
			}
		}
	}
	return s.mirror(tx, doc)
}

// mirror rewrites the legacy item from the native bookmarks as they are
// in tx, with the other children (such as <url/>) of the legacy list src,
// or of the current legacy item when src is nil. An item that would not
// change is left alone.
func (s *Service) mirror(tx *pep.Tx, src *xml.Element) error {
	native, err := tx.Items(NS)
	if err != nil {
		return err
	}
	legacy, err := tx.Items(NSLegacy)
	if err != nil {
		return err
	}
	id := LegacyItem
	var old string
	if n := len(legacy); n > 0 {
		id = legacy[n-1].ID
		if p := legacy[n-1].Payload; p != nil {
			old = p.String()
			if src == nil {
				src = p
			}
		}
	}
	doc := xml.New(NSLegacy, "storage")
	for _, b := range s.parse(tx.Owner(), native) {
		doc.Append(b.legacy())
	}
	if src != nil {
		for _, c := range src.Elements() {
			if c.Space != NSLegacy || c.Local != "conference" {
				doc.Append(c.Clone())
			}
		}
	}
	if doc.String() == old {
		return nil
	}
	create := LegacyConfig()
	return tx.Publish(NSLegacy, pep.Item{ID: id, Publisher: tx.Owner().String(), Payload: doc}, &create)
}

// track arranges, once per update, for OnBookmarksChanged to hear what
// the update changed in the native bookmarks, from the stored items
// before and after it.
func (s *Service) track(tx *pep.Tx) error {
	if s.OnBookmarksChanged == nil || !tx.Once("bookmarks") {
		return nil
	}
	owner := tx.Owner()
	stored, err := tx.Stored(NS)
	if err != nil {
		return err
	}
	before := s.parse(owner, stored)
	tx.AfterCommit(func(ctx context.Context) {
		after, err := s.Bookmarks(ctx, owner)
		if err != nil {
			s.log.Error("bookmarks: changes not reported", "account", owner.String(), "err", err)
			return
		}
		changed, removed := diff(before, after)
		if len(changed) > 0 || len(removed) > 0 {
			s.OnBookmarksChanged(ctx, owner, changed, removed)
		}
	})
	return nil
}

// diff returns the bookmarks of after that are new or different from
// before, and the rooms of before that after lacks.
func diff(before, after []Bookmark) (changed []Bookmark, removed []jid.JID) {
	old := make(map[jid.JID]Bookmark, len(before))
	for _, b := range before {
		old[b.Room] = b
	}
	now := make(map[jid.JID]bool, len(after))
	for _, b := range after {
		now[b.Room] = true
		if o, ok := old[b.Room]; !ok || !o.Equal(b) {
			changed = append(changed, b)
		}
	}
	for _, b := range before {
		if !now[b.Room] {
			removed = append(removed, b.Room)
		}
	}
	return changed, removed
}

// GetFragment serves Private XML storage:bookmarks (XEP-0049) from the
// bookmarks: the legacy copy when there is one, else a list built from
// the native bookmarks. It implements private.Fragment.
func (s *Service) GetFragment(ctx context.Context, user string) (*xml.Element, error) {
	owner := jid.JID{Local: user, Domain: s.domain}
	legacy, err := s.pep.Items(ctx, owner, NSLegacy)
	if err != nil {
		return nil, err
	}
	if n := len(legacy); n > 0 && legacy[n-1].Payload != nil &&
		legacy[n-1].Payload.Space == NSLegacy && legacy[n-1].Payload.Local == "storage" {
		return legacy[n-1].Payload, nil
	}
	native, err := s.Bookmarks(ctx, owner)
	if err != nil {
		return nil, err
	}
	if len(native) == 0 {
		return nil, nil
	}
	doc := xml.New(NSLegacy, "storage")
	for _, b := range native {
		doc.Append(b.legacy())
	}
	return doc, nil
}

// SetFragment applies a Private XML storage:bookmarks set (XEP-0049) to
// the native bookmarks and the legacy copy in one update, as a publish
// to the legacy node would be, except that a set that changes nothing
// notifies nothing. It implements private.Fragment.
func (s *Service) SetFragment(ctx context.Context, user string, el *xml.Element) error {
	owner := jid.JID{Local: user, Domain: s.domain}
	return s.pep.Update(ctx, owner, func(tx *pep.Tx) error { return s.apply(tx, el.Clone()) })
}
