package server

import (
	"context"
	"path/filepath"

	"minimix/internal/cluster"
	"minimix/internal/router"
)

// buildCluster makes this server a node of the cluster of [cluster].
func (s *Server) buildCluster() *cluster.Node {
	c := s.cfg.Cluster
	storeDir := c.NATS.StoreDir
	if storeDir == "" {
		storeDir = filepath.Join(s.cfg.DataDir, "nats")
	}
	return cluster.New(cluster.Config{
		NodeID:  c.NodeID,
		NATSURL: c.NATSURL,
		Embedded: cluster.Embedded{
			Listen:        c.NATS.Listen,
			ClusterListen: c.NATS.ClusterListen,
			Routes:        c.NATS.Routes,
			ClusterName:   c.NATS.ClusterName,
			StoreDir:      storeDir,
		},
		NodeTimeout: c.NodeTimeout.Duration,
		Replicas:    c.Replicas,
		Registry:    s.Registry,
		Router:      s.Router,
		// A dead node's sessions end here as they would have there:
		// presence says unavailable for them, account joins forget them.
		SessionEnded: func(ctx context.Context, se router.Session) { s.features.SessionEnded(ctx, se) },
		Logger:       s.log.With("component", "cluster"),
	})
}

// clusterInfoLocked is what this node tells the others about itself.
// s.mu is held.
func (s *Server) clusterInfoLocked() map[string]string {
	info := map[string]string{}
	for _, l := range s.listeners {
		switch {
		case l.s2s || l.component:
		case l.directTLS:
			if info["c2s_direct_tls"] == "" {
				info["c2s_direct_tls"] = l.ln.Addr().String()
			}
		default:
			if info["c2s"] == "" {
				info["c2s"] = l.ln.Addr().String()
			}
		}
	}
	if s.httpLn != nil {
		info["http"] = s.httpLn.Addr().String()
	}
	if l := s.cfg.Cluster.ResumeLocation; l != "" {
		info["resume_location"] = l
	}
	return info
}

// stopCluster leaves the cluster after a failed start.
func (s *Server) stopCluster(ctx context.Context) {
	if s.Cluster == nil {
		return
	}
	if err := s.Cluster.Shutdown(ctx); err != nil {
		s.log.Error("leaving the cluster after a failed start", "err", err)
	}
}
