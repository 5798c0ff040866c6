#!/usr/bin/env bash
# Brings up the whole system on this machine: installs what is missing, builds, migrates and
# seeds, then hands the processes to the supervisor (scripts/supervisor.ts), which starts,
# restarts and stops them. `./start.sh help` prints the commands.
#
# Environment: PORT (gateway, 8080), RUN_DIR (pid and log files, .run), HEALTH_TIMEOUT (s, 120),
# STOP_TIMEOUT (s, 30), and the system's own variables (DATABASE_URL, AMQP_URL, ...; see README).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$ROOT/$RUN_DIR" ;; esac
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
# Workers force their own exit 20 s after SIGTERM; SIGKILL comes only after that.
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"

say() { printf '%s\n' "$*"; }
warn() { printf 'start.sh: %s\n' "$*" >&2; }
die() {
  warn "$*"
  exit 1
}

usage() {
  cat <<'EOF'
./start.sh [--workers catalog=3,stats=2] [--broker-nodes 3]
                                   infrastructure, build (dist/, web/dist: when stale),
                                   migrations, seed, then the supervisor with the gateway and
                                   the workers; prints the time to green /health; with
                                   --broker-nodes N > 1, on a RabbitMQ cluster of N nodes of
                                   its own (scripts/broker-cluster.sh)
./start.sh scale <service> <n>     run exactly n workers of a service
./start.sh status                  what runs: component, pid, alive, uptime; broker nodes
./start.sh stop                    stop what this script started (not the shared
                                   RabbitMQ/PostgreSQL; its own broker nodes, yes)
EOF
}

# The supervisor's command line (scripts/supervisor.ts, compiled); it keeps the process list.
# Without the lock's descriptor, or the supervisor it starts would hold the lock forever.
supervisor() { RUN_DIR="$RUN_DIR" scripts/run.sh scripts/supervisor "$@" 9>&-; }

# --- configuration ------------------------------------------------------------------------------

# The settings of common/config.ts that are set now (scripts/config-env.ts knows their names).
save_config() {
  (umask 077 && scripts/run.sh scripts/config-env >"$RUN_DIR/config.env")
}

load_config() {
  # shellcheck disable=SC1091
  if [ -f "$RUN_DIR/config.env" ]; then source "$RUN_DIR/config.env"; fi
}

lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/.lock"
  flock -w 600 9 || die "another ./start.sh is busy with $RUN_DIR"
}

# --- steps of a start ---------------------------------------------------------------------------

install_deps() {
  # npm writes node_modules/.package-lock.json on every install: older than the lock file means stale.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund
  fi
}

ensure_infra() {
  local names="music music_test" db rabbitmq=running
  if [ -n "${DATABASE_URL:-}" ]; then
    db="${DATABASE_URL##*/}"
    db="${db%%\?*}"
    [[ "$db" =~ ^[A-Za-z0-9_]+$ ]] && names="$names $db"
  fi
  # A cluster of our own needs RabbitMQ installed, not the machine's own broker running.
  [ "$BROKER_NODES" -le 1 ] || rabbitmq=installed
  MUSIC_DB_NAMES="${MUSIC_DB_NAMES:-$names}" ENSURE_RABBITMQ="$rabbitmq" "$ROOT/scripts/ensure-infra.sh"
}

# --- broker nodes of our own (--broker-nodes N) ---------------------------------------------------

BROKER_CLUSTER="$ROOT/scripts/broker-cluster.sh"
export BROKER_DIR="$RUN_DIR/broker"

has_cluster() { [ -f "$BROKER_DIR/cluster.env" ]; }

# Starts (or reuses) the cluster and points every process at all of its nodes.
start_cluster() {
  if [ -n "${AMQP_URL:-}" ] && [ "${AMQP_URL_FROM_CLUSTER:-}" != "$AMQP_URL" ]; then
    die "AMQP_URL is set, and --broker-nodes $BROKER_NODES runs the system on a cluster of its own; unset one of them"
  fi
  step "starting $BROKER_NODES RabbitMQ nodes (logs in $BROKER_DIR)" "$BROKER_CLUSTER" start "$BROKER_NODES"
  AMQP_URL="$("$BROKER_CLUSTER" urls)"
  export AMQP_URL AMQP_URL_FROM_CLUSTER="$AMQP_URL"
}

# The broker user of every kind of process, made or updated on the broker the system runs on
# (scripts/broker-users.ts, through the management API as AMQP_URL's administrator); on a
# cluster of our own, through its first node's management API.
broker_users() {
  local mgmt="${BROKER_MANAGEMENT_URL:-}"
  if [ -z "$mgmt" ] && has_cluster && [ "$BROKER_NODES" -gt 1 ]; then
    # shellcheck disable=SC1091
    mgmt="$(source "$BROKER_DIR/cluster.env" && printf 'http://%s.1:%s' "$BROKER_NET" $((BROKER_MANAGEMENT_PORT + 1)))"
  fi
  step "broker users" env BROKER_MANAGEMENT_URL="$mgmt" scripts/run.sh scripts/broker-users
}

parse_broker_nodes() {
  [[ "$1" =~ ^[1-9]$ ]] || die "--broker-nodes should be 1..9, not '$1'"
  BROKER_NODES="$1"
}

# Runs a setup step with its output in $RUN_DIR/setup.log, showing that output only if it fails.
step() {
  local label="$1"
  shift
  printf '%s... ' "$label"
  printf '\n--- %s %s\n' "$(date '+%F %T')" "$label" >>"$RUN_DIR/setup.log"
  if "$@" >>"$RUN_DIR/setup.log" 2>&1; then
    say ok
  else
    say failed
    tail -n 20 "$RUN_DIR/setup.log" >&2
    die "$label failed; the whole output is in $RUN_DIR/setup.log"
  fi
}

# The services' names are checked by the supervisor, which knows them (SYSTEM).
parse_workers() {
  [[ "$1" =~ ^[a-z]+=[0-9]+(,[a-z]+=[0-9]+)*$ ]] || die "--workers: '$1' should be <service>=<1..64>,..."
  WORKERS="$1"
}

# Seconds since an $EPOCHREALTIME reading, with one decimal.
seconds_since() {
  local now="$EPOCHREALTIME"
  local ms=$(((${now//[!0-9]/} - ${1//[!0-9]/}) / 1000))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

wait_healthy() {
  local url="http://127.0.0.1:$PORT/health" deadline=$((SECONDS + HEALTH_TIMEOUT))
  printf 'waiting for %s ' "$url"
  while :; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" 2>/dev/null)" = 200 ]; then
      say ' ok'
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say ' timed out'
      die "the gateway did not answer 200 on $url within ${HEALTH_TIMEOUT}s; look at the logs in $RUN_DIR (gateway.log, <service>.<n>.log); ./start.sh stop stops what runs"
    fi
    printf '.'
    sleep 1
  done
}

# Whether the supervisor of this RUN_DIR runs (it answers on its socket).
is_running() { [ -S "$RUN_DIR/supervisor.sock" ] && supervisor counts >/dev/null 2>&1; }

cmd_start() {
  local began="$EPOCHREALTIME"
  WORKERS=""
  BROKER_NODES=1
  while [ $# -gt 0 ]; do
    case "$1" in
    --broker-nodes)
      [ $# -ge 2 ] || die "--broker-nodes needs a number, like --broker-nodes 3"
      parse_broker_nodes "$2"
      shift 2
      ;;
    --broker-nodes=*)
      parse_broker_nodes "${1#--broker-nodes=}"
      shift
      ;;
    --workers)
      [ $# -ge 2 ] || die "--workers needs a value like catalog=3,stats=2"
      parse_workers "$2"
      shift 2
      ;;
    --workers=*)
      parse_workers "${1#--workers=}"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (try ./start.sh --help)" ;;
    esac
  done
  lock
  # Whether ours runs already (read once: nothing else starts or stops it under the lock).
  local running=""
  if is_running; then running=yes; fi
  # Workers added to a running system use the configuration it was started with.
  if [ -n "$running" ]; then
    load_config
    say "already running; keeping what runs (configuration from $RUN_DIR/config.env)"
  fi
  export PORT="${PORT:-8080}"
  if [ -z "$running" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null; then
    die "something else already answers on port $PORT; stop it or choose another PORT"
  fi
  # A system already running on a cluster of ours keeps it (its AMQP_URL came from config.env).
  if has_cluster && [ -n "$running" ]; then
    # shellcheck disable=SC1091
    BROKER_NODES="$(source "$BROKER_DIR/cluster.env" && printf '%s' "$BROKER_NODES")"
    AMQP_URL_FROM_CLUSTER="${AMQP_URL:-}"
  elif [ "$BROKER_NODES" -gt 1 ] && [ -n "$running" ]; then
    die "the system runs on one broker ($RUN_DIR); ./start.sh stop it before starting it on $BROKER_NODES nodes"
  fi
  install_deps
  ensure_infra
  [ "$BROKER_NODES" -le 1 ] || start_cluster
  # The processes run compiled code (dist/): built when missing or older than its sources.
  if ! ./scripts/build.sh server --check; then step "compiling the server code" ./scripts/build.sh server; fi
  broker_users
  step "migrating" scripts/run.sh scripts/migrate
  step "seeding the catalog" scripts/run.sh scripts/seed
  # The web player the gateway serves at /: built when missing or older than its sources.
  if ! ./scripts/build.sh web --check; then step "building the web player" ./scripts/build.sh web; fi
  [ -n "$running" ] || save_config
  # The supervisor starts what is missing and returns once each new process said it is ready.
  supervisor up ${WORKERS:+--workers "$WORKERS"}
  wait_healthy
  say "green /health $(seconds_since "$began") s after ./start.sh began"
  local client="npm run client" ui="http://127.0.0.1:15672"
  [ "$PORT" = 8080 ] || client="GATEWAY_URL=http://127.0.0.1:$PORT npm run client"
  if [ "$BROKER_NODES" -gt 1 ]; then
    ui="$("$BROKER_CLUSTER" status 2>/dev/null | awk 'NR > 1 && $3 ~ /:/ { printf "%shttp://%s", sep, $3; sep = " " }')"
  fi
  cat <<EOF

The music system is running.
  web player    http://127.0.0.1:$PORT/  (log in as demo / demo1234)
  gateway       http://127.0.0.1:$PORT   (/health, /metrics, REST under /api)
  RabbitMQ UI   $ui   (guest / guest)
  workers       $(supervisor counts)
  logs, pids    $RUN_DIR

Open the client:  $client          (log in as demo / demo1234)
One command:      $client -- search blue
Scale a service:  ./start.sh scale catalog 3      Status: ./start.sh status      Stop: ./start.sh stop
EOF
}

cmd_scale() {
  [ $# -eq 2 ] || die "usage: ./start.sh scale <service> <n>"
  lock
  is_running || die "the system is not running (start it with ./start.sh)"
  supervisor scale "$1" "$2"
}

cmd_status() {
  supervisor status
  if has_cluster; then
    printf '\nRabbitMQ nodes of this system (%s):\n' "$BROKER_DIR"
    "$BROKER_CLUSTER" status
  fi
}

cmd_stop() {
  lock
  local out
  out="$(supervisor stop)"
  [ -z "$out" ] || say "$out"
  if [ "$out" = "nothing of ours is running" ] && ! has_cluster; then return 0; fi
  if has_cluster; then
    # Its data stays in $BROKER_DIR: the next ./start.sh --broker-nodes N finds its queues again.
    "$BROKER_CLUSTER" stop
    say "stopped, with the RabbitMQ nodes of $BROKER_DIR; PostgreSQL keeps running"
  else
    say "stopped; RabbitMQ and PostgreSQL keep running"
  fi
}

case "${1:-}" in
scale)
  shift
  cmd_scale "$@"
  ;;
status) cmd_status ;;
stop) cmd_stop ;;
help | -h | --help) usage ;;
*) cmd_start "$@" ;;
esac
