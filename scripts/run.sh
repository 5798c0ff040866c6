#!/usr/bin/env bash
# Runs one of the compiled programs, building dist/ first when it is stale (scripts/build.sh server):
#
#   scripts/run.sh gateway/main [args]      node --enable-source-maps dist/gateway/main.js [args]
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
exec node --enable-source-maps "$ROOT/dist/$program.js" "$@"
