// Package config holds minimix's configuration: plain structs with documented
// defaults, decoded strictly from TOML and checked by Validate.
//
// The TOML key of every field is given by its struct tag; the default is in the
// field's comment and in Default. The embedded Example file lists every key with
// its default, and a test keeps it equal to Default.
//
// To add a section (MUC, S2S, AccountJoin, ...): add a struct type with toml tags,
// a field on Config, its defaults in Default, a validate method called from
// Config.Validate, the commented keys in minimix.example.toml, and a line in
// the override test; tests fail until the example and the overrides cover every
// key.
package config

import (
	_ "embed"
	"os"
	"path/filepath"
	"time"
)

// Example is a complete configuration file with every key set to its default
// and commented, for operators to start from.
//
//go:embed minimix.example.toml
var Example string

// EnvVar names the environment variable that FromEnv consults.
const EnvVar = "MINIMIX_CONFIG"

// Config is the whole server configuration.
type Config struct {
	// Domain is the XMPP domain this server hosts. Default "localhost".
	Domain string `toml:"domain"`
	// DataDir holds the database, generated certificates and other state.
	// Default "./minimix-data".
	DataDir string `toml:"data_dir"`
	// Admins are bare JIDs with administrative rights. Default none.
	Admins []string `toml:"admins"`
	// ShutdownGrace is how long a shutdown (SIGINT, SIGTERM) may take
	// before what is left is cut off. Default "30s", between 1s and 1h.
	ShutdownGrace Duration `toml:"shutdown_grace"`

	C2S      C2S      `toml:"c2s"`
	S2S      S2S      `toml:"s2s"`
	Accounts Accounts `toml:"accounts"`
	TLS      TLS      `toml:"tls"`
	HTTP     HTTP     `toml:"http"`
	// AdminPage configures the web admin page on the HTTP listener.
	AdminPage AdminPage `toml:"admin_page"`
	Storage   Storage   `toml:"storage"`
	Limits    Limits    `toml:"limits"`
	Log       Log       `toml:"log"`

	Roster      Roster      `toml:"roster"`
	PEP         PEP         `toml:"pep"`
	MAM         MAM         `toml:"mam"`
	MUC         MUC         `toml:"muc"`
	AccountJoin AccountJoin `toml:"account_join"`
	Adhoc       Adhoc       `toml:"adhoc"`
	PubSub      PubSub      `toml:"pubsub"`
	Blocking    Blocking    `toml:"blocking"`

	ExternalServices ExternalServices `toml:"external_services"`
	Components       Components       `toml:"components"`
	Push             Push             `toml:"push"`
	Upload           Upload           `toml:"upload"`
	Cluster          Cluster          `toml:"cluster"`

	// path is the file the configuration was loaded from.
	path string
}

// MUC configures the multi-user chat service (XEP-0045, docs/muc.md).
type MUC struct {
	// Domain is the service's domain. Default "conference." + domain: a
	// file that changes domain and leaves muc.domain out gets the
	// derived value. "" disables the service.
	Domain string `toml:"domain"`
	// HistoryDefault is how many messages a join that asks for no
	// particular history is given, at most the room's history length.
	// Default 20, between 0 and 200.
	HistoryDefault int `toml:"history_default"`
	// MaxOccupants caps the occupants of each room; a room's own maximum
	// cannot exceed it. Default 1000.
	MaxOccupants int `toml:"max_occupants"`
	// RestrictRoomCreation says who may create rooms: "anyone", "local"
	// (accounts of this server) or "admins" (muc.admins and admins).
	// Default "local".
	RestrictRoomCreation string `toml:"restrict_room_creation"`
	// Admins are bare JIDs with owner rights in every room, besides the
	// server's admins. Default none.
	Admins []string `toml:"admins"`
	// CreateBurst is how many rooms one account may create at once, and
	// CreateInterval how often it gets one more; MUC and server admins
	// are not limited. Default 100 and "1s"; a burst of 0 is no limit.
	CreateBurst    int      `toml:"create_burst"`
	CreateInterval Duration `toml:"create_interval"`
	// JoinBurst and JoinInterval limit the rooms one account enters the
	// same way. Default 1000 and "50ms"; 0 is no limit.
	JoinBurst    int      `toml:"join_burst"`
	JoinInterval Duration `toml:"join_interval"`
	// HistoryLength is a new room's history length, and MaxHistoryLength
	// the most a room's owner may set. Default 50 and 200.
	HistoryLength    int `toml:"history_length"`
	MaxHistoryLength int `toml:"max_history_length"`
	// MaxSessionsPerNick caps the sessions that share one occupant (one
	// nick, one real bare JID). Default 32.
	MaxSessionsPerNick int `toml:"max_sessions_per_nick"`
	// MaxNickLength caps a nick, in characters. Default 64.
	MaxNickLength int `toml:"max_nick_length"`
	// VoiceRequestBurst and VoiceRequestInterval limit a visitor's
	// requests for voice. Default 3 and "30s".
	VoiceRequestBurst    int      `toml:"voice_request_burst"`
	VoiceRequestInterval Duration `toml:"voice_request_interval"`
}

// S2S configures server-to-server connections: federation with other XMPP
// servers (docs/federation.md).
type S2S struct {
	// Enabled turns federation on. Default true; false answers every
	// stanza for another domain with remote-server-not-found and opens no
	// s2s listener.
	Enabled bool `toml:"enabled"`
	// Listen are addresses where peers connect and upgrade with STARTTLS
	// (the _xmpp-server._tcp SRV target, or the domain's address on 5269).
	// Default [":5269"].
	Listen []string `toml:"listen"`
	// DirectTLSListen are addresses for direct TLS from peers (XEP-0368,
	// the _xmpps-server._tcp SRV target). Default [":5270"].
	DirectTLSListen []string `toml:"direct_tls_listen"`
	// RequireTLS refuses streams without TLS, both ways. Default true.
	RequireTLS bool `toml:"require_tls"`
	// RequireValidCerts refuses peers whose certificate does not verify for
	// their domain (XEP-0178), in both directions. Default false: such
	// peers authenticate with Server Dialback (XEP-0220), as most small
	// servers with self-signed certificates need.
	RequireValidCerts bool `toml:"require_valid_certs"`
	// CAFile is a PEM file of the roots that peers' certificates must chain
	// to. Default "": the system's roots.
	CAFile string `toml:"ca_file"`
	// Hosts maps remote domains to "host:port" to connect to, before any DNS
	// lookup, for private deployments and tests, e.g.
	// { "other.example" = "10.0.0.5:5269" }; an entry also covers the
	// domain's subdomains that have none of their own. Default {}.
	Hosts map[string]string `toml:"hosts"`
	// ConnectTimeout bounds each TCP connection attempt to a peer. Default
	// "10s".
	ConnectTimeout Duration `toml:"connect_timeout"`
	// NegotiateTimeout bounds each step of stream negotiation (header, TLS,
	// authentication), both ways. Default "30s".
	NegotiateTimeout Duration `toml:"negotiate_timeout"`
	// IdleTimeout closes a stream that carried nothing for this long.
	// Default "10m".
	IdleTimeout Duration `toml:"idle_timeout"`
	// QueueMax is how many stanzas may wait for one remote domain while its
	// stream is set up; more are refused with resource-constraint. Default
	// 1000.
	QueueMax int `toml:"queue_max"`
	// RetryInitial is how long stanzas for a domain that could not be
	// reached are bounced at once before the next attempt; each failure in
	// a row doubles it, up to RetryMax. Default "1s" and "60s".
	RetryInitial Duration `toml:"retry_initial"`
	RetryMax     Duration `toml:"retry_max"`
	// PreAuthStanzaBytes bounds each element a peer sends before it
	// authenticated; limits.max_stanza_bytes applies after. Default 10000,
	// between 1024 and limits.max_stanza_bytes.
	PreAuthStanzaBytes int `toml:"preauth_stanza_bytes"`
	// MaxConnections limits incoming s2s connections at once; 0 is
	// unlimited. Default 0.
	MaxConnections int `toml:"max_connections"`
}

// AccountJoin configures account-based group chat: the server joins rooms
// once as the account and forks their traffic to the sessions that joined
// (docs/account-join.md).
type AccountJoin struct {
	// Enabled turns the feature on. Default true.
	Enabled bool `toml:"enabled"`
	// IdleLeaveAfter is how long an account stays in a room no session of
	// it has joined before it leaves (rooms joined by bookmark excepted).
	// Default "720h"; "0s" never leaves.
	IdleLeaveAfter Duration `toml:"idle_leave_after"`
	// OfflineShow is the <show/> the account has in rooms while none of
	// its sessions is joined: away, xa or dnd. Default "xa".
	OfflineShow string `toml:"offline_show"`
	// HistoryMax is the most room messages replayed from the account's
	// archive to a session that joins a room the account is already in
	// (the session's <history/> may ask for fewer). Default 50, between 1
	// and 1000.
	HistoryMax int `toml:"history_max"`
	// SelfPingAfter is how long after the link to a room's server broke
	// (another server's room; docs/federation.md) the server checks with a
	// self-ping (XEP-0410) that each account is still in the rooms there,
	// and joins again where it is not. Default "30s"; must be positive.
	SelfPingAfter Duration `toml:"self_ping_after"`
}

// Adhoc configures the ad-hoc commands (XEP-0050) the server answers,
// service administration (XEP-0133) for admins among them
// (docs/adhoc.md).
type Adhoc struct {
	// SessionTimeout ends a command session its requester left unused
	// this long. Default "10m", between 10s and 24h.
	SessionTimeout Duration `toml:"session_timeout"`
	// MaxSessions bounds the open command sessions of one requester (a
	// bare JID); starting one more ends its least recently used. Default
	// 8, between 1 and 1000.
	MaxSessions int `toml:"max_sessions"`
}

// PubSub configures the generic publish-subscribe service (XEP-0060,
// docs/pubsub.md).
type PubSub struct {
	// Domain is the service's domain. Default "pubsub." + domain: a file
	// that changes domain and leaves pubsub.domain out gets the derived
	// value. "" disables the service.
	Domain string `toml:"domain"`
	// RestrictNodeCreation says who may create nodes: "anyone", "local"
	// (accounts of this server) or "admins" (the server's admins, who own
	// every node). Default "local".
	RestrictNodeCreation string `toml:"restrict_node_creation"`
	// MaxNodes bounds the nodes of the service, MaxNodesPerOwner those
	// one account owns (admins excepted). Default 10000 and 100, each
	// between 1 and 1000000.
	MaxNodes         int `toml:"max_nodes"`
	MaxNodesPerOwner int `toml:"max_nodes_per_owner"`
	// MaxItems is the most items a node keeps, and what max_items "max"
	// means. Default 1000, between 1 and 100000.
	MaxItems int `toml:"max_items"`
	// MaxPayloadBytes bounds one item's serialised payload. Default
	// 250000, between 1024 and 64 MiB; keep it below
	// limits.max_stanza_bytes.
	MaxPayloadBytes int `toml:"max_payload_bytes"`
	// MaxSubscriptions bounds the subscriptions of one node. Default
	// 1000, between 1 and 100000.
	MaxSubscriptions int `toml:"max_subscriptions"`
}

// Blocking bounds the blocking command (XEP-0191, docs/blocking.md).
type Blocking struct {
	// MaxItems bounds the JIDs one account may block; a block past it is
	// refused with resource-constraint. Default 1000, between 1 and
	// 100000.
	MaxItems int `toml:"max_items"`
}

// ExternalServices lists the STUN and TURN servers (and any other
// services outside XMPP) that clients discover through the server
// (XEP-0215, docs/extdisco.md), for audio and video calls.
type ExternalServices struct {
	// Secret is the secret shared with the TURN server (coturn's
	// static-auth-secret with use-auth-secret): the services with secret
	// = true get time-limited credentials made from it, by the TURN REST
	// scheme. Default "": none. Give it here or in SecretFile, not both.
	Secret string `toml:"secret"`
	// SecretFile names a file holding Secret (surrounding white space is
	// trimmed), so that the configuration need not. Default "".
	SecretFile string `toml:"secret_file"`
	// CredentialTTL is how long such credentials are valid. Default
	// "24h", between 1m and 720h.
	CredentialTTL Duration `toml:"credential_ttl"`
	// Services are the services, one [[external_services.service]] table
	// each. Default none: the feature is not advertised.
	Services []ExternalService `toml:"service"`
}

// ExternalService is one service clients are told of.
type ExternalService struct {
	// Type is the service type of the XEP-0215 registry: "stun", "turn",
	// "turns"... Required.
	Type string `toml:"type"`
	// Host is the service's DNS name or IP address. Required.
	Host string `toml:"host"`
	// Port is its port, 1 to 65535. Required.
	Port int `toml:"port"`
	// Transport is "udp" or "tcp"; "" leaves it out.
	Transport string `toml:"transport"`
	// Name is a label for people; optional.
	Name string `toml:"name"`
	// Secret gives the service credentials made from
	// external_services.secret, valid for credential_ttl.
	Secret bool `toml:"secret"`
	// Username and Password are fixed credentials, given as they are;
	// both or neither, and not with Secret.
	Username string `toml:"username"`
	Password string `toml:"password"`
}

// Components configures external components (XEP-0114,
// docs/components.md): programs that serve a domain of their own (bridges,
// bots, push app servers) and connect to the server with a shared secret.
type Components struct {
	// Listen are the addresses components connect to. The protocol has no
	// TLS: keep them on loopback or a private network. Nothing listens
	// while no component is configured. Default ["127.0.0.1:5347"].
	Listen []string `toml:"listen"`
	// NegotiateTimeout bounds the time from connecting to a successful
	// handshake. Default "30s", between 1s and 10m.
	NegotiateTimeout Duration `toml:"negotiate_timeout"`
	// SendQueue is how many stanzas may wait for a component that does
	// not read before it is cut off (and they are bounced). Default
	// 10000, at least 16.
	SendQueue int `toml:"send_queue"`
	// External are the components, one [[components.external]] table
	// each. Default none.
	External []ExternalComponent `toml:"external"`
}

// ExternalComponent is one component the server accepts.
type ExternalComponent struct {
	// Domain is the component's domain, which its connection names and
	// its stanzas come from. Required; not the server's domain nor one of
	// its services'.
	Domain string `toml:"domain"`
	// Secret is the shared secret of the handshake. Required.
	Secret string `toml:"secret"`
}

// Cluster configures running several nodes as one server over one
// PostgreSQL database and NATS (docs/cluster.md).
type Cluster struct {
	// Enabled makes this server one node of a cluster. It needs storage
	// driver "postgres". Default false.
	Enabled bool `toml:"enabled"`
	// NodeID names this node, unique in the cluster: 1 to 64 letters,
	// digits, '-' or '_'. Required when enabled. Default "".
	NodeID string `toml:"node_id"`
	// NATSURL is an external NATS cluster with JetStream
	// ("nats://a:4222,nats://b:4222"); "" runs an embedded NATS server in
	// this node, configured by [cluster.nats]. Default "".
	NATSURL string `toml:"nats_url"`
	// NodeTimeout is how long a node that stopped saying it is alive
	// stays in the cluster: then the others end its sessions and take its
	// rooms and account joins. Between 1s and 5m. Default "10s".
	NodeTimeout Duration `toml:"node_timeout"`
	// Replicas is how many NATS servers keep a copy of the cluster's
	// registry and leases: 1 to 5; 0 for one per embedded server (itself
	// and its routes) up to 3, or 3 with nats_url. Default 0.
	Replicas int `toml:"replicas"`
	// ResumeLocation is the host:port at which clients reach this node,
	// given to them as XEP-0198's location so that a resumption comes
	// back here. "" gives none. Default "".
	ResumeLocation string `toml:"resume_location"`
	// NATS configures the embedded NATS server.
	NATS ClusterNATS `toml:"nats"`
}

// ClusterNATS configures the NATS server embedded in a node when
// cluster.nats_url is "".
type ClusterNATS struct {
	// Listen is where NATS clients (other tools, the nats CLI) connect;
	// "" opens no client port (the node itself connects in process).
	// Default "127.0.0.1:4222".
	Listen string `toml:"listen"`
	// ClusterListen is where the other nodes' NATS servers connect
	// (routes). Default "127.0.0.1:6222". Used only with routes.
	ClusterListen string `toml:"cluster_listen"`
	// Routes are the other nodes' cluster_listen addresses
	// ("nats://10.0.0.2:6222"); listing this node's own is harmless. []
	// runs a lone server. Default [].
	Routes []string `toml:"routes"`
	// ClusterName names the NATS cluster; every node's must be the same.
	// Default "minimix".
	ClusterName string `toml:"cluster_name"`
	// StoreDir holds JetStream's files; "" is data_dir/nats. Default "".
	StoreDir string `toml:"store_dir"`
}

// Push configures push notifications (XEP-0357, docs/push.md): what the
// server publishes to the app servers of its accounts' phones.
type Push struct {
	// Enabled offers push notifications to clients. Default true.
	Enabled bool `toml:"enabled"`
	// IncludeSender puts the last message's sender into the summary.
	// Default true.
	IncludeSender bool `toml:"include_sender"`
	// IncludeBody puts the last message's body into the summary, which
	// the app server and the phone platform's push service then see.
	// Default false.
	IncludeBody bool `toml:"include_body"`
	// Rooms is when a room's messages are pushed where the account's
	// bookmark of the room sets nothing (XEP-0492): "all", "mentions" (of
	// the account's nick) or "never". Default "mentions".
	Rooms string `toml:"rooms"`
	// MaxRegistrations bounds the app servers (with nodes) one account
	// may enable. Default 10, between 1 and 1000.
	MaxRegistrations int `toml:"max_registrations"`
	// Queue bounds the messages waiting to be considered for a push;
	// past it they are counted, logged and not pushed. Default 10000,
	// between 16 and 1000000.
	Queue int `toml:"queue"`
	// Timeout is how long an app server may leave a notification
	// unanswered before that counts as a failure. Default "1m", between
	// 1s and 1h.
	Timeout Duration `toml:"timeout"`
	// MaxFailures is how many temporary failures in a row (errors of type
	// wait, no answer) disable a registration; other errors disable it at
	// once. Default 3, between 1 and 100.
	MaxFailures int `toml:"max_failures"`
}

// C2S configures client-to-server connections.
type C2S struct {
	// Listen are addresses for plain connections upgraded with STARTTLS.
	// Default [":5222"].
	Listen []string `toml:"listen"`
	// DirectTLSListen are addresses for direct TLS (XEP-0368). Default [":5223"].
	DirectTLSListen []string `toml:"direct_tls_listen"`
	// RequireTLS refuses authentication before TLS. Default true; false allows
	// plaintext SASL and is meant for loopback tests.
	RequireTLS bool `toml:"require_tls"`
	// ResumeTimeout is how long a detached XEP-0198 session may be resumed
	// when the client asks for no particular value. Default "5m"; 0 disables
	// resumption.
	ResumeTimeout Duration `toml:"resume_timeout"`
	// MaxResumeTimeout caps the resumption window a client may ask for.
	// Default "15m".
	MaxResumeTimeout Duration `toml:"max_resume_timeout"`
	// SASL2 offers SASL2 (XEP-0388) beside SASL, with Bind 2 (XEP-0386)
	// and inline stream management resumption. Default true.
	SASL2 bool `toml:"sasl2"`
	// FASTTokenLifetime is how long a FAST token (XEP-0484) is valid; a
	// token past half its life is replaced when used. "0s" turns FAST
	// off. Default "720h" (30 days), at most 8760h.
	FASTTokenLifetime Duration `toml:"fast_token_lifetime"`
	// AllowRegistration enables XEP-0077 in-band registration. Default false.
	AllowRegistration bool `toml:"allow_registration"`
	// SendQueue is how many outgoing stanzas are queued per connection before a
	// client that does not read is disconnected. Default 1000, at least 16.
	SendQueue int `toml:"send_queue"`
	// OfflineMax is how many offline messages are kept per account; 0 keeps
	// none. Default 1000.
	OfflineMax int `toml:"offline_max"`
	// LoginFailuresPerMinute is how many failed authentications one address
	// may make per minute against one account; 0 is unlimited. Counting per
	// address and account means that someone guessing a password behind a
	// NAT does not lock the other users of that address out of their own
	// accounts. Default 5.
	LoginFailuresPerMinute int `toml:"login_failures_per_minute"`
	// AddressLoginFailuresPerMinute is how many failed authentications one
	// address may make per minute over all accounts (password spraying);
	// accounts that logged in from the address before keep logging in
	// while it is blocked. 0 is unlimited. Default 30.
	AddressLoginFailuresPerMinute int `toml:"address_login_failures_per_minute"`
	// StanzasPerSecond limits inbound stanzas per connection; 0 is unlimited.
	// Default 0.
	StanzasPerSecond int `toml:"stanzas_per_second"`
	// MaxConnections limits concurrent client connections; 0 is unlimited.
	// Default 0.
	MaxConnections int `toml:"max_connections"`
	// NegotiateTimeout bounds each step of stream negotiation (the stream
	// header, STARTTLS, each SASL step, binding) before a session exists.
	// Default "60s"; must be positive.
	NegotiateTimeout Duration `toml:"negotiate_timeout"`
	// WriteTimeout bounds each write to a client; a client that does not
	// read for that long is disconnected. Default "30s"; must be positive.
	WriteTimeout Duration `toml:"write_timeout"`
}

// Accounts holds the rules for passwords and their storage.
type Accounts struct {
	// MinPasswordLength is the shortest password accepted when an account is
	// created or its password changed, in characters. Default 6, between 1
	// and 1024.
	MinPasswordLength int `toml:"min_password_length"`
	// ScramIterations is the PBKDF2 iteration count of new SCRAM credentials
	// (stored credentials keep theirs until the password changes). Default
	// 4096 (the minimum of RFC 7677), at most 10000000.
	ScramIterations int `toml:"scram_iterations"`
}

// TLS names the certificate to serve.
type TLS struct {
	// CertFile is a PEM certificate chain. Default "": a self-signed
	// certificate is generated and kept in DataDir.
	CertFile string `toml:"cert_file"`
	// KeyFile is the PEM private key for CertFile. Default "".
	KeyFile string `toml:"key_file"`
	// SessionTicketLifetime bounds how long a TLS session ticket may be used
	// to resume a session; the keys that encrypt tickets are replaced as
	// often. "0s" disables resumption by ticket. Default "1h", at most 168h.
	SessionTicketLifetime Duration `toml:"session_ticket_lifetime"`
	// ACME obtains and renews the certificate from an ACME (RFC 8555)
	// certificate authority, for the domain and every served subdomain
	// (muc.domain, pubsub.domain, upload.domain), kept in DataDir/acme; until the first
	// one is issued the self-signed certificate is served. Not with
	// CertFile. Default false.
	ACME bool `toml:"acme"`
	// ACMEEmail is the contact address of the ACME account; the CA writes
	// to it about expiring certificates and policy changes. Default "".
	ACMEEmail string `toml:"acme_email"`
	// ACMEDirectory is the CA's directory URL. Default Let's Encrypt's
	// production directory.
	ACMEDirectory string `toml:"acme_directory"`
	// ACMECARoots is a PEM file of roots to trust for the directory's
	// HTTPS, for a private CA (and tests); "" trusts the system's.
	// Default "".
	ACMECARoots string `toml:"acme_ca_roots"`
	// ACMEChallenge is how the CA checks that we control the names:
	// "http-01" (the CA fetches a token over HTTP from port 80 of each
	// name: http.listen must be reachable there) or "tls-alpn-01" (the CA
	// connects to port 443 of each name: a c2s.direct_tls_listen address
	// must be reachable there). Default "http-01".
	ACMEChallenge string `toml:"acme_challenge"`
}

// LetsEncrypt is Let's Encrypt's production ACME directory, the default
// of tls.acme_directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// HTTP configures the HTTP listener: health, metrics, the admin API and
// page, and browsers' client streams over WebSocket and BOSH.
type HTTP struct {
	// Listen is the HTTP address; "" disables HTTP. Default "127.0.0.1:5280".
	Listen string `toml:"listen"`
	// TLSListen is an HTTPS address serving the same as Listen with the
	// server's certificate (tls.cert_file, or the generated one), so that
	// browsers can use wss:// and https://, and file uploads are offered
	// over HTTPS. Default "": none.
	TLSListen string `toml:"tls_listen"`
	// WebSocket serves XMPP over WebSocket (RFC 7395) at /xmpp-websocket.
	// Default true.
	WebSocket bool `toml:"websocket"`
	// BOSH serves XMPP over BOSH (XEP-0124/0206) at /http-bind. Default
	// true.
	BOSH bool `toml:"bosh"`
	// AllowedOrigins lists the web pages, besides the server's own, whose
	// scripts may use WebSocket and BOSH: origins ("https://chat.example.org")
	// or host patterns ("*.example.org"); "*" allows every page. Default [].
	AllowedOrigins []string `toml:"allowed_origins"`
	// SecureNetworks lists the networks (CIDRs) whose plain-HTTP WebSocket
	// and BOSH clients count as encrypted for c2s.require_tls: a reverse
	// proxy that terminates TLS, a browser on this host. Their
	// X-Forwarded-For (its last address) is taken as the client's address
	// for the login limiter and the logs. Default
	// ["127.0.0.0/8", "::1/128"].
	SecureNetworks []string `toml:"secure_networks"`
	// PublicURL is the base URL clients reach this listener at, for the
	// endpoints /.well-known/host-meta names (XEP-0156), e.g.
	// "https://chat.example.org"; "" uses each request's own. Default "".
	PublicURL string `toml:"public_url"`
	// WebSocketPingInterval is how often a WebSocket client is pinged; one
	// that does not answer within the interval is disconnected. "0s": never.
	// Default "60s".
	WebSocketPingInterval Duration `toml:"websocket_ping_interval"`
	// BOSHMaxWait bounds how long a BOSH request is held waiting for
	// something to send (the client's wait). Default "60s", between 1s and 10m.
	BOSHMaxWait Duration `toml:"bosh_max_wait"`
	// BOSHInactivity is how long a BOSH session may have no request
	// waiting before it is gone. Default "60s", between 1s and 10m.
	BOSHInactivity Duration `toml:"bosh_inactivity"`
	// BOSHMaxPause is the longest pause a BOSH client may ask for.
	// Default "300s", between 0s and 1h.
	BOSHMaxPause Duration `toml:"bosh_max_pause"`
	// BOSHMaxHold bounds how many requests a BOSH session may have held at
	// once (the client's hold). Default 1, between 1 and 8.
	BOSHMaxHold int `toml:"bosh_max_hold"`
	// MetricsAllow lists the networks (CIDRs) whose clients may read
	// /metrics; [] allows every client that reaches the listener. Default
	// ["127.0.0.0/8", "::1/128"].
	MetricsAllow []string `toml:"metrics_allow"`
	// MetricsTokenFile names a file holding a bearer token that /metrics
	// requests must carry (Authorization: Bearer TOKEN), as well as coming
	// from MetricsAllow. Default "": no token.
	MetricsTokenFile string `toml:"metrics_token_file"`
}

// Upload configures HTTP file upload (XEP-0363, docs/upload.md), served
// by the HTTP listener.
type Upload struct {
	// Domain is the upload service's JID. Default "upload." + domain (a
	// file that changes domain and leaves upload.domain out gets the
	// derived value); "" disables uploads, as does http.listen = "".
	Domain string `toml:"domain"`
	// URL is where clients reach the HTTP listener, scheme://host[:port]
	// (behind a reverse proxy, its public address). Default "": https
	// on http.tls_listen when set, else http on http.listen, with the
	// server's domain as host and the listener's port.
	URL string `toml:"url"`
	// MaxFileBytes is the largest file. Default 104857600 (100 MiB).
	MaxFileBytes int64 `toml:"max_file_bytes"`
	// QuotaBytes is how much one account may keep stored; 0 is no quota.
	// Default 1073741824 (1 GiB).
	QuotaBytes int64 `toml:"quota_bytes"`
	// ExpireAfter deletes files this long after their upload; "0s" keeps
	// them. Default "720h" (30 days).
	ExpireAfter Duration `toml:"expire_after"`
	// TransferTimeout bounds one upload or download. Default "10m".
	TransferTimeout Duration `toml:"transfer_timeout"`
}

// AdminPage configures /admin/ on the HTTP listener (docs/admin-page.md):
// a web page for the accounts listed in admins, who log in with their
// XMPP password.
type AdminPage struct {
	// Enabled serves the page. Default true.
	Enabled bool `toml:"enabled"`
	// SessionTimeout ends a login after this long without a request.
	// Default "1h", between 1m and 720h.
	SessionTimeout Duration `toml:"session_timeout"`
	// LoginFailuresPerMinute is how many failed logins one account may
	// have (from any address) before logins to it are refused for a
	// while; one failure is forgiven every minute/N. Default 5, between 1
	// and 1000.
	LoginFailuresPerMinute int `toml:"login_failures_per_minute"`
	// AddressLoginFailuresPerMinute is the same for one client address
	// (an IPv6 /64) over all accounts. Default 10, between 1 and 1000.
	AddressLoginFailuresPerMinute int `toml:"address_login_failures_per_minute"`
}

// Roster bounds rosters (RFC 6121).
type Roster struct {
	// MaxItems bounds the items of one roster, remembered subscription
	// requests included. Default 1000, between 1 and 100000.
	MaxItems int `toml:"max_items"`
}

// PEP bounds each account's personal eventing service (XEP-0163).
type PEP struct {
	// MaxNodes bounds the nodes of one account. Default 256, between 1 and
	// 100000.
	MaxNodes int `toml:"max_nodes"`
	// MaxItems is the most items a node keeps, and what max_items "max"
	// means. Default 1000, between 1 and 100000.
	MaxItems int `toml:"max_items"`
	// MaxPayloadBytes bounds one item's serialised payload. Default 250000,
	// between 1024 and 64 MiB. Keep it below limits.max_stanza_bytes: a
	// bigger stanza ends the stream before the payload can be refused
	// with payload-too-big.
	MaxPayloadBytes int `toml:"max_payload_bytes"`
}

// MAM configures archive queries (XEP-0313), personal and rooms'.
type MAM struct {
	// DefaultPageSize is the page size of a query that asks for none.
	// Default 50, between 1 and max_page_size.
	DefaultPageSize int `toml:"default_page_size"`
	// MaxPageSize caps the page size a query may ask for. Default 250,
	// between 1 and 10000.
	MaxPageSize int `toml:"max_page_size"`
	// Retention is how long archived messages are kept, in every
	// account's and room's archive; "0s" keeps them for ever. Default
	// "0s".
	Retention Duration `toml:"retention"`
}

// Storage selects the database.
type Storage struct {
	// Driver is the storage backend: "sqlite" (one file, one node) or
	// "postgres" (docs/postgresql.md). Default "sqlite".
	Driver string `toml:"driver"`
	// DSN is the driver's data source. For sqlite a file name, "" meaning
	// DataDir/minimix.db; for postgres a libpq URL or key=value string
	// ("postgres://minimix@db.example.net:5432/minimix"), required; the
	// password may come from $PGPASSWORD or ~/.pgpass instead. Default
	// "". Use Config.DSN to read it.
	DSN string `toml:"dsn"`
}

// Limits bound what a peer may send.
type Limits struct {
	// MaxStanzaBytes is the largest stanza accepted, between 10000 and 64 MiB.
	// Default 262144.
	MaxStanzaBytes int `toml:"max_stanza_bytes"`
	// MaxDepth is the deepest element nesting accepted within a stream,
	// between 8 and 1024. Default 64.
	MaxDepth int `toml:"max_depth"`
	// MaxHeaderBytes is the largest stream header accepted, between 1024 and
	// MaxStanzaBytes. Default 8192.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// C2SBytesPerSecond is the sustained rate at which each client session
	// is read, in bytes per second; a client that sends faster is slowed
	// down (its connection is read later, TCP holds it back), nothing is
	// dropped. The server's admins are not limited. 0 turns the limit off.
	// Default 10240, at least 1024.
	C2SBytesPerSecond int `toml:"c2s_bytes_per_second"`
	// C2SBurstBytes is how much a client may send at once above the rate,
	// after a quiet while (a login, an avatar upload). Default 65536,
	// between 4096 and 64 MiB.
	C2SBurstBytes int `toml:"c2s_burst_bytes"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error. Default "info".
	Level string `toml:"level"`
	// Format is text or json. Default "text".
	Format string `toml:"format"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		Domain:        "localhost",
		DataDir:       "./minimix-data",
		Admins:        []string{},
		ShutdownGrace: Duration{30 * time.Second},
		C2S: C2S{
			Listen:                        []string{":5222"},
			DirectTLSListen:               []string{":5223"},
			RequireTLS:                    true,
			ResumeTimeout:                 Duration{5 * time.Minute},
			MaxResumeTimeout:              Duration{15 * time.Minute},
			SASL2:                         true,
			FASTTokenLifetime:             Duration{720 * time.Hour},
			AllowRegistration:             false,
			SendQueue:                     1000,
			OfflineMax:                    1000,
			LoginFailuresPerMinute:        5,
			AddressLoginFailuresPerMinute: 30,
			StanzasPerSecond:              0,
			MaxConnections:                0,
			NegotiateTimeout:              Duration{60 * time.Second},
			WriteTimeout:                  Duration{30 * time.Second},
		},
		S2S: S2S{
			Enabled:            true,
			Listen:             []string{":5269"},
			DirectTLSListen:    []string{":5270"},
			RequireTLS:         true,
			RequireValidCerts:  false,
			Hosts:              map[string]string{},
			ConnectTimeout:     Duration{10 * time.Second},
			NegotiateTimeout:   Duration{30 * time.Second},
			IdleTimeout:        Duration{10 * time.Minute},
			QueueMax:           1000,
			RetryInitial:       Duration{time.Second},
			RetryMax:           Duration{time.Minute},
			PreAuthStanzaBytes: 10000,
			MaxConnections:     0,
		},
		Accounts: Accounts{MinPasswordLength: 6, ScramIterations: 4096},
		TLS: TLS{
			SessionTicketLifetime: Duration{time.Hour},
			ACMEDirectory:         LetsEncrypt,
			ACMEChallenge:         "http-01",
		},
		HTTP: HTTP{
			Listen:                "127.0.0.1:5280",
			MetricsAllow:          []string{"127.0.0.0/8", "::1/128"},
			WebSocket:             true,
			BOSH:                  true,
			AllowedOrigins:        []string{},
			SecureNetworks:        []string{"127.0.0.0/8", "::1/128"},
			WebSocketPingInterval: Duration{time.Minute},
			BOSHMaxWait:           Duration{time.Minute},
			BOSHInactivity:        Duration{time.Minute},
			BOSHMaxPause:          Duration{5 * time.Minute},
			BOSHMaxHold:           1,
		},
		AdminPage: AdminPage{
			Enabled:                       true,
			SessionTimeout:                Duration{time.Hour},
			LoginFailuresPerMinute:        5,
			AddressLoginFailuresPerMinute: 10,
		},
		Storage: Storage{Driver: "sqlite"},
		Limits: Limits{
			MaxStanzaBytes:    262144,
			MaxDepth:          64,
			MaxHeaderBytes:    8192,
			C2SBytesPerSecond: 10240,
			C2SBurstBytes:     65536,
		},
		Roster: Roster{MaxItems: 1000},
		PEP:    PEP{MaxNodes: 256, MaxItems: 1000, MaxPayloadBytes: 250000},
		MAM:    MAM{DefaultPageSize: 50, MaxPageSize: 250},
		Log:    Log{Level: "info", Format: "text"},
		MUC: MUC{
			Domain:               "conference.localhost",
			HistoryDefault:       20,
			MaxOccupants:         1000,
			RestrictRoomCreation: "local",
			Admins:               []string{},
			CreateBurst:          100,
			CreateInterval:       Duration{time.Second},
			JoinBurst:            1000,
			JoinInterval:         Duration{50 * time.Millisecond},
			HistoryLength:        50,
			MaxHistoryLength:     200,
			MaxSessionsPerNick:   32,
			MaxNickLength:        64,
			VoiceRequestBurst:    3,
			VoiceRequestInterval: Duration{30 * time.Second},
		},
		AccountJoin: AccountJoin{
			Enabled:        true,
			IdleLeaveAfter: Duration{720 * time.Hour},
			OfflineShow:    "xa",
			HistoryMax:     50,
			SelfPingAfter:  Duration{30 * time.Second},
		},
		Adhoc:    Adhoc{SessionTimeout: Duration{10 * time.Minute}, MaxSessions: 8},
		Blocking: Blocking{MaxItems: 1000},
		ExternalServices: ExternalServices{
			CredentialTTL: Duration{24 * time.Hour},
			Services:      []ExternalService{},
		},
		Push: Push{
			Enabled:          true,
			IncludeSender:    true,
			Rooms:            "mentions",
			MaxRegistrations: 10,
			Queue:            10000,
			Timeout:          Duration{time.Minute},
			MaxFailures:      3,
		},
		Upload: Upload{
			Domain:          "upload.localhost",
			MaxFileBytes:    100 << 20,
			QuotaBytes:      1 << 30,
			ExpireAfter:     Duration{720 * time.Hour},
			TransferTimeout: Duration{10 * time.Minute},
		},
		Components: Components{
			Listen:           []string{"127.0.0.1:5347"},
			NegotiateTimeout: Duration{30 * time.Second},
			SendQueue:        10000,
			External:         []ExternalComponent{},
		},
		Cluster: Cluster{
			NodeTimeout: Duration{10 * time.Second},
			NATS: ClusterNATS{
				Listen:        "127.0.0.1:4222",
				ClusterListen: "127.0.0.1:6222",
				Routes:        []string{},
				ClusterName:   "minimix",
			},
		},
		PubSub: PubSub{
			Domain:               "pubsub.localhost",
			RestrictNodeCreation: "local",
			MaxNodes:             10000,
			MaxNodesPerOwner:     100,
			MaxItems:             1000,
			MaxPayloadBytes:      250000,
			MaxSubscriptions:     1000,
		},
	}
}

// DSN returns the storage data source: storage.dsn, or for sqlite
// minimix.db in DataDir when it is empty.
func (c *Config) DSN() string {
	if c.Storage.DSN != "" || c.Storage.Driver == "postgres" {
		return c.Storage.DSN
	}
	return filepath.Join(c.DataDir, "minimix.db")
}

// Path returns the file the configuration was loaded from, "" for defaults.
func (c *Config) Path() string {
	return c.path
}

// FromEnv returns the configuration file to use: flagValue when set (the
// -config flag), else $MINIMIX_CONFIG, else "" for the defaults.
func FromEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv(EnvVar)
}
