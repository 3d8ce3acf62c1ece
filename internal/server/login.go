package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"

	"minimix/internal/c2s"
	"minimix/internal/fast"
	"minimix/internal/jid"
	"minimix/internal/xml"
)

// fastLogin sets up SASL2 with Bind 2 and FAST ([c2s] sasl2,
// fast_token_lifetime) on the client listeners' configuration. Bind 2
// resources are keyed by a secret derived from the server's own.
func (s *Server) fastLogin(c *c2s.Config, secret []byte) {
	if !s.cfg.C2S.SASL2 {
		return
	}
	c.SASL2 = true
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("minimix bind2 resource"))
	c.BindSecret = m.Sum(nil)
	if d := s.cfg.C2S.FASTTokenLifetime.Duration; d > 0 {
		tokens := fast.New(s.store, d, nil)
		tokens.Log = s.log
		c.FAST = tokens
	}
	c.Bound = func(ctx context.Context, full jid.JID) []*xml.Element {
		// XEP-0386: the archive's state at the moment of binding, for
		// the client to plan its catch-up, and no offline messages: the
		// client gets them from the archive.
		if s.features == nil || s.features.archive == nil {
			return nil
		}
		md, err := s.features.archive.ServeMetadata(ctx, full.Bare())
		if err != nil {
			s.log.Warn("bind 2: reading the archive's metadata", "jid", full.String(), "err", err)
			return nil
		}
		if off := s.features.offline; off != nil {
			if n, err := off.DropArchived(ctx, full.Bare()); err != nil {
				s.log.Warn("bind 2: clearing offline messages", "jid", full.String(), "err", err)
			} else if n > 0 {
				s.log.Debug("bind 2: offline messages left to the archive", "jid", full.String(), "count", n)
			}
		}
		return []*xml.Element{md}
	}
}
