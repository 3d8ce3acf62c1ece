// Package upload is HTTP File Upload (XEP-0363): a component at
// upload.<domain> that hands local accounts slots (a signed PUT URL and
// the GET URL of the file), and the HTTP handlers that take the upload
// and serve downloads. Files go to a Store (FileStore in data_dir by
// default); sizes, per-account quotas and expiry are the service's.
package upload

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the XEP-0363 namespace.
const NS = "urn:xmpp:http:upload:0"

// SlotLifetime is how long a slot's PUT URL may be used.
const SlotLifetime = 5 * time.Minute

// maxFilenameBytes bounds a requested filename.
const maxFilenameBytes = 255

// PathPrefix is where the HTTP handlers are mounted.
const PathPrefix = "/upload/"

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// Router sends the service's answers.
type Router interface {
	Route(ctx context.Context, el *xml.Element, from, to jid.JID)
}

// Config configures a Service.
type Config struct {
	Domain       string // the service's JID, e.g. upload.example.org
	ServerDomain string // accounts of this domain may upload
	MaxFileBytes int64
	QuotaBytes   int64         // per account; 0: none
	ExpireAfter  time.Duration // files are deleted this long after upload; 0: never
	// TransferTimeout bounds one PUT or GET on the HTTP listener.
	TransferTimeout time.Duration
	Secret          []byte // keys the PUT URLs' signatures
	Store           Store
	Router          Router
	Logger          *slog.Logger
	Now             func() time.Time // nil: time.Now
}

// Service is the upload component and its HTTP handlers.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	baseURL string           // scheme://host[:port], no trailing slash
	usage   map[string]int64 // owner -> bytes stored (and being stored)

	stop    context.CancelFunc
	stopped chan struct{}
}

// New returns a Service; Start reads what the store holds.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TransferTimeout <= 0 {
		cfg.TransferTimeout = 10 * time.Minute
	}
	return &Service{cfg: cfg, log: cfg.Logger, usage: make(map[string]int64)}
}

// SetBaseURL sets where the HTTP listener is reached from outside
// (scheme://host[:port]); the server calls it once its listener is open.
func (s *Service) SetBaseURL(u string) {
	s.mu.Lock()
	s.baseURL = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

// Start counts each account's stored bytes, deletes what expired while
// the server was down, and starts the expiry loop.
func (s *Service) Start(ctx context.Context) error {
	usage := make(map[string]int64)
	if err := s.cfg.Store.List(ctx, func(o Object) error {
		usage[o.Owner] += o.Size
		return nil
	}); err != nil {
		return fmt.Errorf("upload: reading the store: %w", err)
	}
	s.mu.Lock()
	s.usage = usage
	s.mu.Unlock()
	if _, err := s.Expire(ctx); err != nil {
		return err
	}
	if s.cfg.ExpireAfter <= 0 {
		return nil
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = cancel
	s.stopped = make(chan struct{})
	every := min(max(s.cfg.ExpireAfter/10, time.Minute), time.Hour)
	go func() {
		defer close(s.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				if _, err := s.Expire(rctx); err != nil && rctx.Err() == nil {
					s.log.Error("upload: expiry failed", "err", err)
				}
			}
		}
	}()
	return nil
}

// Shutdown stops the expiry loop.
func (s *Service) Shutdown(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upload: %w", ctx.Err())
	}
}

// Expire deletes the files older than expire_after and returns how many.
func (s *Service) Expire(ctx context.Context) (int, error) {
	if s.cfg.ExpireAfter <= 0 {
		return 0, nil
	}
	cutoff := s.cfg.Now().Add(-s.cfg.ExpireAfter)
	var old []Object
	if err := s.cfg.Store.List(ctx, func(o Object) error {
		if o.Created.Before(cutoff) {
			old = append(old, o)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("upload: listing for expiry: %w", err)
	}
	n := 0
	for _, o := range old {
		if err := s.cfg.Store.Delete(ctx, o.Key); err != nil {
			return n, fmt.Errorf("upload: expiring %s: %w", o.Key, err)
		}
		s.release(o.Owner, o.Size)
		n++
	}
	if n > 0 {
		s.log.Info("upload: expired files deleted", "files", n)
	}
	return n, nil
}

func (s *Service) release(owner string, size int64) {
	s.mu.Lock()
	if s.usage[owner] -= size; s.usage[owner] <= 0 {
		delete(s.usage, owner)
	}
	s.mu.Unlock()
}

// Usage returns the bytes stored for owner (a bare JID).
func (s *Service) Usage(owner string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage[owner]
}

// reserve counts size against owner's quota, or says no.
func (s *Service) reserve(owner string, size int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.cfg.QuotaBytes; q > 0 && s.usage[owner]+size > q {
		return false
	}
	s.usage[owner] += size
	return true
}

// RouteStanza answers what is sent to the service: disco and slot
// requests; other requests get service-unavailable.
func (s *Service) RouteStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if from.IsZero() || el.Local != stanza.IQ {
		return
	}
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return
	}
	if el.Space == xml.NSServer {
		el = el.Clone()
		stanza.SetSpace(el, xml.NSServer, xml.NSClient)
	}
	res, err := s.serve(ctx, el, from, to, typ)
	var reply *xml.Element
	if err != nil {
		se, ok := errors.AsType[*xmpperr.StanzaError](err)
		if !ok {
			s.log.Error("upload: request failed", "from", from.String(), "err", err)
			se = xmpperr.New(xmpperr.InternalServerErrorC, "")
		}
		reply = stanza.ErrorReply(el, se)
	} else {
		reply = stanza.Result(el, res)
	}
	reply.SetAttr("from", to.String())
	reply.SetAttr("to", from.String())
	s.cfg.Router.Route(ctx, reply, to, from)
}

func (s *Service) serve(ctx context.Context, el *xml.Element, from, to jid.JID, typ string) (*xml.Element, error) {
	p := el.Elements()
	if len(p) != 1 {
		return nil, xmpperr.New(xmpperr.BadRequest, "an iq get or set must have exactly one child")
	}
	q := p[0]
	if to.Local != "" || to.Resource != "" {
		return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
	}
	switch {
	case q.Space == nsDiscoInfo && q.Local == "query" && typ == "get":
		if q.Attr("node") != "" {
			return nil, xmpperr.New(xmpperr.ItemNotFound, "")
		}
		return s.discoInfo(), nil
	case q.Space == nsDiscoItems && q.Local == "query" && typ == "get":
		return xml.New(nsDiscoItems, "query"), nil
	case q.Space == NS && q.Local == "request" && typ == "get":
		return s.slot(from, q)
	}
	return nil, xmpperr.New(xmpperr.ServiceUnavailable, "")
}

// discoInfo is the service's identity, feature and the form that tells
// clients the largest file (XEP-0363 section 3).
func (s *Service) discoInfo() *xml.Element {
	q := xml.New(nsDiscoInfo, "query")
	q.Append(xml.New(nsDiscoInfo, "identity", "category", "store", "type", "file", "name", "HTTP File Upload"))
	q.Append(xml.New(nsDiscoInfo, "feature", "var", NS))
	f := dataform.New(dataform.TypeResult, NS, dataform.Field{Var: "max-file-size", Values: []string{strconv.FormatInt(s.cfg.MaxFileBytes, 10)}})
	return q.Append(f.Element())
}

// DiscoForm is the same form, for the server's own disco#info (clients
// that look for the feature on the server's domain find it there).
func (s *Service) DiscoForm() *xml.Element {
	return dataform.New(dataform.TypeResult, NS, dataform.Field{Var: "max-file-size", Values: []string{strconv.FormatInt(s.cfg.MaxFileBytes, 10)}}).Element()
}

// slot answers a slot request (XEP-0363 section 4).
func (s *Service) slot(from jid.JID, q *xml.Element) (*xml.Element, error) {
	if from.Local == "" || from.Domain != s.cfg.ServerDomain {
		return nil, xmpperr.New(xmpperr.Forbidden, "only accounts of "+s.cfg.ServerDomain+" may upload files").WithType(xmpperr.Cancel)
	}
	name := q.Attr("filename")
	if err := checkFilename(name); err != nil {
		return nil, xmpperr.New(xmpperr.BadRequest, err.Error())
	}
	size, err := strconv.ParseInt(q.Attr("size"), 10, 64)
	if err != nil || size < 0 {
		return nil, xmpperr.New(xmpperr.BadRequest, "size must be the file's length in bytes")
	}
	if size > s.cfg.MaxFileBytes {
		app := xml.New(NS, "file-too-large").Append(xml.New(NS, "max-file-size").AppendText(strconv.FormatInt(s.cfg.MaxFileBytes, 10)))
		return nil, xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("file too large: the largest is %d bytes", s.cfg.MaxFileBytes)).WithApp(app)
	}
	ctype, err := contentType(q.Attr("content-type"), name)
	if err != nil {
		return nil, xmpperr.New(xmpperr.BadRequest, "content-type is not a media type")
	}
	owner := from.Bare().String()
	if qb := s.cfg.QuotaBytes; qb > 0 && s.Usage(owner)+size > qb {
		return nil, s.quotaError()
	}
	s.mu.Lock()
	base := s.baseURL
	s.mu.Unlock()
	if base == "" {
		return nil, xmpperr.New(xmpperr.ServiceUnavailable, "the HTTP listener is not running").WithType(xmpperr.Wait)
	}
	key := newKey()
	t := token{Key: key, Name: name, Size: size, Type: ctype, Owner: owner, Expires: s.cfg.Now().Add(SlotLifetime).Unix()}
	get := base + PathPrefix + key + "/" + url.PathEscape(name)
	put := get + "?token=" + s.sign(t)
	slot := xml.New(NS, "slot")
	slot.Append(xml.New(NS, "put", "url", put))
	slot.Append(xml.New(NS, "get", "url", get))
	return slot, nil
}

func (s *Service) quotaError() *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.ResourceConstraintC, fmt.Sprintf("upload quota reached (%d bytes per account); files are deleted as they expire", s.cfg.QuotaBytes)).WithType(xmpperr.Wait)
}

// checkFilename refuses names that could not be a file's name: empty,
// too long, with a path separator or control characters, "." or "..".
func checkFilename(name string) error {
	switch {
	case name == "":
		return errors.New("filename is required")
	case len(name) > maxFilenameBytes:
		return fmt.Errorf("filename is longer than %d bytes", maxFilenameBytes)
	case !utf8.ValidString(name):
		return errors.New("filename is not UTF-8")
	case name == "." || name == "..":
		return errors.New("filename is not a file's name")
	case strings.ContainsAny(name, "/\\"):
		return errors.New("filename must not contain a path separator")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("filename must not contain control characters")
		}
	}
	return nil
}

// contentType is the declared media type, or one guessed from the
// filename's extension, or application/octet-stream.
func contentType(declared, name string) (string, error) {
	if declared == "" {
		if t := mime.TypeByExtension(path.Ext(name)); t != "" {
			return t, nil
		}
		return "application/octet-stream", nil
	}
	mt, params, err := mime.ParseMediaType(declared)
	if err != nil {
		return "", err
	}
	return mime.FormatMediaType(mt, params), nil
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// token is what a PUT URL carries: everything the slot promised, signed,
// so that a PUT needs no state kept between slot and upload.
type token struct {
	Key     string `json:"k"`
	Name    string `json:"n"`
	Size    int64  `json:"s"`
	Type    string `json:"t"`
	Owner   string `json:"o"`
	Expires int64  `json:"e"`
}

func (s *Service) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("minimix upload slot\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (s *Service) sign(t token) string {
	b, _ := json.Marshal(t)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

var errToken = errors.New("invalid upload token")

// verify checks a PUT URL's token and returns what it promised.
func (s *Service) verify(tok string) (token, error) {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return token{}, errToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return token{}, errToken
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return token{}, errToken
	}
	var t token
	if err := json.Unmarshal(b, &t); err != nil || !validKey(t.Key) {
		return token{}, errToken
	}
	return t, nil
}
