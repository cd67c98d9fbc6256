#!/usr/bin/env bash
# Calm `GET /chats` throughput of the `mock-chat-server` binary, with its
# default log (one line per request, written to a file), against bare warp
# serving a body of the same size: both started here, measured side by side
# by compare.sh in one run, then stopped.
#
#   cargo build --release --features cli --bin mock-chat-server
#   cargo build --release -p mock-chat-server-perf --bin bare_warp
#   perf/scripts/serve_vs_bare.sh 12 3                  # default log
#   perf/scripts/serve_vs_bare.sh 12 3 --quiet          # no request lines
#
# usage: serve_vs_bare.sh [ROUNDS] [SECONDS] [mock-chat-server flags]
# env: OURS_PORT (3100), BARE_PORT (3101), LOG (/tmp/mock-chat-server.log)
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${1:-10}; S=${2:-3}; shift $(( $# < 2 ? $# : 2 ))
export OURS_PORT=${OURS_PORT:-3100} BARE_PORT=${BARE_PORT:-3101}
LOG=${LOG:-/tmp/mock-chat-server.log}
target/release/bare_warp "$BARE_PORT" > /dev/null &
BARE=$!
target/release/mock-chat-server --chaos none --port "$OURS_PORT" "$@" > "$LOG" &
OURS=$!
trap 'kill $OURS $BARE 2>/dev/null || true' EXIT
for port in "$OURS_PORT" "$BARE_PORT"; do
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/chats" && break
    sleep 0.1
  done
done
echo "GET /chats body: ours $(curl -s "http://127.0.0.1:$OURS_PORT/chats" | wc -c) bytes, bare $(curl -s "http://127.0.0.1:$BARE_PORT/chats" | wc -c) bytes"
perf/scripts/compare.sh /chats "$R" "$S"
echo "log: $(wc -l < "$LOG") lines in $LOG"
