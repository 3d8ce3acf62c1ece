package xep0227

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"minimix/internal/dataform"
	"minimix/internal/jid"
	"minimix/internal/pep"
	"minimix/internal/pubsub"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	mxml "minimix/internal/xml"
)

// PrivateLister lists an account's private XML fragments; both storage
// backends provide it.
type PrivateLister interface {
	PrivateKeys(ctx context.Context, user string) ([]string, error)
}

// Exporter writes every account of a store as XEP-0227, one file per
// account named user@domain.xml, as Prosody's xep0227 store does, so
// that prosody-migrator reads the directory as it is and ejabberdctl
// import_piefxis reads each file.
type Exporter struct {
	Domain string
	Store  storage.Store
	PEP    *pep.Service
}

// archivePage is how many archived messages are read at a time.
const archivePage = 500

// Export writes the files into dir, which must be missing or empty, and
// returns the number of accounts written.
func (ex *Exporter) Export(ctx context.Context, dir string) (int, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, fmt.Errorf("xep0227: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("xep0227: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("xep0227: %w", err)
	}
	users, err := ex.Store.ListAccounts(ctx)
	if err != nil {
		return 0, err
	}
	for i, u := range users {
		el, err := ex.user(ctx, u)
		if err != nil {
			return i, fmt.Errorf("xep0227: export %s: %w", u, err)
		}
		doc := mxml.New(NS, "server-data").Append(mxml.New(NS, "host", "jid", ex.Domain).Append(el))
		data := append([]byte("<?xml version='1.0' encoding='utf-8'?>\n"), doc.AppendXML(nil, "")...)
		// The file holds credentials: readable by its owner only.
		path := filepath.Join(dir, u+"@"+ex.Domain+".xml")
		if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
			return i, fmt.Errorf("xep0227: %w", err)
		}
	}
	return len(users), nil
}

func (ex *Exporter) user(ctx context.Context, user string) (*mxml.Element, error) {
	u := mxml.New(NS, "user", "name", user)
	creds, err := ex.Store.GetCredentials(ctx, user)
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range []struct {
		mech string
		c    storage.ScramCredential
		size int
	}{{"SCRAM-SHA-1", creds.SHA1, 20}, {"SCRAM-SHA-256", creds.SHA256, 32}} {
		if c.c.Iters <= 0 || len(c.c.Salt) == 0 || len(c.c.StoredKey) != c.size || len(c.c.ServerKey) != c.size {
			continue
		}
		u.Append(mxml.New(NSSCRAM, "scram-credentials", "mechanism", c.mech).Append(
			mxml.New(NSSCRAM, "iter-count").WithText(strconv.Itoa(c.c.Iters)),
			mxml.New(NSSCRAM, "salt").WithText(b64(c.c.Salt)),
			mxml.New(NSSCRAM, "server-key").WithText(b64(c.c.ServerKey)),
			mxml.New(NSSCRAM, "stored-key").WithText(b64(c.c.StoredKey)),
		))
	}
	if v, err := ex.Store.GetVCard(ctx, user); err == nil {
		if el, err := mxml.Parse(v); err == nil {
			u.Append(el)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if err := ex.roster(ctx, user, u); err != nil {
		return nil, err
	}
	if pl, ok := ex.Store.(PrivateLister); ok {
		keys, err := pl.PrivateKeys(ctx, user)
		if err != nil {
			return nil, err
		}
		q := mxml.New(NSPrivate, "query")
		for _, k := range keys {
			data, err := ex.Store.GetPrivate(ctx, user, k)
			if err != nil {
				return nil, err
			}
			if el, err := mxml.Parse(data); err == nil {
				q.Append(el)
			}
		}
		if q.FirstElement() != nil {
			u.Append(q)
		}
	}
	if err := ex.pep(ctx, user, u); err != nil {
		return nil, err
	}
	off, err := ex.Store.OfflineMessages(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(off) > 0 {
		om := mxml.New(NS, "offline-messages")
		for _, m := range off {
			if el, err := stanza.Decode(m.Stanza, "message"); err == nil {
				om.Append(el)
			}
		}
		u.Append(om)
	}
	return u, ex.archive(ctx, user, u)
}

func (ex *Exporter) roster(ctx context.Context, user string, u *mxml.Element) error {
	items, ver, err := ex.Store.RosterItems(ctx, user)
	if err != nil {
		return err
	}
	q := mxml.New(NSRoster, "query")
	if ver != "" {
		q.SetAttr("version", ver)
	}
	var pending []*mxml.Element
	for _, it := range items {
		if it.PendingIn {
			p := mxml.New(nsClient, "presence", "from", it.Contact, "to", user+"@"+ex.Domain, "type", "subscribe")
			if el, err := stanza.Decode(it.PendingInStanza, "presence"); err == nil {
				if st := el.Child(nsClient, "status"); st != nil {
					p.Append(st.Clone())
				}
			}
			pending = append(pending, p)
		}
		if it.Hidden {
			continue
		}
		item := mxml.New(NSRoster, "item", "jid", it.Contact, "subscription", string(it.Subscription))
		if it.Name != "" {
			item.SetAttr("name", it.Name)
		}
		if it.PendingOut {
			item.SetAttr("ask", "subscribe")
		}
		for _, g := range it.Groups {
			item.Append(mxml.New(NSRoster, "group").WithText(g))
		}
		q.Append(item)
	}
	if q.FirstElement() != nil {
		u.Append(q)
	}
	u.Append(pending...)
	return nil
}

func (ex *Exporter) pep(ctx context.Context, user string, u *mxml.Element) error {
	nodes, err := ex.Store.PEPNodes(ctx, user)
	if err != nil || len(nodes) == 0 {
		return err
	}
	owner := mxml.New(NSPubSubOwner, "pubsub")
	items := mxml.New(NSPubSub, "pubsub")
	opts := &pubsub.Options{MaxItems: ex.PEP.MaxItems()}
	for _, n := range nodes {
		cfg, err := pubsub.UnmarshalConfig(n.Config, pep.DefaultNodeConfig())
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		form := opts.Form(&cfg, dataform.TypeSubmit)
		owner.Append(mxml.New(NSPubSubOwner, "configure", "node", n.Name).Append(form.Element()))
		its, err := ex.Store.PEPItems(ctx, user, n.Name, 0)
		if err != nil {
			return err
		}
		el := mxml.New(NSPubSub, "items", "node", n.Name)
		for _, it := range its {
			p, err := mxml.Parse(it.Payload)
			if err != nil {
				continue
			}
			el.Append(mxml.New(NSPubSub, "item", "id", it.ID).Append(p))
		}
		if el.FirstElement() != nil {
			items.Append(el)
		}
	}
	u.Append(owner)
	if items.FirstElement() != nil {
		u.Append(items)
	}
	return nil
}

func (ex *Exporter) archive(ctx context.Context, user string, u *mxml.Element) error {
	owner := jid.JID{Local: user, Domain: ex.Domain}.String()
	a := mxml.New(NSMAM, "archive")
	after := ""
	for {
		page, err := ex.Store.QueryArchive(ctx, owner, storage.ArchiveQuery{AfterID: after, Max: archivePage})
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			m, err := stanza.Decode(r.Stanza, "message")
			if err != nil {
				continue
			}
			if r.Shared && m.Attr("to") == "" {
				m.SetAttr("to", owner)
			}
			a.Append(mxml.New(NSMAM2, "result", "id", r.ID).Append(
				mxml.New(NSForward, "forwarded").Append(
					mxml.New(NSDelay, "delay", "stamp", r.Stamp.UTC().Format("2006-01-02T15:04:05.000Z")),
					m)))
		}
		if page.Complete || len(page.Records) == 0 {
			break
		}
		after = page.Records[len(page.Records)-1].ID
	}
	if a.FirstElement() != nil {
		u.Append(a)
	}
	return nil
}
