package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileStore is a Store in a directory (data_dir/upload): each object is
// two files, KEY (the content) and KEY.json (its metadata), in a
// subdirectory named by the key's first two characters. Names come only
// from keys, which the service makes (hex), so a client's filename never
// reaches the file system.
type FileStore struct {
	dir string
}

// NewFileStore returns a FileStore in dir, creating it.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("upload store: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

// errBadKey guards against a key that is not one of ours.
var errBadKey = errors.New("upload: invalid object key")

func (s *FileStore) paths(key string) (data, meta string, err error) {
	if !validKey(key) {
		return "", "", errBadKey
	}
	d := filepath.Join(s.dir, key[:2])
	return filepath.Join(d, key), filepath.Join(d, key+".json"), nil
}

// Put writes the content to a temporary file and renames it into place
// after its metadata, so that a reader never sees half a file.
func (s *FileStore) Put(ctx context.Context, obj Object, r io.Reader) (err error) {
	data, meta, err := s.paths(obj.Key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(data), 0o750); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(data), ".put-*")
	if err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(ctxReader{ctx, r}, obj.Size+1))
	if err != nil {
		return fmt.Errorf("upload store: writing %s: %w", obj.Key, err)
	}
	if n != obj.Size {
		return fmt.Errorf("upload store: %s: got %d bytes, want %d: %w", obj.Key, n, obj.Size, ErrSize)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	if err := os.WriteFile(meta, b, 0o640); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	if err := os.Rename(tmp.Name(), data); err != nil {
		_ = os.Remove(meta)
		return fmt.Errorf("upload store: %w", err)
	}
	return nil
}

// ErrSize says that a Put's content was not the size announced.
var ErrSize = errors.New("content length differs from the slot's size")

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open opens the object's content and reads its metadata.
func (s *FileStore) Open(ctx context.Context, key string) (io.ReadSeekCloser, Object, error) {
	data, meta, err := s.paths(key)
	if err != nil {
		return nil, Object{}, ErrNotFound
	}
	obj, err := readMeta(meta)
	if err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(data)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Object{}, ErrNotFound
	}
	if err != nil {
		return nil, Object{}, fmt.Errorf("upload store: %w", err)
	}
	return f, obj, nil
}

func readMeta(path string) (Object, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, fmt.Errorf("upload store: %w", err)
	}
	var obj Object
	if err := json.Unmarshal(b, &obj); err != nil {
		return Object{}, fmt.Errorf("upload store: %s: %w", path, err)
	}
	return obj, nil
}

// Delete removes the content first: an object without content is
// already gone for readers, and List still finds its metadata.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	data, meta, err := s.paths(key)
	if err != nil {
		return err
	}
	if err := os.Remove(data); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("upload store: %w", err)
	}
	if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("upload store: %w", err)
	}
	return nil
}

// List reads every metadata file. Temporary files of a Put that a crash
// interrupted are removed on the way.
func (s *FileStore) List(ctx context.Context, fn func(Object) error) error {
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		switch {
		case d.IsDir():
			return nil
		case strings.HasPrefix(name, ".put-"):
			_ = os.Remove(path)
			return nil
		case !strings.HasSuffix(name, ".json"):
			return nil
		}
		obj, err := readMeta(path)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if obj.Key+".json" != name {
			return nil
		}
		return fn(obj)
	})
}

// validKey reports whether key is one the service makes: 32 lower-case
// hex digits.
func validKey(key string) bool {
	if len(key) != 32 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
