package c2s

// Inactive reports whether the client said it is inactive (XEP-0352):
// on a phone, the screen is off. Push notifications (XEP-0357) wake such
// a client for what it would want to see.
func (s *Session) Inactive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inactive
}

// Hibernated reports whether the session waits for its client to resume
// it (XEP-0198): its connection is gone, what reaches it is queued.
func (s *Session) Hibernated() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase == phaseHibernated
}
