#!/usr/bin/env bash
# Soak: sipswitch under steady call load with failing gateways for a long
# time (issue 6, part 4). Not in the default suite.
#
# One sipp caller places calls at a constant rate through sipswitch
# (gw_switch and cdr loaded, CDRs in CSV) to four gateways on loopback:
#   ok       sipp answering 200 (bench/scenarios/gateway.xml)
#   unavail  sipp answering 503            (reject_gateway.xml)
#   busy     sipp answering 486            (reject_gateway.xml)
#   silent   a UDP black hole, never answers (blackhole.py; invite_timeout 2 s)
# route.lua draws each call's chain at random: mostly {ok}, some
# {unavail, ok} and {silent, ok} (failover), some {busy, ok} (busy stops the
# switching: the caller gets 486, the intended failures). Calls are held a
# random time, uniform between 1 and 10 s (caller.xml).
#
# Every 10 s the switch's resident memory (VmRSS), open file descriptors,
# live calls (/api/v1/gateways), live transactions and CDR counters go to
# samples.csv in the work directory. After MINUTES the caller stops placing
# calls, the calls drain, the switch is stopped with SIGTERM (CDRs flushed),
# and the verdict is printed. Exit status 0 only if all of these hold:
#   1. no unintended failed call: the caller's failed calls are 0 and every
#      call it created ended (successful or busy), the sipp gateways have no
#      failed call and no call left open, the switch has no call left 45 s
#      after the caller's last one ended, and every CDR record has the
#      outcome its chain must give (200, or 486 for busy_ok);
#   2. resident memory flat: VmRSS at the end of the load < 5 % above its
#      value at the end of the warm-up (the first 5 minutes; half the run
#      when the run is shorter than 10 minutes, which must be 2 minutes at
#      least); the maximum is shown too;
#   3. file descriptors flat: at the end <= end of warm-up + FD_SLACK;
#   4. every call in the CDRs: records == calls the caller created, no
#      Call-ID twice, and records with final code 486 == the caller's 486s
#      == the calls the busy gateway refused;
#   5. the switch exited with status 0 on SIGTERM.
# Whether sipp kept the asked rate (calls created vs rate x time) is printed;
# it does not change the exit status.
#
#   bench/soak/run.sh [--minutes N] [--rate R] [--build DIR] [--keep]
#                     [--core 'KEY = VALUE']...
#     --minutes N  load duration (default 30)
#     --rate R     calls/s (default 4480: half of the highest zero-failure
#                  rate bench/calls_vs_kamailio.sh measured, 8960)
#     --build DIR  build directory with sipswitch and the modules (default build/)
#     --keep       keep the work directory (cfg, logs, sipp stat files,
#                  samples.csv, CDR files); it is kept anyway when a check fails
#     --core 'KEY = VALUE'  an extra [core] line (repeatable), e.g. a limit
# UDP on 127.0.0.1, free ports picked at start. Needs sipp (sip-tester), curl, python3.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/soak
minutes=30 rate=4480 build=$top/build keep=0
core_extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) minutes=$2; shift ;;
    --rate) rate=$2; shift ;;
    --build) build=$2; shift ;;
    --keep) keep=1 ;;
    --core) core_extra+=("$2"); shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $minutes$rate in *[!0-9]*) echo "--minutes and --rate take whole numbers" >&2; exit 2 ;; esac
# the warm-up must outlast a transaction's 32 s after its call: at least 60 s
[ "$minutes" -ge 2 ] && [ "$rate" -ge 1 ] || { echo "--minutes must be >= 2 and --rate >= 1" >&2; exit 2; }

load_s=$((minutes * 60))
warmup_s=300                    # memory is compared from the end of the warm-up on
[ $((warmup_s * 2)) -le "$load_s" ] || warmup_s=$((load_s / 2 / 10 * 10))
sample_s=10                     # sampling period
hold_min_ms=1000 hold_max_ms=10000 # call hold time, uniform
silent_timeout_s=2              # invite_timeout of the silent gateway
fd_slack=4                      # fds may end this many above the end of warm-up
rss_growth_max_pct=5
recv_timeout_ms=20000           # the caller fails a call waiting this long for a response
drain_s=$((hold_max_ms / 1000 + silent_timeout_s + 30)) # for the last calls to end once the caller stops
switch_drain_s=45               # then for the switch's calls to end (a 2xx never ACKed: 32 s)
bufsz=4194304                   # sipp's UDP socket buffers

[ -x "$build/sipswitch" ] || { echo "build sipswitch first (make in $build)" >&2; exit 1; }
for m in gw_switch cdr; do
    [ -f "$build/modules/$m/.libs/$m.so" ] || { echo "module $m not built in $build" >&2; exit 1; }
done
for t in sipp curl python3; do
    command -v $t >/dev/null || { echo "$t is needed (sipp: apt-get install sip-tester)" >&2; exit 1; }
done
# seven ports free on 127.0.0.1 for both UDP and TCP, all different (the
# machine is shared: fixed ports collide with other benchmarks and tests)
read -r sip_port caller_port http_port p_ok p_unavail p_busy p_silent <<<"$(python3 - <<'PY'
import socket
held, ports = [], []
while len(ports) < 7:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", t.getsockname()[1]))
    except OSError:
        t.close()
        continue
    held += [t, u]
    ports.append(t.getsockname()[1])
print(*ports)
PY
)"
declare -A gw_port=([ok]=$p_ok [unavail]=$p_unavail [busy]=$p_busy [silent]=$p_silent)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# the CDR files take about 240 bytes a call: 2 GB for 30 min at 4480 calls/s
need_kb=$((rate * load_s * 300 / 1024))
free_kb=$(df -Pk /var/tmp | awk 'NR == 2 {print $4}')
[ "$free_kb" -gt "$need_kb" ] || { echo "/var/tmp has $free_kb kB free, the CDR files need about $need_kb kB" >&2; exit 1; }
work=$(mktemp -d /var/tmp/soak.XXXXXX)
pids=() # every background process started here, killed on exit
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [ "$keep" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"
# private copies: others may rebuild the tree while this runs
mkdir -p modules cdr
cp "$build/sipswitch" sipswitch
for m in gw_switch cdr; do cp "$build/modules/$m/.libs/$m.so" "modules/$m.so"; done
cp "$here/route.lua" route.lua
sed "s/HOLD_MIN_MS/$hold_min_ms/; s/HOLD_MAX_MS/$hold_max_ms/" "$here/caller.xml" >caller.xml
sed 's/REJECT_CODE/503/; s/REJECT_REASON/Service Unavailable/' "$here/reject_gateway.xml" >unavail.xml
sed 's/REJECT_CODE/486/; s/REJECT_REASON/Busy Here/' "$here/reject_gateway.xml" >busy.xml
cp "$top/bench/scenarios/gateway.xml" ok.xml

{
    echo "[core]"
    echo "listen = udp:127.0.0.1:$sip_port"
    echo "http = 127.0.0.1:$http_port"
    echo "script = $work/route.lua"
    echo "log_level = warn"
    echo "load = gw_switch, cdr"
    # The RFC 3261/6026 timers keep about 100 transaction-seconds alive per
    # call (INVITE server and client 32 s after the 2xx, BYE server 32 s,
    # BYE client 5 s): rate x 100 transactions at steady state. The default
    # cap (200000) would refuse calls above ~2000 calls/s, so it is raised
    # to 1.5 x that, unless --core sets it.
    if ./sipswitch --dump-params 2>/dev/null | grep -q '^ *max_transactions ' &&
        ! printf '%s\n' "${core_extra[@]}" | grep -q '^ *max_transactions *='; then
        echo "max_transactions = $((rate * 150))"
    fi
    for l in "${core_extra[@]}"; do echo "$l"; done
    echo "[mapping customer]"
    echo "source = 127.0.0.1"
    for g in ok unavail busy silent; do
        echo "[gateway $g]"
        echo "address = 127.0.0.1:${gw_port[$g]}"
        [ $g != silent ] || echo "invite_timeout = $silent_timeout_s"
    done
    echo "[cdr]"
    echo "dir = $work/cdr"
    echo "format = csv"
    echo "extra_columns = soak_chain"
    echo "write_interval = 10"
    echo "rotate_interval = 0"   # by size only,
    echo "rotate_size = 256"     # MiB: about a million records a file,
    echo "max_files = 1000000"   # and none deleted
} >sw.cfg
./sipswitch -c sw.cfg --module-path "$work/modules" --check >/dev/null 2>check.err || { echo "bad soak cfg:"; cat check.err; exit 1; }

# ---- helpers -----------------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
stat_col() { # FILE NAME: the named column of the last line of a sipp stat file (0 if none)
    awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        END { v = (c && NR > 1) ? $c : 0; if (v !~ /^[0-9]+$/) v = 0; print v }' "$1" 2>/dev/null || echo 0
}
metric_sum() { # METRICS_FILE NAME: sum over the labels of one metric
    awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }' "$1"
}
api_calls() { # live calls in the switch, or empty if the API did not answer
    curl -fsS -m 2 "http://127.0.0.1:$http_port/api/v1/gateways" 2>/dev/null |
        sed -n 's/^{[^{]*"calls":\([0-9]*\).*/\1/p' || true
}
cpu_ticks() { local f; read -r -a f </proc/"$1"/stat 2>/dev/null && echo $((f[13] + f[14])) || echo 0; }
hz=$(getconf CLK_TCK)
last_ticks=0 last_ms=0
sample() { # T: one line of samples.csv; the values also in s_rss, s_fds, s_calls
    local t=$1 ticks ms cpu
    s_rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$sw_pid"/status 2>/dev/null || echo 0)
    s_fds=$(find /proc/"$sw_pid"/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    s_calls=$(api_calls)
    curl -fsS -m 2 "http://127.0.0.1:$http_port/metrics" >metrics.txt 2>/dev/null || : >metrics.txt
    ticks=$(cpu_ticks "$sw_pid") ms=$(now_ms)
    cpu=$([ "$last_ms" -gt 0 ] && echo $(((ticks - last_ticks) * 100000 / hz / (ms - last_ms))) || echo 0)
    last_ticks=$ticks last_ms=$ms
    echo "$t,$s_rss,$s_fds,$s_calls,$(metric_sum metrics.txt sipswitch_sip_transactions),$(metric_sum metrics.txt sipswitch_cdr_records_written_total),$(metric_sum metrics.txt sipswitch_cdr_pending),$cpu,$(metric_sum metrics.txt sipswitch_sip_message_delay_milliseconds),$(metric_sum metrics.txt sipswitch_sip_overload_rejected_total),$(metric_sum metrics.txt sipswitch_sip_limit_hits_total)" >>samples.csv
}
wait_exit() { # PID SECONDS: true once PID is gone
    local _
    for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    ! kill -0 "$1" 2>/dev/null
}
stop_within() { # PID SECONDS: waits for PID to exit, killed after SECONDS; reaped quietly
    wait_exit "$1" "$2" || kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cpu_pressure_us() { awk '/^some/ {sub(/total=/, "", $5); print $5}' /proc/pressure/cpu 2>/dev/null || echo 0; }

# ---- start -------------------------------------------------------------------------
python3 "$here/blackhole.py" 127.0.0.1 "${gw_port[silent]}" >silent.out 2>&1 &
bh_pid=$!; pids+=("$bh_pid")
declare -A gw_pid
for g in ok unavail busy; do
    sipp -sf "$g.xml" -i 127.0.0.1 -p "${gw_port[$g]}" -nostdin -buff_size $bufsz \
        -trace_stat -stf "gw_$g.csv" -fd "$sample_s" -trace_err -error_file "gw_$g.err" \
        >/dev/null 2>&1 </dev/null &
    gw_pid[$g]=$!; pids+=("$!")
done
./sipswitch -c sw.cfg --module-path "$work/modules" >sipswitch.log 2>&1 &
sw_pid=$!; pids+=("$sw_pid")
for _ in $(seq 1 100); do
    curl -fsS -m 1 "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
    kill -0 "$sw_pid" 2>/dev/null || { echo "sipswitch did not start:"; tail sipswitch.log; exit 1; }
    sleep 0.1
done
sleep 0.5
for g in ok unavail busy; do
    kill -0 "${gw_pid[$g]}" 2>/dev/null || { echo "sipp gateway $g did not start:"; cat "gw_$g.err"; exit 1; }
done

echo "soak: sipswitch $(./sipswitch --version 2>/dev/null | head -n1), $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -n1), $(nproc) CPUs"
echo "  $rate calls/s for $minutes min (warm-up ${warmup_s} s), hold ${hold_min_ms}-${hold_max_ms} ms uniform;" \
    "chains (route.lua):$(sed -n 's/^local PERCENT_\([A-Z_]*\) = \([0-9]*\)$/ \1 \2 %/p' route.lua | tr '\n' ',' | sed 's/,$//'), the rest ok"
echo "  $(grep -E '^max_transactions' sw.cfg || echo "max_transactions default")$([ ${#core_extra[@]} = 0 ] || printf '; %s' "${core_extra[@]}"); work dir $work"
echo "t_s,rss_kb,fds,calls,transactions,cdr_written,cdr_pending,switch_cpu_pct,msg_delay_ms,overload_503_total,limit_hits_total" >samples.csv
sample 0
idle_rss=$s_rss idle_fds=$s_fds

# the caller: at most as many calls open as could be up at once, with margin;
# no -m: it runs until stopped (SIGUSR1: no new calls, the open ones finish)
max_open=$((rate * (hold_max_ms / 1000 + silent_timeout_s + 10)))
sipp -sf caller.xml -i 127.0.0.1 -p "$caller_port" -s 4420 -nostdin -buff_size $bufsz \
    -r "$rate" -rp 1000 -l "$max_open" -recv_timeout "$recv_timeout_ms" \
    -trace_stat -stf caller.csv -fd "$sample_s" -trace_err -error_file caller.err \
    "127.0.0.1:$sip_port" >/dev/null 2>&1 </dev/null &
caller_pid=$!; pids+=("$caller_pid")
t0=$(now_ms) load0=$(cut -d' ' -f1 /proc/loadavg) pressure0=$(cpu_pressure_us)
sw_ticks0=$(cpu_ticks "$sw_pid") ok_ticks0=$(cpu_ticks "${gw_pid[ok]}")

# ---- load: a sample every sample_s ------------------------------------------------------
warm_rss='' warm_fds='' max_rss=0 max_rss_t=0 k=0
while :; do
    k=$((k + 1))
    t=$((k * sample_s))
    delay=$((t0 + t * 1000 - $(now_ms)))
    [ "$delay" -le 0 ] || sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -0 "$sw_pid" 2>/dev/null || { echo "sipswitch died at t=${t} s:"; tail sipswitch.log; keep=1; exit 1; }
    kill -0 "$caller_pid" 2>/dev/null || { echo "the sipp caller stopped at t=${t} s:"; tail caller.err; keep=1; exit 1; }
    sample "$t"
    if [ "$t" -eq "$warmup_s" ]; then warm_rss=$s_rss warm_fds=$s_fds; fi
    if [ "$t" -ge "$warmup_s" ] && [ "$s_rss" -gt "$max_rss" ]; then max_rss=$s_rss max_rss_t=$t; fi
    if [ $((t % 60)) = 0 ] || [ "$t" -eq "$load_s" ]; then
        printf '  t=%4d s  rss %7d kB  fds %4d  calls %6s  created %8d  failed %d  busy %d\n' "$t" "$s_rss" "$s_fds" \
            "${s_calls:-?}" "$(stat_col caller.csv TotalCallCreated)" "$(stat_col caller.csv 'FailedCall(C)')" \
            "$(stat_col caller.csv 'GenericCounter1(C)')"
    fi
    [ "$t" -lt "$load_s" ] || break
done
end_rss=$s_rss end_fds=$s_fds
# CPU shares over the load, in % of one CPU (sipp's caller and ok gateway share the machine)
load_ms=$(($(now_ms) - t0))
cpu_line="sipswitch $((($(cpu_ticks "$sw_pid") - sw_ticks0) * 100000 / hz / load_ms)) %, sipp caller $(($(cpu_ticks "$caller_pid") * 100000 / hz / load_ms)) %, sipp gateway ok $((($(cpu_ticks "${gw_pid[ok]}") - ok_ticks0) * 100000 / hz / load_ms)) %"

# ---- drain and stop ----------------------------------------------------------------------
kill -USR1 "$caller_pid" 2>/dev/null || true
caller_s=$(echo "scale=1; ($(now_ms) - $t0) / 1000" | bc)
caller_forced=0
if ! wait_exit "$caller_pid" "$drain_s"; then
    caller_forced=1 # a second SIGUSR1 aborts the calls still open
    kill -USR1 "$caller_pid" 2>/dev/null || true
    stop_within "$caller_pid" 5
fi
wait "$caller_pid" 2>/dev/null || true
load_end=$(cut -d' ' -f1 /proc/loadavg) pressure_s=$((($(cpu_pressure_us) - pressure0) / 1000000))
# a call whose caller went away (no ACK for the 2xx) ends 64 x T1 = 32 s after the 2xx
for _ in $(seq 1 "$switch_drain_s"); do [ "$(api_calls)" = 0 ] && break; sleep 1; done
sleep 1
sample drained
drained_rss=$s_rss drained_fds=$s_fds drained_calls=$s_calls
cp metrics.txt metrics_end.txt
for g in ok unavail busy; do kill -USR1 "${gw_pid[$g]}" 2>/dev/null || true; done
kill -TERM "$bh_pid" 2>/dev/null || true
for g in ok unavail busy; do stop_within "${gw_pid[$g]}" 5; done
stop_within "$bh_pid" 5
kill -TERM "$sw_pid"
sw_status=0
wait_exit "$sw_pid" 120 || { echo "sipswitch did not stop within 120 s of SIGTERM: killed"; kill -KILL "$sw_pid"; }
wait "$sw_pid" 2>/dev/null || sw_status=$?

# ---- figures -----------------------------------------------------------------------------
created=$(stat_col caller.csv TotalCallCreated)
successful=$(stat_col caller.csv 'SuccessfulCall(C)')
failed=$(stat_col caller.csv 'FailedCall(C)')
busy486=$(stat_col caller.csv 'GenericCounter1(C)')
open_end=$(stat_col caller.csv CurrentCall)
caller_fail_kinds=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) n[i] = $i } END {
    for (i = 1; i <= NF; i++) if (n[i] ~ /^Failed.*\(C\)$/ && n[i] != "FailedCall(C)" && $i > 0) printf "%s=%s ", n[i], $i }' caller.csv)
gw_failed=0 gw_open=0 gw_line=
for g in ok unavail busy; do
    g_failed=$(stat_col "gw_$g.csv" 'FailedCall(C)') g_open=$(stat_col "gw_$g.csv" CurrentCall)
    gw_failed=$((gw_failed + g_failed)) gw_open=$((gw_open + g_open))
    gw_line="$gw_line $g: $(stat_col "gw_$g.csv" 'IncomingCall(C)') calls, $g_failed failed, $g_open open;"
done
busy_gw_calls=$(stat_col gw_busy.csv 'IncomingCall(C)')
silent_line=$(cat silent.out 2>/dev/null || true)

# CDRs: one pass over every file (header lines skipped): totals, final codes,
# and records whose outcome is not what their chain must give
cdr_files=$(find cdr -name 'cdr-*.csv' | sort)
# shellcheck disable=SC2086
read -r cdr_records cdr_busy cdr_wrong cdr_bad_lines <<<"$(awk -F',' '
    $1 == "seq" { next }
    NF != 21 { bad++; next }
    { n++; sub(/\r$/, "", $21); chain[$21 " -> " $18 " " $15]++
      if ($18 == 486) busy++
      if (($21 == "busy_ok") != ($18 == 486) || ($18 != 200 && $18 != 486)) wrong++ }
    END { printf "%d %d %d %d\n", n, busy, wrong, bad
          for (c in chain) print c ": " chain[c] > "cdr_outcomes.txt" }' ${cdr_files:-/dev/null})"
cdr_unique=$(cat ${cdr_files:-/dev/null} | awk -F',' '$1 != "seq" {print $2}' | sort -S 256M -u | wc -l)

# ---- report ------------------------------------------------------------------------------
echo
echo "caller: $created calls created in ${caller_s} s ($(echo "$created / $caller_s" | bc) cps, asked $rate);" \
    "$successful successful ($busy486 of them busy 486), $failed failed${caller_fail_kinds:+ ($caller_fail_kinds)}, $open_end open at the end"
expected=$(echo "$rate * $caller_s" | bc | cut -d. -f1)
if [ "$created" -lt $((expected * 98 / 100)) ]; then
    echo "NOTE: sipp could not keep the rate: $created calls created, $expected expected ($rate x ${caller_s} s)"
fi
[ "$caller_forced" = 0 ] || echo "NOTE: calls were still open ${drain_s} s after the caller stopped placing calls: aborted"
echo "gateways:$gw_line silent: $silent_line"
echo "switch: after the drain $drained_calls calls, rss $drained_rss kB, fds $drained_fds (idle before the load: rss $idle_rss kB, fds $idle_fds); exit status $sw_status on SIGTERM"
echo "switch metrics (non-zero drops, timeouts, limits, errors):" \
    "$(grep -E '^sipswitch_(sip_dropped_total|sip_transaction_timeouts_total|sip_transaction_transport_errors_total|sip_parse_errors_total|lua_errors_total|sip_limit_hits_total|sip_overload_rejected_total|cdr_io_errors|cdr_calls_refused_total|sip_responses_sent_total\{code="[45])' metrics_end.txt |
        awk '$2 != 0 {sub(/^sipswitch_/, "", $1); printf "%s=%s ", $1, $2}')"
echo "CPU over the load (100 % = one CPU): $cpu_line"
echo "machine: load average $load0 at the start, $load_end at the end; some task waited for a CPU ${pressure_s} s of the ${caller_s} s (PSI)"
if [ "$failed" -gt 0 ]; then
    echo "caller errors, most frequent (caller.err):"
    # one entry per error (an entry starts with sipp's time stamp), its first line, Call-IDs masked
    sed -E 's/([0-9]{4}-[0-9]{2}-[0-9]{2}\t[0-9:.]+\t[0-9.]+: )/\n\1/g' caller.err | grep -E '^[0-9]{4}-' | cut -f3- |
        sed -E "s/^[0-9.]+: //; s/[0-9]+-[0-9]+@[0-9.]+/C/g" | cut -c 1-150 | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /'
fi
echo "switch log: $(wc -l <sipswitch.log) lines$([ -s sipswitch.log ] && echo "; most frequent (numbers masked):")"
sed -E 's/[0-9]+/N/g' sipswitch.log | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
echo "CDR: $cdr_records records in $(echo "$cdr_files" | grep -c . || true) file(s), $cdr_unique distinct Call-IDs, $cdr_busy with final code 486;" \
    "by chain -> final code, end reason:"
sort cdr_outcomes.txt 2>/dev/null | sed 's/^/    /'
growth_pct=$([ "${warm_rss:-0}" -gt 0 ] && echo "scale=2; ($end_rss - $warm_rss) * 100 / $warm_rss" | bc || echo "?")
max_pct=$([ "${warm_rss:-0}" -gt 0 ] && echo "scale=2; ($max_rss - $warm_rss) * 100 / $warm_rss" | bc || echo "?")
echo "memory: rss end of warm-up (t=${warmup_s} s) $warm_rss kB, end of load $end_rss kB ($growth_pct %), max $max_rss kB at t=${max_rss_t} s ($max_pct %)"
echo "fds: end of warm-up $warm_fds, end of load $end_fds"

echo
verdict=0
check() { # NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "PASS  $name"; else echo "FAIL  $name"; verdict=1; fi
}
no_unintended_failure() {
    [ "$failed" -eq 0 ] && [ "$created" -eq "$successful" ] && [ "$open_end" -eq 0 ] && [ "$caller_forced" = 0 ] &&
        [ "$gw_failed" -eq 0 ] && [ "$gw_open" -eq 0 ] && [ "$cdr_wrong" -eq 0 ] && [ "$cdr_bad_lines" -eq 0 ] &&
        [ "${drained_calls:-1}" = 0 ]
}
check "no unintended failed call (caller failed $failed, unfinished $((created - successful)); gateways failed $gw_failed, open $gw_open; calls left in the switch ${drained_calls:-?}; CDR records with a wrong outcome $cdr_wrong, unreadable $cdr_bad_lines)" \
    no_unintended_failure
check "resident memory flat: +$growth_pct % from the end of warm-up to the end (< $rss_growth_max_pct %; max +$max_pct %)" \
    test "$([ -n "$warm_rss" ] && echo "$end_rss * 100 < $warm_rss * (100 + $rss_growth_max_pct)" | bc)" = 1
check "file descriptors flat: $warm_fds at the end of warm-up, $end_fds at the end (slack $fd_slack)" \
    test "$end_fds" -le $((${warm_fds:-0} + fd_slack))
every_call_recorded() {
    [ "$cdr_records" -eq "$created" ] && [ "$cdr_unique" -eq "$cdr_records" ] &&
        [ "$cdr_busy" -eq "$busy486" ] && [ "$busy486" -eq "$busy_gw_calls" ]
}
check "every call in the CDRs: $cdr_records records ($cdr_unique distinct) for $created calls; 486: CDR $cdr_busy, caller $busy486, busy gateway $busy_gw_calls" \
    every_call_recorded
check "sipswitch stopped cleanly on SIGTERM (exit status $sw_status)" test "$sw_status" -eq 0
[ "$verdict" = 0 ] && echo "soak PASSED" || { echo "soak FAILED"; keep=1; }
exit $verdict
