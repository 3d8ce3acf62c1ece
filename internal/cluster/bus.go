package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// A message on a node's subject carries one serialised stanza; its
// headers say what to do with it.
const (
	hdrKind = "K" // one of the kinds below
	hdrTo   = "T" // the address the stanza is for
	hdrFrom = "F" // the trusted sender (a session's full JID for kindSession)
	hdrHops = "H" // how often the stanza was passed on between nodes
	hdrNode = "N" // the node that sent it, for kindSession

	// kindDeliver: hand the stanza to the local session T.
	kindDeliver = "d"
	// kindRoute: route the stanza from F to T as if it had been routed
	// on the receiving node (to a room it owns, an account it acts for).
	kindRoute = "r"
	// kindRoom: a stanza from F for the room T, which the receiving
	// node owns (or finds the owner of).
	kindRoom = "m"
	// kindSession: what the session F (of node N) sent to T, for the
	// account join of its account, which the receiving node acts for.
	kindSession = "s"
	// kindPresence: the session F's broadcast presence, for the account's
	// presence in its rooms; the session's node routes it otherwise.
	kindPresence = "p"
	// kindPing asks the node whether it is alive; it answers at once.
	kindPing = "ping"
)

// pingTimeout bounds the wait for a node's answer to a ping.
const pingTimeout = time.Second

// answers reports whether node answers a ping: core NATS, which works
// while JetStream elects new leaders after a server died, when its
// buckets (and the node keys in them) may look stale for a moment.
func (n *Node) answers(node string) bool {
	m := &nats.Msg{Subject: subjectPrefix + node, Header: nats.Header{hdrKind: {kindPing}}}
	_, err := n.nc.RequestMsg(m, pingTimeout)
	return err == nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// publish sends el to node with the given headers. With keep, it is kept
// to be rescued if node's NATS server turns out to be gone, or queued for
// the node's successor at once if it was found gone already (rescue.go).
func (n *Node) publish(node string, h nats.Header, el *xml.Element, keep bool) error {
	bp := bufPool.Get().(*[]byte)
	b := el.AppendXML((*bp)[:0], "")
	defer func() {
		*bp = b[:0]
		bufPool.Put(bp)
	}()
	m := &nats.Msg{Subject: subjectPrefix + node, Header: h, Data: b}
	if keep {
		if n.isUnreachable(node) {
			n.rescueKept(kept{node: node, h: h, data: append([]byte(nil), b...)})
			return nil
		}
		m.Reply = n.keep(node, h, b)
	}
	// The connection copies the data into its buffer before returning.
	if err := n.nc.PublishMsg(m); err != nil {
		n.Stats.SendErrors.Add(1)
		n.log.Warn("cluster: sending to a node failed", "node", node, "err", err)
		return fmt.Errorf("send to node %s: %w", node, err)
	}
	n.Stats.Sent.Add(1)
	return nil
}

// sendDeliver sends el for the session full bound on node. A message or
// a request is kept for a rescue; a node whose server was found gone
// refuses it at once, so that the router delivers it elsewhere.
func (n *Node) sendDeliver(node string, full jid.JID, el *xml.Element) error {
	if n.isUnreachable(node) {
		return errUnreachable
	}
	h := nats.Header{hdrKind: {kindDeliver}, hdrTo: {full.String()}}
	switch t := el.Attr("type"); {
	case el.Local == "message" && (t == "" || t == "chat" || t == "normal"),
		el.Local == "iq" && (t == "get" || t == "set"):
		// What Router.Reroute delivers elsewhere, or answers with an
		// error, when the session is gone.
		return n.publish(node, h, el, true)
	}
	return n.publish(node, h, el, false)
}

// errUnreachable says a node's NATS server was found gone.
var errUnreachable = errors.New("the node's NATS server is gone")

// SendRoute sends el to node, which routes it from from to to as if it
// had come in there.
func (n *Node) SendRoute(node string, el *xml.Element, from, to jid.JID) error {
	h := nats.Header{hdrKind: {kindRoute}, hdrTo: {to.String()}, hdrFrom: {from.String()}}
	return n.publish(node, h, el, true)
}

// receive handles a message on this node's subject. NATS calls it on one
// goroutine per subscription, in the order each node sent.
func (n *Node) receive(m *nats.Msg) {
	if m.Header.Get(hdrKind) == kindPing {
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
		return
	}
	n.Stats.Received.Add(1)
	ctx := context.Background()
	el, err := xml.Parse(m.Data)
	if err != nil {
		n.log.Warn("cluster: unparseable stanza from another node", "err", err)
		return
	}
	kind := m.Header.Get(hdrKind)
	var to jid.JID
	if t := m.Header.Get(hdrTo); t != "" || (kind != kindSession && kind != kindPresence) {
		to, err = jid.Parse(t)
	}
	if err != nil {
		n.log.Warn("cluster: bad address from another node", "to", m.Header.Get(hdrTo), "err", err)
		return
	}
	if kind == kindDeliver {
		n.deliverLocal(ctx, el, to)
		return
	}
	from, err := jid.Parse(m.Header.Get(hdrFrom))
	if err != nil {
		n.log.Warn("cluster: bad sender from another node", "from", m.Header.Get(hdrFrom), "err", err)
		return
	}
	hops, _ := strconv.Atoi(m.Header.Get(hdrHops))
	switch kind {
	case kindRoute:
		n.cfg.Router.Route(ctx, el, from, to)
	case kindRoom:
		if n.rooms == nil {
			n.cfg.Router.Route(ctx, el, from, to)
			return
		}
		n.rooms.route(ctx, el, from, to, hops)
	case kindSession, kindPresence:
		n.sessionStanza(ctx, kind, m.Header.Get(hdrNode), el, from, to, hops)
	default:
		n.log.Warn("cluster: unknown message kind", "kind", m.Header.Get(hdrKind))
	}
}

// deliverLocal hands el to the local session to. A session that ended
// meanwhile is handled as the router handles one that ends with the
// stanza queued: a message goes to the account's other resources or
// offline storage, a request is answered with an error.
//
// Reroute never sends it back to the session's own full JID, and this
// node mirrors no other node's session of it, so it does not go round.
func (n *Node) deliverLocal(ctx context.Context, el *xml.Element, to jid.JID) {
	s := n.cfg.Registry.Get(to)
	if s != nil && router.Local(s) && s.Deliver(el) {
		return
	}
	n.cfg.Router.Reroute(ctx, el, &goneSession{full: to}, nil)
}

// goneSession stands for a session that ended before a stanza another
// node sent it arrived, for Router.Reroute.
type goneSession struct {
	full  jid.JID
	state router.State
}

func (g *goneSession) JID() jid.JID              { return g.full }
func (g *goneSession) Deliver(*xml.Element) bool { return false }
func (g *goneSession) State() *router.State      { return &g.state }
