package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded configures the NATS server a node runs in its own process
// when it is given no external NATS URL ([cluster.nats]).
type Embedded struct {
	// Listen is the client address, "" for none (the node connects in
	// process).
	Listen string
	// ClusterListen is where the other nodes' servers connect; used
	// only with Routes.
	ClusterListen string
	// Routes are the other nodes' cluster addresses (nats://host:port).
	// Without any the server runs alone.
	Routes      []string
	ClusterName string
	// StoreDir holds JetStream's files.
	StoreDir string
}

// embeddedReady bounds how long an embedded server may take to accept
// connections.
const embeddedReady = 30 * time.Second

// startEmbedded starts a NATS server with JetStream named after the node.
func startEmbedded(nodeID string, e Embedded, log *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: nodeID,
		JetStream:  true,
		StoreDir:   e.StoreDir,
		NoSigs:     true,
		// The node's own JetStream use is small; these bound what a
		// runaway could take.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  1 << 30,
	}
	switch {
	case e.Listen == "" && len(e.Routes) > 0:
		// nats-server starts routing only once its client listener is
		// open (StartRouting waits for the accept loop, which
		// DontListen never starts): a loopback port the kernel picks.
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	case e.Listen == "":
		opts.DontListen = true
	default:
		host, port, err := hostPort(e.Listen)
		if err != nil {
			return nil, fmt.Errorf("cluster.nats.listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if len(e.Routes) > 0 {
		host, port, err := hostPort(e.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster.nats.cluster_listen: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: e.ClusterName, Host: host, Port: port}
		opts.Routes = server.RoutesFromStr(strings.Join(e.Routes, ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(embeddedReady) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS server did not become ready")
	}
	return ns, nil
}

// hostPort splits a listen address for NATS, whose port 0 means its
// default: the kernel's choice is RANDOM_PORT there.
func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// natsLogger writes the embedded server's log through slog. Its notices
// are info, its debug and trace lines are not asked for.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
