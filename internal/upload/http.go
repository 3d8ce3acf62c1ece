package upload

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Mount adds the upload handlers to mux under PathPrefix.
func (s *Service) Mount(mux *http.ServeMux) {
	mux.HandleFunc("PUT "+PathPrefix+"{key}/{name}", s.put)
	mux.HandleFunc("GET "+PathPrefix+"{key}/{name}", s.get)
	mux.HandleFunc("HEAD "+PathPrefix+"{key}/{name}", s.get)
	mux.HandleFunc("OPTIONS "+PathPrefix+"{key}/{name}", s.options)
}

// cors lets web clients (Converse.js, Movim) upload and download across
// origins: XEP-0363 section 6 asks for these headers.
func cors(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "7200")
}

func (s *Service) options(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	w.WriteHeader(http.StatusNoContent)
}

// put takes an upload for a slot: the token must be valid and unexpired
// and name this path, and the body must be exactly the slot's size
// (XEP-0363 section 5). An object is written once.
func (s *Service) put(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	key, name := r.PathValue("key"), r.PathValue("name")
	t, err := s.verify(r.URL.Query().Get("token"))
	if err != nil || t.Key != key || t.Name != name {
		http.Error(w, "this URL is not a valid upload slot", http.StatusForbidden)
		return
	}
	if s.cfg.Now().Unix() > t.Expires {
		http.Error(w, "the upload slot has expired; request a new one", http.StatusForbidden)
		return
	}
	if r.ContentLength < 0 {
		http.Error(w, "Content-Length is required", http.StatusLengthRequired)
		return
	}
	if r.ContentLength != t.Size {
		if r.ContentLength > t.Size {
			http.Error(w, "the body is larger than the slot's size", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "Content-Length differs from the slot's size", http.StatusBadRequest)
		}
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !sameMediaType(ct, t.Type) {
		http.Error(w, "Content-Type differs from the slot's content-type", http.StatusBadRequest)
		return
	}
	if _, _, err := s.cfg.Store.Open(r.Context(), key); err == nil {
		http.Error(w, "this slot was used already", http.StatusConflict)
		return
	}
	if !s.reserve(t.Owner, t.Size) {
		http.Error(w, "upload quota reached", http.StatusRequestEntityTooLarge)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.TransferTimeout))
	obj := Object{Key: key, Owner: t.Owner, Filename: t.Name, ContentType: t.Type, Size: t.Size, Created: s.cfg.Now().UTC()}
	if err := s.cfg.Store.Put(r.Context(), obj, http.MaxBytesReader(w, r.Body, t.Size)); err != nil {
		s.release(t.Owner, t.Size)
		if errors.Is(err, ErrSize) {
			http.Error(w, "the body is not the slot's size", http.StatusBadRequest)
			return
		}
		s.log.Warn("upload: storing a file failed", "owner", t.Owner, "key", key, "err", err)
		http.Error(w, "the file could not be stored", http.StatusInternalServerError)
		return
	}
	s.log.Debug("upload: stored", "owner", t.Owner, "key", key, "size", t.Size)
	w.WriteHeader(http.StatusCreated)
}

func sameMediaType(a, b string) bool {
	ma, _, errA := mime.ParseMediaType(a)
	mb, _, errB := mime.ParseMediaType(b)
	return errA == nil && errB == nil && ma == mb
}

// get serves a download (and HEAD): the stored type, a disposition that
// shows media inline and has everything else downloaded, and headers
// that keep a browser from running what someone uploaded.
func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	cors(h)
	key, name := r.PathValue("key"), r.PathValue("name")
	if !validKey(key) {
		http.NotFound(w, r)
		return
	}
	f, obj, err := s.cfg.Store.Open(r.Context(), key)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.Warn("upload: reading a file failed", "key", key, "err", err)
		http.Error(w, "the file could not be read", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	if obj.Filename != name || s.expired(obj) {
		http.NotFound(w, r)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.TransferTimeout))
	h.Set("Content-Type", obj.ContentType)
	h.Set("Content-Disposition", disposition(obj.ContentType, obj.Filename))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(s.maxAge())+", immutable")
	http.ServeContent(w, r, "", obj.Created, f)
}

func (s *Service) expired(o Object) bool {
	return s.cfg.ExpireAfter > 0 && o.Created.Add(s.cfg.ExpireAfter).Before(s.cfg.Now())
}

// maxAge is how long a cache may keep a download: until it expires, or
// a year.
func (s *Service) maxAge() int {
	if d := s.cfg.ExpireAfter; d > 0 && d < 365*24*time.Hour {
		return int(d / time.Second)
	}
	return 365 * 24 * 3600
}

// disposition is "inline" for images, audio and video that browsers show
// without running anything (SVG, which can carry scripts, is an
// attachment), "attachment" for everything else, with the filename in
// RFC 6266's encoding.
func disposition(ctype, name string) string {
	mt, _, _ := mime.ParseMediaType(ctype)
	kind := "attachment"
	if (strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/")) && mt != "image/svg+xml" {
		kind = "inline"
	}
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return kind + `; filename="` + ascii + `"; filename*=UTF-8''` + extValue(name)
}

// extValue percent-encodes s as RFC 8187's value-chars: every byte but
// attr-char.
func extValue(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
