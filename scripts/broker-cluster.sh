#!/usr/bin/env bash
# A RabbitMQ cluster of the project's own on this machine: n nodes on their own addresses and
# ports, with their data, logs and Erlang cookie in one folder, never touching a RabbitMQ that
# already runs here (e.g. the one on 5672). Used by ./start.sh --broker-nodes N, the fault
# suite and the benchmarks.
#
#   scripts/broker-cluster.sh start [n]       start (or reuse) n nodes (default 3) and join them
#   scripts/broker-cluster.sh stop            stop every node (data kept: start reuses it)
#   scripts/broker-cluster.sh destroy         stop, then remove the folder with all data
#   scripts/broker-cluster.sh status          each node: name, ports, pid, state, queues it leads
#   scripts/broker-cluster.sh urls            the AMQP_URL of the cluster (comma-separated)
#   scripts/broker-cluster.sh kill <i>        kill -9 node i
#   scripts/broker-cluster.sh stop-node <i>   stop node i gracefully
#   scripts/broker-cluster.sh start-node <i>  start node i again and wait until it serves
#   scripts/broker-cluster.sh restart <i>     rolling restart of node i: wait until no quorum queue
#                                             needs it, drain it, move its transient queues, stop
#                                             it, start it
#   scripts/broker-cluster.sh cut <i>         cut node i off from the others and from clients
#   scripts/broker-cluster.sh heal [<i>]      undo cut (every node when no i)
#   scripts/broker-cluster.sh cli <i> <tool> [args]   rabbitmqctl, rabbitmq-queues, ... on node i
#
# Node i is <BROKER_NAME>-<i>@<BROKER_NET>.<i>: each node listens only on its own loopback
# address (AMQP on BROKER_AMQP_PORT+i, management on BROKER_MANAGEMENT_PORT+i, distribution on
# BROKER_DIST_PORT+i) and opens its cluster links from it, so `cut` can drop exactly that node's
# traffic. The nodes find each other through an epmd of their own on BROKER_EPMD_PORT.
#
# Environment (saved in $BROKER_DIR/cluster.env by the first start, read back by every later
# command): BROKER_DIR (default $RUN_DIR/broker, RUN_DIR default .run), BROKER_NAME (music),
# BROKER_NET (127.0.56), BROKER_AMQP_PORT (5680), BROKER_MANAGEMENT_PORT (15680),
# BROKER_DIST_PORT (25680), BROKER_EPMD_PORT (4380), BROKER_START_TIMEOUT (s, 120),
# RABBITMQ_BIN (folder of rabbitmq-server and rabbitmqctl, default /usr/lib/rabbitmq/bin).
# cut and heal need root and iptables (installed from Debian packages when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$ROOT/$RUN_DIR" ;; esac
DIR="${BROKER_DIR:-$RUN_DIR/broker}"
case "$DIR" in /*) ;; *) DIR="$ROOT/$DIR" ;; esac
START_TIMEOUT="${BROKER_START_TIMEOUT:-120}"
SETTINGS=(BROKER_NODES BROKER_NAME BROKER_NET BROKER_AMQP_PORT BROKER_MANAGEMENT_PORT BROKER_DIST_PORT BROKER_EPMD_PORT)

say() { printf '[broker] %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}
# The comment block at the top of this file, whatever its length.
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

# --- settings -----------------------------------------------------------------------------------

load_settings() {
  # shellcheck disable=SC1091
  if [ -f "$DIR/cluster.env" ]; then source "$DIR/cluster.env"; fi
  BROKER_NODES="${BROKER_NODES:-3}"
  BROKER_NAME="${BROKER_NAME:-music}"
  BROKER_NET="${BROKER_NET:-127.0.56}"
  BROKER_AMQP_PORT="${BROKER_AMQP_PORT:-5680}"
  BROKER_MANAGEMENT_PORT="${BROKER_MANAGEMENT_PORT:-15680}"
  BROKER_DIST_PORT="${BROKER_DIST_PORT:-25680}"
  BROKER_EPMD_PORT="${BROKER_EPMD_PORT:-4380}"
  RABBITMQ_BIN="${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
  [[ "$BROKER_NAME" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "BROKER_NAME should be lower-case letters, digits and -"
  [[ "$BROKER_NET" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "BROKER_NET should be three octets of 127/8, like 127.0.56"
  local var
  for var in BROKER_NODES BROKER_AMQP_PORT BROKER_MANAGEMENT_PORT BROKER_DIST_PORT BROKER_EPMD_PORT; do
    [[ "${!var}" =~ ^[0-9]+$ ]] || die "$var should be a number, not '${!var}'"
  done
}

save_settings() {
  local var
  mkdir -p "$DIR"
  : >"$DIR/cluster.env"
  for var in "${SETTINGS[@]}"; do printf '%s=%q\n' "$var" "${!var}" >>"$DIR/cluster.env"; done
}

addr() { printf '%s.%s' "$BROKER_NET" "$1"; }
node_name() { printf '%s-%s@%s' "$BROKER_NAME" "$1" "$(addr "$1")"; }
amqp_port() { printf '%s' $((BROKER_AMQP_PORT + $1)); }
mgmt_port() { printf '%s' $((BROKER_MANAGEMENT_PORT + $1)); }
dist_port() { printf '%s' $((BROKER_DIST_PORT + $1)); }
node_dir() { printf '%s/node-%s' "$DIR" "$1"; }
nodes() { seq 1 "$BROKER_NODES"; }

check_index() {
  [[ "${1:-}" =~ ^[0-9]+$ && "$1" -ge 1 && "$1" -le "$BROKER_NODES" ]] ||
    die "no node '${1:-}': the cluster in $DIR has nodes 1..$BROKER_NODES"
}

# What every Erlang VM of this cluster (nodes and command-line tools) shares: the cookie in
# $DIR (HOME), our epmd, long names, and no /etc/rabbitmq/rabbitmq-env.conf.
cluster_env() {
  export HOME="$DIR" RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf" RABBITMQ_USE_LONGNAME=true
  export ERL_EPMD_PORT="$BROKER_EPMD_PORT"
}

# Runs a RabbitMQ command-line tool against node i. The tool's own Erlang node takes its host
# part from RABBITMQ_NODENAME, so the other nodes can answer it (list_queues asks all of them).
cli() {
  local i="$1" tool="$2"
  shift 2
  (
    cluster_env
    export RABBITMQ_NODENAME="$(node_name "$i")"
    exec "$RABBITMQ_BIN/$tool" "$@"
  )
}

# --- processes ----------------------------------------------------------------------------------

# The OS pid of node i if it runs (RabbitMQ writes it; checked against the process's environment,
# since pids are reused).
node_pid() {
  local file pid
  file="$(node_dir "$1")/pid"
  [ -f "$file" ] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/environ" ] || return 1
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$(node_name "$1")" || return 1
  running "$pid" || return 1
  printf '%s\n' "$pid"
}

# Whether a process exists and is not a zombie.
running() { grep -q '^State:.*[RSDT]' "/proc/$1/status" 2>/dev/null; }

# Whether node i accepts AMQP connections (it has booted and is not paused).
serving() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$(addr "$1")/$(amqp_port "$1")" 2>/dev/null
}

epmd_up() { epmd -port "$BROKER_EPMD_PORT" -names >/dev/null 2>&1; }

start_epmd() {
  epmd_up && return 0
  local list="127.0.0.1" i
  for i in $(nodes); do list="$list,$(addr "$i")"; done
  epmd -daemon -port "$BROKER_EPMD_PORT" -address "$list"
  for _ in $(seq 1 50); do
    epmd_up && return 0
    sleep 0.1
  done
  die "epmd did not start on port $BROKER_EPMD_PORT"
}

stop_epmd() {
  epmd_up || return 0
  # epmd refuses while a node is still registered; nodes unregister as they exit.
  for _ in $(seq 1 50); do
    epmd -port "$BROKER_EPMD_PORT" -kill >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  say "epmd on port $BROKER_EPMD_PORT still has nodes registered; left running"
}

write_node_files() {
  local i="$1" d
  d="$(node_dir "$i")"
  mkdir -p "$d/data" "$d/log"
  {
    printf 'listeners.tcp.1 = %s:%s\n' "$(addr "$i")" "$(amqp_port "$i")"
    printf 'management.tcp.ip = %s\n' "$(addr "$i")"
    printf 'management.tcp.port = %s\n' "$(mgmt_port "$i")"
    printf 'cluster_name = %s\n' "$BROKER_NAME"
    # The side that has lost the majority stops serving until it sees the others again; see
    # docs/DEPLOYMENT.md.
    printf 'cluster_partition_handling = pause_minority\n'
  } >"$d/rabbitmq.conf"
}

launch_node() {
  local i="$1" d a
  d="$(node_dir "$i")"
  a="$(addr "$i")"
  write_node_files "$i"
  rm -f "$d/pid"
  (
    cluster_env
    export RABBITMQ_NODENAME="$(node_name "$i")" RABBITMQ_DIST_PORT="$(dist_port "$i")" \
      RABBITMQ_MNESIA_BASE="$d/data" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/pid" \
      RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins" ERL_EPMD_ADDRESS="127.0.0.1,$a"
    # No scheduler busy-waiting (idle VMs leave the two cores alone); distribution listens on
    # and connects from the node's own address; peers are declared down after 10 s of silence
    # (default 60 s), so a cut-off node pauses within the scenarios' 20 s.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none \
-kernel inet_dist_use_interface {${a//./,}} -kernel inet_dist_connect_options [{ip,{${a//./,}}}] \
-kernel net_ticktime 10"
    cd "$d"
    # Without the lock descriptors of this script (8) and of start.sh (9), which a node would
    # otherwise hold for as long as it runs.
    exec setsid "$RABBITMQ_BIN/rabbitmq-server" >>"$d/console.log" 2>&1 </dev/null 8>&- 9>&-
  ) &
  # The subshell execs down to the Erlang VM, so this is the node's pid (RabbitMQ writes the
  # same file again as it boots, and removes it when it stops).
  printf '%s\n' "$!" >"$d/pid"
}

# Waits until node i serves AMQP: 0 once it does, 1 when it exited, 2 when time ran out.
wait_serving() {
  local i="$1" started="$SECONDS" pid
  until serving "$i"; do
    # The launched process itself (its environment names the node only once it has exec'd).
    pid="$(tr -dc '0-9' <"$(node_dir "$i")/pid" 2>/dev/null || true)"
    [ -n "$pid" ] && running "$pid" || return 1
    [ "$SECONDS" -lt $((started + START_TIMEOUT)) ] || return 2
    sleep 0.5
  done
}

# Starts node i (unless it runs) and waits until it serves. A node that exits while booting is
# started again, twice at most: RabbitMQ 3.10 can fail its boot when the nodes of an existing
# cluster start together and one syncs its feature flags with a peer still booting.
boot_node() {
  local i="$1" try log
  for try in 1 2 3; do
    node_pid "$i" >/dev/null || launch_node "$i"
    wait_serving "$i" && return 0
    node_pid "$i" >/dev/null && break
    [ "$try" -eq 3 ] || say "node $i ($(node_name "$i")) exited while booting; starting it again"
    sleep 2
  done
  log="$(node_dir "$i")/log/$(node_name "$i").log"
  say "node $i ($(node_name "$i")) did not start; the end of $(node_dir "$i")/console.log and $log:"
  tail -n 15 "$(node_dir "$i")/console.log" "$log" >&2 2>/dev/null || true
  return 1
}

# Joins a freshly started node to node 1's cluster (once: a marker file remembers it).
join() {
  local i="$1" d
  d="$(node_dir "$i")"
  [ -f "$d/joined" ] && return 0
  if [ "$i" -ne 1 ]; then
    say "joining $(node_name "$i") to $(node_name 1)"
    cli "$i" rabbitmqctl -q stop_app >/dev/null
    cli "$i" rabbitmqctl -q join_cluster "$(node_name 1)" >/dev/null
    cli "$i" rabbitmqctl -q start_app >/dev/null
    boot_node "$i"
  fi
  : >"$d/joined"
}

stop_node() {
  local i="$1" pid deadline
  pid="$(node_pid "$i")" || return 0
  cli "$i" rabbitmqctl -q stop >/dev/null 2>&1 || true
  deadline=$((SECONDS + 60))
  # RabbitMQ removes its pid file as it stops, before the process has exited.
  while running "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "node $i (pid $pid) did not stop in 60 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
}

# --- partitions (iptables) ----------------------------------------------------------------------

CHAIN() { printf 'MUSIC-CUT-%s' "$BROKER_EPMD_PORT"; }

ensure_iptables() {
  [ "$(id -u)" -eq 0 ] || die "cutting a node off needs root (iptables)"
  if ! command -v iptables >/dev/null 2>&1; then
    say "installing iptables from Debian packages"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables; }; } >/dev/null ||
      die "could not install iptables; run: apt-get update && apt-get install -y iptables"
  fi
}

cmd_cut() {
  check_index "${1:-}"
  ensure_iptables
  local chain a
  chain="$(CHAIN)"
  a="$(addr "$1")"
  iptables -N "$chain" 2>/dev/null || true
  iptables -C INPUT -j "$chain" 2>/dev/null || iptables -I INPUT -j "$chain"
  # Every packet from or to the node's address: its cluster links, its clients, its epmd lookups.
  iptables -C "$chain" -s "$a" -j DROP 2>/dev/null || iptables -A "$chain" -s "$a" -j DROP
  iptables -C "$chain" -d "$a" -j DROP 2>/dev/null || iptables -A "$chain" -d "$a" -j DROP
  say "node $1 ($(node_name "$1")) cut off"
}

cmd_heal() {
  command -v iptables >/dev/null 2>&1 || return 0
  [ "$(id -u)" -eq 0 ] || return 0
  local chain a
  chain="$(CHAIN)"
  iptables -L "$chain" -n >/dev/null 2>&1 || return 0
  if [ -n "${1:-}" ]; then
    check_index "$1"
    a="$(addr "$1")"
    while iptables -D "$chain" -s "$a" -j DROP 2>/dev/null; do :; done
    while iptables -D "$chain" -d "$a" -j DROP 2>/dev/null; do :; done
    say "node $1 ($(node_name "$1")) reachable again"
  else
    iptables -F "$chain"
  fi
  if [ "$(iptables -S "$chain" | wc -l)" -le 1 ]; then
    while iptables -D INPUT -j "$chain" 2>/dev/null; do :; done
    iptables -X "$chain" 2>/dev/null || true
  fi
}

# --- commands -----------------------------------------------------------------------------------

lock() {
  mkdir -p "$DIR"
  exec 8>"$DIR/.lock"
  flock -w 600 8 || die "another broker-cluster.sh is busy with $DIR"
}

cmd_start() {
  local want="${1:-}" i pids=() failed=0
  if [ -f "$DIR/cluster.env" ] && [ -n "$want" ] && [ "$want" != "$BROKER_NODES" ]; then
    die "$DIR holds a cluster of $BROKER_NODES nodes, not $want; stop and destroy it first (scripts/broker-cluster.sh destroy)"
  fi
  BROKER_NODES="${want:-$BROKER_NODES}"
  [[ "$BROKER_NODES" =~ ^[1-9]$ ]] || die "the number of nodes should be 1..9, not '$BROKER_NODES'"
  [ $((BROKER_NODES % 2)) -eq 1 ] ||
    say "warning: with $BROKER_NODES nodes, losing half of them stops the cluster; an odd number is better"
  [ -x "$RABBITMQ_BIN/rabbitmq-server" ] ||
    die "RabbitMQ is not installed in $RABBITMQ_BIN (scripts/ensure-infra.sh installs it)"
  lock
  save_settings
  if [ ! -f "$DIR/.erlang.cookie" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/.erlang.cookie")
    chmod 400 "$DIR/.erlang.cookie"
  fi
  printf '[rabbitmq_management].\n' >"$DIR/enabled_plugins"
  : >"$DIR/rabbitmq-env.conf"
  start_epmd
  for i in $(nodes); do
    if node_pid "$i" >/dev/null; then continue; fi
    for port in "$(amqp_port "$i")" "$(mgmt_port "$i")" "$(dist_port "$i")"; do
      if timeout 1 bash -c "exec 3<>/dev/tcp/$(addr "$i")/$port" 2>/dev/null; then
        die "something else already listens on $(addr "$i"):$port; choose other BROKER_*_PORT values"
      fi
    done
    say "starting $(node_name "$i") (AMQP $(addr "$i"):$(amqp_port "$i"), management $(mgmt_port "$i"))"
  done
  # Every node at once: nodes of an existing cluster wait for each other while they boot.
  for i in $(nodes); do
    boot_node "$i" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  [ "$failed" -eq 0 ] || die "the cluster did not start; scripts/broker-cluster.sh stop stops what runs"
  for i in $(nodes); do join "$i"; done
  say "cluster of $BROKER_NODES running; AMQP_URL=$(urls)"
}

urls() {
  local i out=""
  for i in $(nodes); do out="$out${out:+,}amqp://guest:guest@$(addr "$i"):$(amqp_port "$i")"; done
  printf '%s\n' "$out"
}

cmd_stop() {
  [ -f "$DIR/cluster.env" ] || {
    say "no cluster in $DIR"
    return 0
  }
  lock
  cmd_heal
  local i pids=()
  for i in $(nodes); do
    stop_node "$i" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  stop_epmd
  say "stopped the cluster in $DIR"
}

cmd_destroy() {
  cmd_stop
  [ -d "$DIR" ] && rm -rf "$DIR"
  say "removed $DIR"
}

# Queue name -> node that leads it (quorum) or hosts it (classic), from a serving node.
leaders() {
  local i
  for i in $(nodes); do
    if serving "$i"; then
      cli "$i" rabbitmqctl -q list_queues --no-table-headers --timeout 15 name leader pid 2>/dev/null |
        sed -E 's/<([^@<>]+@[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)\.[0-9.]+>/\1/' | awk -F'\t' '{ print $1 "\t" ($2 != "" ? $2 : $3) }'
      return 0
    fi
  done
}

cmd_status() {
  [ -f "$DIR/cluster.env" ] || {
    say "no cluster in $DIR (start one with scripts/broker-cluster.sh start 3)"
    return 1
  }
  local i pid state name table count
  table="$(leaders || true)"
  printf '%-28s %-22s %-22s %-8s %-12s %s\n' NODE AMQP MANAGEMENT PID STATE LEADS
  for i in $(nodes); do
    name="$(node_name "$i")"
    if pid="$(node_pid "$i")"; then
      if serving "$i"; then state=running; else state="not-serving"; fi
    else
      pid=-
      state=stopped
    fi
    count="$(printf '%s\n' "$table" | awk -F'\t' -v n="$name" '$2 == n' | wc -l | tr -d ' ')"
    printf '%-28s %-22s %-22s %-8s %-12s %s\n' "$name" "$(addr "$i"):$(amqp_port "$i")" \
      "$(addr "$i"):$(mgmt_port "$i")" "$pid" "$state" "$count queues"
  done
  for i in $(nodes); do
    name="$(node_name "$i")"
    local led
    led="$(printf '%s\n' "$table" | awk -F'\t' -v n="$name" '$2 == n { print $1 }' | sort | paste -sd, - | sed 's/,/, /g')"
    [ -z "$led" ] || printf '%s leads: %s\n' "$name" "$led"
  done
  printf '(state not-serving: booting, or paused as the minority side of a partition)\n'
}

cmd_kill() {
  check_index "${1:-}"
  local pid
  pid="$(node_pid "$1")" || die "node $1 is not running"
  kill -KILL "$pid"
  while running "$pid"; do sleep 0.1; done
  say "killed node $1 ($(node_name "$1"), pid $pid)"
}

cmd_start_node() {
  check_index "${1:-}"
  start_epmd
  boot_node "$1" || die "node $1 did not start"
  say "node $1 ($(node_name "$1")) serving"
}

cmd_stop_node() {
  check_index "${1:-}"
  stop_node "$1"
  say "node $1 ($(node_name "$1")) stopped"
}

# Deletes the transient (non-durable, non-exclusive) queues node i hosts: the request queues,
# whose consumers the drain moved to other nodes. Each consumer is told (a consumer cancel) and
# declares its queue again where it is connected, at once; left alone, the queue would take
# requests until the node stopped, and then, its record kept until the node is gone, refuse to
# be declared again elsewhere ("process is stopped by supervisor") for seconds. The requests it
# held are lost with it, as they would be at the stop: their callers get the typed timeout.
move_transient_queues() {
  local node name durable exclusive pid moved=0
  node="$(node_name "$1")"
  while IFS=$'\t' read -r name durable exclusive pid; do
    [ "$durable" = "false" ] && [ "$exclusive" = "false" ] && [[ "$pid" == *"<$node."* ]] || continue
    # </dev/null: the tool must not read the rest of the list from the loop's input.
    cli "$1" rabbitmqctl -q delete_queue "$name" </dev/null >/dev/null 2>&1 && moved=$((moved + 1))
  done < <(cli "$1" rabbitmqctl -q list_queues --no-table-headers --timeout 15 name durable exclusive pid 2>/dev/null)
  [ "$moved" -eq 0 ] || say "node $1: $moved transient queues deleted, to be declared again on other nodes"
}

cmd_restart() {
  check_index "${1:-}"
  local deadline=$((SECONDS + START_TIMEOUT))
  # Stopping a node that some quorum queue needs for its majority would stop that queue.
  until cli "$1" rabbitmq-queues -q check_if_node_is_quorum_critical >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "node $1 is still needed by some quorum queue after ${START_TIMEOUT}s"
    sleep 1
  done
  # Hands its queue leaders to other nodes and closes its clients' connections before it stops.
  cli "$1" rabbitmq-upgrade -q drain >/dev/null 2>&1 || say "drain of node $1 failed; stopping it anyway"
  move_transient_queues "$1"
  stop_node "$1"
  boot_node "$1" || die "node $1 did not start again"
  say "node $1 ($(node_name "$1")) restarted"
}

load_settings
case "${1:-}" in
start)
  shift
  cmd_start "$@"
  ;;
stop) cmd_stop ;;
destroy) cmd_destroy ;;
status) cmd_status ;;
urls) urls ;;
kill) cmd_kill "${2:-}" ;;
start-node) cmd_start_node "${2:-}" ;;
stop-node) cmd_stop_node "${2:-}" ;;
restart) cmd_restart "${2:-}" ;;
cut) cmd_cut "${2:-}" ;;
heal) cmd_heal "${2:-}" ;;
cli)
  [ $# -ge 3 ] || die "usage: scripts/broker-cluster.sh cli <i> <tool> [args]"
  check_index "$2"
  case "$3" in rabbitmqctl | rabbitmq-queues | rabbitmq-upgrade | rabbitmq-diagnostics | rabbitmq-plugins) ;;
  *) die "unknown tool '$3'" ;;
  esac
  i="$2"
  tool="$3"
  shift 3
  cli "$i" "$tool" "$@"
  ;;
help | -h | --help | "") usage ;;
*) die "unknown command '$1' (try scripts/broker-cluster.sh help)" ;;
esac
