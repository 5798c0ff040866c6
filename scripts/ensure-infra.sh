#!/usr/bin/env bash
# Makes sure RabbitMQ (with the management plugin) and PostgreSQL are installed and running,
# that the application's database role and databases exist, and that ffmpeg (transcoding) is
# installed. Idempotent; used by ./start.sh, .ci/run and npm test. Installs from Debian
# packages where it can (root or sudo). ENSURE_RABBITMQ=installed only installs RabbitMQ (for
# clusters of the project's own nodes, scripts/broker-cluster.sh), without starting the
# machine's own broker.
#
#   --browser   also Chromium (/usr/bin/chromium) for the web player's browser tests (npm test)
set -euo pipefail

WANT_BROWSER=0
for arg in "$@"; do
  case "$arg" in
  --browser) WANT_BROWSER=1 ;;
  *) printf '[infra] unknown argument %s (try --browser)\n' "$arg" >&2; exit 2 ;;
  esac
done

DB_USER="${MUSIC_DB_USER:-music}"
DB_PASSWORD="${MUSIC_DB_PASSWORD:-music}"
DB_NAMES="${MUSIC_DB_NAMES:-music music_test}"

say() { printf '[infra] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

# Installs Debian packages; fails (returning 1) with the command to run by hand printed.
apt_try_install() {
  say "installing $* from Debian packages"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
     ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
    say "could not install $*; run: sudo apt-get update && sudo apt-get install -y $*"
    return 1
  fi
}

apt_install() { apt_try_install "$@" || exit 1; }

# A running broker with its management plugin answers the API at once, where each CLI call
# below starts an Erlang VM of its own (1 to 3 s each, most of a start's checks).
management_answers() {
  command -v curl >/dev/null 2>&1 &&
    curl -sf -o /dev/null --max-time 2 -u guest:guest http://127.0.0.1:15672/api/overview
}

ensure_rabbitmq() {
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  [ "${ENSURE_RABBITMQ:-running}" != installed ] || return 0
  management_answers && return 0
  if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
    say "starting RabbitMQ"
    as_root rabbitmq-server -detached >/dev/null 2>&1 || true
    # The Erlang node takes a few seconds to appear; await_startup fails at once until it has.
    local waited=0
    until as_root rabbitmqctl -q ping >/dev/null 2>&1; do
      [ "$waited" -ge 120 ] && { say "RabbitMQ did not come up (see /var/log/rabbitmq)"; exit 1; }
      sleep 1; waited=$((waited + 1))
    done
    as_root rabbitmqctl -q await_startup --timeout 120 >/dev/null
  fi
  if ! as_root rabbitmq-plugins list -q -e -m 2>/dev/null | grep -qx rabbitmq_management; then
    say "enabling the RabbitMQ management plugin"
    as_root rabbitmq-plugins enable -q rabbitmq_management >/dev/null
  fi
}

# Transcoding needs ffmpeg; without it the gateway streams files as they are, so a machine
# where it cannot be installed still runs (with the hint printed).
ensure_ffmpeg() {
  command -v ffmpeg >/dev/null 2>&1 || apt_try_install ffmpeg || say "streams will not be transcoded until it is"
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

ensure_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  if ! pg_ready; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 ||
      as_root pg_ctlcluster "$version" main start
    for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
    pg_ready || { say "PostgreSQL did not come up"; exit 1; }
  fi
}

# psql as the database superuser: over TCP where trust auth allows it, else as the postgres OS user.
psql_admin() {
  if psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  elif [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- psql -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  else
    sudo -u postgres psql -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  fi
}

ensure_databases() {
  if [ "$(psql_admin -c "select 1 from pg_roles where rolname = '$DB_USER'")" != 1 ]; then
    say "creating database role $DB_USER"
    psql_admin -c "create role $DB_USER login createdb password '$DB_PASSWORD'"
  fi
  for db in $DB_NAMES; do
    if [ "$(psql_admin -c "select 1 from pg_database where datname = '$db'")" != 1 ]; then
      say "creating database $db"
      psql_admin -c "create database $db owner $DB_USER"
    fi
  done
}

# Debian's own Chromium: the browser tests drive it with playwright-core and never download one.
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
ensure_browser() {
  [ -x "$CHROMIUM" ] || apt_install chromium
  [ -x "$CHROMIUM" ] || { say "chromium is installed but $CHROMIUM is missing"; exit 1; }
}

ensure_rabbitmq
ensure_postgres
ensure_databases
ensure_ffmpeg
if [ "$WANT_BROWSER" = 1 ]; then ensure_browser; fi
say "RabbitMQ and PostgreSQL are ready$([ "$WANT_BROWSER" = 1 ] && printf ', and Chromium')"
