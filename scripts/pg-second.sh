#!/usr/bin/env bash
# A second PostgreSQL server on this machine (Debian's pg_createcluster), for services that
# keep their data on a server of their own (<SERVICE>_DATABASE_URL). Used by the fault suite;
# never touches the main server on 5432.
#
#   scripts/pg-second.sh start    create it (once) and start it; prints its admin URL
#   scripts/pg-second.sh stop     stop it (fast shutdown: connections are cut)
#   scripts/pg-second.sh drop     stop it and remove it with all its data
#   scripts/pg-second.sh status   online, down, or absent
#   scripts/pg-second.sh url      its admin URL (the music role, on the postgres database)
#
# Environment: PG_SECOND_NAME (cluster name, default music_second), PG_SECOND_PORT (5433),
# MUSIC_DB_USER / MUSIC_DB_PASSWORD (the role to create, music / music). Needs root (or sudo).
set -euo pipefail

NAME="${PG_SECOND_NAME:-music_second}"
PORT="${PG_SECOND_PORT:-5433}"
DB_USER="${MUSIC_DB_USER:-music}"
DB_PASSWORD="${MUSIC_DB_PASSWORD:-music}"

say() { printf '[pg-second] %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

[[ "$NAME" =~ ^[a-z][a-z0-9_]{0,40}$ ]] || die "PG_SECOND_NAME should be lower-case letters, digits and _"
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ne 5432 ] || die "PG_SECOND_PORT should be a port other than 5432"
[[ "$DB_USER" =~ ^[a-z_][a-z0-9_]*$ ]] || die "MUSIC_DB_USER should be a plain role name"
[[ "$DB_PASSWORD" != *"'"* ]] || die "MUSIC_DB_PASSWORD may not contain a quote"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "a second PostgreSQL server needs root (or sudo)"
  fi
}

version() {
  command -v pg_createcluster >/dev/null 2>&1 || die "Debian's postgresql-common is missing (scripts/ensure-infra.sh installs PostgreSQL)"
  ls /etc/postgresql 2>/dev/null | sort -V | tail -1
}

# The cluster's port as Debian recorded it, or nothing when it does not exist.
existing_port() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v n="$NAME" '$1 == v && $2 == n { print $3 }'
}

ready() { pg_isready -q -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; }

url() { printf 'postgres://%s:%s@127.0.0.1:%s/postgres\n' "$DB_USER" "$DB_PASSWORD" "$PORT"; }

cmd_start() {
  local v have
  v="$(version)"
  have="$(existing_port "$v")"
  if [ -z "$have" ]; then
    say "creating PostgreSQL $v cluster $NAME on port $PORT"
    as_root pg_createcluster "$v" "$NAME" -p "$PORT" >/dev/null
  elif [ "$have" != "$PORT" ]; then
    die "cluster $NAME already exists on port $have, not $PORT"
  fi
  if ! ready; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" "$NAME" start
    for _ in $(seq 1 60); do ready && break; sleep 0.5; done
    ready || die "PostgreSQL $NAME did not come up on port $PORT"
  fi
  if [ "$(as_root runuser -u postgres -- psql -p "$PORT" -d postgres -Atqc "select 1 from pg_roles where rolname = '$DB_USER'")" != 1 ]; then
    as_root runuser -u postgres -- psql -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -qc \
      "create role $DB_USER login createdb password '$DB_PASSWORD'"
  fi
  url
}

cmd_stop() {
  local v
  v="$(version)"
  [ -n "$(existing_port "$v")" ] || return 0
  ready || return 0
  as_root pg_ctlcluster --skip-systemctl-redirect "$v" "$NAME" stop -m fast
}

cmd_drop() {
  local v
  v="$(version)"
  [ -n "$(existing_port "$v")" ] || return 0
  as_root pg_dropcluster --stop "$v" "$NAME"
  say "removed cluster $NAME"
}

cmd_status() {
  local v
  v="$(version)"
  if [ -z "$(existing_port "$v")" ]; then echo absent
  elif ready; then echo online
  else echo down
  fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
drop) cmd_drop ;;
status) cmd_status ;;
url) url ;;
help | -h | --help | "") usage ;;
*) die "unknown command '$1' (try scripts/pg-second.sh help)" ;;
esac
