#!/usr/bin/env bash
# Calls, sipswitch vs Kamailio (Debian package), same sipp scenarios, same
# machine, one after the other: sipp caller -> server -> sipp gateway.
#
# sipswitch relays every call as a B2BUA (two dialogs, Lua route script
# returning the chain {"A","B"}). Kamailio does the same job as a stateful,
# dialog-aware proxy: every INVITE to gateway A with tm's t_relay(), a
# failure_route failing over to gateway B on 408/5xx or a timeout,
# record_route() to stay in the dialog, dlg_manage() to track the call. It
# runs with children=1 (one UDP worker, as sipswitch has one signaling
# thread); its helper processes (main, timers, ctl) run too and are counted.
#
# Reports, per server:
#  1. the highest call rate with zero failed calls: geometric bisection over
#     the caller's -r between 100 and 10000 calls/s; each probe places
#     rate x PROBE_S calls held 1 s on a freshly started server; an attempt
#     passes when the caller has every call successful and none failed, the
#     gateways have no failed call and no unexpected message, and sipp
#     started the calls at >= 90 % of the asked rate (an attempt is stopped
#     at its first failure); a rate passes when one of two attempts passes,
#     as the machine is shared (each line shows how long the server's
#     threads waited for a CPU, summed over its processes, and the
#     machine's CPU pressure from PSI);
#  2. server CPU microseconds per call (utime+stime from /proc/PID/stat,
#     summed over Kamailio's processes) at 200 calls/s, median of rounds;
#     and the same from the first probe (1000 calls/s, one sample);
#  3. memory per established call: N calls held open at once; the server's
#     PSS (/proc/PID/smaps_rollup, summed over Kamailio's processes: its
#     shared memory is counted once) before the calls and once they are all
#     up and their transactions have expired (35 s), growth / N. The calls
#     are set up in two halves: the second half's growth / (N/2) is the
#     marginal cost of one more call, once the transactions' peak memory
#     (kept by the allocators after freeing) is already there.
#
#   bench/calls_vs_kamailio.sh [--quick|--full] [--build DIR] [--rounds N]
#                              [--kam-default] [--keep]
#     default   bisection 7 steps x 10 s probes, CPU 3 rounds x 20 s, N = 5000  (~10 min)
#     --quick   bisection 4 steps x 5 s probes,  CPU 1 round x 10 s,  N = 2000  (~5 min)
#     --full    as default with N = 50000 held calls (set up at 1000 cps)      (~11 min)
#     --kam-default  also measure Kamailio with its default children (8)       (+50 %)
#     --keep    keep the work directory (logs, sipp stat files)
#     --probe SERVER RATE  one probe only (sipswitch, kamailio or kamailio8), work directory kept
# Scenarios: bench/scenarios/caller.xml and gateway.xml. UDP on 127.0.0.1 only.
# Needs: sipp (sip-tester), curl, kamailio (installed here if missing, as root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build mode=default rounds= kam_default=0 keep=0 only_probe= only_rate=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --build) build=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --kam-default) kam_default=1 ;;
    --keep) keep=1 ;;
    --probe) only_probe=$2 only_rate=$3 keep=1; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $mode in
quick) probe_s=5 steps=4 cpu_s=10 n_hold=2000 half_s=5 rounds=${rounds:-1} ;;
default) probe_s=10 steps=7 cpu_s=20 n_hold=5000 half_s=25 rounds=${rounds:-3} ;;
full) probe_s=10 steps=7 cpu_s=20 n_hold=50000 half_s=25 rounds=${rounds:-3} ;;
esac
rate_lo=100 rate_hi=10000 # bisection bounds, calls/s (the first probe, at their geometric mean, is the same for all servers)
hold_ms=1000             # call hold time in the rate and CPU tests
cpu_rate=200             # calls/s of the CPU test
settle_s=35              # after the last call is up: sipswitch's transactions live 64*T1 = 32 s after a 2xx (RFC 6026)
kam_shm_mb=4096          # Kamailio's shared memory pool (only the pages it touches count in its PSS)
bufsz=4194304            # UDP socket buffers (sipp -buff_size, Kamailio -b; sipswitch asks 4 MiB itself)

[ -x "$build/sipswitch" ] || { echo "build sipswitch first (make in $build)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp is needed (apt-get install sip-tester)" >&2; exit 1; }
if ! command -v kamailio >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kamailio >/dev/null
fi
kam=$(command -v kamailio || echo /usr/sbin/kamailio)
kamcmd=$(command -v kamcmd || echo /usr/sbin/kamcmd)
mpath=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio*' | head -n1)")
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
. "$top/bench/lib.sh"
bench_workdir calls-bench
# a private copy: others may rebuild the tree while this runs
cp "$build/sipswitch" "$work/sipswitch"
mkdir -p "$work/modules"
cp "$build/modules/gw_switch/.libs/gw_switch.so" "$work/modules/gw_switch.so" # the default cfg loads it
sc="$top/bench/scenarios"
hz=$(getconf CLK_TCK)

# ---- servers ------------------------------------------------------------------
# Each server has its own ports: SIP, gateway A, gateway B (and HTTP for sipswitch).
servers=(sipswitch kamailio)
[ "$kam_default" = 1 ] && servers+=(kamailio8)
declare -A sip_port gw_a gw_b label
sip_port[sipswitch]=$(bench_port 25160) gw_a[sipswitch]=$(bench_port 25171) gw_b[sipswitch]=$(bench_port 25172)
sip_port[kamailio]=$(bench_port 25162) gw_a[kamailio]=$(bench_port 25173) gw_b[kamailio]=$(bench_port 25174)
sip_port[kamailio8]=$(bench_port 25164) gw_a[kamailio8]=$(bench_port 25175) gw_b[kamailio8]=$(bench_port 25176)
http_port=$(bench_port 25180)
kam_version=$("$kam" -v 2>/dev/null | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')
label[sipswitch]="sipswitch (B2BUA, Lua route)"
label[kamailio]="kamailio $kam_version (children=1)"
label[kamailio8]="kamailio $kam_version (default children=8)"

bench_sipswitch_cfg "$work/sw.cfg" "${sip_port[sipswitch]}" "$http_port" "${gw_a[sipswitch]}" "${gw_b[sipswitch]}"
kam_cfg() { # NAME CHILDREN_LINE
    local n=$1
    cat >"$work/$n.cfg" <<CFG
#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
$2
listen=udp:127.0.0.1:${sip_port[$n]}
mpath="$mpath"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "dialog.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:$work/$n.ctl")
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        # in-dialog: follow the Record-Route; dialog tracks it through rr's callback
        if (loose_route()) { t_relay(); exit; }
        if (method == "ACK") { if (t_check_trans()) t_relay(); exit; }
        sl_send_reply("404", "Not here"); exit;
    }
    if (method == "CANCEL") { if (t_check_trans()) t_relay(); exit; }
    if (method != "INVITE") { sl_send_reply("405", "Method Not Allowed"); exit; }
    if (t_check_trans()) exit;
    record_route();
    dlg_manage();
    \$ru = "sip:" + \$rU + "@127.0.0.1:${gw_a[$n]}";
    t_on_failure("GW_B");
    if (!t_relay()) sl_reply_error();
    exit;
}
failure_route[GW_B] {
    if (t_is_canceled()) exit;
    if (t_check_status("408|5[0-9][0-9]") || t_branch_timeout()) {
        \$ru = "sip:" + \$rU + "@127.0.0.1:${gw_b[$n]}";
        t_relay();
    }
}
CFG
}
kam_cfg kamailio "children=1"
kam_cfg kamailio8 "" # Kamailio's default: 8 UDP workers

srv_root= srv_pids=
start_server() { # NAME: starts it, waits until it answers; pids in srv_root/srv_pids
    local n=$1 i
    if [ "$n" = sipswitch ]; then
        "$work/sipswitch" -c "$work/sw.cfg" --module-path "$work/modules" >>"$work/$n.log" 2>&1 &
        srv_root=$!
        for i in $(seq 1 100); do
            curl -fsS "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
            kill -0 "$srv_root" 2>/dev/null || { echo "sipswitch did not start:"; tail "$work/$n.log"; exit 1; }
            sleep 0.1
        done
        srv_pids=$srv_root
    else
        rm -f "$work/$n.ctl"
        "$kam" -f "$work/$n.cfg" -P "$work/$n.pid" -w "$work" -DD -E -m "$kam_shm_mb" -b "$bufsz" >>"$work/$n.log" 2>&1 &
        srv_root=$!
        for i in $(seq 1 100); do
            "$kamcmd" -s "unix:$work/$n.ctl" core.uptime >/dev/null 2>&1 && break
            kill -0 "$srv_root" 2>/dev/null || { echo "kamailio did not start:"; tail "$work/$n.log"; exit 1; }
            sleep 0.1
        done
        srv_pids="$srv_root $(pgrep -P "$srv_root" | tr '\n' ' ')"
    fi
}
stop_server() { bench_stop_server "$srv_root" $srv_pids; }

cpu_ticks() { bench_cpu_ticks "$@"; } # PIDS...: utime+stime summed (a gone pid counts 0)
mem_kb() { bench_mem_kb "$@"; }       # PIDS...: "PSS_kB RSS_kB" summed
now_ms() { echo $(($(date +%s%N) / 1000000)); }
udp_rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

# ---- sipp ---------------------------------------------------------------------
gw_pids=
start_gateways() { # NAME TAG
    local n=$1 t=$2 g port
    gw_pids=
    for g in a b; do
        [ $g = a ] && port=${gw_a[$n]} || port=${gw_b[$n]}
        rm -f "gw_${g}_$t.csv" "gw_${g}_$t.err"
        sipp -sf "$sc/gateway.xml" -i 127.0.0.1 -p "$port" -nostdin -buff_size $bufsz \
            -trace_stat -stf "gw_${g}_$t.csv" -fd 1 -trace_err -error_file "gw_${g}_$t.err" \
            >/dev/null 2>&1 </dev/null &
        gw_pids="$gw_pids $!"
    done
    sleep 0.3
}
stop_gateways() { # SIGUSR1: sipp writes its last statistics and quits
    local p i
    for p in $gw_pids; do kill -USR1 "$p" 2>/dev/null || true; done
    for i in $(seq 1 30); do
        local alive=0
        for p in $gw_pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in $gw_pids; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
col() { bench_sipp_col "$@"; } # FILE N: field N of the last line of a sipp stat file (0 if none)
# stat file columns (sipp 3.6): 10 IncomingCall(C) 13 TotalCallCreated 14 CurrentCall
# 16 SuccessfulCall(C) 18 FailedCall(C) 28 FailedUnexpectedMessage(C) 58 Retransmissions(C)

caller_cpu=0 caller_wall_ms=0 caller_aborted=0
failed_yet() { # CALLER_CSV GW_CSV...: true once a call failed or a gateway saw an unexpected message
    local f
    [ "$(col "$1" 18)" -eq 0 ] || return 0
    shift
    for f in "$@"; do [ "$(col "$f" 18)" -eq 0 ] && [ "$(col "$f" 28)" -eq 0 ] || return 0; done
    return 1
}
run_caller() { # NAME TAG CALLS RATE HOLD_MS TIMEOUT_S [GW_CSV...]: runs to the end, or is stopped as
    # soon as a call fails when gateway stat files are given; its CPU ticks in caller_cpu
    local n=$1 t=$2 m=$3 r=$4 d=$5 to=$6 pid t0 c k=0
    shift 6
    rm -f "caller_$t.csv" "caller_$t.err"
    t0=$(now_ms)
    timeout $((to + 10)) sipp -sf "$sc/caller.xml" -i 127.0.0.1 -p 0 -s 4420 -nostdin -buff_size $bufsz \
        -m "$m" -r "$r" -rp 1000 -d "$d" -l "$m" -timeout "${to}s" \
        -trace_stat -stf "caller_$t.csv" -fd 1 -trace_err -error_file "caller_$t.err" \
        "127.0.0.1:${sip_port[$n]}" >/dev/null 2>&1 </dev/null &
    pid=$!
    caller_cpu=0 caller_aborted=0
    local sp= i
    for i in $(seq 1 20); do sp=$(pgrep -P "$pid" | head -n1 || true); [ -n "$sp" ] && break; sleep 0.05; done
    while kill -0 "$pid" 2>/dev/null; do # sample sipp's CPU until it exits (timeout's child)
        c=$(cpu_ticks $sp)
        [ "$c" -gt "$caller_cpu" ] && caller_cpu=$c
        sleep 0.2
        k=$((k + 1))
        if [ $# -gt 0 ] && [ $((k % 5)) = 0 ] && failed_yet "caller_$t.csv" "$@"; then
            caller_aborted=1
            kill -KILL $sp "$pid" 2>/dev/null || true
            break
        fi
    done
    wait "$pid" 2>/dev/null || true
    caller_wall_ms=$(($(now_ms) - t0))
}
creation_s() { bench_sipp_creation_s "$@"; } # FILE CALLS: when sipp had created CALLS calls

sw_diag() { # non-zero drop/retransmission/timeout counters of sipswitch, and its log's warnings
    local m
    m=$(curl -fsS "http://127.0.0.1:$http_port/metrics" 2>/dev/null |
        grep -E '^sipswitch_(sip_dropped_total|sip_retransmissions_total|sip_retransmissions_absorbed_total|sip_transaction_timeouts_total|sip_parse_errors_total)' |
        awk '$2 != 0 {sub(/^sipswitch_/, "", $1); printf "%s=%s ", $1, $2}')
    echo "$m"
}

# ---- 1. max zero-failure rate ---------------------------------------------------------
sched_wait_ns() { # PIDS...: time their threads spent runnable, waiting for a CPU (schedstat)
    local p w=0 f
    for p in "$@"; do
        for f in /proc/"$p"/task/*/schedstat; do
            read -r _ x _ <"$f" 2>/dev/null && w=$((w + x))
        done
    done
    echo $w
}
cpu_pressure_us() { awk '/^some/ {sub(/total=/, "", $5); print $5}' /proc/pressure/cpu 2>/dev/null || echo 0; }
probe_n=0
probe_once() { # NAME RATE: 0 when the attempt passes; prints a line
    local n=$1 r=$2 t m s0 s1 g0 g1 u0 u1 w0 w1 ps0 ps1 ok fail gwf gwu retr cs verdict why diag lines0 wall
    probe_n=$((probe_n + 1)); t="p${probe_n}_$n"
    m=$((r * probe_s))
    lines0=$(cat "$work/$n.log" 2>/dev/null | wc -l)
    start_server "$n"
    start_gateways "$n" "$t"
    s0=$(cpu_ticks $srv_pids); g0=$(cpu_ticks $gw_pids); u0=$(udp_rcvbuf_errors)
    w0=$(sched_wait_ns $srv_pids); ps0=$(cpu_pressure_us)
    run_caller "$n" "$t" "$m" "$r" "$hold_ms" $((probe_s + 10)) "gw_a_$t.csv" "gw_b_$t.csv"
    s1=$(cpu_ticks $srv_pids); g1=$(cpu_ticks $gw_pids); u1=$(udp_rcvbuf_errors)
    w1=$(sched_wait_ns $srv_pids); ps1=$(cpu_pressure_us)
    diag="machine-udp-rcvbuf-drops=$((u1 - u0)) log-lines=$(($(wc -l <"$work/$n.log") - lines0))"
    if [ "$n" = sipswitch ]; then
        diag="$(sw_diag)$diag"
        curl -fsS "http://127.0.0.1:$http_port/metrics" >"metrics_$t.txt" 2>/dev/null || true
    else
        diag="$diag shm-max-used=$("$kamcmd" -s "unix:$work/$n.ctl" core.shmmem 2>/dev/null | awk '/max_used:/ {printf "%dMB", $2 / 1048576}')"
    fi
    stop_gateways
    stop_server
    ok=$(col "caller_$t.csv" 16); fail=$(col "caller_$t.csv" 18); retr=$(col "caller_$t.csv" 58)
    gwf=$(($(col "gw_a_$t.csv" 18) + $(col "gw_b_$t.csv" 18)))
    gwu=$(($(col "gw_a_$t.csv" 28) + $(col "gw_b_$t.csv" 28)))
    cs=$(creation_s "caller_$t.csv" "$m")
    why=
    [ "$caller_aborted" = 0 ] || why=" (stopped at the first failure)"
    [ "$ok" -eq "$m" ] || why="$why successful=$ok/$m"
    [ "$fail" -eq 0 ] || why="$why failed=$fail"
    [ "$gwf" -eq 0 ] || why="$why gateway-failed=$gwf"
    [ "$gwu" -eq 0 ] || why="$why gateway-unexpected=$gwu"
    if [ "$caller_aborted" = 0 ] && { [ "$cs" = inf ] || [ "$(echo "$m / $cs < 0.9 * $r" | bc -l)" = 1 ]; }; then
        why="$why caller-started-only=$([ "$cs" = inf ] && echo "?" || echo "$m / $cs" | bc)cps"
    fi
    [ -z "$why" ] && verdict=PASS || verdict=FAIL
    wall=$caller_wall_ms
    probe_us=$(echo "scale=1; ($s1 - $s0) * 1000000 / $hz / $m" | bc)
    # server-wait: share of the time the server's threads were runnable but had no CPU;
    # cpu-pressure: share of the time some task on the machine waited for a CPU (PSI)
    printf '  %-9s %5d cps %6d calls: %s%s | server %s us/call | over %.1f s: CPU%% server %d caller %d gateways %d, server-wait %d%%, cpu-pressure %d%% | retrans %d | %s\n' \
        "$n" "$r" "$m" "$verdict" "$why" "$probe_us" "$(echo "scale=1; $wall / 1000" | bc)" \
        $(((s1 - s0) * 100 * 1000 / hz / wall)) $((caller_cpu * 100 * 1000 / hz / wall)) \
        $(((g1 - g0) * 100 * 1000 / hz / wall)) $(((w1 - w0) / 10000 / wall)) $(((ps1 - ps0) / 10 / wall)) "$retr" "$diag"
    [ "$verdict" = PASS ]
}
probe() { # NAME RATE: a rate passes when one of two attempts passes (the machine is shared: one
    # failed attempt may be another user's burst); probe_us is from the first attempt
    local us
    probe_once "$1" "$2" && return 0
    us=$probe_us
    probe_once "$1" "$2" && { probe_us=$us; return 0; }
    probe_us=$us
    return 1
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "sipswitch $("$work/sipswitch" --version 2>/dev/null | head -n1) vs kamailio $kam_version, $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -n1); $(nproc) CPUs; mode $mode"
echo "Kamailio: stateful proxy (tm t_relay, failure_route to B, record_route, dialog dlg_manage);"
echo "  children=1 = one UDP worker like sipswitch's one signaling thread, plus its helper processes (CPU and memory summed)"
echo
if [ -n "$only_probe" ]; then
    probe "$only_probe" "$only_rate" && exit 0 || exit 1
fi
echo "1. highest rate with zero failed calls: bisection $rate_lo..$rate_hi cps, $steps steps, ${probe_s} s of calls per probe, hold ${hold_ms} ms"
declare -A lo hi cpu1
for n in "${servers[@]}"; do lo[$n]=$rate_lo hi[$n]=$rate_hi; done
rate1=$(($(echo "sqrt($rate_lo * $rate_hi) / 10" | bc) * 10))
for s in $(seq 1 "$steps"); do
    for n in "${servers[@]}"; do
        mid=$(echo "sqrt(${lo[$n]} * ${hi[$n]}) / 10" | bc); mid=$((mid * 10))
        if probe "$n" "$mid"; then lo[$n]=$mid; else hi[$n]=$mid; fi
        [ "$s" = 1 ] && cpu1[$n]=$probe_us
    done
done
declare -A maxrate
for n in "${servers[@]}"; do
    maxrate[$n]=${lo[$n]}
    [ "${lo[$n]}" = $rate_lo ] && maxrate[$n]="<$rate_lo"
done

# ---- 2. CPU per call ---------------------------------------------------------------
echo
echo "2. server CPU per call at $cpu_rate cps for ${cpu_s} s (hold ${hold_ms} ms), $rounds round(s)"
declare -A cpu_list
for r in $(seq 1 "$rounds"); do
    for n in "${servers[@]}"; do
        t="cpu${r}_$n" m=$((cpu_rate * cpu_s))
        start_server "$n"
        start_gateways "$n" "$t"
        s0=$(cpu_ticks $srv_pids); g0=$(cpu_ticks $gw_pids)
        run_caller "$n" "$t" "$m" "$cpu_rate" "$hold_ms" $((cpu_s + 25))
        sleep 0.5
        s1=$(cpu_ticks $srv_pids); g1=$(cpu_ticks $gw_pids)
        stop_gateways
        stop_server
        us=$(echo "scale=1; ($s1 - $s0) * 1000000 / $hz / $m" | bc)
        cpu_list[$n]="${cpu_list[$n]:-} $us"
        printf '  round %d %-9s %6s us/call (failed %d, successful %d/%d) | caller %s us/call, gateways %s us/call\n' \
            "$r" "$n" "$us" "$(col "caller_$t.csv" 18)" "$(col "caller_$t.csv" 16)" "$m" \
            "$(echo "scale=1; $caller_cpu * 1000000 / $hz / $m" | bc)" "$(echo "scale=1; ($g1 - $g0) * 1000000 / $hz / $m" | bc)"
    done
done
declare -A cpu
for n in "${servers[@]}"; do cpu[$n]=$(median ${cpu_list[$n]}); done

# ---- 3. memory per established call ------------------------------------------------------
# Two halves of N/2 calls, each set up over half_s seconds and left to settle
# (transactions gone) before PSS is read. growth/N is the figure asked for; it
# includes the transactions' peak, which the allocators keep after freeing.
# The second half reuses that freed memory, so its growth/(N/2) is the
# marginal cost of one more established call.
half=$((n_hold / 2))
mem_rate=$(((half + half_s - 1) / half_s))
echo
echo "3. memory per established call: $n_hold calls held at once, set up in two halves of $half at $mem_rate cps, each left ${settle_s} s to settle"
declare -A mem marg
held_caller() { # NAME TAG CALLS HOLD_S: a caller in the background, pid in cpid
    rm -f "caller_$2.csv"
    timeout $(($4 + 60)) sipp -sf "$sc/caller.xml" -i 127.0.0.1 -p 0 -s 4420 -nostdin -buff_size $bufsz \
        -m "$3" -r "$mem_rate" -rp 1000 -d $(($4 * 1000)) -l $(($3 + 10)) -timeout "$(($4 + 30))s" \
        -trace_stat -stf "caller_$2.csv" -fd 1 -trace_err -error_file "caller_$2.err" \
        "127.0.0.1:${sip_port[$1]}" >/dev/null 2>&1 </dev/null &
    cpid=$!
}
wait_up() { # TAG CALLS: until gateway A holds CALLS calls (each waits for its BYE), bounded
    local deadline=$(($(date +%s) + half_s * 3 + 20))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(col "gw_a_$1.csv" 14)" -ge "$2" ] && break
        sleep 0.5
    done
    sleep 1
}
for n in "${servers[@]}"; do
    t="mem_$n"
    start_server "$n"
    start_gateways "$n" "$t"
    sleep 1
    read -r p0 r0 <<<"$(mem_kb $srv_pids)"
    held_caller "$n" "${t}_1" "$half" $((2 * half_s + 2 * settle_s + 30)); c1=$cpid
    wait_up "$t" "$half"
    read -r p1 r1 <<<"$(mem_kb $srv_pids)"
    sleep "$settle_s"
    read -r p2 r2 <<<"$(mem_kb $srv_pids)"
    held_caller "$n" "${t}_2" "$half" $((half_s + settle_s + 30)); c2=$cpid
    wait_up "$t" $((2 * half))
    read -r p3 r3 <<<"$(mem_kb $srv_pids)"
    sleep "$settle_s"
    read -r p4 r4 <<<"$(mem_kb $srv_pids)"
    up=$(col "gw_a_$t.csv" 14)
    cfail=$(($(col "caller_${t}_1.csv" 18) + $(col "caller_${t}_2.csv" 18)))
    if [ "$n" = sipswitch ]; then
        extra=$(curl -fsS "http://127.0.0.1:$http_port/metrics" | awk '/^sipswitch_sip_transactions\{/ {s += $2} END {print "live transactions " s+0}')
    else
        extra="dialogs $("$kamcmd" -s "unix:$work/$n.ctl" dlg.stats_active 2>/dev/null | awk '/ongoing:/ {o=$2} /all:/ {a=$2} END {print "ongoing " o+0 ", all " a+0}')"
    fi
    for p in $c1 $c2; do kill -KILL $(pgrep -P "$p") "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    stop_gateways
    stop_server
    mem[$n]=$(((p4 - p0) * 1024 / (2 * half)))
    marg[$n]=$(((p4 - p2) * 1024 / half))
    printf '  %-9s PSS kB: idle %d | %d up %d, settled %d | %d up %d, settled %d => %d B/call, marginal %d B/call | RSS sum %d -> %d kB | calls up %d, caller failed %d | %s\n' \
        "$n" "$p0" "$half" "$p1" "$p2" $((2 * half)) "$p3" "$p4" "${mem[$n]}" "${marg[$n]}" "$r0" "$r4" "$up" "$cfail" "$extra"
    [ "$up" -ge $((2 * half)) ] || echo "  warning: only $up of $((2 * half)) calls were up: the figure is per asked call"
done

# ---- table ------------------------------------------------------------------------
echo
printf '%-42s | %-20s | %-16s | %-16s | %-20s | %s\n' server "max zero-failure cps" "CPU us/call @$cpu_rate" "CPU us/call @$rate1" "bytes/established call" "(marginal)"
for n in "${servers[@]}"; do
    printf '%-42s | %-20s | %-16s | %-16s | %-20s | %s\n' "${label[$n]}" "${maxrate[$n]}" "${cpu[$n]}" "${cpu1[$n]}" "${mem[$n]}" "${marg[$n]}"
done
ratio() { case "$1$2" in *'<'*) echo "?" ;; *) echo "scale=2; $1 / $2" | bc ;; esac; }
for k in "${servers[@]:1}"; do
    printf '%-42s | %-20s | %-16s | %-16s | %-20s | %s\n' "sipswitch/$k" "$(ratio "${lo[sipswitch]}" "${lo[$k]}")" \
        "$(ratio "${cpu[sipswitch]}" "${cpu[$k]}")" "$(ratio "${cpu1[sipswitch]}" "${cpu1[$k]}")" \
        "$(ratio "${mem[sipswitch]}" "${mem[$k]}")" "$(ratio "${marg[sipswitch]}" "${marg[$k]}")"
done
echo
echo "targets (against kamailio children=1): CPU/call <= 0.5 x Kamailio: $(ratio "${cpu[sipswitch]}" "${cpu[kamailio]}");" \
    "max rate >= Kamailio: $(ratio "${lo[sipswitch]}" "${lo[kamailio]}");" \
    "<= 4096 B per established call: ${mem[sipswitch]}"
echo "note: sipswitch does more work per call than the proxy: it is a B2BUA (two dialogs, two transaction pairs per request, new Call-ID/tags/Via/Contact) and runs the Lua route script on every INVITE."
echo "note: a probe's max rate is also bounded by sipp (caller and gateway) sharing the machine's $(nproc) CPUs with the server: see the CPU% columns of the probes."
