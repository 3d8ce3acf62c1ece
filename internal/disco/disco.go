// Package disco answers service discovery (XEP-0030) for the server and
// for local accounts, with extended information forms (XEP-0128).
//
// Features are not listed here: every package advertises its own with
// iq.Mux.Feature, and disco reads them from the mux when a request comes,
// so a feature registered after disco is still advertised.
//
// Accounts are answered for by the server (RFC 6121 section 8.5 puts
// iqs to a bare JID in the server's hands). Another user asking about an
// account gets an answer only when the account exists; for an unknown
// one the reply is service-unavailable, the same as any iq to a missing
// account (section 8.5.1). This reveals whether an account exists, but
// so do presence subscriptions, so hiding it here would buy nothing.
package disco

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NSData is the data forms namespace (XEP-0004) of extension forms.
const NSData = "jabber:x:data"

// ServerName is the name of the server's identity.
const ServerName = "minimix"

// Accounts tells whether a local account exists.
type Accounts interface {
	AccountExists(ctx context.Context, username string) (bool, error)
}

// Service answers disco#info and disco#items. It is safe for concurrent
// use; items and forms may change while it serves.
type Service struct {
	accounts Accounts
	mux      *iq.Mux

	mu    sync.RWMutex
	forms []*xml.Element // XEP-0128 forms of the server, one per FORM_TYPE
	items []item         // server items, in the order added

	serverIDs    []identity // shown by the server besides server/im
	accountIDs   []identity // shown by every account besides account/registered
	accountNodes AccountNodes
	serverNodes  []NodeHandler
}

// NodeHandler answers service discovery about nodes of the server that a
// feature owns, such as the ad-hoc command list (XEP-0050). Each returns
// the whole <query/> answer, or nil, nil when node is not the handler's.
type NodeHandler interface {
	NodeInfo(ctx context.Context, req iq.Request, node string) (*xml.Element, error)
	NodeItems(ctx context.Context, req iq.Request, node string) (*xml.Element, error)
}

type item struct{ jid, name string }

type identity struct{ category, typ, name string }

// AccountNodes lists the nodes of an account that requester may see:
// the account's PEP nodes (XEP-0060 section 5.2).
type AccountNodes func(ctx context.Context, account, requester jid.JID) ([]string, error)

// AddAccountIdentity adds an identity every account shows in its
// disco#info besides account/registered, such as pubsub/pep (XEP-0163
// section 1). Call it before serving.
func (s *Service) AddAccountIdentity(category, typ, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountIDs = append(s.accountIDs, identity{category, typ, name})
}

// AddServerIdentity adds an identity the server shows in its disco#info
// besides server/im, such as pubsub/pep: clients look for the PEP
// service on the server as well as on their account. Call it before
// serving.
func (s *Service) AddServerIdentity(category, typ, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serverIDs = append(s.serverIDs, identity{category, typ, name})
}

// SetAccountNodes makes f list an account's nodes in its disco#items and
// answer disco#info about each of them as a pubsub leaf. Call it before
// serving.
func (s *Service) SetAccountNodes(f AccountNodes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountNodes = f
}

// AddServerNodes makes h answer disco#info and disco#items about the
// server's nodes it knows. Call it before serving.
func (s *Service) AddServerNodes(h NodeHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serverNodes = append(s.serverNodes, h)
}

// serverNode asks the NodeHandlers about a request to the server that
// names a node; nil, nil when it names none or no handler knows it.
func (s *Service) serverNode(ctx context.Context, req iq.Request, items bool) (*xml.Element, error) {
	node := req.Payload.Attr("node")
	if node == "" || req.Type != "get" {
		return nil, nil
	}
	s.mu.RLock()
	hs := s.serverNodes
	s.mu.RUnlock()
	for _, h := range hs {
		var q *xml.Element
		var err error
		if items {
			q, err = h.NodeItems(ctx, req, node)
		} else {
			q, err = h.NodeInfo(ctx, req, node)
		}
		if q != nil || err != nil {
			return q, err
		}
	}
	return nil, nil
}

// New returns a Service that checks accounts with accounts.
func New(accounts Accounts) *Service {
	return &Service{accounts: accounts}
}

// Register installs the disco#info and disco#items handlers on m for the
// server, for an account's own requests and for other entities' requests
// to an account, and advertises both namespaces on all three. Features
// are read from m at request time.
func (s *Service) Register(m *iq.Mux) {
	s.mux = m
	all := iq.Server | iq.Self | iq.Account
	m.Handle(stanza.NSDiscoInfo, "query", iq.Server, s.serverInfo)
	m.Handle(stanza.NSDiscoInfo, "query", iq.Self, s.selfInfo)
	m.Handle(stanza.NSDiscoInfo, "query", iq.Account, s.accountInfo)
	m.Handle(stanza.NSDiscoItem, "query", iq.Server, s.serverItems)
	m.Handle(stanza.NSDiscoItem, "query", iq.Self, s.selfItems)
	m.Handle(stanza.NSDiscoItem, "query", iq.Account, s.accountItems)
	m.Feature(all, stanza.NSDiscoInfo, stanza.NSDiscoItem)
}

// AddServerForm adds an extended information form (XEP-0128) to the
// server's disco#info, such as the contact addresses of XEP-0157. The
// form must be a jabber:x:data form of type result with a FORM_TYPE
// field; a form with the FORM_TYPE of an earlier one replaces it, because
// XEP-0128 (and XEP-0115 hashing) allow one form per FORM_TYPE. The form
// is copied.
func (s *Service) AddServerForm(form *xml.Element) error {
	ft, err := formType(form)
	if err != nil {
		return fmt.Errorf("disco: server form: %w", err)
	}
	c := form.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.forms {
		if t, _ := formType(f); t == ft {
			s.forms[i] = c
			return nil
		}
	}
	s.forms = append(s.forms, c)
	return nil
}

// formType validates form and returns its FORM_TYPE.
func formType(form *xml.Element) (string, error) {
	if form == nil || form.Space != NSData || form.Local != "x" {
		return "", errors.New("not a jabber:x:data form")
	}
	if form.Attr("type") != "result" {
		return "", fmt.Errorf("form type %q, want result", form.Attr("type"))
	}
	for _, f := range form.Elements() {
		if f.Local == "field" && f.Space == NSData && f.Attr("var") == "FORM_TYPE" {
			if v := f.ChildText(NSData, "value"); v != "" {
				return v, nil
			}
		}
	}
	return "", errors.New("no FORM_TYPE field")
}

// AddServerItem lists j, with an optional human-readable name, among the
// server's disco#items; it is how components such as the MUC service are
// found. Adding a JID again replaces its name.
func (s *Service) AddServerItem(j, name string) error {
	p, err := jid.Parse(j)
	if err != nil {
		return fmt.Errorf("disco: server item: %w", err)
	}
	j = p.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.items {
		if s.items[i].jid == j {
			s.items[i].name = name
			return nil
		}
	}
	s.items = append(s.items, item{j, name})
	return nil
}

// RemoveServerItem removes j from the server's disco#items, for a
// component that goes away.
func (s *Service) RemoveServerItem(j string) {
	if p, err := jid.Parse(j); err == nil {
		j = p.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = slices.DeleteFunc(s.items, func(it item) bool { return it.jid == j })
}

// check rejects what every disco request must not carry: a type other
// than get (XEP-0030 defines no set), and a node other than an account's
// PEP nodes and the server's NodeHandlers', which are answered before
// (XEP-0030 section 3.1 says item-not-found).
func check(req iq.Request) error {
	if req.Type != "get" {
		return xmpperr.New(xmpperr.BadRequest, "service discovery is get only")
	}
	if req.Payload.HasAttr("node") {
		return xmpperr.New(xmpperr.ItemNotFound, "no such node")
	}
	return nil
}

// checkAccount is check for another entity's request to an account. The
// account must exist before anything else is looked at, so that every
// request to a missing account gets the same service-unavailable.
func (s *Service) checkAccount(ctx context.Context, req iq.Request) error {
	if err := s.accountExists(ctx, req); err != nil {
		return err
	}
	return check(req)
}

func (s *Service) accountExists(ctx context.Context, req iq.Request) error {
	ok, err := s.accounts.AccountExists(ctx, req.To.Local)
	if err != nil {
		return fmt.Errorf("disco: account %q: %w", req.To.Local, err)
	}
	if !ok {
		return xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	return nil
}

func (s *Service) serverInfo(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if q, err := s.capsInfo(ctx, req); q != nil || err != nil {
		return q, err
	}
	if q, err := s.serverNode(ctx, req, false); q != nil || err != nil {
		return q, err
	}
	if err := check(req); err != nil {
		return nil, err
	}
	return s.serverQuery(), nil
}

// serverQuery is the server's disco#info <query/>.
func (s *Service) serverQuery() *xml.Element {
	q := info("server", "im", ServerName, s.mux.Features(iq.Server))
	s.mu.RLock()
	appendIdentities(q, s.serverIDs)
	for _, f := range s.forms {
		q.Append(f.Clone())
	}
	s.mu.RUnlock()
	return q
}

func (s *Service) selfInfo(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if q, err := s.nodeInfo(ctx, req); q != nil || err != nil {
		return q, err
	}
	if err := check(req); err != nil {
		return nil, err
	}
	return s.withAccountIdentities(info("account", "registered", "", s.mux.Features(iq.Self))), nil
}

func (s *Service) accountInfo(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if err := s.accountExists(ctx, req); err != nil {
		return nil, err
	}
	if q, err := s.nodeInfo(ctx, req); q != nil || err != nil {
		return q, err
	}
	if err := check(req); err != nil {
		return nil, err
	}
	return s.withAccountIdentities(info("account", "registered", "", s.mux.Features(iq.Account))), nil
}

// withAccountIdentities adds the identities of AddAccountIdentity to q.
func (s *Service) withAccountIdentities(q *xml.Element) *xml.Element {
	s.mu.RLock()
	defer s.mu.RUnlock()
	appendIdentities(q, s.accountIDs)
	return q
}

// appendIdentities adds <identity/> elements for ids to q (XEP-0030
// gives the order of identities and features no meaning).
func appendIdentities(q *xml.Element, ids []identity) {
	for _, id := range ids {
		e := xml.New(stanza.NSDiscoInfo, "identity", "category", id.category, "type", id.typ)
		e.SetAttr("name", id.name)
		q.Append(e)
	}
}

// nodes returns the account's nodes the requester may see, or nil when no
// AccountNodes is set.
func (s *Service) nodes(ctx context.Context, req iq.Request) ([]string, error) {
	s.mu.RLock()
	f := s.accountNodes
	s.mu.RUnlock()
	if f == nil {
		return nil, nil
	}
	return f(ctx, req.To.Bare(), req.From)
}

// nodeInfo answers disco#info about one of an account's nodes (XEP-0060
// section 5.3), or returns nil, nil when the request names no node.
func (s *Service) nodeInfo(ctx context.Context, req iq.Request) (*xml.Element, error) {
	node := req.Payload.Attr("node")
	if node == "" || req.Type != "get" {
		return nil, nil
	}
	nodes, err := s.nodes(ctx, req)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(nodes, node) {
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no such node")
	}
	q := info("pubsub", "leaf", "", []string{stanza.NSDiscoInfo, stanza.NSDiscoItem})
	q.SetAttr("node", node)
	return q, nil
}

func (s *Service) serverItems(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if q, err := s.serverNode(ctx, req, true); q != nil || err != nil {
		return q, err
	}
	if err := check(req); err != nil {
		return nil, err
	}
	q := xml.New(stanza.NSDiscoItem, "query")
	s.mu.RLock()
	for _, it := range s.items {
		e := xml.New(stanza.NSDiscoItem, "item", "jid", it.jid)
		e.SetAttr("name", it.name)
		q.Append(e)
	}
	s.mu.RUnlock()
	return q, nil
}

// selfItems lists the account's nodes (see SetAccountNodes).
func (s *Service) selfItems(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if err := check(req); err != nil {
		return nil, err
	}
	return s.nodeItems(ctx, req)
}

func (s *Service) accountItems(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if err := s.checkAccount(ctx, req); err != nil {
		return nil, err
	}
	return s.nodeItems(ctx, req)
}

func (s *Service) nodeItems(ctx context.Context, req iq.Request) (*xml.Element, error) {
	q := xml.New(stanza.NSDiscoItem, "query")
	nodes, err := s.nodes(ctx, req)
	if err != nil {
		return nil, err
	}
	account := req.To.Bare().String()
	for _, n := range nodes {
		q.Append(xml.New(stanza.NSDiscoItem, "item", "jid", account, "node", n))
	}
	return q, nil
}

// info builds a disco#info result with one identity and the features.
func info(category, typ, name string, features []string) *xml.Element {
	q := xml.New(stanza.NSDiscoInfo, "query")
	id := xml.New(stanza.NSDiscoInfo, "identity", "category", category, "type", typ)
	id.SetAttr("name", name)
	q.Append(id)
	for _, f := range features {
		q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	return q
}
