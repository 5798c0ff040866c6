#!/usr/bin/env bash
# Brings up the whole system on this machine, and manages what it started.
#
#   ./start.sh [--workers catalog=3,stats=2] [--broker-nodes 3]
#                                               infrastructure, build (dist/, web/dist: when stale),
#                                               migrations, seed, gateway, workers; prints the time
#                                               to green /health;
#                                               with --broker-nodes N > 1, on a RabbitMQ cluster of
#                                               N nodes of its own (scripts/broker-cluster.sh)
#   ./start.sh scale <service> <n>              run exactly n workers of a service
#   ./start.sh status                           what runs: component, pid, alive, uptime; broker nodes
#   ./start.sh stop                             stop what this script started (not the shared
#                                               RabbitMQ/PostgreSQL; its own broker nodes, yes)
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
SERVICES=(catalog users playlists history stats)
STARTED=()

say() { printf '%s\n' "$*"; }
warn() { printf 'start.sh: %s\n' "$*" >&2; }
die() {
  warn "$*"
  exit 1
}

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

is_service() {
  local s
  for s in "${SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# --- processes ----------------------------------------------------------------------------------
# A component is `gateway` or `<service>.<n>`; its pid file is $RUN_DIR/<component>.pid.

# The compiled program (dist/<program>.js, scripts/run.sh) and its arguments, one per line.
component_args() {
  case "$1" in
  gateway) printf '%s\n' gateway/main ;;
  *) printf '%s\n' scripts/service "${1%.*}" ;;
  esac
}

# The process's arguments, one per line (empty when it is gone or a zombie).
cmdline_of() {
  if [ -r "/proc/$1/cmdline" ]; then
    tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null || true
  else
    ps -o args= -p "$1" 2>/dev/null | tr ' ' '\n' || true
  fi
}

# Prints the pid of a component if it runs and really is the process we started: the pid
# file's process must run our script with our arguments from this directory (pids get reused).
live_pid() {
  local file="$RUN_DIR/$1.pid" pid expected args
  local -a program
  [ -f "$file" ] || return 1
  pid="$(cat "$file" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # start_component runs `scripts/run.sh <program> <args>`, which (after a look at the build)
  # execs `node <flags> $ROOT/dist/<program>.js <args>`: either command line is ours.
  mapfile -t program < <(component_args "$1")
  expected="$(printf '%s\n' "$ROOT/dist/${program[0]}.js" "${program[@]:1}")"
  args="$(cmdline_of "$pid")"
  [[ "$args" == *$'\n'"$expected" || "$args" == *$'\n'"$(printf '%s\n' scripts/run.sh "${program[@]}")" ]] || return 1
  if [ -e "/proc/$pid/cwd" ]; then
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$ROOT" ] || return 1
  fi
  printf '%s\n' "$pid"
}

start_component() {
  local comp="$1" log="$RUN_DIR/$1.log" args
  mapfile -t args < <(component_args "$comp")
  printf '\n--- %s starting %s\n' "$(date '+%F %T')" "$comp" >>"$log"
  # Where this run's lines begin, for wait_started.
  wc -l <"$log" | tr -d ' ' >"$RUN_DIR/$comp.logstart"
  # scripts/run.sh execs node, so the recorded pid is the process that handles SIGTERM; setsid
  # so a closing terminal does not take the system down with it; without the lock's
  # descriptor, or a running worker would hold the lock forever.
  if command -v setsid >/dev/null 2>&1; then
    SERVICE_NAME="${comp%.*}" setsid scripts/run.sh "${args[@]}" >>"$log" 2>&1 </dev/null 9>&- &
  else
    SERVICE_NAME="${comp%.*}" nohup scripts/run.sh "${args[@]}" >>"$log" 2>&1 </dev/null 9>&- &
  fi
  # Until it execs, the child is a copy of this script (same command line), which live_pid does
  # not recognise: a check in that moment would take a starting worker for a dead one (and a
  # status would remove its pid file). The pid file is written once the child has exec'd.
  local pid="$!" self i
  self="$(cmdline_of $$)"
  for ((i = 0; i < 500; i++)); do
    [ "$(cmdline_of "$pid")" = "$self" ] || break
    sleep 0.01
  done
  printf '%s\n' "$pid" >"$RUN_DIR/$comp.pid"
}

# SIGTERM to every given component that is ours, wait for them to finish their work and exit,
# SIGKILL whatever is left after STOP_TIMEOUT. Pid files go; nothing else is signalled.
stop_components() {
  local comp pid deadline remaining
  local -a pids=() comps=()
  for comp in "$@"; do
    if pid="$(live_pid "$comp")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      comps+=("$comp")
    else
      rm -f "$RUN_DIR/$comp.pid"
    fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    remaining=0
    for comp in "${comps[@]}"; do
      if live_pid "$comp" >/dev/null; then remaining=$((remaining + 1)); fi
    done
    [ "$remaining" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      for comp in "${comps[@]}"; do
        if pid="$(live_pid "$comp")"; then
          warn "$comp (pid $pid) did not stop in ${STOP_TIMEOUT}s; killing it"
          kill -KILL "$pid" 2>/dev/null || true
        fi
      done
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  for comp in "${comps[@]}"; do
    rm -f "$RUN_DIR/$comp.pid" "$RUN_DIR/$comp.logstart"
    say "stopped $comp"
  done
}

# Waits until each given worker reports that it serves (common/service.ts logs "worker started"),
# or fails naming the one that exited.
wait_started() {
  local comp from deadline=$((SECONDS + HEALTH_TIMEOUT))
  case "${LOG_LEVEL:-info}" in
  info | debug | trace) ;;
  *) return 0 ;; # the line is not logged at this level
  esac
  for comp in "$@"; do
    from="$(cat "$RUN_DIR/$comp.logstart" 2>/dev/null || echo 0)"
    until tail -n "+$((from + 1))" "$RUN_DIR/$comp.log" | grep -q '"msg":"worker started"'; do
      if ! live_pid "$comp" >/dev/null; then
        warn "$comp exited while starting; the end of $RUN_DIR/$comp.log:"
        tail -n 15 "$RUN_DIR/$comp.log" >&2
        exit 1
      fi
      [ "$SECONDS" -lt "$deadline" ] || die "$comp did not report ready in ${HEALTH_TIMEOUT}s; see $RUN_DIR/$comp.log"
      sleep 0.2
    done
  done
}

# Components with a pid file, in a stable order; stale pid files are removed.
known_components() {
  local file comp
  for file in "$RUN_DIR"/*.pid; do
    [ -e "$file" ] || continue
    comp="$(basename "$file" .pid)"
    if live_pid "$comp" >/dev/null; then printf '%s\n' "$comp"; else rm -f "$file"; fi
  done | sort -t. -k1,1 -k2,2n
}

# Worker numbers of a service that run now, ascending.
worker_numbers() {
  known_components | sed -n "s/^$1\.\([0-9][0-9]*\)$/\1/p" | sort -n
}

# Brings a service to exactly n workers: new ones take the lowest free numbers (and are added to
# STARTED); the highest numbers go first.
scale_to() {
  local service="$1" want="$2" n
  local -a have
  mapfile -t have < <(worker_numbers "$service")
  if [ "${#have[@]}" -lt "$want" ]; then
    n=1
    while [ "${#have[@]}" -lt "$want" ]; do
      if ! printf '%s\n' "${have[@]}" | grep -qx "$n"; then
        start_component "$service.$n"
        STARTED+=("$service.$n")
        say "started $service.$n (pid $(cat "$RUN_DIR/$service.$n.pid"))"
        have+=("$n")
      fi
      n=$((n + 1))
    done
  elif [ "${#have[@]}" -gt "$want" ]; then
    local -a extra
    mapfile -t extra < <(printf '%s\n' "${have[@]}" | sort -rn | head -n $((${#have[@]} - want)))
    stop_components "${extra[@]/#/$service.}"
  fi
}

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

parse_workers() {
  local spec="$1" item name count
  local -a items
  IFS=',' read -ra items <<<"$spec"
  for item in "${items[@]}"; do
    name="${item%%=*}"
    count="${item#*=}"
    is_service "$name" || die "--workers: unknown service '$name' (services: ${SERVICES[*]})"
    [[ "$item" == *=* && "$count" =~ ^[0-9]+$ && "$count" -ge 1 && "$count" -le 64 ]] ||
      die "--workers: '$item' should be <service>=<1..64>"
    WORKERS[$name]="$count"
  done
}

# Seconds since an $EPOCHREALTIME reading, with one decimal.
seconds_since() {
  local now="$EPOCHREALTIME"
  local ms=$(((${now//[!0-9]/} - ${1//[!0-9]/}) / 1000))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

wait_healthy() {
  local url="http://127.0.0.1:$PORT/health" deadline=$((SECONDS + HEALTH_TIMEOUT)) comp
  printf 'waiting for %s ' "$url"
  while :; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" 2>/dev/null)" = 200 ]; then
      say ' ok'
      return 0
    fi
    for comp in "$@"; do
      if ! live_pid "$comp" >/dev/null; then
        say ' failed'
        warn "$comp exited while starting; the end of $RUN_DIR/$comp.log:"
        tail -n 15 "$RUN_DIR/$comp.log" >&2
        exit 1
      fi
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
      say ' timed out'
      die "the gateway did not answer 200 on $url within ${HEALTH_TIMEOUT}s; look at the logs in $RUN_DIR (gateway.log, <service>.<n>.log); ./start.sh stop stops what runs"
    fi
    printf '.'
    sleep 1
  done
}

cmd_start() {
  local began="$EPOCHREALTIME"
  declare -A WORKERS=()
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
  # What of ours runs already (read once: nothing else starts or stops it under the lock).
  local running
  running="$(known_components)"
  # Workers added to a running system use the configuration it was started with.
  if [ -n "$running" ]; then
    load_config
    say "already running; keeping what runs (configuration from $RUN_DIR/config.env)"
  fi
  export PORT="${PORT:-8080}"
  if ! live_pid gateway >/dev/null &&
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null; then
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
  local service started=()
  for service in "${SERVICES[@]}"; do
    # An explicit count is exact; otherwise keep what runs, at least one.
    local want="${WORKERS[$service]:-}"
    [ -n "$want" ] || want="$(worker_numbers "$service" | wc -l)"
    [ "$want" -ge 1 ] || want=1
    scale_to "$service" "$want"
  done
  if live_pid gateway >/dev/null; then
    say "gateway already running (pid $(live_pid gateway))"
  else
    start_component gateway
    say "started gateway (pid $(cat "$RUN_DIR/gateway.pid"))"
  fi
  mapfile -t started < <(known_components)
  wait_healthy "${started[@]}"
  say "green /health $(seconds_since "$began") s after ./start.sh began"
  [ "${#STARTED[@]}" -eq 0 ] || wait_started "${STARTED[@]}"
  local counts=""
  for service in "${SERVICES[@]}"; do counts="$counts $service×$(worker_numbers "$service" | wc -l)"; done
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
  workers      $counts
  logs, pids    $RUN_DIR

Open the client:  $client          (log in as demo / demo1234)
One command:      $client -- search blue
Scale a service:  ./start.sh scale catalog 3      Status: ./start.sh status      Stop: ./start.sh stop
EOF
}

cmd_scale() {
  [ $# -eq 2 ] || die "usage: ./start.sh scale <service> <n>"
  is_service "$1" || die "unknown service '$1' (services: ${SERVICES[*]})"
  [[ "$2" =~ ^[0-9]+$ && "$2" -le 64 ]] || die "the number of workers should be 0..64, not '$2'"
  lock
  live_pid gateway >/dev/null || die "the system is not running (start it with ./start.sh)"
  load_config
  STARTED=()
  scale_to "$1" "$2"
  [ "${#STARTED[@]}" -eq 0 ] || wait_started "${STARTED[@]}"
  say "$1: $(worker_numbers "$1" | wc -l) worker(s)"
}

uptime_of() {
  local secs
  secs="$(ps -o etimes= -p "$1" 2>/dev/null | tr -d ' ')"
  [ -n "$secs" ] || {
    printf '-'
    return
  }
  printf '%dh%02dm%02ds' $((secs / 3600)) $((secs % 3600 / 60)) $((secs % 60))
}

cmd_status() {
  local file comp pid alive up worker
  printf '%-10s %-6s %-8s %-6s %s\n' SERVICE WORKER PID ALIVE UPTIME
  for file in "$RUN_DIR"/*.pid; do
    [ -e "$file" ] || continue
    comp="$(basename "$file" .pid)"
    pid="$(cat "$file" 2>/dev/null || true)"
    worker="${comp#*.}"
    [ "$comp" != gateway ] || worker=-
    if live_pid "$comp" >/dev/null; then
      alive=yes
      up="$(uptime_of "$pid")"
    else
      alive=no
      up=-
    fi
    printf '%-10s %-6s %-8s %-6s %s\n' "${comp%.*}" "$worker" "$pid" "$alive" "$up"
  done | sort -k1,1 -k2,2n
  if has_cluster; then
    printf '\nRabbitMQ nodes of this system (%s):\n' "$BROKER_DIR"
    "$BROKER_CLUSTER" status
  fi
}

cmd_stop() {
  lock
  local -a comps
  mapfile -t comps < <(known_components)
  if [ "${#comps[@]}" -eq 0 ] && ! has_cluster; then
    say "nothing of ours is running"
    return 0
  fi
  # The gateway first, so no new requests arrive while workers finish theirs.
  if printf '%s\n' "${comps[@]}" | grep -qx gateway; then stop_components gateway; fi
  mapfile -t comps < <(known_components)
  [ "${#comps[@]}" -eq 0 ] || stop_components "${comps[@]}"
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
