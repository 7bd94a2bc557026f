#!/usr/bin/env bash
# Where sipswitch's CPU per call goes, in figures that do not depend much on
# the machine's load (the ratio benchmarks do; this one explains them): the
# calls bench's load (bench/scenarios: sipp caller -> sipswitch -> sipp
# gateway, hold 1 s; the route script returns {"A","B"}, gw_switch loaded),
# sipswitch alone, no Kamailio.
#
# Per call, over the calls of one run:
#  - CPU: utime+stime of every server thread (/proc), and the user part;
#  - preemptions: involuntary context switches (a send that wakes a sipp on
#    this CPU can switch the server out before the syscall returns);
#  - wake-ups: voluntary context switches of the server's threads, i.e. the
#    times the loop slept in epoll_wait and was woken (each costs a kernel
#    round trip and caches gone cold; at low rates they dominate);
#  - syscalls, by name, from the kernel's syscall tracepoints (perf stat;
#    nothing is slowed down), and how many epoll_wait returned nothing (a
#    timer woke the loop, not a message);
#  - with --callgrind: user-space instructions per call, a second run under
#    valgrind (callgrind, counters zeroed once the switch is up and dumped
#    after the last call), at a low rate where every message is handled on
#    its own wake-up, and the functions with the largest inclusive share.
#
# BENCH_LOAD="gw_switch, cdr, session_timer, privacy" profiles with more modules.
#
#   bench/call_profile.sh [--build DIR] [--rate CPS] [--seconds S]
#                         [--callgrind] [--cg-rate CPS] [--cg-calls N] [--keep]
#     defaults: 200 cps for 20 s (the CPU test of calls_vs_kamailio.sh);
#     callgrind at 50 cps, 1500 calls
# Needs: sipp (sip-tester), curl; perf for the syscall counts (skipped
# without it, or when the kernel does not allow tracepoints); valgrind for
# --callgrind. UDP on 127.0.0.1 only.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build rate=200 secs=20 cg=0 cg_rate=50 cg_calls=1500 keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift ;;
    --rate) rate=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --callgrind) cg=1 ;;
    --cg-rate) cg_rate=$2; shift ;;
    --cg-calls) cg_calls=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$build/sipswitch" ] || { echo "build sipswitch first (make in $build)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp is needed (apt-get install sip-tester)" >&2; exit 1; }
. "$top/bench/lib.sh"
bench_workdir call-profile
cp "$build/sipswitch" sipswitch # a private copy: others may rebuild the tree meanwhile
mkdir -p modules
for m in $(bench_modules); do cp "$build/modules/$m/.libs/$m.so" modules/; done
sc=$top/bench/scenarios hz=$(getconf CLK_TCK)
sip=$(bench_port 25360) gw_a=$(bench_port 25371) gw_b=$(bench_port 25372) http=$(bench_port 25380)
bench_sipswitch_cfg "$work/sw.cfg" $sip $http $gw_a $gw_b

# One run: the switch (under WRAPPER..., if any), two gateways, the caller
# at RATE for CALLS calls. Hooks: on_up PID (before the caller), on_done PID
# (after it). Sets run_pid, run_ok, run_failed.
run() { # RATE CALLS WRAPPER...
    local r=$1 n=$2 i g gws=
    shift 2
    "$@" ./sipswitch -c "$work/sw.cfg" --module-path "$work/modules" >>sw.log 2>&1 &
    local top_pid=$!
    for i in $(seq 1 600); do
        curl -fsS "http://127.0.0.1:$http/health" >/dev/null 2>&1 && break
        kill -0 "$top_pid" 2>/dev/null || { echo "sipswitch did not start:"; tail sw.log; exit 1; }
        sleep 0.1
    done
    run_pid=$top_pid # valgrind execs its tool in the same process
    for g in $gw_a $gw_b; do
        sipp -sf "$sc/gateway.xml" -i 127.0.0.1 -p "$g" -nostdin -buff_size 4194304 >/dev/null 2>&1 </dev/null &
        gws="$gws $!"
    done
    sleep 0.3
    on_up "$run_pid"
    rm -f caller.csv
    timeout $((n / r + 120)) sipp -sf "$sc/caller.xml" -i 127.0.0.1 -p 0 -s 4420 -nostdin -buff_size 4194304 \
        -m "$n" -r "$r" -rp 1000 -d 1000 -l "$n" -timeout "$((n / r + 60))s" \
        -trace_stat -stf caller.csv -fd 1 "127.0.0.1:$sip" >/dev/null 2>&1 </dev/null || true
    sleep 0.5
    on_done "$run_pid"
    run_ok=$(tail -n1 caller.csv | awk -F';' '{print $16}')
    run_failed=$(tail -n1 caller.csv | awk -F';' '{print $18}')
    kill -TERM "$top_pid" 2>/dev/null || true
    wait "$top_pid" 2>/dev/null || true
    for g in $gws; do kill -KILL "$g" 2>/dev/null || true; wait "$g" 2>/dev/null || true; done
}

# utime stime voluntary-switches involuntary-switches of every thread of PID
proc_counts() {
    local f t v=0 n=0 vn
    read -r -a f </proc/"$1"/stat
    for t in /proc/"$1"/task/*/status; do
        vn=$(awk '/^voluntary_ctxt_switches/ {v = $2} /^nonvoluntary_ctxt_switches/ {n = $2} END {print v, n}' "$t")
        v=$((v + ${vn% *})) n=$((n + ${vn#* }))
    done
    echo "${f[13]} ${f[14]} $v $n"
}
per_call() { echo "scale=${3:-2}; ($1) / $2" | bc; }

# ---- the plain run: CPU, wake-ups, syscalls --------------------------------------------
calls=$((rate * secs))
syscalls=(epoll_wait recvmsg recvmmsg sendmsg sendmmsg sendto recvfrom getrandom read write futex clock_gettime)
perf_ok=0 tracepoints=
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_epoll_wait true >/dev/null 2>&1; then
    perf_ok=1
    tracepoints=$(perf list 2>/dev/null || true)
fi
on_up() {
    read -r u0 s0 v0 n0 <<<"$(proc_counts "$1")"
    if [ "$perf_ok" = 1 ]; then
        local ev=(-e syscalls:sys_exit_epoll_wait --filter 'ret == 0') e
        for e in "${syscalls[@]}"; do
            case $tracepoints in *"syscalls:sys_enter_$e "*) ev+=(-e "syscalls:sys_enter_$e") ;; esac
        done
        perf stat -x, -o perf.txt "${ev[@]}" -p "$1" &
        perf_pid=$!
        sleep 0.3
    fi
}
on_done() {
    read -r u1 s1 v1 n1 <<<"$(proc_counts "$1")"
    if [ "$perf_ok" = 1 ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
}
echo "sipswitch $("$work/sipswitch" --version 2>/dev/null | head -n1): $calls calls at $rate cps, hold 1 s, $(nproc) CPUs"
run "$rate" "$calls"
echo "  calls successful $run_ok, failed $run_failed"
printf '  CPU per call: %s us (user %s us)\n' "$(per_call "($u1 + $s1 - $u0 - $s0) * 1000000 / $hz" "$calls" 1)" \
    "$(per_call "($u1 - $u0) * 1000000 / $hz" "$calls" 1)"
printf '  wake-ups per call (voluntary context switches): %s\n' "$(per_call "$v1 - $v0" "$calls")"
# a send that wakes a peer on this CPU may hand the CPU over before the
# syscall returns (wake-up preemption): the server is switched out mid-work
printf '  preemptions per call (involuntary context switches): %s\n' "$(per_call "$n1 - $n0" "$calls")"
if [ "$perf_ok" = 1 ]; then
    printf '  syscalls per call:'
    awk -F, -v n="$calls" '$3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 {
            sub(/^syscalls:sys_enter_/, "", $3); printf " %s %.2f", $3, $1 / n; total += $1 }
        $3 == "syscalls:sys_exit_epoll_wait" { idle = $1 }
        END { printf " (total %.2f)\n  epoll_wait woken by a timer alone, per call: %.2f\n", total / n, idle / n }' perf.txt
else
    echo "  syscalls: perf with syscall tracepoints is not available here (try strace -f -c -p PID by hand)"
fi

# ---- callgrind: instructions per call ------------------------------------------------------
if [ "$cg" = 1 ]; then
    command -v valgrind >/dev/null || { echo "--callgrind needs valgrind (apt-get install valgrind)" >&2; exit 1; }
    on_up() { sleep 1; callgrind_control -z "$1" >/dev/null; }
    on_done() { callgrind_control -d "$1" >/dev/null; sleep 1; }
    run "$cg_rate" "$cg_calls" valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p.out"
    dump=$(ls -t "$work"/cg.*.out.* 2>/dev/null | head -n1)
    [ -n "$dump" ] || { echo "  callgrind wrote no dump" >&2; exit 1; }
    total=$(awk '/^summary:/ {print $2}' "$dump")
    echo
    echo "callgrind: $cg_calls calls at $cg_rate cps (successful $run_ok, failed $run_failed)"
    echo "  user-space instructions per call: $((total / cg_calls))"
    echo "  largest inclusive shares (per call):"
    callgrind_annotate --inclusive=yes "$dump" 2>/dev/null |
        awk -v n="$cg_calls" '/^ *[0-9,]+ \([ 0-9.]+%\) / {
                v = $1; gsub(/,/, "", v); $1 = ""; sub(/^ +\([ 0-9.]+%\) +/, ""); sub(/^ +/, "")
                if ($0 ~ /(sw_daemon_run|uv_run|main|libc_start|below main|0x0)/) next
                printf "    %8d  %s\n", v / n, $0; if (++k == 25) exit }'
fi
