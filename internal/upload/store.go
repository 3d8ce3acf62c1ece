package upload

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is what a Store returns for an object it does not hold.
var ErrNotFound = errors.New("upload: no such object")

// Object describes one stored file. Key is the service's own name for it
// (a random slot id, never anything a client chose); the rest is what
// the slot said and what a download needs.
type Object struct {
	Key         string
	Owner       string // bare JID of the uploader, for quotas
	Filename    string // as requested, for Content-Disposition
	ContentType string
	Size        int64
	Created     time.Time
}

// Store keeps uploaded files. It is the object store interface the
// service needs and no more, so that one over S3-compatible storage can
// sit beside FileStore: objects are written whole (Put reads exactly
// obj.Size bytes or fails and keeps nothing), read back with their
// metadata, listed for expiry and quotas, and deleted.
type Store interface {
	// Put stores obj's content from r. A Put that fails (r ended early or
	// carried more than obj.Size bytes, ctx ended, the disk is full)
	// leaves no object behind.
	Put(ctx context.Context, obj Object, r io.Reader) error
	// Open returns the object's content and metadata, or ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, Object, error)
	// Delete removes the object; deleting one that is gone is no error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object, in no particular order, until fn
	// returns an error (which List returns).
	List(ctx context.Context, fn func(Object) error) error
}
