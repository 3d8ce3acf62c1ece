package web

import (
	"net/http"
	"time"
)

// BOSHConfig bounds BOSH sessions.
type BOSHConfig struct {
	MaxWait    time.Duration
	Inactivity time.Duration
	MaxPause   time.Duration
	MaxHold    int
}

type boshManager struct{ h *Handler }

func newBOSHManager(h *Handler) *boshManager { return &boshManager{h: h} }
func (m *boshManager) closeAll()             {}

func (h *Handler) serveBOSH(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not yet", http.StatusNotImplemented)
}
