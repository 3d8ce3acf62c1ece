// Package rsm reads and writes XEP-0059 Result Set Management <set/>
// elements, the paging parameters of archive queries, disco#items and
// pubsub item retrieval.
//
// Parsing applies the server's page limits in one place, so that every
// feature caps a client's <max/> the same way and answers the same
// bad-request for values XEP-0059 does not allow.
package rsm

import (
	"errors"
	"math"
	"strconv"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the Result Set Management namespace.
const NS = "http://jabber.org/protocol/rsm"

// Query is a parsed request <set/>.
type Query struct {
	// Max is the page size: the client's <max/> capped at the caller's
	// limit, or the caller's default when the client gave none. Zero
	// asks for the count only (XEP-0059 2.7).
	Max int
	// After is the id of <after/>: the page starts after it.
	After string
	// Before is the id of a non-empty <before/>: the page ends before it.
	Before string
	// Backward is set by any <before/>, empty or not: the page is taken
	// from the end of the range. An empty <before/> asks for the last page
	// (XEP-0059 2.5).
	Backward bool
	// Index is the <index/> of a random-access request (XEP-0059 2.6),
	// -1 when absent.
	Index int
}

// Parse reads the request set, which may be nil (no paging asked for).
// def is the page size when the client gives no <max/>; limit caps it.
// Errors are bad-request *xmpperr.StanzaError values, ready to send.
func Parse(set *xml.Element, def, limit int) (Query, error) {
	q := Query{Max: min(def, limit), Index: -1}
	if set == nil {
		return q, nil
	}
	if set.Space != NS || set.Local != "set" {
		return Query{}, xmpperr.New(xmpperr.BadRequest, "not a result set element")
	}
	for _, c := range set.Elements() {
		if c.Space != NS {
			continue
		}
		switch c.Local {
		case "max":
			n, err := nonNegative(c.Text())
			if err != nil {
				return Query{}, xmpperr.New(xmpperr.BadRequest, "<max/> must be a non-negative integer")
			}
			q.Max = min(n, limit)
		case "after":
			q.After = c.Text()
			if q.After == "" {
				// XEP-0059 2.3: <after/> always names an item.
				return Query{}, xmpperr.New(xmpperr.BadRequest, "<after/> must not be empty")
			}
		case "before":
			q.Before = c.Text()
			q.Backward = true
		case "index":
			n, err := nonNegative(c.Text())
			if err != nil {
				return Query{}, xmpperr.New(xmpperr.BadRequest, "<index/> must be a non-negative integer")
			}
			q.Index = n
		}
	}
	return q, nil
}

// nonNegative parses a XEP-0059 integer: decimal digits only, so that
// "+5", " 5" and "-0" are refused along with negatives.
func nonNegative(s string) (int, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	n, err := strconv.Atoi(s)
	if errors.Is(err, strconv.ErrRange) {
		// A valid number, only larger than any limit.
		return math.MaxInt, nil
	}
	return n, err // err for the empty string
}

// Result describes the page being returned.
type Result struct {
	// First and Last are the ids of the first and last items of the page;
	// both are omitted when First is empty (an empty page).
	First string
	Last  string
	// FirstIndex is the position of First in the whole result set,
	// written as the index attribute when not negative.
	FirstIndex int
	// Count is the size of the whole result set, written when not
	// negative.
	Count int
}

// Element renders the response <set/>. An empty page carries only its
// count, as XEP-0059 2.7 shows.
func (r Result) Element() *xml.Element {
	set := xml.New(NS, "set")
	if r.First != "" {
		first := xml.New(NS, "first").AppendText(r.First)
		if r.FirstIndex >= 0 {
			first.SetAttr("index", strconv.Itoa(r.FirstIndex))
		}
		set.Append(first, xml.New(NS, "last").AppendText(r.Last))
	}
	if r.Count >= 0 {
		set.Append(xml.New(NS, "count").AppendText(strconv.Itoa(r.Count)))
	}
	return set
}
