package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var allowPath = cmp.AllowUnexported(Config{})

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if got, want := c.DSN(), filepath.Join("minimix-data", "minimix.db"); got != want {
		t.Errorf("DSN() = %q, want %q", got, want)
	}
	if c.Path() != "" {
		t.Errorf("Path() = %q, want empty", c.Path())
	}
	if c.C2S.ResumeTimeout.Duration != 5*time.Minute || c.C2S.MaxResumeTimeout.Duration != 15*time.Minute {
		t.Errorf("resume timeouts = %v, %v", c.C2S.ResumeTimeout, c.C2S.MaxResumeTimeout)
	}
	// Default must return a fresh value each time: callers may modify it.
	c.C2S.Listen[0] = "changed"
	if Default().C2S.Listen[0] != ":5222" {
		t.Error("Default shares its slices between calls")
	}
}

func TestExampleIsDefault(t *testing.T) {
	c, err := Parse([]byte(Example))
	if err != nil {
		t.Fatalf("Parse(Example): %v", err)
	}
	if diff := cmp.Diff(Default(), c, allowPath); diff != "" {
		t.Errorf("Parse(Example) differs from Default() (-default +example):\n%s", diff)
	}
}

func TestExampleHasEveryKey(t *testing.T) {
	set := scanKeys([]byte(Example))
	for key := range keyTypes() {
		if _, ok := set[key]; !ok {
			t.Errorf("minimix.example.toml does not set %s", key)
		}
	}
}

// overrides sets every key to something other than its default.
var overrides = []struct {
	toml string
	edit func(*Config)
}{
	{`domain = "example.org"`, func(c *Config) {
		c.Domain = "example.org"
		c.MUC.Domain = "conference.example.org"
		c.PubSub.Domain = "pubsub.example.org"
		c.Upload.Domain = "upload.example.org"
	}},
	{`data_dir = "/var/lib/minimix"`, func(c *Config) { c.DataDir = "/var/lib/minimix" }},
	{`admins = ["alice@example.org", "bob@localhost"]`, func(c *Config) { c.Admins = []string{"alice@example.org", "bob@localhost"} }},
	{`shutdown_grace = "2m"`, func(c *Config) { c.ShutdownGrace.Duration = 2 * time.Minute }},
	{"[accounts]\nmin_password_length = 12\nscram_iterations = 100000", func(c *Config) {
		c.Accounts = Accounts{MinPasswordLength: 12, ScramIterations: 100000}
	}},
	{"[tls]\nsession_ticket_lifetime = \"0s\"", func(c *Config) { c.TLS.SessionTicketLifetime.Duration = 0 }},
	{"[http]\ntls_listen = \"127.0.0.1:5281\"\nwebsocket = false\nbosh = false\nallowed_origins = [\"https://chat.example.org\", \"*.example.net\"]\nsecure_networks = []\npublic_url = \"https://chat.example.org\"\nwebsocket_ping_interval = \"0s\"\nbosh_max_wait = \"30s\"\nbosh_inactivity = \"2m\"\nbosh_max_pause = \"10m\"\nbosh_max_hold = 2", func(c *Config) {
		c.HTTP.TLSListen = "127.0.0.1:5281"
		c.HTTP.WebSocket = false
		c.HTTP.BOSH = false
		c.HTTP.AllowedOrigins = []string{"https://chat.example.org", "*.example.net"}
		c.HTTP.SecureNetworks = []string{}
		c.HTTP.PublicURL = "https://chat.example.org"
		c.HTTP.WebSocketPingInterval.Duration = 0
		c.HTTP.BOSHMaxWait.Duration = 30 * time.Second
		c.HTTP.BOSHInactivity.Duration = 2 * time.Minute
		c.HTTP.BOSHMaxPause.Duration = 10 * time.Minute
		c.HTTP.BOSHMaxHold = 2
	}},
	{"domain = \"example.org\"\n[tls]\nacme = true\nacme_email = \"hostmaster@example.org\"\nacme_directory = \"https://ca.example.org/dir\"\nacme_ca_roots = \"/etc/minimix/ca.pem\"\nacme_challenge = \"tls-alpn-01\"", func(c *Config) {
		c.Domain, c.MUC.Domain, c.PubSub.Domain, c.Upload.Domain = "example.org", "conference.example.org", "pubsub.example.org", "upload.example.org"
		c.TLS.ACME, c.TLS.ACMEEmail, c.TLS.ACMEDirectory = true, "hostmaster@example.org", "https://ca.example.org/dir"
		c.TLS.ACMECARoots, c.TLS.ACMEChallenge = "/etc/minimix/ca.pem", "tls-alpn-01"
	}},
	{"[http]\nmetrics_allow = [\"10.0.0.0/8\"]\nmetrics_token_file = \"/etc/minimix/metrics.token\"", func(c *Config) {
		c.HTTP.MetricsAllow = []string{"10.0.0.0/8"}
		c.HTTP.MetricsTokenFile = "/etc/minimix/metrics.token"
	}},
	{"[limits]\nc2s_bytes_per_second = 0\nc2s_burst_bytes = 4096", func(c *Config) { c.Limits.C2SBytesPerSecond = 0; c.Limits.C2SBurstBytes = 4096 }},
	{"[s2s]\nenabled = false\nlisten = []\ndirect_tls_listen = [\"127.0.0.1:5270\"]\nrequire_tls = false\nrequire_valid_certs = true\nca_file = \"/etc/ssl/xmpp-roots.pem\"", func(c *Config) {
		c.S2S.Enabled, c.S2S.Listen, c.S2S.DirectTLSListen = false, []string{}, []string{"127.0.0.1:5270"}
		c.S2S.RequireTLS, c.S2S.RequireValidCerts, c.S2S.CAFile = false, true, "/etc/ssl/xmpp-roots.pem"
	}},
	{"[s2s]\nhosts = { \"other.example\" = \"10.0.0.5:5269\" }\nconnect_timeout = \"3s\"\nnegotiate_timeout = \"5s\"\nidle_timeout = \"1h\"\nqueue_max = 10\nretry_initial = \"5s\"\nretry_max = \"10m\"\npreauth_stanza_bytes = 20000\nmax_connections = 100", func(c *Config) {
		c.S2S.Hosts = map[string]string{"other.example": "10.0.0.5:5269"}
		c.S2S.ConnectTimeout, c.S2S.NegotiateTimeout, c.S2S.IdleTimeout = Duration{3 * time.Second}, Duration{5 * time.Second}, Duration{time.Hour}
		c.S2S.QueueMax, c.S2S.RetryInitial, c.S2S.RetryMax = 10, Duration{5 * time.Second}, Duration{10 * time.Minute}
		c.S2S.PreAuthStanzaBytes, c.S2S.MaxConnections = 20000, 100
	}},
	{"[roster]\nmax_items = 5000", func(c *Config) { c.Roster.MaxItems = 5000 }},
	{"[pep]\nmax_nodes = 10\nmax_items = 20\nmax_payload_bytes = 100000", func(c *Config) {
		c.PEP = PEP{MaxNodes: 10, MaxItems: 20, MaxPayloadBytes: 100000}
	}},
	{"[http]\ntls_listen = \"127.0.0.1:5281\"", func(c *Config) { c.HTTP.TLSListen = "127.0.0.1:5281" }},
	{"[upload]\ndomain = \"files.localhost\"\nurl = \"https://files.example.org\"\nmax_file_bytes = 1000\nquota_bytes = 0\nexpire_after = \"0s\"\ntransfer_timeout = \"1m\"", func(c *Config) {
		c.Upload = Upload{Domain: "files.localhost", URL: "https://files.example.org", MaxFileBytes: 1000, ExpireAfter: Duration{0}, TransferTimeout: Duration{time.Minute}}
	}},
	{"[upload]\ndomain = \"\"", func(c *Config) { c.Upload.Domain = "" }},
	{"[blocking]\nmax_items = 5", func(c *Config) { c.Blocking.MaxItems = 5 }},
	{"[admin_page]\nenabled = false", func(c *Config) { c.AdminPage.Enabled = false }},
	{"[admin_page]\nsession_timeout = \"10m\"", func(c *Config) { c.AdminPage.SessionTimeout = Duration{10 * time.Minute} }},
	{"[admin_page]\nlogin_failures_per_minute = 3", func(c *Config) { c.AdminPage.LoginFailuresPerMinute = 3 }},
	{"[admin_page]\naddress_login_failures_per_minute = 7", func(c *Config) { c.AdminPage.AddressLoginFailuresPerMinute = 7 }},
	{"[push]\nenabled = false\ninclude_sender = false\ninclude_body = true\nrooms = \"all\"\nmax_registrations = 2\nqueue = 100\ntimeout = \"10s\"\nmax_failures = 1", func(c *Config) {
		c.Push = Push{Enabled: false, IncludeSender: false, IncludeBody: true, Rooms: "all", MaxRegistrations: 2, Queue: 100, Timeout: Duration{10 * time.Second}, MaxFailures: 1}
	}},
	{"[components]\nlisten = [\"127.0.0.1:15347\"]\nnegotiate_timeout = \"5s\"\nsend_queue = 100\n[[components.external]]\ndomain = \"push.localhost\"\nsecret = \"s1\"\n[[components.external]]\ndomain = \"irc.example.org\"\nsecret = \"s2\"", func(c *Config) {
		c.Components = Components{Listen: []string{"127.0.0.1:15347"}, NegotiateTimeout: Duration{5 * time.Second}, SendQueue: 100, External: []ExternalComponent{
			{Domain: "push.localhost", Secret: "s1"}, {Domain: "irc.example.org", Secret: "s2"},
		}}
	}},
	{"[external_services]\nsecret = \"s3cret\"\ncredential_ttl = \"1h\"\n[[external_services.service]]\ntype = \"stun\"\nhost = \"turn.example.org\"\nport = 3478\ntransport = \"udp\"\n[[external_services.service]]\ntype = \"turn\"\nhost = \"192.0.2.1\"\nport = 3478\ntransport = \"tcp\"\nname = \"Relay\"\nsecret = true\n[[external_services.service]]\ntype = \"turns\"\nhost = \"turn.example.org\"\nport = 5349\nusername = \"guest\"\npassword = \"guest\"", func(c *Config) {
		c.ExternalServices = ExternalServices{Secret: "s3cret", CredentialTTL: Duration{time.Hour}, Services: []ExternalService{
			{Type: "stun", Host: "turn.example.org", Port: 3478, Transport: "udp"},
			{Type: "turn", Host: "192.0.2.1", Port: 3478, Transport: "tcp", Name: "Relay", Secret: true},
			{Type: "turns", Host: "turn.example.org", Port: 5349, Username: "guest", Password: "guest"},
		}}
	}},
	{"[external_services]\nsecret_file = \"/etc/minimix/turn.secret\"", func(c *Config) { c.ExternalServices.SecretFile = "/etc/minimix/turn.secret" }},
	{"[adhoc]\nsession_timeout = \"1h\"\nmax_sessions = 2", func(c *Config) { c.Adhoc = Adhoc{SessionTimeout: Duration{time.Hour}, MaxSessions: 2} }},
	{"[mam]\ndefault_page_size = 10\nmax_page_size = 1000", func(c *Config) { c.MAM = MAM{DefaultPageSize: 10, MaxPageSize: 1000} }},
	{"[c2s]\nlisten = [\"127.0.0.1:15222\", \"[::1]:15222\"]", func(c *Config) { c.C2S.Listen = []string{"127.0.0.1:15222", "[::1]:15222"} }},
	{"[c2s]\nlisten = []", func(c *Config) { c.C2S.Listen = []string{} }},
	{"[c2s]\ndirect_tls_listen = [\":15223\"]", func(c *Config) { c.C2S.DirectTLSListen = []string{":15223"} }},
	{"[c2s]\nrequire_tls = false", func(c *Config) { c.C2S.RequireTLS = false }},
	{"[c2s]\nresume_timeout = \"90s\"", func(c *Config) { c.C2S.ResumeTimeout.Duration = 90 * time.Second }},
	{"[c2s]\nmax_resume_timeout = \"1h30m\"", func(c *Config) { c.C2S.MaxResumeTimeout.Duration = 90 * time.Minute }},
	{"[c2s]\nsasl2 = false\nfast_token_lifetime = \"0s\"", func(c *Config) { c.C2S.SASL2 = false; c.C2S.FASTTokenLifetime.Duration = 0 }},
	{"[c2s]\nallow_registration = true", func(c *Config) { c.C2S.AllowRegistration = true }},
	{"[c2s]\nsend_queue = 16", func(c *Config) { c.C2S.SendQueue = 16 }},
	{"[c2s]\noffline_max = 0", func(c *Config) { c.C2S.OfflineMax = 0 }},
	{"[c2s]\nlogin_failures_per_minute = 20", func(c *Config) { c.C2S.LoginFailuresPerMinute = 20 }},
	{"[c2s]\naddress_login_failures_per_minute = 0", func(c *Config) { c.C2S.AddressLoginFailuresPerMinute = 0 }},
	{"[c2s]\nstanzas_per_second = 50", func(c *Config) { c.C2S.StanzasPerSecond = 50 }},
	{"[c2s]\nmax_connections = 10000", func(c *Config) { c.C2S.MaxConnections = 10000 }},
	{"[c2s]\nnegotiate_timeout = \"10s\"", func(c *Config) { c.C2S.NegotiateTimeout.Duration = 10 * time.Second }},
	{"[c2s]\nwrite_timeout = \"1m\"", func(c *Config) { c.C2S.WriteTimeout.Duration = time.Minute }},
	{"[tls]\ncert_file = \"/etc/minimix/cert.pem\"\nkey_file = \"/etc/minimix/key.pem\"", func(c *Config) {
		c.TLS.CertFile, c.TLS.KeyFile = "/etc/minimix/cert.pem", "/etc/minimix/key.pem"
	}},
	{"[http]\nlisten = \"\"", func(c *Config) { c.HTTP.Listen = "" }},
	{"[http]\nlisten = \":8080\"", func(c *Config) { c.HTTP.Listen = ":8080" }},
	{"[storage]\ndriver = \"sqlite\"\ndsn = \"file:/tmp/x.db\"", func(c *Config) { c.Storage.DSN = "file:/tmp/x.db" }},
	{"[limits]\nmax_stanza_bytes = 10000", func(c *Config) { c.Limits.MaxStanzaBytes = 10000 }},
	{"[limits]\nmax_stanza_bytes = 67108864", func(c *Config) { c.Limits.MaxStanzaBytes = 64 << 20 }},
	{"[limits]\nmax_depth = 8", func(c *Config) { c.Limits.MaxDepth = 8 }},
	{"[limits]\nmax_header_bytes = 1024", func(c *Config) { c.Limits.MaxHeaderBytes = 1024 }},
	{"[log]\nlevel = \"debug\"\nformat = \"json\"", func(c *Config) { c.Log = Log{Level: "debug", Format: "json"} }},
	{"[muc]\ndomain = \"\"", func(c *Config) { c.MUC.Domain = "" }},
	{"[pubsub]\ndomain = \"\"", func(c *Config) { c.PubSub.Domain = "" }},
	{"domain = \"example.org\"\n[pubsub]\ndomain = \"events.example.org\"\nrestrict_node_creation = \"anyone\"\nmax_nodes = 5\nmax_nodes_per_owner = 2\nmax_items = 10\nmax_payload_bytes = 2048\nmax_subscriptions = 3", func(c *Config) {
		c.Domain = "example.org"
		c.MUC.Domain = "conference.example.org"
		c.PubSub = PubSub{Domain: "events.example.org", RestrictNodeCreation: "anyone", MaxNodes: 5, MaxNodesPerOwner: 2, MaxItems: 10, MaxPayloadBytes: 2048, MaxSubscriptions: 3}
		c.Upload.Domain = "upload.example.org"
	}},
	{"domain = \"example.org\"\n[muc]\ndomain = \"chat.example.org\"", func(c *Config) {
		c.Domain = "example.org"
		c.MUC.Domain = "chat.example.org"
		c.PubSub.Domain = "pubsub.example.org"
		c.Upload.Domain = "upload.example.org"
	}},
	{"[muc]\nhistory_default = 0\nmax_occupants = 50\nrestrict_room_creation = \"admins\"\nadmins = [\"boss@example.org\"]", func(c *Config) {
		c.MUC.HistoryDefault = 0
		c.MUC.MaxOccupants = 50
		c.MUC.RestrictRoomCreation = "admins"
		c.MUC.Admins = []string{"boss@example.org"}
	}},
	{"[muc]\ncreate_burst = 0\ncreate_interval = \"1m\"\njoin_burst = 5\njoin_interval = \"2s\"\nhistory_length = 10\nmax_history_length = 500\nmax_sessions_per_nick = 2\nmax_nick_length = 20\nvoice_request_burst = 1\nvoice_request_interval = \"1h\"", func(c *Config) {
		c.MUC.CreateBurst, c.MUC.CreateInterval = 0, Duration{time.Minute}
		c.MUC.JoinBurst, c.MUC.JoinInterval = 5, Duration{2 * time.Second}
		c.MUC.HistoryLength, c.MUC.MaxHistoryLength = 10, 500
		c.MUC.MaxSessionsPerNick, c.MUC.MaxNickLength = 2, 20
		c.MUC.VoiceRequestBurst, c.MUC.VoiceRequestInterval = 1, Duration{time.Hour}
	}},
	{"[mam]\nretention = \"8760h\"", func(c *Config) { c.MAM.Retention = Duration{8760 * time.Hour} }},
	{"[account_join]\nenabled = false\nidle_leave_after = \"1h\"\noffline_show = \"away\"\nhistory_max = 10\nself_ping_after = \"5s\"", func(c *Config) {
		c.AccountJoin = AccountJoin{Enabled: false, IdleLeaveAfter: Duration{time.Hour}, OfflineShow: "away", HistoryMax: 10, SelfPingAfter: Duration{5 * time.Second}}
	}},
	{"[cluster]\nenabled = true\nnode_id = \"n1\"\nnats_url = \"nats://10.0.0.9:4222\"\nnode_timeout = \"30s\"\nreplicas = 3\nresume_location = \"n1.example.org:5222\"\n[storage]\ndriver = \"postgres\"\ndsn = \"postgres://db/minimix\"", func(c *Config) {
		c.Cluster.Enabled, c.Cluster.NodeID, c.Cluster.NATSURL = true, "n1", "nats://10.0.0.9:4222"
		c.Cluster.NodeTimeout, c.Cluster.Replicas, c.Cluster.ResumeLocation = Duration{30 * time.Second}, 3, "n1.example.org:5222"
		c.Storage = Storage{Driver: "postgres", DSN: "postgres://db/minimix"}
	}},
	{"[cluster.nats]\nlisten = \"\"\ncluster_listen = \"10.0.0.1:7222\"\nroutes = [\"nats://10.0.0.2:7222\"]\ncluster_name = \"chat\"\nstore_dir = \"/var/lib/minimix/nats\"", func(c *Config) {
		c.Cluster.NATS = ClusterNATS{ClusterListen: "10.0.0.1:7222", Routes: []string{"nats://10.0.0.2:7222"}, ClusterName: "chat", StoreDir: "/var/lib/minimix/nats"}
	}},
	// Other ways to write the same keys.
	{"c2s.send_queue = 32\nlimits.max_depth = 100", func(c *Config) { c.C2S.SendQueue = 32; c.Limits.MaxDepth = 100 }},
	{"c2s = { require_tls = false, listen = [\"127.0.0.1:0\"] }", func(c *Config) {
		c.C2S.RequireTLS = false
		c.C2S.Listen = []string{"127.0.0.1:0"}
	}},
}

func TestOverride(t *testing.T) {
	for _, tc := range overrides {
		t.Run(tc.toml, func(t *testing.T) {
			want := Default()
			tc.edit(want)
			got, err := Parse([]byte(tc.toml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(want, got, allowPath); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverridesCoverEveryKey(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range overrides {
		for key := range scanKeys([]byte(tc.toml)) {
			covered[key] = true
		}
	}
	for key := range keyTypes() {
		if !covered[key] {
			t.Errorf("no override test sets %s", key)
		}
	}
}

func TestDSN(t *testing.T) {
	c := Default()
	c.DataDir = "/srv/x"
	if got := c.DSN(); got != "/srv/x/minimix.db" {
		t.Errorf("DSN() = %q", got)
	}
	c.Storage.DSN = "file:other.db"
	if got := c.DSN(); got != "file:other.db" {
		t.Errorf("DSN() = %q", got)
	}
	// PostgreSQL has no default in the data directory.
	c.Storage = Storage{Driver: "postgres"}
	if got := c.DSN(); got != "" {
		t.Errorf("postgres DSN() = %q, want empty", got)
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		flag, env, want string
	}{
		{"", "", ""},
		{"", "/etc/minimix.toml", "/etc/minimix.toml"},
		{"a.toml", "/etc/minimix.toml", "a.toml"},
		{"a.toml", "", "a.toml"},
	}
	for _, tc := range tests {
		t.Setenv(EnvVar, tc.env)
		if got := FromEnv(tc.flag); got != tc.want {
			t.Errorf("FromEnv(%q) with $%s=%q = %q, want %q", tc.flag, EnvVar, tc.env, got, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()

	c, err := Load("")
	if err != nil || c.Path() != "" {
		t.Fatalf("Load(\"\") = %v, %v; want defaults", c, err)
	}
	if diff := cmp.Diff(Default(), c, allowPath); diff != "" {
		t.Errorf("Load(\"\") differs from Default():\n%s", diff)
	}

	good := write(t, dir, "good.toml", "domain = \"example.org\"\n")
	c, err = Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path() != good || c.Domain != "example.org" {
		t.Errorf("Load = path %q domain %q", c.Path(), c.Domain)
	}

	bad := write(t, dir, "bad.toml", "domain = \"example.org\"\nnope = 1\n[c2s]\nsend_queue = 1\n")
	_, err = Load(bad)
	want := bad + ":2: nope: unknown key\n" + bad + ":4: c2s.send_queue: 1 is below the minimum of 16"
	if err == nil || err.Error() != want {
		t.Errorf("Load(bad) error =\n%v\nwant\n%s", err, want)
	}
	if _, ok := errors.AsType[Problems](err); !ok {
		t.Errorf("Load(bad) error %T does not wrap Problems", err)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.TLS.KeyFile = "key.pem"
	c.Log.Level = "verbose"
	err := c.Validate()
	ps, ok := errors.AsType[Problems](err)
	if !ok {
		t.Fatalf("Validate() = %v, want Problems", err)
	}
	want := Problems{
		{Key: "tls.cert_file", Msg: "cert_file and key_file must be set together"},
		{Key: "log.level", Msg: `unknown value "verbose"; want one of ["debug" "info" "warn" "error"]`},
	}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if s := err.Error(); !strings.HasPrefix(s, "config: tls.cert_file: cert_file") || !strings.Contains(s, "; log.level: ") {
		t.Errorf("Error() = %q", s)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Line: 3, Key: "c2s.listen", Msg: "bad"}, "3: c2s.listen: bad"},
		{Problem{Key: "c2s.listen", Msg: "bad"}, "c2s.listen: bad"},
		{Problem{Line: 7, Msg: "syntax"}, "7: syntax"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestChanged names each key that differs, by its TOML path.
func TestChanged(t *testing.T) {
	a, b := Default(), Default()
	if got := Changed(a, b); len(got) != 0 {
		t.Fatalf("Changed(default, default) = %v", got)
	}
	b.Log.Level = "debug"
	b.C2S.AllowRegistration = true
	b.S2S.Hosts = map[string]string{"example.net": "127.0.0.1:5269"}
	b.C2S.ResumeTimeout.Duration *= 2
	b.Admins = []string{"root@localhost"}
	want := []string{"admins", "s2s.hosts", "c2s.resume_timeout", "c2s.allow_registration", "log.level"}
	got := Changed(a, b)
	if !cmp.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("Changed = %v, want %v", got, want)
	}
}

func sortedCopy(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
