package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []Problem
	}{
		{name: "example", toml: Example},
		{name: "empty", toml: ""},
		{
			name: "unknown keys",
			toml: "domain = \"localhost\"\ncolor = \"blue\"\n[c2s]\nlisten = [\":5222\"]\nresume = \"5m\"\n[muc]\nhost = \"conference.localhost\"\n",
			want: []Problem{
				{Line: 2, Key: "color", Msg: "unknown key"},
				{Line: 5, Key: "c2s.resume", Msg: "unknown key"},
				{Line: 7, Key: "muc.host", Msg: "unknown key"},
			},
		},
		{
			name: "unknown dotted key",
			toml: "\n\nlimits.max_stanza = 1\n",
			want: []Problem{{Line: 3, Key: "limits.max_stanza", Msg: "unknown key"}},
		},
		{
			name: "unknown keys and bad values together",
			toml: "[log]\nlevel = \"loud\"\nsize = 3\n",
			want: []Problem{
				{Line: 2, Key: "log.level", Msg: `unknown value "loud"; want one of ["debug" "info" "warn" "error"]`},
				{Line: 3, Key: "log.size", Msg: "unknown key"},
			},
		},
		{
			name: "wrong type string for int",
			toml: "[limits]\nmax_depth = 64\nmax_stanza_bytes = \"256k\"\n",
			want: []Problem{{Line: 3, Key: "limits.max_stanza_bytes", Msg: "want an integer, got a TOML string"}},
		},
		{
			name: "wrong type int for string",
			toml: "# comment\ndomain = 5\n",
			want: []Problem{{Line: 2, Key: "domain", Msg: "want a string, got a TOML integer"}},
		},
		{
			name: "wrong type string for list",
			toml: "[c2s]\nlisten = \":5222\"\n",
			want: []Problem{{Line: 2, Key: "c2s.listen", Msg: "want a list of strings, got a TOML string"}},
		},
		{
			name: "wrong type string for bool",
			toml: "[c2s]\n\nrequire_tls = \"no\"\n",
			want: []Problem{{Line: 3, Key: "c2s.require_tls", Msg: "want true or false, got a TOML string"}},
		},
		{
			name: "duration without unit",
			toml: "[c2s]\nresume_timeout = \"300\"\n",
			want: []Problem{{Line: 2, Key: "c2s.resume_timeout", Msg: `invalid duration "300" (want a number and a unit, like "90s" or "5m")`}},
		},
		{
			name: "duration as integer",
			toml: "[c2s]\nsend_queue = 100\nmax_resume_timeout = 900\n",
			want: []Problem{{Line: 3, Key: "c2s.max_resume_timeout", Msg: `want a duration such as "90s" or "5m", got a TOML integer`}},
		},
		{
			name: "syntax error",
			toml: "domain = \"localhost\"\n[c2s\nlisten = []\n",
			want: []Problem{{Line: 2, Msg: "expected ']' to close table name"}},
		},
		{
			name: "duplicate key",
			toml: "domain = \"a.example\"\ndomain = \"b.example\"\n",
			want: []Problem{{Line: 2, Key: "domain", Msg: "key domain is already defined"}},
		},
		{
			name: "bad domain",
			toml: "data_dir = \"x\"\ndomain = \"a@b.example\"\n",
			want: []Problem{{Line: 2, Key: "domain", Msg: `"a@b.example" must be a bare domain, without @ or /`}},
		},
		{
			name: "non-canonical domain",
			toml: "domain = \"Example.ORG\"\n",
			want: []Problem{{Line: 1, Key: "domain", Msg: `"Example.ORG" is not in canonical form; use "example.org"`}},
		},
		{
			name: "empty domain and data_dir",
			toml: "domain = \"\"\ndata_dir = \"\"\n",
			want: []Problem{
				{Line: 1, Key: "domain", Msg: "must be set"},
				{Line: 2, Key: "data_dir", Msg: "must be set"},
			},
		},
		{
			name: "bad admins on their own lines",
			toml: "admins = [\n  \"ok@localhost\",\n  \"localhost\",\n  \"a@b/res\",\n]\n",
			want: []Problem{
				{Line: 3, Key: "admins[1]", Msg: `"localhost" must be a bare JID like user@domain`},
				{Line: 4, Key: "admins[2]", Msg: `"a@b/res" must be a bare JID like user@domain`},
			},
		},
		{
			name: "bad listen entries",
			toml: "[c2s]\nlisten = [\"\", \"5222\"]\ndirect_tls_listen = [\":5223\",\n \":5223\", \":99999\", \"x:\"]\n",
			want: []Problem{
				{Line: 2, Key: "c2s.listen[0]", Msg: "empty address; want host:port or :port"},
				{Line: 2, Key: "c2s.listen[1]", Msg: `"5222" is not host:port: missing port in address`},
				{Line: 4, Key: "c2s.direct_tls_listen[1]", Msg: `":5223" is used by both c2s.direct_tls_listen[0] and c2s.direct_tls_listen[1]`},
				{Line: 4, Key: "c2s.direct_tls_listen[2]", Msg: `":99999" has a bad port "99999"`},
				{Line: 4, Key: "c2s.direct_tls_listen[3]", Msg: `"x:" has no port`},
			},
		},
		{
			name: "listen shared between lists",
			toml: "[c2s]\ndirect_tls_listen = [\":5222\"]\n",
			want: []Problem{{Line: 2, Key: "c2s.direct_tls_listen[0]", Msg: `":5222" is used by both c2s.listen[0] and c2s.direct_tls_listen[0]`}},
		},
		{
			name: "listen shared with a default",
			toml: "[c2s]\n\nlisten = [\":5223\"]\n",
			want: []Problem{{Line: 3, Key: "c2s.listen[0]", Msg: `":5223" is used by both c2s.listen[0] and c2s.direct_tls_listen[0]`}},
		},
		{
			name: "bad http listen",
			toml: "[http]\nlisten = \"localhost\"\n",
			want: []Problem{{Line: 2, Key: "http.listen", Msg: `"localhost" is not host:port: missing port in address`}},
		},
		{
			name: "stanza size bounds",
			toml: "[limits]\nmax_stanza_bytes = 9999\n",
			want: []Problem{{Line: 2, Key: "limits.max_stanza_bytes", Msg: "9999 is out of range [10000, 67108864]"}},
		},
		{
			name: "stanza size too large",
			toml: "[limits]\nmax_stanza_bytes = 67108865\n",
			want: []Problem{{Line: 2, Key: "limits.max_stanza_bytes", Msg: "67108865 is out of range [10000, 67108864]"}},
		},
		{
			name: "account join history bounds",
			toml: "[account_join]\nhistory_max = 0\n",
			want: []Problem{{Line: 2, Key: "account_join.history_max", Msg: "0 is out of range [1, 1000]"}},
		},
		{
			name: "depth and header bounds",
			toml: "[limits]\nmax_depth = 2\nmax_header_bytes = 100\n",
			want: []Problem{
				{Line: 2, Key: "limits.max_depth", Msg: "2 is out of range [8, 1024]"},
				{Line: 3, Key: "limits.max_header_bytes", Msg: "100 is out of range [1024, 262144]"},
			},
		},
		{
			name: "unknown driver",
			toml: "[storage]\ndriver = \"mysql\"\n",
			want: []Problem{{Line: 2, Key: "storage.driver", Msg: `unknown value "mysql"; want one of ["sqlite" "postgres"]`}},
		},
		{
			name: "postgres without a dsn",
			toml: "[storage]\ndriver = \"postgres\"\n",
			want: []Problem{{Line: 0, Key: "storage.dsn", Msg: `required with driver "postgres": "postgres://user@host:5432/database"`}},
		},
		{
			name: "postgres with another URL",
			toml: "[storage]\ndriver = \"postgres\"\ndsn = \"mysql://db/x\"\n",
			want: []Problem{{Line: 3, Key: "storage.dsn", Msg: "a PostgreSQL URL starts with postgres:// or postgresql://"}},
		},
		{
			name: "postgres",
			toml: "[storage]\ndriver = \"postgres\"\ndsn = \"host=db.example.net dbname=minimix\"\n",
		},
		{
			name: "cluster on sqlite",
			toml: "[cluster]\nenabled = true\nnode_id = \"n1\"\n",
			want: []Problem{{Line: 2, Key: "cluster.enabled", Msg: `a cluster needs [storage] driver = "postgres": every node reads and writes the same database`}},
		},
		{
			name: "cluster without a node id",
			toml: "[storage]\ndriver = \"postgres\"\ndsn = \"postgres://db/x\"\n[cluster]\nenabled = true\n",
			want: []Problem{{Line: 0, Key: "cluster.node_id", Msg: "required with cluster.enabled: a name unique among the nodes"}},
		},
		{
			name: "cluster with bad names and addresses",
			toml: "[storage]\ndriver = \"postgres\"\ndsn = \"postgres://db/x\"\n[cluster]\nenabled = true\nnode_id = \"n 1\"\nnats_url = \"http://x:4222\"\n[cluster.nats]\ncluster_listen = \"\"\nroutes = [\"10.0.0.2:6222\"]\n",
			want: []Problem{
				{Line: 6, Key: "cluster.node_id", Msg: `"n 1": want 1 to 64 letters, digits, '-' or '_'`},
				{Line: 7, Key: "cluster.nats_url", Msg: `"http://x:4222": a NATS URL starts with nats:// or tls://`},
				{Line: 9, Key: "cluster.nats.cluster_listen", Msg: "routes need a cluster_listen address for the other nodes to connect to"},
				{Line: 10, Key: "cluster.nats.routes[0]", Msg: `"10.0.0.2:6222": a route is nats://host:port`},
			},
		},
		{
			name: "cluster",
			toml: "[storage]\ndriver = \"postgres\"\ndsn = \"postgres://db/x\"\n[cluster]\nenabled = true\nnode_id = \"node-1\"\n[cluster.nats]\nroutes = [\"nats://127.0.0.1:6223\"]\n",
		},
		{
			name: "unknown log format",
			toml: "[log]\nformat = \"xml\"\n",
			want: []Problem{{Line: 2, Key: "log.format", Msg: `unknown value "xml"; want one of ["text" "json"]`}},
		},
		{
			name: "resume timeout over the maximum, set in the file",
			toml: "[c2s]\nresume_timeout = \"20m\"\n",
			want: []Problem{{Line: 2, Key: "c2s.resume_timeout", Msg: "resume_timeout 20m exceeds max_resume_timeout 15m"}},
		},
		{
			name: "resume timeout over the maximum, only the maximum in the file",
			toml: "[c2s]\nmax_resume_timeout = \"1m\"\n",
			want: []Problem{{Line: 2, Key: "c2s.max_resume_timeout", Msg: "resume_timeout 5m exceeds max_resume_timeout 1m"}},
		},
		{
			name: "FAST token lifetime below a minute",
			toml: "[c2s]\nfast_token_lifetime = \"30s\"\n",
			want: []Problem{{Line: 2, Key: "c2s.fast_token_lifetime", Msg: "30s is below 1m"}},
		},
		{
			name: "FAST token lifetime over a year",
			toml: "[c2s]\nfast_token_lifetime = \"9000h\"\n",
			want: []Problem{{Line: 2, Key: "c2s.fast_token_lifetime", Msg: "9000h is out of range [0s, 8760h]"}},
		},
		{
			name: "negative values",
			toml: "[c2s]\nresume_timeout = \"-1s\"\nsend_queue = 15\noffline_max = -1\nlogin_failures_per_minute = -1\nstanzas_per_second = -1\nmax_connections = -1\n",
			want: []Problem{
				{Line: 2, Key: "c2s.resume_timeout", Msg: "must not be negative"},
				{Line: 3, Key: "c2s.send_queue", Msg: "15 is below the minimum of 16"},
				{Line: 4, Key: "c2s.offline_max", Msg: "-1 must not be negative"},
				{Line: 5, Key: "c2s.login_failures_per_minute", Msg: "-1 must not be negative"},
				{Line: 6, Key: "c2s.stanzas_per_second", Msg: "-1 must not be negative"},
				{Line: 7, Key: "c2s.max_connections", Msg: "-1 must not be negative"},
			},
		},
		{
			name: "policy bounds",
			toml: "shutdown_grace = \"0s\"\n[accounts]\nmin_password_length = 0\nscram_iterations = 1000\n[tls]\nsession_ticket_lifetime = \"200h\"\n[roster]\nmax_items = 0\n[pep]\nmax_nodes = 0\nmax_items = 100001\nmax_payload_bytes = 10\n[mam]\ndefault_page_size = 300\nmax_page_size = 200\n",
			want: []Problem{
				{Line: 1, Key: "shutdown_grace", Msg: "0s is out of range [1s, 1h0m0s]"},
				{Line: 3, Key: "accounts.min_password_length", Msg: "0 is out of range [1, 1024]"},
				{Line: 4, Key: "accounts.scram_iterations", Msg: "1000 is out of range [4096, 10000000]"},
				{Line: 6, Key: "tls.session_ticket_lifetime", Msg: "200h is out of range [0s, 168h0m0s]"},
				{Line: 8, Key: "roster.max_items", Msg: "0 is out of range [1, 100000]"},
				{Line: 10, Key: "pep.max_nodes", Msg: "0 is out of range [1, 100000]"},
				{Line: 11, Key: "pep.max_items", Msg: "100001 is out of range [1, 100000]"},
				{Line: 12, Key: "pep.max_payload_bytes", Msg: "10 is out of range [1024, 67108864]"},
				{Line: 14, Key: "mam.default_page_size", Msg: "300 is out of range [1, 200]"},
			},
		},
		{
			name: "ad-hoc command bounds",
			toml: "[adhoc]\nsession_timeout = \"1s\"\nmax_sessions = 0\n",
			want: []Problem{
				{Line: 2, Key: "adhoc.session_timeout", Msg: "1s is out of range [10s, 24h]"},
				{Line: 3, Key: "adhoc.max_sessions", Msg: "0 is out of range [1, 1000]"},
			},
		},
		{
			name: "blocking bounds",
			toml: "[blocking]\nmax_items = 0\n",
			want: []Problem{{Line: 2, Key: "blocking.max_items", Msg: "0 is out of range [1, 100000]"}},
		},
		{
			name: "external services",
			toml: "[external_services]\nsecret = \"a\"\nsecret_file = \"b\"\ncredential_ttl = \"1s\"\n[[external_services.service]]\ntype = \"stun\"\nhost = \"stun.example.org\"\nport = 3478\n[[external_services.service]]\ntype = \"x:y\"\nhost = \"a b\"\nport = 0\ntransport = \"sctp\"\nusername = \"u\"\nsecret = true\n",
			want: []Problem{
				{Line: 2, Key: "external_services.secret", Msg: "give the secret or a file holding it, not both"},
				{Line: 4, Key: "external_services.credential_ttl", Msg: "1s is out of range [1m, 720h]"},
				{Line: 10, Key: "external_services.service[1].type", Msg: `"x:y" is not a service type such as "stun" or "turn"`},
				{Line: 11, Key: "external_services.service[1].host", Msg: `"a b" is neither a DNS name nor an IP address`},
				{Line: 12, Key: "external_services.service[1].port", Msg: "0 is out of range [1, 65535]"},
				{Line: 13, Key: "external_services.service[1].transport", Msg: `unknown value "sctp"; want "udp", "tcp" or ""`},
				{Line: 14, Key: "external_services.service[1].username", Msg: "give both username and password, or neither"},
				{Line: 15, Key: "external_services.service[1].secret", Msg: "credentials come from the secret or from username and password, not both"},
			},
		},
		{
			name: "external service secret without the secret",
			toml: "[[external_services.service]]\ntype = \"turn\"\nhost = \"turn.example.org\"\nport = 3478\nsecret = true\n",
			want: []Problem{{Line: 5, Key: "external_services.service[0].secret", Msg: "needs external_services.secret or external_services.secret_file"}},
		},
		{
			name: "components",
			toml: "[components]\nlisten = [\"nonsense\"]\nnegotiate_timeout = \"0s\"\nsend_queue = 1\n[[components.external]]\ndomain = \"push.localhost\"\nsecret = \"s\"\n[[components.external]]\ndomain = \"push.localhost\"\n[[components.external]]\ndomain = \"conference.localhost\"\nsecret = \"s\"\n[[components.external]]\ndomain = \"a@b\"\nsecret = \"s\"\n",
			want: []Problem{
				{Line: 2, Key: "components.listen[0]", Msg: `"nonsense" is not host:port: missing port in address`},
				{Line: 3, Key: "components.negotiate_timeout", Msg: "0s is out of range [1s, 10m]"},
				{Line: 4, Key: "components.send_queue", Msg: "1 is below the minimum of 16"},
				{Line: 8, Key: "components.external[1]", Msg: "a secret must be set"},
				{Line: 9, Key: "components.external[1].domain", Msg: `"push.localhost" is components.external[0].domain already`},
				{Line: 11, Key: "components.external[2].domain", Msg: `"conference.localhost" is muc.domain already`},
				{Line: 14, Key: "components.external[3].domain", Msg: `"a@b" is not a domain`},
			},
		},
		{
			name: "upload",
			toml: "[http]\ntls_listen = \"x\"\n[upload]\ndomain = \"localhost\"\nurl = \"ftp://x\"\nmax_file_bytes = 0\nquota_bytes = -1\nexpire_after = \"1s\"\ntransfer_timeout = \"0s\"\n",
			want: []Problem{
				{Line: 2, Key: "http.tls_listen", Msg: `"x" is not host:port: missing port in address`},
				{Line: 4, Key: "upload.domain", Msg: `"localhost" is the domain of another service of this server`},
				{Line: 5, Key: "upload.url", Msg: `"ftp://x" is not scheme://host[:port] with scheme http or https`},
				{Line: 6, Key: "upload.max_file_bytes", Msg: "0 is out of range [1, 1099511627776]"},
				{Line: 7, Key: "upload.quota_bytes", Msg: "must not be negative"},
				{Line: 8, Key: "upload.expire_after", Msg: "1s is below 1m"},
				{Line: 9, Key: "upload.transfer_timeout", Msg: "0s is out of range [1s, 24h]"},
			},
		},
		{
			name: "push",
			toml: "[push]\nrooms = \"some\"\nmax_registrations = 0\nqueue = 1\ntimeout = \"0s\"\nmax_failures = 0\n",
			want: []Problem{
				{Line: 2, Key: "push.rooms", Msg: `unknown value "some"; want one of ["all" "mentions" "never"]`},
				{Line: 3, Key: "push.max_registrations", Msg: "0 is out of range [1, 1000]"},
				{Line: 4, Key: "push.queue", Msg: "1 is out of range [16, 1000000]"},
				{Line: 5, Key: "push.timeout", Msg: "0s is out of range [1s, 1h]"},
				{Line: 6, Key: "push.max_failures", Msg: "0 is out of range [1, 100]"},
			},
		},
		{
			name: "pubsub bounds",
			toml: "[pubsub]\ndomain = \"conference.localhost\"\nrestrict_node_creation = \"nobody\"\nmax_nodes = 0\nmax_items = 100001\nmax_payload_bytes = 10\nmax_subscriptions = 0\n",
			want: []Problem{
				{Line: 2, Key: "pubsub.domain", Msg: "the pubsub and MUC services need domains of their own, not both \"conference.localhost\""},
				{Line: 3, Key: "pubsub.restrict_node_creation", Msg: "unknown value \"nobody\"; want one of [\"anyone\" \"local\" \"admins\"]"},
				{Line: 4, Key: "pubsub.max_nodes", Msg: "0 is out of range [1, 1000000]"},
				{Line: 5, Key: "pubsub.max_items", Msg: "100001 is out of range [1, 100000]"},
				{Line: 6, Key: "pubsub.max_payload_bytes", Msg: "10 is out of range [1024, 67108864]"},
				{Line: 7, Key: "pubsub.max_subscriptions", Msg: "0 is out of range [1, 100000]"},
			},
		},
		{
			name: "rate limits and metrics access",
			toml: "[limits]\nc2s_bytes_per_second = 100\nc2s_burst_bytes = 10\n[http]\nmetrics_allow = [\"10.0.0.0/8\", \"10.0.0.1\"]\n[c2s]\naddress_login_failures_per_minute = -1\n",
			want: []Problem{
				{Line: 2, Key: "limits.c2s_bytes_per_second", Msg: "100 is below the minimum of 1024 (0 turns the limit off)"},
				{Line: 3, Key: "limits.c2s_burst_bytes", Msg: "10 is out of range [4096, 67108864]"},
				{Line: 5, Key: "http.metrics_allow[1]", Msg: `"10.0.0.1" is not a CIDR like 10.0.0.0/8 or ::1/128`},
				{Line: 7, Key: "c2s.address_login_failures_per_minute", Msg: "-1 must not be negative"},
			},
		},
		{
			name: "web transports",
			toml: "[http]\nallowed_origins = [\"https://chat.example.org/\", \"\", \"*.example.org\", \"https://*.example.net:8443\", \"chat.example.org/x\"]\nbosh_max_wait = \"0s\"\nbosh_max_hold = 9\nwebsocket_ping_interval = \"10ms\"\npublic_url = \"chat.example.org\"\n",
			want: []Problem{
				{Line: 2, Key: "http.allowed_origins[0]", Msg: `"https://chat.example.org/" is not an origin (https://host[:port], no path), a host pattern or "*"`},
				{Line: 2, Key: "http.allowed_origins[1]", Msg: `"" is not an origin (https://host[:port], no path), a host pattern or "*"`},
				{Line: 2, Key: "http.allowed_origins[4]", Msg: `"chat.example.org/x" is not an origin (https://host[:port], no path), a host pattern or "*"`},
				{Line: 3, Key: "http.bosh_max_wait", Msg: "0s is out of range [1s, 10m0s]"},
				{Line: 4, Key: "http.bosh_max_hold", Msg: "9 is out of range [1, 8]"},
				{Line: 5, Key: "http.websocket_ping_interval", Msg: "10ms is out of range [1s, 1h] (0s: never)"},
				{Line: 6, Key: "http.public_url", Msg: `"chat.example.org" is not an http:// or https:// URL`},
			},
		},
		{
			name: "timeouts that are not positive",
			toml: "[c2s]\nnegotiate_timeout = \"0s\"\nwrite_timeout = \"-1s\"\n",
			want: []Problem{
				{Line: 2, Key: "c2s.negotiate_timeout", Msg: "must be positive"},
				{Line: 3, Key: "c2s.write_timeout", Msg: "must be positive"},
			},
		},
		{
			name: "cert without key",
			toml: "[tls]\n\ncert_file = \"c.pem\"\n",
			want: []Problem{{Line: 3, Key: "tls.cert_file", Msg: "cert_file and key_file must be set together"}},
		},
		{
			name: "acme for localhost",
			toml: "[tls]\nacme = true\n",
			want: []Problem{{Line: 2, Key: "tls.acme", Msg: `an ACME CA certifies DNS names it can reach; domain "localhost" is not one (set domain first)`}},
		},
		{
			name: "key without cert",
			toml: "[tls]\nkey_file = \"k.pem\"\n",
			want: []Problem{{Line: 2, Key: "tls.key_file", Msg: "cert_file and key_file must be set together"}},
		},
		{
			name: "inline table",
			toml: "c2s = {\n  listen = [\"\"],\n  send_queue = 1,\n}\n",
			want: []Problem{
				{Line: 2, Key: "c2s.listen[0]", Msg: "empty address; want host:port or :port"},
				{Line: 3, Key: "c2s.send_queue", Msg: "1 is below the minimum of 16"},
			},
		},
		{
			name: "array of tables",
			toml: "[[c2s]]\nlisten = []\n",
			want: []Problem{{Line: 1, Key: "c2s", Msg: "cannot store an array table in a struct"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, t.TempDir(), "minimix.toml", tc.toml)
			got, err := Check(path)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}

			// Parse reports the same problems as its error.
			c, err := Parse([]byte(tc.toml))
			if len(tc.want) == 0 {
				if err != nil || c == nil {
					t.Errorf("Parse = %v, %v", c, err)
				}
				return
			}
			ps, ok := errors.AsType[Problems](err)
			if c != nil || !ok {
				t.Fatalf("Parse = %v, %v; want nil, Problems", c, err)
			}
			if diff := cmp.Diff(tc.want, []Problem(ps)); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckMissingFile(t *testing.T) {
	if _, err := Check(t.TempDir() + "/none.toml"); err == nil {
		t.Error("Check(missing file) succeeded")
	}
}
