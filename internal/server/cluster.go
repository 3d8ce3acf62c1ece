package server

import (
	"context"
	"path/filepath"
	"time"

	"minimix/internal/cluster"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// buildCluster makes this server a node of the cluster of [cluster]: the
// MUC service runs each room on the node owning it, and account joins
// run on the node holding each account's lease.
func (s *Server) buildCluster() *cluster.Node {
	c := s.cfg.Cluster
	storeDir := c.NATS.StoreDir
	if storeDir == "" {
		storeDir = filepath.Join(s.cfg.DataDir, "nats")
	}
	f := s.features
	var node *cluster.Node
	node = cluster.New(cluster.Config{
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
		SessionEnded: func(ctx context.Context, se router.Session) { f.SessionEnded(ctx, se) },
		RemoteSessionEnded: func(ctx context.Context, full jid.JID) {
			if f.joins != nil {
				f.joins.SessionEnded(ctx, full)
			}
		},
		RoomsLost: func(rooms []jid.JID) {
			if f.joins != nil {
				f.joins.RejoinRooms(rooms)
			}
		},
		ResendToRoom: func(room, account jid.JID, el *xml.Element) bool {
			return f.joins != nil && f.joins.Resend(room, account, el)
		},
		NodeGone: func(string) {
			if f.joins != nil && s.cfg.MUC.Domain != "" {
				f.joins.CheckRooms(s.cfg.MUC.Domain)
			}
		},
		Acquired: func(ctx context.Context, kind string, j jid.JID, joined map[string][]string, prevAlive time.Time) error {
			if ap, ok := s.store.(interface{ AdvancePositions(context.Context) error }); ok {
				// What this node archives for the room or account from
				// now on comes after what the previous holder did
				// (docs/postgresql.md, archive positions).
				if err := ap.AdvancePositions(ctx); err != nil {
					return err
				}
			}
			switch {
			case kind == cluster.LeaseRoom && f.muc != nil:
				return f.muc.LoadRoom(ctx, j.Local)
			case kind == cluster.LeaseAccount && f.joins != nil:
				return f.joins.Adopt(ctx, j, joined, prevAlive)
			}
			return nil
		},
		Logger: s.log.With("component", "cluster"),
	})
	if f.muc != nil {
		s.Router.AddComponent(s.cfg.MUC.Domain, node.Rooms(f.muc))
	}
	if f.joins != nil {
		s.Router.ReplaceInterceptor(f.joins, node.Accounts(f.joins, s.cfg.Domain))
		f.joins.SetCluster(
			func(ctx context.Context, account jid.JID) {
				if err := node.Claim(ctx, account); err != nil {
					s.log.Warn("cluster: claiming an account's memberships", "account", account.String(), "err", err)
				}
			},
			func(account jid.JID, gen uint64, joined map[string][]string) {
				node.SetJoined(account, gen, joined)
			})
	}
	return node
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
