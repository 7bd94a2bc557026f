#!/usr/bin/env bash
# nat_keepalive at scale (issue 4's target: 1,000,000 NAT devices kept alive
# at a 30 s period with none missed, using under 20 % of one core).
#
# The bindings come from the test-only tests/modules/fake_registrar (built
# here with `make tests/modules/fake_registrar.la`): device i "registered"
# from 127.1.x.y:port (50,000 ports per address), behind NAT, over UDP.
# nat_keepalive runs with the VOS3000 defaults (period 30 s, send_interval
# 500 ms, batch 3000: 180,000 devices a period, so the module has to raise
# the pace, and says so once). Reports:
#   - CPU: the switch's utime+stime from /proc over MEASURE seconds (two
#     periods by default) once the sink has finished (its packet tap copies
#     every heartbeat, at the sender's expense: that window is reported
#     apart), as % of one core; also the module's own last_pass_cpu_ms (the
#     signaling thread's CPU in the turns);
#   - none missed: counted at a sink (bench/nat_keepalive_sink.c, a packet
#     socket on lo: no socket can listen on a million addresses), which sees
#     every heartbeat the switch sends from its SIP port, over MEASURE
#     seconds after a warm-up of WARMUP seconds (the bulk load of the
#     bindings and the first pass): per device the heartbeats within the
#     window and the gaps between consecutive ones; the module's
#     heartbeats_last_pass and devices_late_total besides;
#   - memory per binding: VmRSS with N bindings minus VmRSS with none.
# On loopback every heartbeat is also received, in the sending thread's
# softirq (kernel work a real NIC does not bring back, charged to the
# switch), and, where no socket listens, answered with an ICMP port
# unreachable (more of it). So by default everything runs in a private
# network namespace (unshare -n: its own lo and nothing else) where 16
# sockets bound to 0.0.0.0 (there: loopback only) on the devices' 16 ports
# absorb the heartbeats without reading them: no ICMP, the receive still
# counted against the switch. --loopback-receive runs on the host's
# loopback without absorbers (receive + ICMP: the most pessimistic figure).
#
#   bench/nat_keepalive.sh [--build DIR] [--devices N] [--warmup S] [--measure S] [--keep] [--loopback-receive]
# Needs root (the packet socket, the namespace). Bounded: about warmup +
# 2 x measure + 30 s (3 minutes with the defaults).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build devices=1000000 warmup=40 measure=60 keep=0 period=30 netns=1
args=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift ;;
    --devices) devices=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --measure) measure=$2; shift ;;
    --keep) keep=1 ;;
    --loopback-receive) netns=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
. "$top/bench/lib.sh"
if [ "$netns" = 1 ] && [ -z "${NK_BENCH_NETNS:-}" ]; then
    exec unshare -n env NK_BENCH_NETNS=1 "$0" "${args[@]}"
fi
if [ "$netns" = 1 ]; then
    ip link set lo up
    where="a private network namespace, heartbeats absorbed by 16 sockets that never read"
else
    where="the host's loopback, heartbeats received and answered with ICMP port unreachable"
fi
make -C "$build" -s modules/nat_keepalive/nat_keepalive.la tests/modules/fake_registrar.la sipswitch >/dev/null
bench_workdir nat-keepalive-bench
mkdir -p modules
cp "$build/sipswitch" .
cp "$build/modules/nat_keepalive/.libs/nat_keepalive.so" "$build/tests/modules/.libs/fake_registrar.so" modules/
cc -O2 -Wall -o sink "$top/bench/nat_keepalive_sink.c"
# free ports on 127.0.0.1, asked of the kernel (other benchmarks may run)
read -r sip http < <(python3 -c '
import socket
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_STREAM)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
hz=$(getconf CLK_TCK) per_ip=16
printf 'function on_invite(call) return {} end\n' >route.lua
cfg() { # NAME DEVICES
    cat >"$1.cfg" <<CFG
[core]
listen = udp:127.0.0.1:$sip
http = 127.0.0.1:$http
script = $work/route.lua
log_level = notice
load = fake_registrar, nat_keepalive
[nat_keepalive]
period = $period
[fake_registrar]
count = $2
source = 127.1.0.1:10000
ports_per_ip = $per_ip
CFG
}
start() { # NAME
    ./sipswitch -c "$1.cfg" --module-path modules >"$1.log" 2>&1 &
    pid=$!
    local i
    for i in $(seq 1 600); do curl -fsS "http://127.0.0.1:$http/health" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "sipswitch did not start:" >&2; cat "$1.log" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS/ { print $2 }' /proc/"$pid"/status; }
ticks() { local f; read -r -a f </proc/"$pid"/stat; echo "${f[13]} ${f[14]}"; } # user system
metric() { curl -fsS "http://127.0.0.1:$http/metrics" | awk -v k="sipswitch_nat_keepalive_$1" '$1 == k { print $2 }'; }

# memory: the same switch without bindings
cfg empty 0
start empty
sleep 2
rss_empty=$(rss_kb)
stop

cfg full "$devices"
if [ "$netns" = 1 ]; then
    python3 -c '
import signal, socket, time
socks = []
for i in range(16):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.bind(("0.0.0.0", 10000 + i))
    socks.append(s)
signal.signal(signal.SIGTERM, lambda *a: exit(0))
time.sleep(3600)' &
    absorber=$!
fi
./sink "$sip" 127.1.0.1 10000 "$per_ip" "$devices" "$warmup" "$measure" HELLO >sink.out 2>sink.err &
sink_pid=$!
sleep 0.5
start full
sleep "$warmup"
rss_full=$(rss_kb)
# window 1: the sink counts every heartbeat (its tap's clones are charged to the switch too)
read -r u0 s0 < <(ticks)
wait "$sink_pid" || { echo "the sink failed: $(cat sink.err)" >&2; exit 1; }
read -r u1 s1 < <(ticks)
counted_pass=$(metric last_pass_cpu_ms)
# window 2: the switch alone, as it would run
sleep "$measure"
read -r u2 s2 < <(ticks)
last_pass=$(metric heartbeats_last_pass) last_ms=$(metric last_pass_ms) cpu_ms=$(metric last_pass_cpu_ms)
late=$(metric devices_late_total) raised=$(metric pace_raised_total) turn=$(metric send_interval_ms)
errors=$(metric send_errors_total) n=$(metric devices)
stop
[ -z "${absorber:-}" ] || { kill -TERM "$absorber"; wait "$absorber" 2>/dev/null || true; }

pct() { echo "scale=1; $1 * 100 / $hz / $measure" | bc; }
cpu=$(pct "($u2 - $u1 + $s2 - $s1)") cpu_user=$(pct "($u2 - $u1)") cpu_sys=$(pct "($s2 - $s1)")
cpu_counted=$(pct "($u1 - $u0 + $s1 - $s0)")
per_binding=$(echo "($rss_full - $rss_empty) * 1024 / $devices" | bc)
echo "run in $where"
echo "devices: $n kept alive (period ${period} s, VOS3000 pacing 500 ms x 3000 = 180000 a period)"
echo "pace: raised $raised time(s), a turn every $turn ms; warning: $(grep -c 'pace raised' full.log) line(s)"
echo "switch CPU over ${measure} s: ${cpu} % of one core (user $cpu_user %, system $cpu_sys %; target < 20 %)"
echo "  while the sink counted: ${cpu_counted} % (its packet tap's copies included)"
echo "module: last pass $last_pass heartbeats in $last_ms ms, $cpu_ms ms of signaling-thread CPU" \
    "($counted_pass ms with the sink); late $late, send errors $errors"
echo "sink (${measure} s window after ${warmup} s): $(cat sink.out)"
echo "memory: VmRSS $rss_empty kB without bindings, $rss_full kB with $devices: $per_binding bytes per binding"
# none missed: every device heard in the window, no gap over a period + 1 s
read -r silent max_gap < <(sed -E 's/.*silent_devices=([0-9]+).*max_gap_ms=([0-9.]+).*/\1 \2/' sink.out)
verdict=PASS
[ "$silent" = 0 ] || verdict=FAIL
[ "$(echo "$max_gap <= ($period + 1) * 1000" | bc)" = 1 ] || verdict=FAIL
[ "$(echo "$cpu < 20" | bc)" = 1 ] || verdict=FAIL
[ "$errors" = 0 ] || verdict=FAIL
echo "verdict: $verdict (none silent, no gap longer than a period + 1 s, no send error, CPU < 20 %)"
[ "$verdict" = PASS ]
