#!/usr/bin/env bash
# What loading modules costs per call: the same call load (the calls bench's
# sipp caller at 200 calls/s, hold 1 s, a gateway that answers) through
# sipswitch with `load = gw_switch` (the call engine's baseline), with
# `load = gw_switch, cdr`, and with all of issue 5's modules (cdr,
# session_timer, privacy: the caller and gateway do not use timers, so
# session_timer negotiates on every INVITE and arms the max-duration timer;
# privacy writes PAI and passes Privacy), alternated over a few rounds on
# the same machine. Reports server CPU microseconds per call (utime+stime of
# every thread, from /proc, so cdr's writer thread is counted) and the
# ratios. Issue 5's target: all three loaded cost at most +15 %.
#
#   bench/modules_overhead.sh [--build DIR] [--rounds N] [--seconds S]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build rounds=3 secs=20 rate=200
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --seconds) secs=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
command -v sipp >/dev/null || { echo "sipp is needed (apt-get install sip-tester)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/modules-bench.XXXXXX)
trap 'for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"
cp "$build/sipswitch" . && mkdir -p modules
for m in gw_switch cdr session_timer privacy; do cp "$build/modules/$m/.libs/$m.so" modules/; done
sc=$top/bench/scenarios hz=$(getconf CLK_TCK) sip=$((25260 + ${BENCH_PORT_OFFSET:-0})) gw=$((25271 + ${BENCH_PORT_OFFSET:-0})) http=$((25280 + ${BENCH_PORT_OFFSET:-0}))
printf 'function on_invite(call) call:cdr_set("account", "bench") return { "A" } end\n' >route.lua
cfg() { # NAME LOAD
    {
        printf '[core]\nlisten = udp:127.0.0.1:%s\nhttp = 127.0.0.1:%s\nscript = %s/route.lua\n' "$sip" "$http" "$work"
        printf 'log_level = warn\nload = %s\n[mapping c]\nsource = 127.0.0.1\n[gateway A]\naddress = 127.0.0.1:%s\n' "$2" "$gw"
        case $2 in *cdr*) printf '[cdr]\ndir = %s/cdr-%s\nwrite_interval = 5\nextra_columns = account\n' "$work" "$1" ;; esac
        case $2 in *privacy*) printf '[privacy]\nprivacy = Passthrough\npai = Caller\n' ;; esac
    } >"$1.cfg"
}
cfg base gw_switch
cfg cdr "gw_switch, cdr"
cfg all "gw_switch, cdr, session_timer, privacy"
ticks() { local f; read -r -a f </proc/"$1"/stat; echo $((f[13] + f[14])); }
run() { # NAME: one measured run; prints us/call
    ./sipswitch -c "$1.cfg" --module-path modules >>"$1.log" 2>&1 &
    local sw=$! i
    for i in $(seq 1 100); do curl -fsS "http://127.0.0.1:$http/health" >/dev/null 2>&1 && break; sleep 0.1; done
    sipp -sf "$sc/gateway.xml" -i 127.0.0.1 -p "$gw" -nostdin >/dev/null 2>&1 </dev/null &
    local g=$! n=$((rate * secs))
    sleep 0.3
    local t0; t0=$(ticks $sw)
    timeout $((secs + 40)) sipp -sf "$sc/caller.xml" -i 127.0.0.1 -p 0 -s 4420 -nostdin -m "$n" -r "$rate" \
        -d 1000 -l "$n" "127.0.0.1:$sip" >/dev/null 2>&1 </dev/null || echo "  ($1: sipp reported failed calls)" >&2
    sleep 1 # cdr: the writer syncs and files what the last calls left
    local t1; t1=$(ticks $sw)
    kill -TERM $sw; wait $sw 2>/dev/null || true
    kill -KILL $g 2>/dev/null; wait $g 2>/dev/null || true
    echo "scale=1; ($t1 - $t0) * 1000000 / $hz / $n" | bc
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "server CPU per call at $rate calls/s for $secs s, $rounds round(s): base = gw_switch; + cdr; + cdr, session_timer, privacy"
b=() c=() a=()
for r in $(seq 1 "$rounds"); do
    x=$(run base); y=$(run cdr); z=$(run all)
    b+=("$x") c+=("$y") a+=("$z")
    echo "  round $r: gw_switch $x us/call, + cdr $y us/call, + cdr + session_timer + privacy $z us/call"
done
mb=$(median "${b[@]}") mc=$(median "${c[@]}") ma=$(median "${a[@]}")
echo "median: gw_switch $mb us/call; + cdr $mc us/call (ratio $(echo "scale=3; $mc / $mb" | bc));" \
    "all three $ma us/call (ratio $(echo "scale=3; $ma / $mb" | bc), target <= 1.15)"
for n in cdr all; do
    recs=$(cat cdr-$n/cdr-*.csv 2>/dev/null | grep -vc '^seq,' || true)
    echo "records written by cdr ($n) over all rounds: $recs (expected $((rounds * rate * secs)))"
done
