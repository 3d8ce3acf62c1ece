package c2s

import (
	"context"
	"strconv"
	"time"

	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Stream management (XEP-0198): acknowledgements, and resumption of a
// session on a new connection within its resume window.

func smFailed(cond xmpperr.Condition, text string) *xml.Element {
	f := xml.New(stream.NSSM, "failed").Append(xml.New(xmpperr.NSStanzas, string(cond)))
	if text != "" {
		f.Append(xml.New(xmpperr.NSStanzas, "text").AppendText(text))
	}
	return f
}

// handleSM processes a stream management nonza on a bound session.
func (s *Session) handleSM(ctx context.Context, c *conn, el *xml.Element) error {
	switch el.Local {
	case "enable":
		return s.enableSM(c, el)
	case "r":
		s.mu.Lock()
		if s.sm {
			s.ctrl = append(s.ctrl, []byte("<a xmlns='urn:xmpp:sm:3' h='"+strconv.FormatUint(uint64(s.inH), 10)+"'/>"))
			s.writeLocked()
		}
		s.mu.Unlock()
		return nil
	case "a":
		h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
		if err != nil {
			return xmpperr.Stream(xmpperr.BadFormat, "invalid h")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.sm {
			return nil
		}
		return s.ackLocked(uint32(h))
	case "resume":
		return c.send(smFailed(xmpperr.UnexpectedRequest, "a bound session cannot resume another"))
	}
	return xmpperr.Stream(xmpperr.UnsupportedStanzaType, "unknown stream management element")
}

// ackLocked drops the stanzas the client acknowledged with h.
func (s *Session) ackLocked(h uint32) error {
	if int32(h-s.outSeq) > 0 {
		// XEP-0198 4: acknowledging more than was sent is an error.
		se := xmpperr.Stream(xmpperr.UndefinedCondition, "acknowledged more stanzas than were sent")
		se.App = xml.New(stream.NSSM, "handled-count-too-high", "h", strconv.FormatUint(uint64(h), 10), "send-count", strconv.FormatUint(uint64(s.outSeq), 10))
		return se
	}
	n := 0
	for n < len(s.out) && int32(h-s.out[n].seq) >= 0 {
		s.out[n].delivered()
		n++
	}
	if n == 0 {
		return nil
	}
	clear(s.out[:n])
	s.out = s.out[n:]
	s.written = max(0, s.written-n)
	if len(s.out) == 0 {
		s.out = nil // release the backing array of a burst
	}
	return nil
}

func (s *Session) enableSM(c *conn, el *xml.Element) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sm {
		return c.send(smFailed(xmpperr.UnexpectedRequest, "already enabled"))
	}
	enabled := s.enableSMLocked(el)
	s.ctrl = append(s.ctrl, stream.AppendElement(nil, enabled, xml.NSClient))
	s.writeLocked()
	return nil
}

// enableSMLocked turns stream management on as el (an <enable/>) asks
// and returns the <enabled/> to send before anything counted.
func (s *Session) enableSMLocked(el *xml.Element) *xml.Element {
	s.sm = true
	s.inH = 0
	// Stanzas already written are not counted; those still queued are
	// the first counted ones, written after <enabled/>.
	pending := s.out[s.written:]
	s.out = append([]outItem(nil), pending...)
	s.written = 0
	for i := range s.out {
		s.out[i].seq = uint32(i + 1)
	}
	s.outSeq = uint32(len(s.out))
	s.lastReq = 0
	enabled := xml.New(stream.NSSM, "enabled")
	if v := el.Attr("resume"); v == "true" || v == "1" {
		s.resume = s.srv.cfg.ResumeTimeout
		if m, err := strconv.Atoi(el.Attr("max")); err == nil && m > 0 {
			s.resume = min(time.Duration(m)*time.Second, s.srv.cfg.MaxResumeTimeout)
		}
		s.smID = s.srv.cfg.ResumeIDPrefix + stream.NewID()
		s.srv.setResumable(s.smID, s)
		enabled.SetAttr("id", s.smID)
		enabled.SetAttr("resume", "true")
		enabled.SetAttr("max", strconv.Itoa(int(s.resume/time.Second)))
		if loc := s.srv.cfg.ResumeLocation; loc != "" {
			enabled.SetAttr("location", loc)
		}
	}
	return enabled
}

// resume handles <resume/> on a new, authenticated connection: the
// session, hibernated or still attached to a connection the client has
// given up, becomes active on c in one step. <resumed/> is queued as the
// first nonza, so the writer sends it before anything the session holds.
func (c *conn) resume(ctx context.Context, el *xml.Element) error {
	failed, err := c.resumeWith(ctx, el, func(_ *Session, resumed *xml.Element) [][]byte {
		return [][]byte{c.encode(resumed)}
	})
	if failed != nil {
		return c.send(failed)
	}
	return err
}

// resumeWith resumes the session el (a <resume/>) names on c, or returns
// the <failed/> to tell the client why not. first makes what the writer
// sends before anything the session holds from the <resumed/> element:
// the element itself, or SASL2's <success/> around it.
func (c *conn) resumeWith(ctx context.Context, el *xml.Element, first func(s *Session, resumed *xml.Element) [][]byte) (*xml.Element, error) {
	h64, err := strconv.ParseUint(el.Attr("h"), 10, 32)
	if err != nil {
		return smFailed(xmpperr.BadRequest, "invalid h"), nil
	}
	s := c.srv.lookupResumable(el.Attr("previd"))
	if s == nil && c.srv.cfg.ResumeElsewhere != nil {
		if loc := c.srv.cfg.ResumeElsewhere(el.Attr("previd")); loc != "" {
			// Another node of the cluster holds it (its location in
			// <enabled/> said so too).
			se := xmpperr.Stream(xmpperr.SeeOtherHost, "resume this session at "+loc)
			se.Data = loc
			return nil, se
		}
	}
	if s == nil || s.jid.Local != c.authUser {
		return smFailed(xmpperr.ItemNotFound, "unknown or expired session"), nil
	}
	s.mu.Lock()
	if s.phase == phaseEnded {
		s.mu.Unlock()
		return smFailed(xmpperr.ItemNotFound, "unknown or expired session"), nil
	}
	if err := s.ackLocked(uint32(h64)); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	old := s.c
	s.leaveHibernationLocked()
	s.phase = phaseActive
	s.c = c
	s.written = 0
	s.overflowed = false
	resumed := xml.New(stream.NSSM, "resumed", "h", strconv.FormatUint(uint64(s.inH), 10), "previd", s.smID)
	s.ctrl = first(s, resumed)
	s.writeLocked()
	s.mu.Unlock()
	if old != nil {
		// The old connection is still attached (a NAT dropped it
		// silently): close it; its reader then finds itself detached.
		old.closeWithError(xmpperr.Stream(xmpperr.Conflict, "session resumed on another connection"), true)
	}
	c.sess = s
	c.srv.Stats.Resumed.Add(1)
	c.srv.log.Debug("session resumed", append(c.log(), "jid", s.jid.String(), "bound_session", s.sid)...)
	return nil, nil
}
