#!/usr/bin/env bash
# bench/compare.sh: minimix, Prosody and ejabberd side by side.
#
# Installs Prosody and ejabberd (Debian packages) when missing, builds
# minimix and minimix-bench from this tree, starts every server on
# loopback with configurations written to a temporary directory (own
# ports, own data, no system services), creates the accounts with in-band
# registration, pins each server to core 1 (minimix with GOMAXPROCS=1) and
# the load tool to core 0, runs the scenarios against the servers in an
# order that rotates each round, and prints one table of medians with
# ratios against Prosody. Everything it started is stopped on exit.
# Must run as root (apt-get, and Prosody and ejabberd run as their own
# users). docs/benchmarks.md states the configurations and shows a run.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/compare.sh [--quick] [--rounds N] [--servers "A B"] [--cases "A B"] [--keep] [--out FILE]

  --quick        small sizes and one round (a few minutes)
  --rounds N     rounds per case (default 3; the table shows medians)
  --servers LIST among: minimix minimix-noaj prosody ejabberd prosody-mam
                 (default: all but prosody-mam, which is Prosody with its
                 archives, mod_mam and mod_muc_mam, on SQLite)
  --cases LIST   among: idle idle-tls login chat muc muc-rate muc500
                 accountjoin join restart (default: all; --quick drops muc500)
  --keep         keep the temporary directory (configs, logs, results)
  --out FILE     also write the raw results (JSON lines) to FILE
  --minimix-rev REV
                 build minimix from git revision REV of this repository
                 (exported with git archive) instead of the working tree
EOF
}

ARGS="$*"
ROUNDS=""
QUICK=0
SERVERS="minimix minimix-noaj prosody ejabberd"
CASES=""
KEEP=0
OUT=""
REV=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; shift ;;
	--rounds) ROUNDS="$2"; shift 2 ;;
	--servers) SERVERS="$2"; shift 2 ;;
	--cases) CASES="$2"; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--out) OUT="$2"; shift 2 ;;
	--minimix-rev) REV="$2"; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "compare.sh: run as root (it installs packages and runs servers as their users)" >&2
	exit 2
fi
if [ "$QUICK" = 1 ]; then
	: "${ROUNDS:=1}"
	: "${CASES:=idle idle-tls login chat muc muc-rate accountjoin join restart}"
else
	: "${ROUNDS:=3}"
	: "${CASES:=idle idle-tls login chat muc muc-rate muc500 accountjoin join restart}"
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Thousands of sessions need as many descriptors in every server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
DOMAIN=bench.test
MUC=conference.$DOMAIN
PASSWORD=bench-password
SERVER_CPU=1
TOOL_CPU=0

# Sizes: full, then --quick.
if [ "$QUICK" = 1 ]; then
	IDLE=300 LOGINS=500 PAIRS=5 CHATMSGS=2000 MUCMSGS=1000 RATE=200 RATEFOR=3s
	AJMSGS=300 JOINS=20 STORED=200 SETTLE=3s
else
	IDLE=1000 LOGINS=2000 PAIRS=10 CHATMSGS=5000 MUCMSGS=3000 RATE=200 RATEFOR=10s
	AJMSGS=1000 JOINS=50 STORED=1000 SETTLE=5s
fi
ACCOUNTS=$((IDLE > STORED ? IDLE : STORED))
ACCOUNTS=$((ACCOUNTS > 500 ? ACCOUNTS : 500))

T="$(mktemp -d /tmp/minimix-compare.XXXXXX)"
chmod 755 "$T"
mkdir -p "$T/bin" "$T/cert"
RESULTS="$T/results.jsonl"
LOG="$T/bench.log"
: >"$RESULTS"
declare -A PIDFILE PORT HTTP

say() { echo "compare.sh: $*" >&2; }

# ---- cleanup: stop what we started, nothing else --------------------------
STARTED_EPMD=0
POLICY_RC_ADDED=0
cleanup() {
	set +e
	for s in $SERVERS; do
		[ -n "${PIDFILE[$s]:-}" ] && halt "$s"
	done
	if [ "$STARTED_EPMD" = 1 ]; then
		# epmd refuses to stop while a node is still registered; the
		# node of a stopped ejabberd goes away within moments.
		for _ in $(seq 50); do
			epmd -names >/dev/null 2>&1 || break
			epmd -kill >/dev/null 2>&1
			sleep 0.1
		done
	fi
	if [ "$POLICY_RC_ADDED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
	if [ "$KEEP" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- install ----------------------------------------------------------------
if ! command -v prosody >/dev/null || ! command -v ejabberdctl >/dev/null; then
	say "installing prosody and ejabberd"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		# Keep the packages from starting their system services.
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		POLICY_RC_ADDED=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq prosody ejabberd >/dev/null
fi
case " $SERVERS " in
*" prosody-mam "*)
	# Prosody's SQL storage goes through LuaDBI.
	if ! dpkg-query -W -f='${Status}' lua-dbi-sqlite3 2>/dev/null | grep -q installed; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq lua-dbi-sqlite3 >/dev/null
	fi
	;;
esac
# Debian's own instances, if anything started them, hold no ports we use,
# but they would share the cores: stop them. (ejabberdctl starts epmd, the
# Erlang port mapper, when it is not running; stop it at the end if it was
# not running before.)
epmd -names >/dev/null 2>&1 || STARTED_EPMD=1
if [ -s /run/prosody/prosody.pid ]; then service prosody stop >/dev/null 2>&1 || true; fi
if [ -s /run/ejabberd/ejabberd.pid ]; then service ejabberd stop >/dev/null 2>&1 || true; fi

say "building minimix and minimix-bench"
(cd "$ROOT" && go build -o "$T/bin/minimix-bench" ./cmd/minimix-bench)
if [ -n "$REV" ]; then
	mkdir "$T/src"
	(cd "$ROOT" && git archive "$REV") | tar -x -C "$T/src"
	(cd "$T/src" && go build -o "$T/bin/minimix" ./cmd/minimix)
	MINIMIX_VERSION="$(cd "$ROOT" && git rev-parse --short "$REV")"
else
	(cd "$ROOT" && go build -o "$T/bin/minimix" ./cmd/minimix)
	MINIMIX_VERSION="$(cd "$ROOT" && git describe --always --dirty 2>/dev/null)"
fi
BENCH="$T/bin/minimix-bench"

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$DOMAIN" \
	-addext "subjectAltName=DNS:$DOMAIN,DNS:$MUC" \
	-keyout "$T/cert/key.pem" -out "$T/cert/cert.pem" 2>/dev/null
chmod 644 "$T/cert/key.pem"

port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
	for _ in $(seq 600); do
		(echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	say "nothing listens on port $1"
	return 1
}

# launch starts server $1 with the start.sh its setup wrote, and waits
# until it listens and has written its pid file.
launch() {
	rm -f "${PIDFILE[$1]}"
	"$T/$1/start.sh"
	wait_port "${PORT[$1]}"
	for _ in $(seq 100); do [ -s "${PIDFILE[$1]}" ] && return 0; sleep 0.1; done
	say "$1 wrote no pid file"
	return 1
}

# halt stops server $1 (gracefully, then hard after 20 s) and waits for it.
halt() {
	local f="${PIDFILE[$1]}" pid
	[ -s "$f" ] || return 0
	pid="$(cat "$f")"
	if [ -x "$T/$1/stop.sh" ]; then "$T/$1/stop.sh" >/dev/null 2>&1 || true; fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$f"
}

# ---- minimix ----------------------------------------------------------------
# minimix: defaults (archive on), plus what a benchmark needs: plaintext
# logins, in-band registration, no failed-login limit per address (the
# tool registers from one address), no read rate per connection (the
# equivalent of Prosody's mod_limits), and a deep send queue.
# optional prints "key = value" when the minimix being measured knows key
# (its configuration is strict; an older revision lacks newer keys).
optional() {
	if "$T/bin/minimix" config example | grep -q "^$1 = "; then echo "$1 = $2"; fi
}

start_minimix() { # name port http account_join
	local name=$1 port=$2 http=$3 aj=$4 d="$T/$1"
	mkdir -p "$d"
	cat >"$d/minimix.toml" <<EOF
domain = "$DOMAIN"
data_dir = "$d/data"
[c2s]
listen = ["127.0.0.1:$port"]
direct_tls_listen = []
require_tls = false
allow_registration = true
login_failures_per_minute = 0
$(optional address_login_failures_per_minute 0)
send_queue = 100000
[limits]
$(optional c2s_bytes_per_second 0)
[tls]
cert_file = "$T/cert/cert.pem"
key_file = "$T/cert/key.pem"
[http]
listen = "127.0.0.1:$http"
[muc]
domain = "$MUC"
[account_join]
enabled = $aj
[s2s]
# No federation here (two minimix instances run side by side and would
# both take 5269), as in the other servers' configurations.
enabled = false
[log]
level = "warn"
EOF
	cat >"$d/start.sh" <<EOF
#!/bin/sh
GOMAXPROCS=1 taskset -c $SERVER_CPU "$T/bin/minimix" serve -config "$d/minimix.toml" </dev/null >>"$d/log" 2>&1 &
echo \$! >"$d/pid"
EOF
	# restart.sh is what the restart case runs: a graceful stop, then a
	# start on the same data.
	cat >"$d/restart.sh" <<EOF
#!/bin/sh
pid=\$(cat "$d/pid")
kill -TERM "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.02; done
exec "$d/start.sh"
EOF
	chmod 755 "$d/start.sh" "$d/restart.sh"
	PIDFILE[$name]="$d/pid" PORT[$name]=$port HTTP[$name]=$http
	launch "$name"
}

# ---- Prosody ----------------------------------------------------------------
# Prosody 0.12: plain MUC without archive (no mod_mam, no mod_muc_mam),
# no mod_limits (so no c2s rate limit), plaintext SASL allowed,
# registration open (loopback is exempt from its throttle by default).
# prosody-mam is the same with mod_mam (every 1:1 message archived, as
# minimix does) and mod_muc_mam (rooms logged by default), stored in
# SQLite through LuaDBI.
start_prosody() { # name port mam
	local name=$1 port=$2 mam=$3 d="$T/$1" extra="" muc_extra="" store='storage = "internal"'
	mkdir -p "$d/data"
	if [ "$mam" = 1 ]; then
		extra='"mam";'
		muc_extra='  modules_enabled = { "muc_mam" }
  muc_log_by_default = true'
		store='default_archive_policy = true
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }'
	fi
	cat >"$d/prosody.cfg.lua" <<EOF
pidfile = "$d/prosody.pid"
data_path = "$d/data"
plugin_paths = {}
admins = {}
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "register"; "ping"; "carbons"; "posix"; $extra }
modules_disabled = { "s2s" }
c2s_ports = { $port }
c2s_interfaces = { "127.0.0.1" }
c2s_require_encryption = false
allow_registration = true
authentication = "internal_hashed"
$store
log = { { levels = { min = "warn" }, to = "file", filename = "$d/prosody.log" } }
ssl = { certificate = "$T/cert/cert.pem"; key = "$T/cert/key.pem" }
VirtualHost "$DOMAIN"
Component "$MUC" "muc"
  muc_room_default_history_length = 20
  muc_room_locking = true
$muc_extra
EOF
	chown -R prosody:prosody "$d"
	cat >"$d/start.sh" <<EOF
#!/bin/sh
taskset -c $SERVER_CPU runuser -u prosody -- sh -c 'ulimit -n \$(ulimit -Hn); exec prosody --config "$d/prosody.cfg.lua" -F' </dev/null >>"$d/stdout.log" 2>&1 &
EOF
	chmod 755 "$d/start.sh"
	PIDFILE[$name]="$d/prosody.pid" PORT[$name]=$port
	launch "$name"
}

# ---- ejabberd -----------------------------------------------------------------
# ejabberd 23.01: defaults with MUC (no mod_mam), SCRAM-SHA-1 stored
# credentials like Prosody's, and no traffic shaping: no c2s shaper, room
# and user shapers off, queues and room sizes lifted, registration open.
EJNODE=ejbench@localhost
start_ejabberd() {
	local d="$T/ejabberd" port=35222
	mkdir -p "$d/etc" "$d/spool" "$d/logs"
	cat "$T/cert/cert.pem" "$T/cert/key.pem" >"$d/etc/bench.pem"
	cat >"$d/etc/ejabberdctl.cfg" <<EOF
ERLANG_NODE=$EJNODE
EJABBERD_PID_PATH=$d/ejabberd.pid
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="+S 1:1"
EOF
	cat >"$d/etc/ejabberd.yml" <<EOF
hosts: ["$DOMAIN"]
loglevel: warning
log_rotate_count: 0
certfiles: ["$d/etc/bench.pem"]
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
max_fsm_queue: 1000000
acl:
  local: {user_regexp: ""}
access_rules:
  c2s: {allow: all}
  register: {allow: all}
  muc_create: {allow: all}
shaper_rules:
  max_user_sessions: 100000
  max_user_offline_messages: 5000
listen:
  - port: $port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    access: c2s
    starttls: true
    starttls_required: false
    max_stanza_size: 262144
    max_fsm_queue: 1000000
modules:
  mod_disco: {}
  mod_roster: {}
  mod_ping: {}
  mod_carboncopy: {}
  mod_offline: {}
  mod_register:
    ip_access: all
    access: register
  mod_muc:
    host: "$MUC"
    access: all
    access_create: muc_create
    access_persistent: muc_create
    history_size: 20
    max_users: 100000
    max_users_presence: 100000
    max_user_conferences: 100000
    min_message_interval: 0
    min_presence_interval: 0
    room_shaper: none
    user_message_shaper: none
    user_presence_shaper: none
    default_room_options:
      max_users: 100000
      mam: false
EOF
	# ejabberdctl run by root switches to the ejabberd user with su, whose
	# PAM session resets the descriptor limit to 1024: ctl.sh runs it as
	# that user with the limit raised instead.
	cat >"$d/ctl.sh" <<EOF
#!/bin/sh
exec runuser -u ejabberd -- env HOME=/var/lib/ejabberd sh -c 'ulimit -n \$(ulimit -Hn); exec ejabberdctl --config-dir "$d/etc" --spool "$d/spool" --logs "$d/logs" --node $EJNODE "\$@"' ejabberdctl "\$@"
EOF
	cat >"$d/start.sh" <<EOF
#!/bin/sh
taskset -c $SERVER_CPU "$d/ctl.sh" foreground </dev/null >>"$d/stdout.log" 2>&1 &
EOF
	cat >"$d/stop.sh" <<EOF
#!/bin/sh
"$d/ctl.sh" stop
EOF
	chmod 755 "$d/ctl.sh" "$d/start.sh" "$d/stop.sh"
	chown -R ejabberd:ejabberd "$d"
	PIDFILE[ejabberd]="$d/ejabberd.pid" PORT[ejabberd]=$port
	launch ejabberd
}

for s in $SERVERS; do
	case $s in
	minimix) port_free 15222 && port_free 15280 || { say "port 15222 or 15280 busy"; exit 1; } ;;
	minimix-noaj) port_free 16222 && port_free 16280 || { say "port 16222 or 16280 busy"; exit 1; } ;;
	prosody) port_free 25222 || { say "port 25222 busy"; exit 1; } ;;
	prosody-mam) port_free 26222 || { say "port 26222 busy"; exit 1; } ;;
	ejabberd) port_free 35222 || { say "port 35222 busy"; exit 1; } ;;
	*) say "unknown server $s"; exit 2 ;;
	esac
done
for s in $SERVERS; do
	say "starting $s"
	case $s in
	minimix) start_minimix minimix 15222 15280 true ;;
	minimix-noaj) start_minimix minimix-noaj 16222 16280 false ;;
	prosody) start_prosody prosody 25222 0 ;;
	prosody-mam) start_prosody prosody-mam 26222 1 ;;
	ejabberd) start_ejabberd ;;
	esac
done

bench() { # server, then minimix-bench arguments
	local s=$1
	shift
	taskset -c $TOOL_CPU "$BENCH" -addr "127.0.0.1:${PORT[$s]}" -domain "$DOMAIN" -muc "$MUC" \
		-password "$PASSWORD" -pid "$(cat "${PIDFILE[$s]}")" -label "$s" -q "$@"
}

for s in $SERVERS; do
	say "creating $ACCOUNTS accounts on $s"
	bench "$s" -accounts "$ACCOUNTS" -setup-concurrency 8 accounts >>"$LOG" 2>&1 ||
		{ say "account creation on $s failed; see the log:"; tail -5 "$LOG" >&2; exit 1; }
done

# case_args prints the minimix-bench arguments of a case for a server, or
# nothing when the case does not apply to it.
RESTART_SET_UP=0
case_args() { # case server
	case $1 in
	idle) echo "-sessions $IDLE -settle $SETTLE idle" ;;
	idle-tls) echo "-sessions $IDLE -settle $SETTLE -starttls idle" ;;
	login) echo "-logins $LOGINS -concurrency 8 -accounts 50 -mech SCRAM-SHA-1 login" ;;
	chat) echo "-pairs $PAIRS -messages $CHATMSGS chat" ;;
	muc) echo "-occupants 50 -messages $MUCMSGS muc" ;;
	muc-rate) echo "-occupants 50 -rate $RATE -duration $RATEFOR muc" ;;
	muc500) echo "-occupants 500 -messages $((MUCMSGS / 10)) muc" ;;
	accountjoin) echo "-accounts 50 -sessions-per-account 4 -messages $AJMSGS accountjoin" ;;
	join) echo "-occupants 50 -joins $JOINS join" ;;
	restart)
		# Stored account joins exist on minimix with account_join only.
		[ "$2" = minimix ] || return 0
		local setup=""
		[ "$RESTART_SET_UP" = 1 ] || setup="-restart-setup"
		echo "-stored-joins $STORED -room-size 50 $setup -observe admin -admin-url http://127.0.0.1:${HTTP[minimix]} -admin-token-file $T/minimix/data/admin.token -restart-cmd $T/minimix/restart.sh restart"
		;;
	*) say "unknown case $1"; exit 2 ;;
	esac
}

case_name() {
	case $1 in
	idle) echo "idle plaintext, $IDLE sessions" ;;
	idle-tls) echo "idle STARTTLS, $IDLE sessions" ;;
	login) echo "SCRAM-SHA-1 logins, 8 at a time" ;;
	chat) echo "1:1 chat, $PAIRS pairs flood $CHATMSGS each" ;;
	muc) echo "room of 50, flood of $MUCMSGS" ;;
	muc-rate) echo "room of 50, $RATE msgs/s" ;;
	muc500) echo "room of 500, flood of $((MUCMSGS / 10))" ;;
	accountjoin) echo "50 accounts x 4 sessions, flood of $AJMSGS" ;;
	join) echo "extra session joins a joined room" ;;
	restart) echo "restart with $STORED stored joins" ;;
	esac
}

LOADS=()
read -r -a SRV <<<"$SERVERS"
for r in $(seq "$ROUNDS"); do
	for c in $CASES; do
		# Rotate the servers' order each round so that none is always
		# measured first or last.
		n=${#SRV[@]}
		for i in $(seq 0 $((n - 1))); do
			s=${SRV[$(((i + r - 1) % n))]}
			args="$(case_args "$c" "$s")"
			[ -n "$args" ] || continue
			load="$(cut -d' ' -f1 /proc/loadavg)"
			LOADS+=("$load")
			say "round $r/$ROUNDS: $c on $s (load $load)"
			case $c in idle*)
				# RSS growth means something only from a fresh process: a
				# server keeps the memory earlier cases made it take.
				halt "$s"
				launch "$s"
				sleep 2
				;;
			esac
			# shellcheck disable=SC2086
			if ! bench "$s" -json -case "$(case_name "$c")" $args >>"$RESULTS" 2>>"$LOG"; then
				say "  $c on $s failed: $(tail -1 "$LOG")"
			fi
			if [ "$c" = restart ]; then RESTART_SET_UP=1; fi
		done
	done
done

[ -z "$OUT" ] || cp "$RESULTS" "$OUT"
cols="$(echo "$SERVERS" | tr ' ' ',')"
base=prosody
case " $SERVERS " in *" prosody "*) ;; *) base="" ;; esac
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
loads="$(printf '%s\n' "${LOADS[@]}" | sort -n | sed -n '1p;$p' | paste -sd- -)"
echo
echo "## $(date -u +%Y-%m-%d) on $(nproc) cores ($cpu); load average during the run: $loads"
echo
echo "Command: bench/compare.sh $ARGS; medians of $ROUNDS round(s); ↑ higher is better, ↓ lower is better."
versions=""
for s in $SERVERS; do
	case $s in
	minimix*) v="$s $MINIMIX_VERSION (GOMAXPROCS=1)" ;;
	prosody*) v="$s $(dpkg-query -W -f='${Version}' prosody 2>/dev/null)" ;;
	ejabberd) v="$s $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null)" ;;
	esac
	versions="${versions:+$versions, }$v"
done
echo "Servers: $versions, each on core $SERVER_CPU; minimix-bench on core $TOOL_CPU."
echo
"$BENCH" compare -columns "$cols" ${base:+-base "$base"} "$RESULTS"
