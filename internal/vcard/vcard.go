// Package vcard stores and serves vcard-temp (XEP-0054) vCards: an
// account reads and replaces its own, anyone may read another account's.
package vcard

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"minimix/internal/iq"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the vcard-temp namespace.
const NS = "vcard-temp"

// DefaultMaxSize bounds a stored vCard when New is given no bound. vCards
// carry their avatar inline (PHOTO/BINVAL, base64), so the bound must
// leave room for a small image; the stream's stanza limit applies too.
const DefaultMaxSize = 256 << 10

// Store is what the service keeps vCards in; storage.Store provides it.
type Store interface {
	storage.VCards
	AccountExists(ctx context.Context, username string) (bool, error)
}

// Service answers vcard-temp requests.
type Service struct {
	st  Store
	max int
	// mu orders the changes of vCards: a client's set and Update (the
	// avatar conversion of XEP-0398) read and write whole vCards. Both
	// are rare; one lock for all accounts is enough.
	mu sync.Mutex

	// AfterSet, when set, is called after an account stored a new vCard
	// of its own, with it (package avatar publishes its photo with PEP).
	// It is set before serving.
	AfterSet func(ctx context.Context, user string, v *xml.Element)
}

// New returns a Service storing in st and refusing vCards whose
// serialisation exceeds maxSize bytes (DefaultMaxSize when not positive).
func New(st Store, maxSize int) *Service {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	return &Service{st: st, max: maxSize}
}

// Register answers vCard requests from an account to itself (get and
// set), from anyone to an account (get; set is forbidden) and to the
// server (get returns an empty vCard, as the server has none; set is
// forbidden), and advertises vcard-temp on the server and to the account
// itself, where XEP-0054 section 4 says clients look for it.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "vCard", iq.Self, s.self)
	m.Handle(NS, "vCard", iq.Account, s.account)
	m.Handle(NS, "vCard", iq.Server, s.server)
	m.Feature(iq.Self|iq.Server, NS)
}

func empty() *xml.Element { return xml.New(NS, "vCard") }

func (s *Service) self(ctx context.Context, req iq.Request) (*xml.Element, error) {
	user := req.To.Local
	if req.Type == "set" {
		return nil, s.set(ctx, user, req.Payload)
	}
	v, err := s.load(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		// XEP-0054 section 3.1 allows an error or an empty vCard;
		// clients handle the empty vCard best.
		return empty(), nil
	}
	return v, err
}

func (s *Service) set(ctx context.Context, user string, v *xml.Element) error {
	b := v.AppendXML(nil, "")
	if len(b) > s.max {
		return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("vCard larger than %d bytes", s.max))
	}
	s.mu.Lock()
	err := s.st.SetVCard(ctx, user, b)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("vcard: store for %q: %w", user, err)
	}
	if s.AfterSet != nil {
		s.AfterSet(ctx, user, v)
	}
	return nil
}

// Get returns user's stored vCard, or an empty one when it has none.
func (s *Service) Get(ctx context.Context, user string) (*xml.Element, error) {
	v, err := s.load(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return empty(), nil
	}
	return v, err
}

// Update replaces user's vCard (an empty one when it has none) with what
// edit returns; edit returning nil changes nothing. A vCard grown past
// the size bound is refused. AfterSet is not called: Update is the
// server's own change.
func (s *Service) Update(ctx context.Context, user string, edit func(v *xml.Element) *xml.Element) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.Get(ctx, user)
	if err != nil {
		return err
	}
	nv := edit(v)
	if nv == nil {
		return nil
	}
	b := nv.AppendXML(nil, "")
	if len(b) > s.max {
		return fmt.Errorf("vcard: update of %q: vCard larger than %d bytes", user, s.max)
	}
	if err := s.st.SetVCard(ctx, user, b); err != nil {
		return fmt.Errorf("vcard: store for %q: %w", user, err)
	}
	return nil
}

// account answers another entity. A missing account and an account
// without a vCard get the same service-unavailable, as XEP-0054 section
// 3.3 requires (one condition for both, against directory harvesting);
// item-not-found would do as well, but service-unavailable is also what
// every other iq to a missing account gets.
func (s *Service) account(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type == "set" {
		return nil, xmpperr.New(xmpperr.Forbidden, "a vCard can only be set by its owner")
	}
	user := req.To.Local
	ok, err := s.st.AccountExists(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("vcard: account %q: %w", user, err)
	}
	if !ok {
		return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	v, err := s.load(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	return v, err
}

func (s *Service) server(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type == "set" {
		return nil, xmpperr.New(xmpperr.Forbidden, "the server's vCard cannot be set")
	}
	return empty(), nil
}

// load returns the stored vCard of user, or an error wrapping
// storage.ErrNotFound.
func (s *Service) load(ctx context.Context, user string) (*xml.Element, error) {
	b, err := s.st.GetVCard(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("vcard: load for %q: %w", user, err)
	}
	v, err := xml.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("vcard: stored vCard of %q: %w", user, err)
	}
	if v.Space != NS || v.Local != "vCard" {
		return nil, fmt.Errorf("vcard: stored vCard of %q is <%s xmlns=%q>", user, v.Local, v.Space)
	}
	return v, nil
}
