#!/usr/bin/env bash
# Runs one of the compiled programs, building dist/ first when it is stale (scripts/build.sh server):
#
#   scripts/run.sh gateway/main [args]      node --enable-source-maps <heap> dist/gateway/main.js [args]
#
# The npm run entry points and ./start.sh go through here; exec, so the pid is node's own (the
# process that handles SIGTERM). Source maps: stack traces in logs name the .ts lines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || {
  echo "usage: scripts/run.sh <program, like gateway/main> [args]" >&2
  exit 2
}
program="$1"
shift
if ! "$ROOT/scripts/build.sh" server --check; then "$ROOT/scripts/build.sh" server >&2; fi
# V8's heap sizing for the long-running processes. By default the young generation grows to
# 2 x 16 MB and the old one to up to 4 x its live size before a full collection, so a process
# with 15-20 MB of live objects sat at 100 MB (a worker) or 170 MB (the gateway) under load.
# Smaller semi-spaces and a slower-growing old generation keep a worker under 80 MB and the
# gateway under 130 MB (bench/README.md, "memory"); the gateway, where the CPU per request
# goes, keeps a larger young generation, which costs it no measurable CPU. Two malloc arenas
# rather than one per thread (glibc's default, up to 8 per core) keep a few MB more off a
# worker under load, at no measurable CPU either.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
heap=()
case "$program" in
gateway/main) heap=(--max-semi-space-size=8 --heap-growing-percent=100) ;;
scripts/service) heap=(--max-semi-space-size=2 --heap-growing-percent=50) ;;
esac
exec node --enable-source-maps "${heap[@]}" "$ROOT/dist/$program.js" "$@"
