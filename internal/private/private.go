// Package private stores Private XML (XEP-0049): fragments of XML a
// client keeps on its account, one per element name and namespace, such
// as legacy bookmarks (XEP-0048 storage:bookmarks).
package private

import (
	"context"
	"errors"
	"fmt"

	"minimix/internal/iq"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0049 namespace.
const NS = "jabber:iq:private"

// Defaults for New's bounds.
const (
	// DefaultMaxFragment bounds one stored fragment; bookmarks of a few
	// hundred rooms fit.
	DefaultMaxFragment = 64 << 10
	// DefaultMaxPerSet bounds the fragments one set may store.
	DefaultMaxPerSet = 8
)

// Service answers jabber:iq:private requests.
type Service struct {
	st          storage.Private
	maxFragment int
	maxPerSet   int

	// OnChange, when set, is called after a fragment was stored, with the
	// fragment as stored (part of the request, not to be modified). It
	// exists so that legacy bookmarks can be kept in step with their PEP
	// form (XEP-0411); set it before Register.
	OnChange func(ctx context.Context, user, key string, el *xml.Element)

	fragments map[string]Fragment // by Key; set before serving
}

// Fragment serves one kind of fragment in place of the raw store, for
// data that lives elsewhere and that private XML only shows: legacy
// bookmarks (storage:bookmarks) are kept as PEP bookmarks (XEP-0402).
type Fragment interface {
	// GetFragment returns the fragment of user, or nil when there is
	// none.
	GetFragment(ctx context.Context, user string) (*xml.Element, error)
	// SetFragment stores el for user; an error (a *xmpperr.StanzaError
	// reaches the client) stores nothing.
	SetFragment(ctx context.Context, user string, el *xml.Element) error
}

// Handle makes f serve the fragments whose Key is key. Call it before
// serving.
func (s *Service) Handle(key string, f Fragment) {
	if s.fragments == nil {
		s.fragments = make(map[string]Fragment)
	}
	s.fragments[key] = f
}

// New returns a Service storing in st. maxFragment bounds each
// fragment's serialisation in bytes and maxPerSet the fragments one set
// may carry; values that are not positive take the defaults.
func New(st storage.Private, maxFragment, maxPerSet int) *Service {
	if maxFragment <= 0 {
		maxFragment = DefaultMaxFragment
	}
	if maxPerSet <= 0 {
		maxPerSet = DefaultMaxPerSet
	}
	return &Service{st: st, maxFragment: maxFragment, maxPerSet: maxPerSet}
}

// Register answers an account's requests for its own private storage and
// refuses requests to another account's with forbidden (XEP-0049 allows
// forbidden or service-unavailable and prefers forbidden; as the storage
// is never readable by others, saying so reveals nothing). Requests to
// the server are not handled. XEP-0049 defines no disco feature, but
// clients look for jabber:iq:private in the server's disco#info before
// they use it (poezio keeps bookmarks there only if it is listed), and
// Prosody and ejabberd list it, so it is advertised on the server and to
// the account itself.
func (s *Service) Register(m *iq.Mux) {
	m.Feature(iq.Server|iq.Self, NS)
	m.Handle(NS, "query", iq.Self, s.query)
	m.Handle(NS, "query", iq.Account, func(context.Context, iq.Request) (*xml.Element, error) {
		return nil, xmpperr.New(xmpperr.Forbidden, "private storage belongs to its account")
	})
}

// Key returns the storage key of a fragment: its local name and
// namespace separated by a space, which neither can contain.
func Key(el *xml.Element) string { return el.Local + " " + el.Space }

// check rejects a fragment that XEP-0049 does not allow: one without a
// namespace of its own, since the namespace is what identifies it.
func check(el *xml.Element) error {
	switch el.Space {
	case "", NS, xml.NSClient, xml.NSServer:
		return xmpperr.New(xmpperr.NotAcceptable, "a private fragment needs a namespace of its own")
	}
	return nil
}

func (s *Service) query(ctx context.Context, req iq.Request) (*xml.Element, error) {
	user := req.To.Local
	children := req.Payload.Elements()
	if len(children) == 0 {
		// XEP-0049 requires at least one child, else not-acceptable.
		return nil, xmpperr.New(xmpperr.NotAcceptable, "a private storage request needs a child element")
	}
	for _, c := range children {
		if err := check(c); err != nil {
			return nil, err
		}
	}
	if req.Type == "set" {
		return nil, s.set(ctx, user, children)
	}
	if len(children) > 1 {
		return nil, xmpperr.New(xmpperr.BadRequest, "get one fragment at a time")
	}
	return s.get(ctx, user, children[0])
}

func (s *Service) get(ctx context.Context, user string, want *xml.Element) (*xml.Element, error) {
	key := Key(want)
	q := xml.New(NS, "query")
	if f := s.fragments[key]; f != nil {
		el, err := f.GetFragment(ctx, user)
		if err != nil {
			return nil, err
		}
		if el == nil {
			el = xml.New(want.Space, want.Local)
		}
		return q.Append(el), nil
	}
	b, err := s.st.GetPrivate(ctx, user, key)
	if errors.Is(err, storage.ErrNotFound) {
		// Nothing stored: the requested element, empty, as XEP-0049's
		// examples answer.
		return q.Append(xml.New(want.Space, want.Local)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("private: load %q of %q: %w", key, user, err)
	}
	el, err := xml.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("private: stored %q of %q: %w", key, user, err)
	}
	if Key(el) != key {
		return nil, fmt.Errorf("private: stored %q of %q holds %q", key, user, Key(el))
	}
	return q.Append(el), nil
}

// set validates every fragment before storing any, so that a refused set
// changes nothing. Fragments served by a Fragment go first, as they are
// the ones that can still refuse.
func (s *Service) set(ctx context.Context, user string, frags []*xml.Element) error {
	if len(frags) > s.maxPerSet {
		return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("at most %d fragments per request", s.maxPerSet))
	}
	data := make([][]byte, len(frags))
	for i, f := range frags {
		data[i] = f.AppendXML(nil, "")
		if len(data[i]) > s.maxFragment {
			return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("fragment larger than %d bytes", s.maxFragment))
		}
	}
	for _, f := range frags {
		if h := s.fragments[Key(f)]; h != nil {
			if err := h.SetFragment(ctx, user, f); err != nil {
				return err
			}
		}
	}
	for i, f := range frags {
		key := Key(f)
		if s.fragments[key] != nil {
			if s.OnChange != nil {
				s.OnChange(ctx, user, key, f)
			}
			continue
		}
		if err := s.st.SetPrivate(ctx, user, key, data[i]); err != nil {
			return fmt.Errorf("private: store %q of %q: %w", key, user, err)
		}
		if s.OnChange != nil {
			s.OnChange(ctx, user, key, f)
		}
	}
	return nil
}
