package push

// Settings are what a configuration reload changes in a running service;
// they apply from the next notification or registration on.
type Settings struct {
	RoomDefault                Notify
	IncludeSender, IncludeBody bool
	MaxRegistrations           int
	MaxFailures                int // <= 0: 3
}

// SetSettings replaces the service's settings.
func (s *Service) SetSettings(st Settings) {
	if st.MaxFailures <= 0 {
		st.MaxFailures = 3
	}
	s.settings.Store(&st)
}

func (s *Service) set() *Settings { return s.settings.Load() }
