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
	return n.publishMsg(node, m)
}

// publishMsg sends m to node, counting it. The connection copies the data
// into its buffer before returning.
func (n *Node) publishMsg(node string, m *nats.Msg) error {
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
	bs, err := decode(m.Header, m.Data)
	if err != nil {
		n.log.Warn("cluster: bad stanza from another node", "err", err)
		return
	}
	n.dispatch(context.Background(), bs)
}

// busStanza is a stanza between nodes with what its headers say.
type busStanza struct {
	el       *xml.Element
	kind     string
	to, from jid.JID
	hops     int
	node     string // the sending node, for kindSession and kindPresence
}

// decode reads a stanza sent to a node (or kept for a rescue).
func decode(h nats.Header, data []byte) (busStanza, error) {
	bs := busStanza{kind: h.Get(hdrKind), node: h.Get(hdrNode)}
	var err error
	if bs.el, err = xml.Parse(data); err != nil {
		return bs, fmt.Errorf("unparseable stanza: %w", err)
	}
	if t := h.Get(hdrTo); t != "" || (bs.kind != kindSession && bs.kind != kindPresence) {
		if bs.to, err = jid.Parse(t); err != nil {
			return bs, fmt.Errorf("bad address %q: %w", t, err)
		}
	}
	if bs.kind == kindDeliver {
		return bs, nil
	}
	if bs.from, err = jid.Parse(h.Get(hdrFrom)); err != nil {
		return bs, fmt.Errorf("bad sender %q: %w", h.Get(hdrFrom), err)
	}
	bs.hops, _ = strconv.Atoi(h.Get(hdrHops))
	return bs, nil
}

// dispatch does on this node what bs asks for.
func (n *Node) dispatch(ctx context.Context, bs busStanza) {
	switch bs.kind {
	case kindDeliver:
		n.deliverLocal(ctx, bs.el, bs.to)
	case kindRoute:
		n.cfg.Router.Route(ctx, bs.el, bs.from, bs.to)
	case kindRoom:
		if n.rooms == nil {
			n.cfg.Router.Route(ctx, bs.el, bs.from, bs.to)
			return
		}
		n.rooms.route(ctx, bs.el, bs.from, bs.to, bs.hops)
	case kindSession, kindPresence:
		n.sessionStanza(ctx, bs.kind, bs.node, bs.el, bs.from, bs.to, bs.hops)
	default:
		n.log.Warn("cluster: unknown message kind", "kind", bs.kind)
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
