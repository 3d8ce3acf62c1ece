// Package mam is XEP-0313 Message Archive Management (urn:xmpp:mam:2):
// writing messages into archives and answering queries over them, with
// XEP-0059 paging and the XEP-0441 preferences that decide what a
// personal archive keeps.
//
// One Archive serves every kind of archive the server has, because
// storage.Archive keys records by an owner JID: an account's personal
// archive (fed by the router through the router.Archiver interface), the
// room messages an account receives through account-based group chat
// (Groupchat, stored once per room and shared by reference), and a MUC
// room's own archive (Append to write,
// ServeQuery and ServeMetadata to answer, called by the MUC service after
// it has checked the querier's access).
//
// Query results are pushed as separate messages to the one session that
// asked, before the iq result that ends the query; the functions that send
// them are given by the caller so that this package needs no router.
package mam

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Namespaces and disco#info features of XEP-0313.
const (
	NS = "urn:xmpp:mam:2"
	// NSExtended advertises before-id, after-id, ids, flipped pages and
	// archive metadata.
	NSExtended = "urn:xmpp:mam:2#extended"
	// NSGroupchatField advertises that the include-groupchat query field
	// is understood.
	NSGroupchatField = "urn:xmpp:mam:2#groupchat-field"
	// NSGroupchatAvailable advertises that personal archives hold
	// groupchat messages. This package does not advertise it: the feature
	// that stores them (account-based group chat) does, when enabled.
	NSGroupchatAvailable = "urn:xmpp:mam:2#groupchat-available"
)

// Page sizes of queries unless SetPageSizes changes them (mam.*).
const (
	DefaultPageSize = 50
	MaxPageSize     = 250
)

// InRosterFunc reports whether with (a bare JID) is in owner's roster,
// for the "roster" archiving preference.
type InRosterFunc func(ctx context.Context, owner, with jid.JID) bool

// SendFunc delivers el to exactly the session to, and no other: it
// carries query results, which belong to the session that asked. It must
// queue el ahead of the iq result that the caller routes afterwards.
type SendFunc func(ctx context.Context, to jid.JID, el *xml.Element)

// Archive writes and queries message archives. It is safe for concurrent
// use.
type Archive struct {
	store    storage.Archive
	inRoster InRosterFunc
	log      *slog.Logger
	now      func() time.Time
	ids      idGen
	// rooms is what is kept in memory of room messages archived by
	// reference (groupchat.go).
	rooms roomLog
	// prefs caches owners' preferences: they are read for every archived
	// message and change only through servePrefs, which updates the
	// cache. The cache is bounded; past maxCachedPrefs it starts over.
	prefsMu sync.Mutex
	prefs   map[string]storage.ArchivePrefs
	// defaultPage and maxPage are the page sizes of queries; zero means
	// DefaultPageSize and MaxPageSize.
	defaultPage, maxPage int
}

// SetPageSizes sets the page size of a query that asks for none and the
// most a query may ask for (both > 0, def <= max). It must be called
// before the archive is used.
func (a *Archive) SetPageSizes(def, max int) {
	if def > 0 && max > 0 && def <= max {
		a.defaultPage, a.maxPage = def, max
	}
}

// maxCachedPrefs bounds the preferences kept in memory.
const maxCachedPrefs = 100000

// getPrefs returns owner's preferences, from the cache when it can.
func (a *Archive) getPrefs(ctx context.Context, owner string) (storage.ArchivePrefs, error) {
	a.prefsMu.Lock()
	p, ok := a.prefs[owner]
	a.prefsMu.Unlock()
	if ok {
		return p, nil
	}
	p, err := a.store.GetArchivePrefs(ctx, owner)
	if err != nil {
		return p, err
	}
	a.cachePrefs(owner, p)
	return p, nil
}

func (a *Archive) cachePrefs(owner string, p storage.ArchivePrefs) {
	a.prefsMu.Lock()
	defer a.prefsMu.Unlock()
	if a.prefs == nil || len(a.prefs) >= maxCachedPrefs {
		a.prefs = make(map[string]storage.ArchivePrefs)
	}
	a.prefs[owner] = p
}

var _ router.Archiver = (*Archive)(nil)

// New returns an Archive over store. inRoster may be nil, in which case
// the "roster" preference archives everything, as "always" does: without
// a roster there is no better approximation of the user's contacts.
func New(store storage.Archive, inRoster InRosterFunc, log *slog.Logger) *Archive {
	if log == nil {
		log = slog.Default()
	}
	return &Archive{store: store, inRoster: inRoster, log: log, now: time.Now}
}

// Register installs the personal archive's iq handlers and features on m.
// Queries and metadata are answered on the account's bare JID to the
// account itself (iq.Self); other entities asking an account (iq.Account)
// get forbidden, as XEP-0313 section 8.1 asks, while disco#info still
// shows them that the account has an archive. send delivers results.
func (a *Archive) Register(m *iq.Mux, send SendFunc) {
	own := func(h iq.Handler) iq.Handler {
		return func(ctx context.Context, req iq.Request) (*xml.Element, error) {
			if !req.Self() {
				return nil, xmpperr.New(xmpperr.Forbidden, "")
			}
			return h(ctx, req)
		}
	}
	m.Handle(NS, "query", iq.Self|iq.Account, own(func(ctx context.Context, req iq.Request) (*xml.Element, error) {
		to := req.From
		return a.ServeQuery(ctx, req.To, req, func(el *xml.Element) { send(ctx, to, el) }, QueryOptions{})
	}))
	m.Handle(NS, "metadata", iq.Self|iq.Account, own(func(ctx context.Context, req iq.Request) (*xml.Element, error) {
		if req.Type != "get" {
			return nil, xmpperr.New(xmpperr.BadRequest, "metadata is only read")
		}
		return a.ServeMetadata(ctx, req.To)
	}))
	m.Handle(NS, "prefs", iq.Self, a.servePrefs)
	m.Feature(iq.Self|iq.Account, NS, NSExtended, NSGroupchatField, stanza.NSStanzaID, NSRetract, NSRetractTombstone)
}
