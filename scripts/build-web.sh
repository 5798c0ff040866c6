#!/usr/bin/env bash
# Builds the web player into web/dist when it is missing or older than its sources (or the
# installed packages); used by ./start.sh and the browser tests. One build at a time: a second
# caller waits for the first and then finds the build fresh.
#
#   scripts/build-web.sh           build if stale
#   scripts/build-web.sh --check   only tell: exit 0 when fresh, 1 when a build is needed
#   scripts/build-web.sh --force   build anyway
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STAMP=web/dist/index.html
SOURCES=(web/index.html web/src web/public web/vite.config.ts web/tsconfig.json package-lock.json)

fresh() {
  [ -f "$STAMP" ] || return 1
  [ -z "$(find "${SOURCES[@]}" -newer "$STAMP" -print -quit 2>/dev/null)" ]
}

mode="${1:-}"
case "$mode" in
--check)
  fresh
  exit
  ;;
--force | "") ;;
*)
  echo "usage: scripts/build-web.sh [--check | --force]" >&2
  exit 2
  ;;
esac

mkdir -p web
exec 8>web/.build.lock
flock -w 300 8 || {
  echo "build-web.sh: another build of the web player did not finish in 300 s" >&2
  exit 1
}
if [ "$mode" != --force ] && fresh; then exit 0; fi
npm run --silent build:web
# The stamp is the newest file of the build, even when vite kept an older index.html's time.
touch "$STAMP"
