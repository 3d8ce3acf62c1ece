package adminweb

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrorRecord is one warning or error the server logged.
type ErrorRecord struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   string // key=value pairs, as the text log shows them
}

// ErrorRing keeps the most recent warnings and errors the server logged,
// for the status page. Its Handler wraps the server's log handler.
type ErrorRing struct {
	mu   sync.Mutex
	recs []ErrorRecord
	next int
	full bool
}

// NewErrorRing returns a ring that keeps the last n records.
func NewErrorRing(n int) *ErrorRing { return &ErrorRing{recs: make([]ErrorRecord, max(n, 1))} }

// Records returns the kept records, newest first.
func (r *ErrorRing) Records() []ErrorRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ErrorRecord
	if r.full {
		out = append(out, r.recs[r.next:]...)
	}
	out = append(out, r.recs[:r.next]...)
	slices.Reverse(out)
	return out
}

func (r *ErrorRing) add(rec ErrorRecord) {
	r.mu.Lock()
	r.recs[r.next] = rec
	r.next++
	if r.next == len(r.recs) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Handler returns a handler that passes every record to next and keeps
// those at slog.LevelWarn and above in the ring, whatever next's level.
func (r *ErrorRing) Handler(next slog.Handler) slog.Handler {
	return &ringHandler{next: next, ring: r}
}

type ringHandler struct {
	next   slog.Handler
	ring   *ErrorRing
	attrs  string // attributes bound with WithAttrs, formatted
	prefix string // the open groups, "a.b."
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(h.attrs)
		rec.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.prefix, a)
			return true
		})
		h.ring.add(ErrorRecord{Time: rec.Time, Level: rec.Level, Message: rec.Message, Attrs: strings.TrimSpace(b.String())})
	}
	if !h.next.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.next.Handle(ctx, rec)
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		appendAttr(&b, h.prefix, a)
	}
	return &ringHandler{next: h.next.WithAttrs(as), ring: h.ring, attrs: b.String(), prefix: h.prefix}
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &ringHandler{next: h.next.WithGroup(name), ring: h.ring, attrs: h.attrs, prefix: h.prefix + name + "."}
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.String())
}
