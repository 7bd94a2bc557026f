#!/usr/bin/env bash
# OPTIONS handling cost, sipswitch vs Kamailio (Debian package), same sipp
# load, same machine, one after the other, repeated: reports server CPU time
# per 1000 OPTIONS for each and their ratio. CPU time per message (from
# /proc/PID/stat) is far steadier than throughput on a shared, noisy machine.
#
#   bench/options_vs_kamailio.sh [BUILD_DIR] [MESSAGES] [RATE] [ROUNDS]
# Needs: sipp (sip-tester) and kamailio (installed here if missing, as root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
messages=${2:-40000}
rate=${3:-4000}
rounds=${4:-3}
sw="$build/sipswitch"
[ -x "$sw" ] || { echo "build sipswitch first (./sipswitch.sh test or make in $build)" >&2; exit 1; }
if ! command -v kamailio >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kamailio >/dev/null
fi
kam=$(command -v kamailio || echo /usr/sbin/kamailio)
mpath=$(dirname "$(find /usr/lib -name sl.so -path '*kamailio*' | head -n1)")
work=$(mktemp -d /tmp/sw-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port_sw=$((25060 + ${BENCH_PORT_OFFSET:-0})) port_kam=$((25062 + ${BENCH_PORT_OFFSET:-0}))

cat >"$work/sw.cfg" <<CFG
[core]
listen = udp:127.0.0.1:$port_sw
http =
script = $top/scripts/route.lua
log_level = warn
CFG
# Kamailio with one UDP worker: the same single signaling thread as sipswitch
cat >"$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
listen=udp:127.0.0.1:$port_kam
mpath="$mpath"
loadmodule "sl.so"
request_route {
    if (method == "OPTIONS") { sl_send_reply("200", "OK"); exit; }
    sl_send_reply("404", "Not Found");
}
CFG

cpu_ticks() { # total utime+stime of a process tree's pids
    local t=0 p
    for p in "$@"; do
        read -r -a f </proc/"$p"/stat
        t=$((t + f[13] + f[14]))
    done
    echo $t
}

run_sipp() { # PORT: prints failed call count
    (cd "$work" && sipp -sf "$top/bench/options_plain.xml" -i 127.0.0.1 -p 0 \
        -m "$messages" -r "$rate" -l 2000 -timeout 120s -nostdin -trace_stat -stf stat.csv \
        "127.0.0.1:$1" >/dev/null 2>&1) || true
    tail -n1 "$work/stat.csv" | awk -F";" "{print \$18}" # FailedCall(C)
}

hz=$(getconf CLK_TCK)
declare -a sw_cost kam_cost
for r in $(seq 1 "$rounds"); do
    "$sw" -c "$work/sw.cfg" >"$work/sw.log" 2>&1 &
    swpid=$!
    "$kam" -f "$work/kamailio.cfg" -P "$work/kam.pid" -w "$work" -DD -E >"$work/kam.log" 2>&1 &
    kamroot=$!
    sleep 1.5
    kampids=$(pgrep -P "$kamroot" | tr "\n" " " || true)
    kill -0 "$kamroot" 2>/dev/null || { echo "kamailio did not start:"; cat "$work/kam.log"; exit 1; }
    a=$(cpu_ticks $swpid); fails_sw=$(run_sipp $port_sw); b=$(cpu_ticks $swpid)
    c=$(cpu_ticks $kamroot $kampids); fails_kam=$(run_sipp $port_kam); d=$(cpu_ticks $kamroot $kampids)
    kill $swpid $kamroot 2>/dev/null; wait $swpid $kamroot 2>/dev/null || true
    s=$(echo "scale=3; ($b - $a) * 1000 * 1000 / $hz / $messages" | bc)
    k=$(echo "scale=3; ($d - $c) * 1000 * 1000 / $hz / $messages" | bc)
    echo "round $r: sipswitch ${s} ms CPU/1000 OPTIONS (failed $fails_sw), kamailio ${k} ms (failed $fails_kam)"
    sw_cost+=("$s"); kam_cost+=("$k")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms=$(median "${sw_cost[@]}"); mk=$(median "${kam_cost[@]}")
echo "median CPU per 1000 OPTIONS: sipswitch $ms ms, kamailio $mk ms; sipswitch/kamailio = $(echo "scale=2; $ms / $mk" | bc)"
