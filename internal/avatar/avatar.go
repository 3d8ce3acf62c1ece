// Package avatar keeps an account's two avatars in step and advertises
// them in presence:
//
//   - XEP-0398: a PEP avatar (XEP-0084, nodes urn:xmpp:avatar:data and
//     urn:xmpp:avatar:metadata) that the account publishes becomes the
//     PHOTO of its vCard (vcard-temp), and a vCard with a PHOTO that it
//     uploads is published as its PEP avatar; the account advertises
//     urn:xmpp:pep-vcard-conversion:0.
//   - XEP-0153: every available presence an account's session sends,
//     broadcast or directed (a MUC join among them), carries
//     <x xmlns='vcard-temp:x:update'><photo>hash</photo></x>, the SHA-1 of
//     the avatar (an empty <photo/> when there is none), as XEP-0398
//     section 4 asks of the server: a presence with no such element, or
//     one without <photo/>, gets it; one whose <photo/> the client filled
//     (or left empty, "not telling") is left as it is.
//
// Each account's hash is kept in memory, read from its vCard once per
// process when its first presence is sent, and changed by every
// conversion.
package avatar

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/vcard"
	"minimix/internal/xml"
)

// Namespaces and nodes.
const (
	NSData       = "urn:xmpp:avatar:data"
	NSMetadata   = "urn:xmpp:avatar:metadata"
	NSConversion = "urn:xmpp:pep-vcard-conversion:0"
	NSUpdate     = "vcard-temp:x:update"
)

// maxCached bounds the hashes kept; past it the cache starts over.
const maxCached = 100000

// Service converts avatars and stamps presences. It is a
// router.Interceptor (for presence); it is safe for concurrent use.
type Service struct {
	domain string
	pep    *pep.Service
	vcards *vcard.Service
	log    *slog.Logger

	mu     sync.Mutex
	hashes map[string]string // username: SHA-1 hex of the avatar, "" for none
}

// New returns a Service for the accounts of domain over p and v and hooks
// it into both: it watches the metadata node and follows vCard uploads.
func New(domain string, p *pep.Service, v *vcard.Service, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{domain: domain, pep: p, vcards: v, log: log, hashes: make(map[string]string)}
	p.Watch(NSMetadata, s.metadataChanged)
	v.AfterSet = s.vcardSet
	return s
}

// Register advertises the conversion on accounts (XEP-0398 section 2).
func (s *Service) Register(m *iq.Mux) {
	m.Feature(iq.Self|iq.Account, NSConversion)
}

// convertingKey marks a context in which the service itself publishes a
// PEP avatar, so that the metadata watcher does not convert it back.
type convertingKey struct{}

// metadataChanged is the PEP watcher of the metadata node: the avatar
// the metadata now names (the info without a url, whose data item is in
// the data node and matches its hash) becomes the vCard's PHOTO after the
// change is stored; metadata without such an info (avatar disabled, the
// item retracted) removes the PHOTO.
func (s *Service) metadataChanged(ctx context.Context, tx *pep.Tx, node string) error {
	if ctx.Value(convertingKey{}) != nil {
		return nil
	}
	user := tx.Owner().Local
	items, err := tx.Items(NSMetadata)
	if err != nil {
		return err
	}
	var info *xml.Element
	if len(items) > 0 && items[len(items)-1].Payload != nil {
		for _, c := range items[len(items)-1].Payload.Elements() {
			if c.Space == NSMetadata && c.Local == "info" && c.Attr("url") == "" && c.Attr("id") != "" {
				info = c
				break
			}
		}
	}
	if info == nil {
		tx.AfterCommit(func(ctx context.Context) { s.setPhoto(ctx, user, "", "", "") })
		return nil
	}
	id := strings.ToLower(info.Attr("id"))
	data, err := tx.Items(NSData)
	if err != nil {
		return err
	}
	var b64 string
	for _, it := range data {
		if strings.EqualFold(it.ID, id) && it.Payload != nil && it.Payload.Space == NSData {
			b64 = it.Payload.Text()
		}
	}
	if b64 == "" {
		// The data is not (yet) published: nothing to convert. A client
		// publishes data first, as XEP-0084 section 4.1 says.
		s.log.Debug("avatar: metadata without its data", "user", user, "id", id)
		return nil
	}
	if h, _, ok := hashOf(b64); !ok || h != id {
		s.log.Warn("avatar: data does not match its id; not converted", "user", user, "id", id)
		return nil
	}
	typ := info.Attr("type")
	tx.AfterCommit(func(ctx context.Context) { s.setPhoto(ctx, user, id, typ, b64) })
	return nil
}

// setPhoto makes the vCard's PHOTO the image b64 of type typ, or removes
// it when b64 is "", and records hash as user's avatar.
func (s *Service) setPhoto(ctx context.Context, user, hash, typ, b64 string) {
	err := s.vcards.Update(ctx, user, func(v *xml.Element) *xml.Element {
		had := v.Child(vcard.NS, "PHOTO") != nil
		if b64 == "" && !had {
			return nil
		}
		nv := v.Clone()
		nv.RemoveChildren(vcard.NS, "PHOTO")
		if b64 != "" {
			photo := xml.New(vcard.NS, "PHOTO")
			if typ != "" {
				photo.Append(xml.New(vcard.NS, "TYPE").AppendText(typ))
			}
			photo.Append(xml.New(vcard.NS, "BINVAL").AppendText(b64))
			nv.Append(photo)
		}
		return nv
	})
	if err != nil {
		s.log.Error("avatar: updating the vCard", "user", user, "err", err)
		return
	}
	s.remember(user, hash)
}

// vcardSet follows a vCard the account uploaded (vcard.Service.AfterSet):
// a PHOTO with a BINVAL is published as the PEP avatar, data then
// metadata (XEP-0398 section 3.2); removing the PHOTO disables the PEP
// avatar (an empty metadata item) if there was one.
func (s *Service) vcardSet(ctx context.Context, user string, v *xml.Element) {
	hash, typ, b64, size := "", "", "", 0
	if photo := v.Child(vcard.NS, "PHOTO"); photo != nil {
		if raw := photo.ChildText(vcard.NS, "BINVAL"); raw != "" {
			h, n, ok := hashOf(raw)
			if !ok {
				s.log.Info("avatar: vCard PHOTO is not base64; not published", "user", user)
				s.remember(user, "")
				return
			}
			hash, size, typ = h, n, photo.ChildText(vcard.NS, "TYPE")
			b64 = strings.Join(strings.Fields(raw), "")
		}
	}
	if len(b64) > s.pep.MaxPayloadBytes()-100 {
		// The <data/> item would be over PEP's payload bound: the photo
		// stays in the vCard only.
		s.log.Info("avatar: vCard PHOTO too big for PEP; not published", "user", user, "bytes", size)
		s.remember(user, hash)
		return
	}
	prev, known := s.cached(user)
	s.remember(user, hash)
	if known && prev == hash {
		return
	}
	owner := jid.JID{Local: user, Domain: s.domain}
	ctx = context.WithValue(ctx, convertingKey{}, true)
	err := s.pep.Update(ctx, owner, func(tx *pep.Tx) error {
		cfg := pep.DefaultNodeConfig()
		meta := xml.New(NSMetadata, "metadata")
		id := hash
		if hash == "" {
			items, err := tx.Items(NSMetadata)
			if err != nil || len(items) == 0 {
				return err // no PEP avatar to disable
			}
			id = "" // a fresh item id for the empty metadata
		} else {
			if typ == "" {
				typ = "image/png"
			}
			if err := tx.Publish(NSData, pep.Item{ID: hash, Payload: xml.New(NSData, "data").AppendText(b64)}, &cfg); err != nil {
				return err
			}
			meta.Append(xml.New(NSMetadata, "info", "id", hash, "bytes", strconv.Itoa(size), "type", typ))
		}
		return tx.Publish(NSMetadata, pep.Item{ID: id, Payload: meta}, &cfg)
	})
	if err != nil {
		s.log.Error("avatar: publishing the vCard photo with PEP", "user", user, "err", err)
	}
}

// hashOf decodes a base64 image (whitespace allowed, as vCards wrap
// BINVAL) and returns its SHA-1 in hex and its size.
func hashOf(b64 string) (string, int, bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil || len(raw) == 0 {
		return "", 0, false
	}
	sum := sha1.Sum(raw)
	return hex.EncodeToString(sum[:]), len(raw), true
}

func (s *Service) remember(user, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hashes) >= maxCached {
		clear(s.hashes)
	}
	s.hashes[user] = hash
}

func (s *Service) cached(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hashes[user]
	return h, ok
}

// hash returns user's avatar hash, reading its vCard the first time.
func (s *Service) hash(ctx context.Context, user string) (string, error) {
	if h, ok := s.cached(user); ok {
		return h, nil
	}
	v, err := s.vcards.Get(ctx, user)
	if err != nil {
		return "", err
	}
	h := ""
	if photo := v.Child(vcard.NS, "PHOTO"); photo != nil {
		if raw := photo.ChildText(vcard.NS, "BINVAL"); raw != "" {
			h, _, _ = hashOf(raw)
		}
	}
	s.remember(user, h)
	return h, nil
}

// FromSession implements router.Interceptor: it stamps the avatar hash
// into available presence (XEP-0153, XEP-0398 section 4) and consumes
// nothing.
func (s *Service) FromSession(ctx context.Context, sess router.Session, el *xml.Element, to jid.JID) bool {
	if el.Local != stanza.Presence || el.Attr("type") != "" {
		return false
	}
	x := el.Child(NSUpdate, "x")
	if x != nil && x.Child(NSUpdate, "photo") != nil {
		return false // the client's own statement
	}
	user := sess.JID().Local
	h, err := s.hash(ctx, user)
	if err != nil {
		s.log.Error("avatar: reading the vCard", "user", user, "err", err)
		return false
	}
	photo := xml.New(NSUpdate, "photo")
	if h != "" {
		photo.AppendText(h)
	}
	if x == nil {
		el.Append(xml.New(NSUpdate, "x").Append(photo))
	} else {
		x.Append(photo)
	}
	return false
}

// ToLocal implements router.Interceptor; it takes nothing.
func (s *Service) ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool { return false }
