package server

import (
	"context"
	"sync/atomic"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// ServerStanza implements router.Handlers: stanzas to the domain itself.
func (f *features) ServerStanza(ctx context.Context, el *xml.Element, from, to jid.JID) {
	switch el.Local {
	case stanza.IQ:
		if reply := f.s.Mux.Serve(ctx, el, from, to, iq.Server); reply != nil {
			f.s.Router.RouteElement(ctx, reply)
		}
	case stanza.Message:
		// The server is no chat partner; tell senders of real messages so.
		switch stanza.Type(el) {
		case "chat", "normal":
			if el.Child("", "body") != nil {
				f.s.Router.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
			}
		}
	case stanza.Presence:
		// Presence to the server (probes, directed) needs no answer.
	}
}

// AccountIQ implements router.Handlers: iqs to an account's bare JID.
func (f *features) AccountIQ(ctx context.Context, el *xml.Element, from, to jid.JID) {
	target := iq.Account
	if from.Bare() == to {
		target = iq.Self
	} else if !f.AccountExists(ctx, to.Local) {
		f.s.Router.Bounce(ctx, el, xmpperr.New(xmpperr.ServiceUnavailable, ""))
		return
	}
	if reply := f.s.Mux.Serve(ctx, el, from, to, target); reply != nil {
		f.s.Router.RouteElement(ctx, reply)
	}
}

// Presence implements router.Handlers.
func (f *features) Presence(ctx context.Context, el *xml.Element, from, to jid.JID) {
	f.presence.Presence(ctx, el, from, to)
}

// SessionPresence implements router.Handlers.
func (f *features) SessionPresence(ctx context.Context, s router.Session, el *xml.Element, to jid.JID) {
	f.presence.SessionPresence(ctx, s, el, to)
}

// AccountExists implements router.Handlers.
//
// It is asked for every message to a bare JID, so it answers without
// the database when it can: an account with a bound session exists, and
// an account seen to exist is remembered for existsTTL (deleting an
// account through the server forgets it at once; the TTL bounds how long
// a deletion made by another process goes unnoticed).
func (f *features) AccountExists(ctx context.Context, local string) bool {
	if len(f.s.Registry.Sessions(jid.JID{Local: local, Domain: f.s.cfg.Domain})) > 0 {
		return true
	}
	if until, ok := f.exists.Load(local); ok && time.Now().Before(until.(time.Time)) {
		return true
	}
	ok, err := f.s.store.AccountExists(ctx, local)
	if err != nil {
		f.s.log.Error("account lookup failed", "user", local, "err", err)
		return false
	}
	if ok {
		f.exists.Store(local, time.Now().Add(existsTTL))
	}
	return ok
}

// existsTTL is how long a positive account lookup is remembered.
const existsTTL = time.Minute

// forgetAccount drops a deleted account from the existence cache.
func (f *features) forgetAccount(local string) { f.exists.Delete(local) }

// SessionEnded implements c2s.Hooks.
func (f *features) SessionEnded(ctx context.Context, s router.Session) {
	if f.joins != nil {
		f.joins.SessionEnded(ctx, s.JID())
	}
	f.presence.SessionEnded(ctx, s)
	f.blocking.SessionEnded(s)
}

func (s *Server) registerMetrics() {
	m := s.Metrics
	cs := &s.C2S.Stats
	m.Gauge("minimix_c2s_connections", "Open client connections.", &cs.Connections)
	m.Gauge("minimix_c2s_sessions", "Bound client sessions, hibernated ones included.", &cs.Sessions)
	m.Gauge("minimix_c2s_sessions_hibernated", "Sessions awaiting stream resumption.", &cs.Hibernated)
	m.Counter("minimix_c2s_auth_failures_total", "Failed SASL authentications.", &cs.AuthFailures)
	m.Counter("minimix_c2s_auth_successes_total", "Successful SASL authentications.", &cs.AuthSuccesses)
	m.Counter("minimix_c2s_auth_throttled_total", "Logins refused by the login limiter (c2s.login_failures_per_minute, c2s.address_login_failures_per_minute).", &cs.AuthThrottled)
	m.Counter("minimix_c2s_read_throttled_total", "Connections read more slowly for sending faster than limits.c2s_bytes_per_second.", &cs.ReadThrottled)
	m.Counter("minimix_c2s_timed_out_total", "Connections cut because the client sent nothing in time.", &cs.TimedOut)
	m.Counter("minimix_c2s_resumed_total", "Sessions resumed (XEP-0198).", &cs.Resumed)
	m.Counter("minimix_c2s_overflows_total", "Sessions cut off because the client did not read.", &cs.Overflows)
	m.Counter("minimix_c2s_stanzas_in_total", "Stanzas received from clients.", &cs.StanzasIn)
	m.Counter("minimix_c2s_stanzas_out_total", "Stanzas written to clients.", &cs.StanzasOut)
	m.Counter("minimix_c2s_bytes_out_total", "Bytes written to clients.", &cs.BytesOut)
	if f, ok := s.store.(interface{ ArchiveWriteFailures() uint64 }); ok {
		m.CounterFunc("minimix_archive_write_failures_total", "Archive records that could not be written.", func() float64 {
			return float64(f.ArchiveWriteFailures())
		})
	}
	if q, ok := s.store.(interface{ ArchiveQueue() int }); ok {
		m.GaugeFunc("minimix_archive_queue", "Archive writes queued and not yet committed.", func() float64 {
			return float64(q.ArchiveQueue())
		})
	}
	if s.Cluster != nil {
		cs := &s.Cluster.Stats
		m.Counter("minimix_cluster_sent_total", "Stanzas sent to other cluster nodes.", &cs.Sent)
		m.Counter("minimix_cluster_received_total", "Stanzas received from other cluster nodes.", &cs.Received)
		m.Counter("minimix_cluster_send_errors_total", "Stanzas that could not be sent to another cluster node.", &cs.SendErrors)
		m.Counter("minimix_cluster_nodes_gone_total", "Cluster nodes seen to die.", &cs.NodesGone)
		m.Counter("minimix_cluster_rescued_total", "Stanzas for a node whose NATS server was gone, delivered elsewhere (a session's messages: other sessions, offline storage) or kept for the node's successor (rooms, accounts).", &cs.Rescued)
		m.Counter("minimix_cluster_nats_errors_total", "Errors NATS reported on this node's connection (slow consumer, permissions).", &cs.NATSErrors)
		m.GaugeFunc("minimix_cluster_nodes", "Live cluster nodes, this one included.", func() float64 { return float64(len(s.Cluster.Nodes())) })
	}
	if s.S2S != nil {
		ss := &s.S2S.Stats
		for _, d := range []struct {
			dir                                 string
			conns                               *atomic.Int64
			established, failed, stanzas, bytes *atomic.Uint64
			dialbackFailures                    *atomic.Uint64
		}{
			{"in", &ss.InConns, &ss.InEstablished, &ss.InFailed, &ss.InStanzas, &ss.InBytes, &ss.InDialbackFailed},
			{"out", &ss.OutConns, &ss.OutEstablished, &ss.OutFailed, &ss.OutStanzas, &ss.OutBytes, &ss.OutDialbackFail},
		} {
			l := map[string]string{"direction": d.dir}
			m.LabeledGauge("minimix_s2s_connections", "Open server-to-server streams.", l, d.conns)
			m.LabeledCounter("minimix_s2s_established_total", "Server-to-server streams that authenticated.", l, d.established)
			m.LabeledCounter("minimix_s2s_failed_total", "Server-to-server streams that ended before they authenticated.", l, d.failed)
			m.LabeledCounter("minimix_s2s_stanzas_total", "Stanzas received from (in) and written to (out) other servers.", l, d.stanzas)
			m.LabeledCounter("minimix_s2s_bytes_total", "Bytes read from (in) and written to (out) other servers.", l, d.bytes)
			m.LabeledCounter("minimix_s2s_dialback_failures_total", "Dialback requests refused: peers' we refused (in), ours refused to us (out).", l, d.dialbackFailures)
		}
		m.Counter("minimix_s2s_bounces_total", "Stanzas for other servers answered with an error because no stream could take them.", &ss.Bounced)
	}
	m.GaugeFunc("minimix_tls_certificate_expiry_timestamp_seconds", "When the presented TLS certificate expires, in seconds since 1970.", func() float64 {
		return float64(s.certs.holder.Expires().Unix())
	})
	m.GaugeFunc("minimix_tls_certificate_expiring", "1 when the presented TLS certificate expires within 14 days, else 0.", func() float64 {
		if s.certs.expiring() {
			return 1
		}
		return 0
	})
	rs := &s.Router.Stats
	m.Counter("minimix_router_routed_total", "Stanzas routed.", &rs.Routed)
	m.Counter("minimix_router_delivered_local_total", "Stanzas the router handed to local sessions (room stanzas that account joins fork to sessions are minimix_account_join_forked_total).", &rs.DeliveredLocal)
	m.Counter("minimix_router_offline_total", "Messages stored for offline accounts.", &rs.Offline)
	m.Counter("minimix_router_bounced_total", "Error replies generated by routing rules.", &rs.Bounced)
	m.Counter("minimix_router_carbons_total", "Carbon copies delivered.", &rs.Carbons)
	if mucSvc := s.features.muc; mucSvc != nil {
		m.GaugeFunc("minimix_muc_rooms", "Rooms of the MUC service in memory.", func() float64 { return float64(mucSvc.Rooms()) })
		m.GaugeFunc("minimix_muc_occupants", "Occupants (nicks) in all rooms of the MUC service.", func() float64 { return float64(mucSvc.Occupants()) })
	}
	if ps := s.features.pubsub; ps != nil {
		m.GaugeFunc("minimix_pubsub_nodes", "Nodes of the publish-subscribe service.", func() float64 { return float64(ps.Nodes()) })
	}
	if ah := s.features.adhoc; ah != nil {
		m.GaugeFunc("minimix_adhoc_sessions", "Open ad-hoc command sessions.", func() float64 { return float64(ah.Sessions()) })
	}
	if cs := s.Components; cs != nil {
		st := &cs.Stats
		m.Gauge("minimix_components_connected", "External components connected (XEP-0114).", &st.Connected)
		m.Counter("minimix_components_stanzas_in_total", "Stanzas received from external components.", &st.StanzasIn)
		m.Counter("minimix_components_stanzas_out_total", "Stanzas written to external components.", &st.StanzasOut)
		m.Counter("minimix_components_handshake_failures_total", "Component connections refused at the handshake.", &st.HandshakeFail)
		m.Counter("minimix_components_overflows_total", "Components cut off because they did not read.", &st.Overflows)
	}
	if p := s.features.push; p != nil {
		ps := &p.Stats
		m.Gauge("minimix_push_registrations", "Push notification registrations enabled (XEP-0357).", &ps.Registrations)
		m.Counter("minimix_push_queued_total", "Messages to accounts with push enabled, considered for a push.", &ps.Queued)
		m.Counter("minimix_push_published_total", "Push notifications published to app servers.", &ps.Published)
		m.Counter("minimix_push_failed_total", "Push notifications refused or not answered by app servers.", &ps.Failed)
		m.Counter("minimix_push_disabled_total", "Push registrations disabled after app server failures.", &ps.Disabled)
		m.Counter("minimix_push_dropped_total", "Messages not considered for a push: the queue was full.", &ps.Dropped)
	}
	bs := &s.features.blocking.Stats
	m.Counter("minimix_blocking_blocked_total", "Stanzas from blocked JIDs stopped (XEP-0191).", &bs.Blocked)
	m.Counter("minimix_blocking_refused_total", "Stanzas to blocked JIDs refused (XEP-0191).", &bs.Refused)
	m.Gauge("minimix_blocking_items", "JIDs in all accounts' blocklists.", &bs.BlockedItems)
	if j := s.features.joins; j != nil {
		js := &j.Stats
		m.Gauge("minimix_account_joins", "Rooms joined as an account (account-based group chat).", &js.AccountJoins)
		m.Gauge("minimix_account_joins_joined", "Rooms joined as an account whose join the room answered.", &js.Joined)
		m.Gauge("minimix_account_join_sessions", "Sessions joined to rooms the account is in.", &js.JoinedSessions)
		m.Counter("minimix_account_join_forked_total", "Room stanzas forked to joined sessions.", &js.Forked)
		m.Counter("minimix_account_join_saved_total", "Stanzas rooms did not have to send thanks to account joins.", &js.Saved)
		m.Counter("minimix_account_join_synthesised_total", "Session joins answered from local state.", &js.Synthesised)
		m.GaugeFunc("minimix_account_join_synthesised_seconds_total", "Time spent synthesising joins.", func() float64 {
			return float64(js.SynthNanos.Load()) / 1e9
		})
		m.Counter("minimix_account_join_rejoins_total", "Rejoins after a restart or a room shutdown.", &js.Rejoins)
		m.Counter("minimix_account_join_archive_failures_total", "Room messages that could not be archived.", &js.ArchiveFailures)
		m.Counter("minimix_account_join_refused_total", "Room messages refused from sessions that had not joined.", &js.RefusedGroupchat)
	}
}
