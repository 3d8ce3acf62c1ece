package mam

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/rsm"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// QueryOptions adapt ServeQuery to the archive being queried.
type QueryOptions struct {
	// DefaultIncludeGroupchat is what a query without the
	// include-groupchat field gets. XEP-0313 leaves it to the
	// implementation; personal archives exclude groupchat by default so
	// that clients unaware of the field see one-to-one history only,
	// while a room archive, which holds nothing else, includes it.
	DefaultIncludeGroupchat bool
	// MaxPage caps the page size; zero means the archive's (SetPageSizes,
	// else MaxPageSize). The default page size is the archive's, or
	// MaxPage if smaller.
	MaxPage int
	// OwnOnly queries the owner's own records only (storage.ArchiveQuery):
	// a room's archive.
	OwnOnly bool
}

// Form field vars of urn:xmpp:mam:2 queries.
const (
	fieldWith             = "with"
	fieldStart            = "start"
	fieldEnd              = "end"
	fieldAfterID          = "after-id"
	fieldBeforeID         = "before-id"
	fieldIDs              = "ids"
	fieldIncludeGroupchat = "include-groupchat"
)

// query is a parsed <query/> set.
type query struct {
	queryID  string
	with     jid.JID
	start    time.Time
	end      time.Time
	afterID  string // from the form
	beforeID string // from the form
	ids      []string
	// groupchat is the include-groupchat field, nil when absent.
	groupchat *bool
	set       rsm.Query
	flip      bool
}

// ServeQuery answers a urn:xmpp:mam:2 <query/> request on owner's
// archive: the supported form for a get (XEP-0313 4.1.1), and for a set
// the matching page of results, each pushed through send as a
// <message><result/></message> from owner's bare JID to req.From, before
// ServeQuery returns the <fin/> payload of the iq result. Errors are
// *xmpperr.StanzaError values except for storage failures.
//
// ServeQuery does not check that req.From may read the archive; the
// caller does (the account itself, or a room's occupants).
func (a *Archive) ServeQuery(ctx context.Context, owner jid.JID, req iq.Request, send func(*xml.Element), opts QueryOptions) (*xml.Element, error) {
	if req.Type == "get" {
		return xml.New(NS, "query").Append(queryForm().Element()), nil
	}
	defPage, maxPage := DefaultPageSize, MaxPageSize
	if a.maxPage > 0 {
		defPage, maxPage = a.defaultPage, a.maxPage
	}
	if opts.MaxPage > 0 {
		maxPage = opts.MaxPage
	}
	q, err := parseQuery(req.Payload, min(defPage, maxPage), maxPage)
	if err != nil {
		return nil, err
	}
	owner = owner.Bare()
	page, err := a.fetch(ctx, owner.String(), q, opts)
	if err != nil {
		return nil, err
	}

	from, to := owner.String(), req.From.String()
	recs := page.Records
	if q.flip {
		// XEP-0313 4.3: a flipped page is the same page sent newest
		// first; only the order of the result messages changes.
		recs = slices.Clone(recs)
		slices.Reverse(recs)
	}
	for i := range recs {
		fwd, err := forwarded(owner, &recs[i])
		if err != nil {
			// One unreadable record must not hide the rest of the page;
			// it still counts in first, last and count.
			a.log.Error("mam: unreadable archived stanza", "owner", from, "id", recs[i].ID, "err", err)
			continue
		}
		res := xml.New(NS, "result", "id", recs[i].ID)
		res.SetAttr("queryid", q.queryID)
		m := xml.New(nsClient, stanza.Message, "from", from, "to", to, "id", strconv.FormatUint(rand.Uint64(), 36))
		send(m.Append(res.Append(fwd)))
	}

	fin := xml.New(NS, "fin", "complete", strconv.FormatBool(page.Complete))
	fin.SetAttr("queryid", q.queryID)
	set := rsm.Result{FirstIndex: page.FirstIndex, Count: page.Count}
	if n := len(page.Records); n > 0 {
		set.First, set.Last = page.Records[0].ID, page.Records[n-1].ID
	}
	return fin.Append(set.Element()), nil
}

// forwarded returns the XEP-0297 wrapping of an archived message.
func forwarded(owner jid.JID, rec *storage.ArchiveRecord) (*xml.Element, error) {
	m, err := Stanza(owner, rec)
	if err != nil {
		return nil, err
	}
	return xml.New(stanza.NSForward, "forwarded").Append(stanza.Delay("", stamp(rec.Stamp)), m), nil
}

// stamp formats t as a XEP-0082 DateTime in UTC, with the microseconds
// the archive keeps, so that a stamp a client received selects the same
// message again as start or end.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

// queryForm is the form of XEP-0313 4.1.1: every field a query may use.
func queryForm() *dataform.Form {
	return dataform.New(dataform.TypeForm, NS,
		dataform.Field{Var: fieldWith, Type: dataform.JIDSingle},
		dataform.Field{Var: fieldStart, Type: dataform.TextSingle},
		dataform.Field{Var: fieldEnd, Type: dataform.TextSingle},
		dataform.Field{Var: fieldBeforeID, Type: dataform.TextSingle},
		dataform.Field{Var: fieldAfterID, Type: dataform.TextSingle},
		dataform.Field{Var: fieldIDs, Type: dataform.ListMulti, Extra: []*xml.Element{
			// The list is open: ids are the client's, not options offered.
			xml.New(dataform.NSValidate, "validate", "datatype", "xs:string").Append(xml.New(dataform.NSValidate, "open")),
		}},
		dataform.Field{Var: fieldIncludeGroupchat, Type: dataform.Boolean},
	)
}

func badRequest(format string, args ...any) error {
	return xmpperr.New(xmpperr.BadRequest, fmt.Sprintf(format, args...))
}

// parseQuery reads a query set. Malformed forms and values are
// bad-request; fields this server does not know are
// feature-not-implemented, as XEP-0313 4.1.1 requires.
func parseQuery(p *xml.Element, defPage, maxPage int) (query, error) {
	q := query{queryID: p.Attr("queryid")}
	if x := p.Child(dataform.NS, "x"); x != nil {
		f, err := dataform.Parse(x)
		if err != nil {
			return query{}, badRequest("%v", err)
		}
		if f.Type != dataform.TypeSubmit {
			return query{}, badRequest("query form must be of type submit, not %q", f.Type)
		}
		// XEP-0313 requires FORM_TYPE, but a form without one can only
		// mean this protocol, so it is accepted rather than refused.
		if ft := f.FormType(); ft != "" && ft != NS {
			return query{}, badRequest("query form FORM_TYPE must be %s", NS)
		}
		for i := range f.Fields {
			if err := q.setField(&f.Fields[i], maxPage); err != nil {
				return query{}, err
			}
		}
	}
	var err error
	if q.set, err = rsm.Parse(p.Child(rsm.NS, "set"), defPage, maxPage); err != nil {
		return query{}, err
	}
	if q.set.Index >= 0 {
		return query{}, xmpperr.New(xmpperr.FeatureNotImplemented, "paging by index is not supported; use after or before")
	}
	q.flip = p.Child(NS, "flip-page") != nil
	return q, nil
}

// setField applies one form field. Empty values count as absent, which
// is how clients that always send every field mean them.
func (q *query) setField(fl *dataform.Field, maxIDs int) error {
	single := func() (string, error) {
		if len(fl.Values) > 1 {
			return "", badRequest("field %q takes one value", fl.Var)
		}
		return fl.Value(), nil
	}
	switch fl.Var {
	case dataform.FormTypeVar:
		return nil
	case fieldWith:
		v, err := single()
		if err != nil || v == "" {
			return err
		}
		if q.with, err = jid.Parse(v); err != nil {
			return xmpperr.New(xmpperr.JIDMalformed, "with is not a JID")
		}
	case fieldStart, fieldEnd:
		v, err := single()
		if err != nil || v == "" {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return badRequest("field %q is not a XEP-0082 DateTime", fl.Var)
		}
		if fl.Var == fieldStart {
			q.start = t
		} else {
			q.end = t
		}
	case fieldAfterID, fieldBeforeID:
		v, err := single()
		if err != nil {
			return err
		}
		if fl.Var == fieldAfterID {
			q.afterID = v
		} else {
			q.beforeID = v
		}
	case fieldIDs:
		for _, v := range fl.Values {
			if v != "" && !slices.Contains(q.ids, v) {
				q.ids = append(q.ids, v)
			}
		}
		if len(q.ids) > maxIDs {
			return xmpperr.New(xmpperr.PolicyViolationC, fmt.Sprintf("at most %d ids per query", maxIDs))
		}
	case fieldIncludeGroupchat:
		v, err := single()
		if err != nil {
			return err
		}
		b, err := dataform.ParseBool(v)
		if err != nil {
			return badRequest("include-groupchat is not a boolean")
		}
		if v != "" {
			q.groupchat = &b
		}
	default:
		return xmpperr.New(xmpperr.FeatureNotImplemented, fmt.Sprintf("unknown query field %q", fl.Var))
	}
	return nil
}

// fetch runs q against owner's archive.
//
// The form's after-id and before-id bound the range; RSM's after and
// before page within it. When both give a bound on the same side, the
// RSM cursor wins: a client paging through a range sends the range's
// ids unchanged and moves the cursor. The form's id must still exist.
// RSM <before/> pages from the end of the range; before-id alone does
// not (XEP-0313 section 9), which the storage query cannot express
// directly (it pages from the end whenever BeforeID is set), so fetch
// reads the range from its end first and, if it does not fit one page,
// again from its start.
func (a *Archive) fetch(ctx context.Context, owner string, q query, opts QueryOptions) (storage.ArchivePage, error) {
	sq := storage.ArchiveQuery{
		Start:    q.start,
		End:      q.end,
		IDs:      q.ids,
		AfterID:  q.afterID,
		BeforeID: q.beforeID,
		Before:   q.set.Backward,
		Max:      q.set.Max,
		OwnOnly:  opts.OwnOnly,
	}
	if !q.with.IsZero() {
		sq.With = q.with.String()
	}
	switch {
	case q.groupchat != nil && !*q.groupchat:
		sq.Groupchat = q.groupchat
	case q.groupchat == nil && len(q.ids) == 0 && !opts.DefaultIncludeGroupchat:
		// Ids name their records: asking for one is asking for it
		// whatever its type, so the default applies only without them.
		sq.Groupchat = new(bool)
	}
	// Ids that might not reach the storage query, or reach it only as a
	// filter, are checked for existence here: XEP-0313 answers any
	// unknown id with item-not-found.
	check := slices.Clone(q.ids)
	if q.set.After != "" {
		if q.afterID != "" && q.afterID != q.set.After {
			check = append(check, q.afterID)
		}
		sq.AfterID = q.set.After
	}
	if q.set.Before != "" {
		if q.beforeID != "" && q.beforeID != q.set.Before {
			check = append(check, q.beforeID)
		}
		sq.BeforeID = q.set.Before
	}
	if err := a.checkIDs(ctx, owner, check); err != nil {
		return storage.ArchivePage{}, err
	}

	page, err := a.queryStore(ctx, owner, sq)
	if err != nil || sq.Before || sq.BeforeID == "" || page.Complete {
		// Backward paging, no upper bound, or the whole range in one page
		// (the same page whichever end it is read from).
		return page, err
	}
	sq.BeforeID = ""
	page, err = a.queryStore(ctx, owner, sq)
	// The range holds more than a page, so the first page of what
	// follows AfterID lies within it, and more follows.
	page.Complete = false
	return page, err
}

func (a *Archive) queryStore(ctx context.Context, owner string, sq storage.ArchiveQuery) (storage.ArchivePage, error) {
	page, err := a.store.QueryArchive(ctx, owner, sq)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.ArchivePage{}, xmpperr.New(xmpperr.ItemNotFound, "no such archive id")
	}
	if err != nil {
		return storage.ArchivePage{}, fmt.Errorf("mam: query archive of %s: %w", owner, err)
	}
	return page, nil
}

// checkIDs returns item-not-found unless every id is in owner's archive.
func (a *Archive) checkIDs(ctx context.Context, owner string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	page, err := a.queryStore(ctx, owner, storage.ArchiveQuery{IDs: ids, Max: 0})
	if err != nil {
		return err
	}
	if page.Count != len(ids) {
		return xmpperr.New(xmpperr.ItemNotFound, "no such archive id")
	}
	return nil
}
