// Package logctx carries a request's session id in its context.Context to
// the log: a client connection gets an id when it is accepted, every line
// the server logs about it (through the *Context methods of slog, or the
// connection's own attributes) says session=ID, so that one grep follows
// a client from accept to close across stream restarts, resumption and
// the features its stanzas reach.
package logctx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// Key is the attribute's name in the log.
const Key = "session"

type ctxKey struct{}

// NewID returns a new session id: 8 random bytes in hex.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WithSession returns ctx carrying the session id.
func WithSession(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// Session returns the session id ctx carries, or "".
func Session(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler adds session=ID to every record logged with a context that
// carries one (slog's InfoContext and the others).
type Handler struct{ slog.Handler }

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler { return &Handler{h} }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := Session(ctx); id != "" && !hasSession(r) {
		r.AddAttrs(slog.String(Key, id))
	}
	return h.Handler.Handle(ctx, r)
}

func hasSession(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == Key
		return !found
	})
	return found
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{h.Handler.WithGroup(name)}
}
