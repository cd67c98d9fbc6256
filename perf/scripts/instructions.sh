#!/usr/bin/env bash
# Instructions per operation of the profiling driver, under callgrind:
# runs N1 and N2 operations and divides the difference, so start-up and
# teardown cancel out. Deterministic enough for before/after comparisons
# on a noisy machine.
#
#   cargo build --profile profiling -p mock-chat-server-perf --bin driver
#   perf/scripts/instructions.sh get-chats          # 500 vs 1500 requests
#   perf/scripts/instructions.sh sse 200 600        # per event, 100 subscribers
#
# usage: instructions.sh MODE [N1] [N2] [DRIVER]
set -euo pipefail
M=$1; A=${2:-500}; B=${3:-1500}
BIN=${4:-target/profiling/driver}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$M" "$1" 2>&1 |
    awk '/Collected/{print $4}'
}
a=$(count "$A"); b=$(count "$B")
echo "$M: $(( (b - a) / (B - A) )) instructions/op"
