package muc

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// histEntry is one message kept for replay to joiners: as broadcast (from
// room/nick, with stanza-id and occupant-id, without to) plus the
// <delay from=room/> of section 7.2.14.
type histEntry struct {
	el    *xml.Element
	from  jid.JID
	stamp time.Time
	chars int // characters of el serialised; 0 until needed
}

// addHistory keeps m, broadcast at stamp, for replay.
func (r *room) addHistory(m *xml.Element, from jid.JID, stamp time.Time) {
	if r.cfg.HistoryLength <= 0 {
		return
	}
	d := &xml.Element{Space: m.Space, Local: m.Local, Attrs: m.Attrs}
	d.Children = make([]xml.Node, len(m.Children), len(m.Children)+1)
	copy(d.Children, m.Children)
	d.Append(stanza.Delay(r.jidS, stamp.UTC().Format(time.RFC3339Nano)))
	if len(r.history) >= r.cfg.HistoryLength {
		n := copy(r.history, r.history[len(r.history)-r.cfg.HistoryLength+1:])
		clear(r.history[n:])
		r.history = r.history[:n]
	}
	r.history = append(r.history, histEntry{el: d, from: from, stamp: stamp})
}

// trimHistory keeps at most the room's history length.
func (r *room) trimHistory() {
	if over := len(r.history) - max(0, r.cfg.HistoryLength); over > 0 {
		n := copy(r.history, r.history[over:])
		clear(r.history[n:])
		r.history = r.history[:n]
	}
}

// sendHistory queues the history a joiner asked for with h (nil: none
// asked, which gets the service's default) to the real JID to (section
// 7.2.14). Every limit given applies: maxstanzas, maxchars (the
// serialised stanzas' characters; 0 means no history), seconds and since.
// Bad values are ignored, as if absent.
func (s *Service) sendHistory(r *room, to jid.JID, toS string, h *xml.Element) {
	limit := min(s.defaults().historyDefault, r.cfg.HistoryLength)
	maxChars := -1
	var since time.Time
	if h != nil {
		asked := false
		if n, ok := attrInt(h, "maxstanzas"); ok {
			limit, asked = min(n, r.cfg.HistoryLength), true
		}
		if n, ok := attrInt(h, "maxchars"); ok {
			maxChars = n
		}
		if n, ok := attrInt(h, "seconds"); ok {
			since = s.now().Add(-time.Duration(min(n, 1<<31)) * time.Second)
		}
		if v := h.Attr("since"); v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(since) {
				since = t
			}
		}
		if !asked && (maxChars >= 0 || !since.IsZero()) {
			// Limited by characters or time, not by count.
			limit = r.cfg.HistoryLength
		}
	}
	if maxChars == 0 || limit <= 0 {
		return
	}
	first, chars := len(r.history), 0
	for i := len(r.history) - 1; i >= 0 && len(r.history)-i <= limit; i-- {
		e := &r.history[i]
		if !since.IsZero() && e.stamp.Before(since) {
			break
		}
		if maxChars > 0 {
			if e.chars == 0 {
				e.chars = utf8.RuneCount(e.el.AppendXML(nil, ""))
			}
			if chars+e.chars > maxChars {
				break
			}
			chars += e.chars
		}
		first = i
	}
	for _, e := range r.history[first:] {
		r.send(fork(e.el, toS), e.from, to)
	}
}

// attrInt reads a non-negative integer attribute.
func attrInt(e *xml.Element, name string) (int, bool) {
	v := e.Attr(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// loadHistory fills a persistent room's history from its archive, after a
// restart. r.mu is held.
func (s *Service) loadHistory(ctx context.Context, r *room) {
	r.historyLoaded = true
	if r.cfg.HistoryLength <= 0 {
		return
	}
	gc := true
	// A room's archive is its own records only: the read waits for the
	// room's own queued writes (normally none), not for everyone's.
	page, err := s.cfg.Store.QueryArchive(ctx, r.jidS, storage.ArchiveQuery{Before: true, Max: r.cfg.HistoryLength, Groupchat: &gc, OwnOnly: true})
	if err != nil {
		s.log.Error("muc: loading room history", "room", r.jidS, "err", err)
		return
	}
	r.history = r.history[:0]
	for _, rec := range page.Records {
		m, err := stanza.Decode(rec.Stanza, stanza.Message)
		if err != nil || m.Child("", "body") == nil {
			continue
		}
		from, err := stanza.From(m)
		if err != nil || from.Bare() != r.jid {
			continue
		}
		m.SetAttr("to", "")
		m.RemoveChildren(stanza.NSDelay, "delay")
		r.addHistory(m, from, rec.Stamp)
	}
}
