package mam

import (
	"context"
	"fmt"
	"slices"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// servePrefs answers XEP-0441 preference requests (which kept the
// urn:xmpp:mam:2 namespace when they left XEP-0313): a get returns the
// stored preferences, a set replaces them and returns them as stored.
func (a *Archive) servePrefs(ctx context.Context, req iq.Request) (*xml.Element, error) {
	owner := req.To.Bare().String()
	if req.Type == "set" {
		p, err := parsePrefs(req.Payload)
		if err != nil {
			return nil, err
		}
		if err := a.store.SetArchivePrefs(ctx, owner, p); err != nil {
			return nil, fmt.Errorf("mam: set preferences of %s: %w", owner, err)
		}
		// What was stored, normalised, is what the next read returns.
		if stored, err := a.store.GetArchivePrefs(ctx, owner); err == nil {
			a.cachePrefs(owner, stored)
			p = stored
		} else {
			a.prefsMu.Lock()
			delete(a.prefs, owner)
			a.prefsMu.Unlock()
		}
		// Rooms the account is in follow the new preferences from now on.
		if err := a.reapplyPrefs(ctx, req.To.Bare()); err != nil {
			return nil, err
		}
		return prefsElement(p), nil
	}
	p, err := a.store.GetArchivePrefs(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("mam: preferences of %s: %w", owner, err)
	}
	return prefsElement(p), nil
}

// parsePrefs reads and validates a <prefs/> set. JIDs are prepared, so
// that matching compares them as strings, and repeats are dropped.
func parsePrefs(el *xml.Element) (storage.ArchivePrefs, error) {
	p := storage.ArchivePrefs{Default: el.Attr("default")}
	switch p.Default {
	case PrefsAlways, PrefsNever, PrefsRoster:
	case "":
		return storage.ArchivePrefs{}, xmpperr.New(xmpperr.BadRequest, "prefs need a default")
	default:
		return storage.ArchivePrefs{}, xmpperr.New(xmpperr.BadRequest, fmt.Sprintf("unknown default %q", p.Default))
	}
	for _, list := range []struct {
		name string
		dst  *[]string
	}{{PrefsAlways, &p.Always}, {PrefsNever, &p.Never}} {
		l := el.Child(NS, list.name)
		if l == nil {
			continue
		}
		for _, j := range l.Elements() {
			if j.Space != NS || j.Local != "jid" {
				continue
			}
			parsed, err := jid.Parse(j.Text())
			if err != nil {
				return storage.ArchivePrefs{}, xmpperr.New(xmpperr.JIDMalformed, fmt.Sprintf("%s: %q is not a JID", list.name, j.Text()))
			}
			if s := parsed.String(); !slices.Contains(*list.dst, s) {
				*list.dst = append(*list.dst, s)
			}
		}
	}
	return p, nil
}

// prefsElement renders p. Both lists are always present, as XEP-0441's
// examples show them, so that a client sees an empty list as empty.
func prefsElement(p storage.ArchivePrefs) *xml.Element {
	el := xml.New(NS, "prefs", "default", p.Default)
	for _, list := range []struct {
		name string
		jids []string
	}{{PrefsAlways, p.Always}, {PrefsNever, p.Never}} {
		l := xml.New(NS, list.name)
		for _, j := range list.jids {
			l.Append(xml.New(NS, "jid").AppendText(j))
		}
		el.Append(l)
	}
	return el
}
