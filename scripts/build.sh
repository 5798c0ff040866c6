#!/usr/bin/env bash
# Builds what the processes run, when it is missing or older than its sources (or the installed
# packages); used by ./start.sh, scripts/run.sh, the fault suite and the browser tests. One build
# of a kind at a time: a second caller waits for the first and then finds the build fresh.
#
#   scripts/build.sh server [--check | --force]   the server code (common, gateway, services,
#                                                 client, scripts) compiled into dist/ with
#                                                 source maps (tsconfig.build.json)
#   scripts/build.sh web [--check | --force]      the web player into web/dist (vite)
#
# Without a flag: build if stale. --check only tells (exit 0 when fresh, 1 when a build is
# needed); --force builds anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  echo "usage: scripts/build.sh server|web [--check | --force]" >&2
  exit 2
}

case "${1:-}" in
server)
  STAMP=dist/.built
  LOCK=.dist.lock
  SOURCES=(common gateway services client scripts tsconfig.json tsconfig.build.json package-lock.json)
  ;;
web)
  STAMP=web/dist/index.html
  LOCK=web/.build.lock
  SOURCES=(web/index.html web/share.html web/src web/public web/vite.config.ts web/tsconfig.json package-lock.json)
  ;;
*) usage ;;
esac
target="$1"
mode="${2:-}"
case "$mode" in --check | --force | "") ;; *) usage ;; esac

fresh() {
  [ -f "$STAMP" ] || return 1
  [ -z "$(find "${SOURCES[@]}" -newer "$STAMP" -print -quit 2>/dev/null)" ]
}

# Compiled into a folder of its own that replaces dist in one rename, so a process starting
# meanwhile never reads a half-written tree. The stamp is taken before compiling: a source
# saved during the build makes the next call build again.
build_server() {
  rm -rf .dist-build .dist-old
  mkdir .dist-build
  touch .dist-build/.built
  node_modules/.bin/tsc -p tsconfig.build.json --outDir .dist-build
  [ ! -e dist ] || mv dist .dist-old
  mv .dist-build dist
  rm -rf .dist-old
}

build_web() {
  npm run --silent build:web
  # The stamp is the newest file of the build, even when vite kept an older index.html's time.
  touch "$STAMP"
}

if [ "$mode" = --check ]; then
  fresh
  exit
fi
mkdir -p "$(dirname "$LOCK")"
exec 8>"$LOCK"
flock -w 300 8 || {
  echo "build.sh: another build of the $target did not finish in 300 s" >&2
  exit 1
}
if [ "$mode" != --force ] && fresh; then exit 0; fi
"build_$target"
