package muc

// Rooms returns the number of rooms the service holds in memory.
func (s *Service) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// Occupants returns the number of occupants (nicks) in all rooms.
func (s *Service) Occupants() int {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	n := 0
	for _, r := range rooms {
		r.mu.Lock()
		n += len(r.list)
		r.mu.Unlock()
	}
	return n
}
