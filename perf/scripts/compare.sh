#!/usr/bin/env bash
# Side-by-side throughput: wrk against mock-chat-server (`serve`, port 3000)
# and bare warp (`bare_warp`, port 3001), alternating short runs so both
# see the same machine load; prints each round and the median ratio.
# OURS_PORT and BARE_PORT change the ports.
#
#   cargo build --release --features cli --bin mock-chat-server
#   cargo build --release -p mock-chat-server-perf --bin bare_warp
#   target/release/mock-chat-server --chaos none --port 3000 > /tmp/log &
#   target/release/bare_warp 3001 &
#   perf/scripts/compare.sh /chats 6 3
#   perf/scripts/compare.sh /chats/1/messages 6 3 -s perf/scripts/post.lua   # POST
#
# usage: compare.sh PATH [ROUNDS] [SECONDS] [extra wrk arguments]
set -euo pipefail
P=$1; R=${2:-5}; S=${3:-3}; shift $(( $# < 3 ? $# : 3 ))
O=${OURS_PORT:-3000}; B=${BARE_PORT:-3001}
ours=(); bare=()
for i in $(seq "$R"); do
  a=$(wrk -t1 -c32 -d"${S}s" "$@" "http://127.0.0.1:$O$P" | awk '/Requests\/sec/{print $2}')
  b=$(wrk -t1 -c32 -d"${S}s" "$@" "http://127.0.0.1:$B$P" | awk '/Requests\/sec/{print $2}')
  ours+=("$a"); bare+=("$b")
  echo "round $i: ours $a bare $b ratio $(python3 -c "print(round($a/$b,3))")"
done
python3 - "${ours[*]}" "${bare[*]}" <<'PY'
import sys, statistics as st
o = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
r = [x / y for x, y in zip(o, b)]
print(f"median ours {st.median(o):.0f} req/s, bare {st.median(b):.0f} req/s, median ratio {st.median(r):.3f}")
PY
