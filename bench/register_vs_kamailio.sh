#!/usr/bin/env bash
# REGISTER with digest, sipswitch vs Kamailio (Debian package), same sipp
# load, same machine, one after the other (issue 4, part 5).
#
# Every registration is two transactions on both servers: a REGISTER
# without credentials gets 401 with a challenge, the REGISTER again with
# its Authorization (MD5, qop=auth) gets 200 and the binding is stored.
# sipp plays N distinct devices (bench/scenarios/register_auth.xml, one
# injection line "user;password" per registration, each user once).
#
#  - sipswitch: module registrar, the accounts in an accounts_file, its
#    bindings kept in SQLite (the default; --no-db: memory only). [core]
#    rate_limit = 0 (every device is 127.0.0.1 here: the per-source flood
#    limit would block it) and max_transactions = 0 (each registration
#    keeps two transactions for 64*T1 = 32 s: the default 200,000 caps a
#    sustained rate at about 3,100 registrations/s, and the memory fill
#    goes faster).
#  - Kamailio: registrar + usrloc (in memory, db_mode 0) + auth, children=1
#    (one UDP worker, as sipswitch has one signaling thread; its helper
#    processes are counted too). The user table is a db_text file loaded
#    into an htable (pv_www_authenticate against $sht(users=>$au): a hash
#    lookup, like sipswitch's accounts); --kam-auth-db uses auth_db on the
#    db_text subscriber table instead (www_authorize: db_text scans its
#    table on every query, so this one slows down with the user count).
#    Challenges with qop=auth, Kamailio's defaults otherwise (no nonce
#    count tracking; sipswitch tracks nc for replay protection).
#
# Reports, per server:
#  1. server CPU per authenticated registration (utime+stime from
#     /proc/PID/stat over the sipp run, summed over Kamailio's processes and
#     over sipswitch's threads, so the db writer is counted) at fixed
#     rates, each run on a freshly started server, the servers alternated;
#     the ratio sipswitch/kamailio per round and the medians;
#  2. the highest rate with zero failed registrations: geometric bisection
#     over sipp's rate; a probe registers rate x PROBE_S devices on a fresh
#     server and passes when all of them got their 200, none failed, sipp
#     created them at >= 90 % of the rate and had to resend at most 1 % of
#     them (a server that falls behind is rescued by retransmissions: its
#     200s still come, seconds late); two attempts per rate (the machine is
#     shared); the CPU% of the server and of sipp is shown, as sipp shares
#     the machine's CPUs (above some 20,000/s sipp itself is the limit);
#  3. memory per binding: N devices (200,000) register, in two halves; the
#     server's memory after each half has settled (sipswitch: its
#     transactions gone, 32 s) minus before: growth / N. sipswitch: VmRSS
#     (one process); Kamailio: PSS summed over its processes (its bindings
#     are in shared memory, which RSS would count once per process that
#     touched it). The allocator keeps what the transactions of the fill
#     used at their peak; the second half reuses it, so its growth / (N/2)
#     is the marginal cost of one more binding. With gdb, sipswitch is then
#     made to call malloc_trim(0) (mi_collect(true) under mimalloc), which hands the free pages back: what is
#     left is its live memory (a diagnostic, shown apart).
#  4. with --callgrind: user-space instructions per registration, both
#     servers under valgrind's callgrind at a low rate (noise-free, kernel
#     excluded), and sipswitch's largest inclusive shares.
#
#   bench/register_vs_kamailio.sh [--quick] [--build DIR] [--rounds N] [--bindings N]
#                                 [--rates "R1 R2"] [--fill-rate R] [--no-db] [--kam-auth-db] [--keep]
#                                 [--kam-mem qm|fm|tlsf] [--callgrind] [--only cpu|rate|mem|callgrind]
#     default  CPU at 500 and 2000/s, 10 s each, 3 rounds; bisection 5 steps x 5 s;
#              200,000 bindings filled at 2500/s                                (~9 min)
#     --quick  CPU 1 round x 5 s; bisection 3 steps x 4 s; 50,000 bindings      (~3 min)
#     --kam-mem     Kamailio's memory manager (-x): its default is qm; tlsf and fm are faster
#     --callgrind   4. also both servers under valgrind's callgrind: user-space instructions per
#                   registration (noise-free), and sipswitch's largest inclusive shares    (+2 min)
# UDP on 127.0.0.1 only. Needs: sipp (sip-tester), curl, kamailio (installed
# here if missing, as root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build mode=default rounds= keep=0 n_bind= kam_auth=htable sw_db=1 only= rates= kam_mem= cg=0 fill_rate_arg=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) mode=quick ;;
    --build) build=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --bindings) n_bind=$2; shift ;;
    --rates) rates=$2; shift ;;
    --no-db) sw_db=0 ;;
    --kam-auth-db) kam_auth=auth_db ;;
    --kam-mem) kam_mem=$2; shift ;;
    --callgrind) cg=1 ;;
    --fill-rate) fill_rate_arg=$2; shift ;;
    --keep) keep=1 ;;
    --only) only=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $mode in
quick) cpu_s=5 rounds=${rounds:-1} steps=3 probe_s=4 n_bind=${n_bind:-50000} ;;
default) cpu_s=10 rounds=${rounds:-3} steps=5 probe_s=5 n_bind=${n_bind:-200000} ;;
esac
rates=${rates:-500 2000}   # registrations/s of the CPU test
rate_lo=250 rate_hi=32000  # bisection bounds (the first probe is at their geometric mean, 2820/s)
fill_rate=${fill_rate_arg:-2500} # registrations/s of the memory fill
cg_n=3000 cg_rate=200      # --callgrind: registrations, and their rate (every message on its own wake-up)
kam_mem_opt=${kam_mem:+-x $kam_mem}
settle_max_s=45            # sipswitch's transactions live 32 s after their final response

[ -x "$build/sipswitch" ] || { echo "build sipswitch first (make in $build)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp is needed (apt-get install sip-tester)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
. "$top/bench/lib.sh"
bench_kamailio
bench_workdir register-bench
# a private copy: others may rebuild the tree while this runs
cp "$build/sipswitch" "$work/sipswitch"
mkdir -p "$work/modules"
cp "$build/modules/registrar/.libs/registrar.so" "$work/modules/registrar.so"
scenario=$top/bench/scenarios/register_auth.xml
hz=$(getconf CLK_TCK)
servers=(sipswitch kamailio)
declare -A sip_port=([sipswitch]=$(bench_port 25560) [kamailio]=$(bench_port 25562))
http_port=$(bench_port 25580)
bufsz=4194304

# ---- users -----------------------------------------------------------------------------
# u100000, u100001, ... with password pw<same number>: as many as the
# largest run needs. The sipp injection files are cut from one list so that
# the memory test's halves register different devices.
biggest_probe=$((rate_hi * probe_s))
n_users=$n_bind
for r in $rates; do [ $((r * cpu_s)) -gt "$n_users" ] && n_users=$((r * cpu_s)); done
[ "$biggest_probe" -gt "$n_users" ] && n_users=$biggest_probe
seq 100000 $((100000 + n_users - 1)) >numbers.txt
{ echo SEQUENTIAL; awk '{print "u" $1 ";pw" $1}' numbers.txt; } >users.csv
half=$((n_bind / 2))
{ echo SEQUENTIAL; head -n "$half" numbers.txt | awk '{print "u" $1 ";pw" $1}'; } >mem_a.csv
{ echo SEQUENTIAL; sed -n "$((half + 1)),$((2 * half))p" numbers.txt | awk '{print "u" $1 ";pw" $1}'; } >mem_b.csv
# The servers' user tables for the users of NUMBERS_FILE, in DIR: the
# accounts file, and the db_text table Kamailio reads.
user_tables() { # NUMBERS_FILE DIR
    mkdir -p "$2/kdb"
    awk '{print "u" $1 ",pw" $1}' "$1" >"$2/accounts.csv"
    if [ "$kam_auth" = htable ]; then
        { echo "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) "
          awk '{print NR ":u" $1 ":0:0:pw" $1 ":0"}' "$1"; } >"$2/kdb/htable"
        printf 'id(int,auto) table_name(string) table_version(int) \n0:htable:2\n' >"$2/kdb/version"
    else
        { echo "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) "
          awk '{print NR ":u" $1 ":127.0.0.1:pw" $1 "::"}' "$1"; } >"$2/kdb/subscriber"
        printf 'id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n' >"$2/kdb/version"
    fi
}
user_tables numbers.txt "$work"

# ---- servers -----------------------------------------------------------------------------
printf 'function on_invite(call) return call:reject(404, "Not Here") end\n' >route.lua
sw_cfg() { # DIR: DIR/sw.cfg with the accounts of DIR/accounts.csv, the db in DIR
    {
        printf '[core]\nlisten = udp:127.0.0.1:%s\nhttp = 127.0.0.1:%s\nscript = %s/route.lua\n' \
            "${sip_port[sipswitch]}" "$http_port" "$work"
        printf 'log_level = warn\nload = registrar\nrate_limit = 0\nmax_transactions = 0\n'
        printf '[registrar]\naccounts_file = %s/accounts.csv\n' "$1"
        if [ "$sw_db" = 1 ]; then printf 'db = %s/registrar.db\n' "$1"; else printf 'db =\n'; fi
    } >"$1/sw.cfg"
}
kam_cfg() { # DIR USERS [stats]: DIR/kamailio.cfg with the user table of DIR/kdb; with stats, kex's
    # statistics RPC too (the bindings count of the memory test: kex makes every request dearer, so
    # the CPU tests run without it)
    local bits
    bits=$(awk -v n="$2" 'BEGIN { b = 8; while ((2 ^ b) < n && b < 20) b++; print b }')
    {
        cat <<CFG
#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=1
listen=udp:127.0.0.1:${sip_port[kamailio]}
mpath="$kam_mpath"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "ctl.so"
$([ "${3:-}" = stats ] && echo 'loadmodule "kex.so"')
modparam("ctl", "binrpc", "unix:$work/kamailio.ctl")
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "hash_size", $((bits > 14 ? 14 : bits)))
modparam("db_text", "max_result_rows", $(($2 + 16)))
CFG
        if [ "$kam_auth" = htable ]; then
            cat <<CFG
loadmodule "htable.so"
modparam("htable", "db_url", "text://$1/kdb")
modparam("htable", "htable", "users=>size=$bits;dbtable=htable;")
request_route {
    if (method != "REGISTER") { sl_send_reply("405", "Method Not Allowed"); exit; }
    if (!pv_www_authenticate("\$td", "\$sht(users=>\$au)", "0")) { www_challenge("\$td", "1"); exit; }
    consume_credentials();
    if (!save("location")) sl_reply_error();
}
CFG
        else
            cat <<CFG
loadmodule "auth_db.so"
modparam("auth_db", "db_url", "text://$1/kdb")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "use_domain", 0)
request_route {
    if (method != "REGISTER") { sl_send_reply("405", "Method Not Allowed"); exit; }
    if (!www_authorize("\$td", "subscriber")) { www_challenge("\$td", "1"); exit; }
    consume_credentials();
    if (!save("location")) sl_reply_error();
}
CFG
        fi
    } >"$1/kamailio.cfg"
}
sw_cfg "$work"
kam_cfg "$work" "$n_users"
mkdir -p "$work/stats"
kam_cfg "$work/stats" "$n_users" stats
sed -i "s|text://$work/stats/kdb|text://$work/kdb|" "$work/stats/kamailio.cfg"
declare -A label=([sipswitch]="sipswitch (registrar, SQLite db)" [kamailio]="kamailio $kam_version (children=1, $kam_auth users)")
[ "$sw_db" = 1 ] || label[sipswitch]="sipswitch (registrar, no db)"

srv_root= srv_pids=
start_server() { # NAME [DIR [WRAPPER...]]: starts it with DIR's cfg ($work's by default) and waits
    # until it answers; pids in srv_root / srv_pids
    local n=$1 dir=${2:-$work} i
    shift $(($# > 2 ? 2 : $#))
    if [ "$n" = sipswitch ]; then
        rm -f "$dir"/registrar.db "$dir"/registrar.db-wal "$dir"/registrar.db-shm
        "$@" ./sipswitch -c "$dir/sw.cfg" --module-path modules >>sipswitch.log 2>&1 &
        srv_root=$!
        for i in $(seq 1 600); do
            curl -fsS "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break
            kill -0 "$srv_root" 2>/dev/null || { echo "sipswitch did not start:"; tail sipswitch.log; exit 1; }
            sleep 0.1
        done
        srv_pids=$srv_root
    else
        rm -f kamailio.ctl
        "$@" "$kam" -f "$dir/kamailio.cfg" -P kamailio.pid -w "$work" -DD -E -m 4096 -b $bufsz $kam_mem_opt \
            >>kamailio.log 2>&1 &
        srv_root=$!
        for i in $(seq 1 600); do
            "$kamcmd" -s "unix:$work/kamailio.ctl" core.uptime >/dev/null 2>&1 && break
            kill -0 "$srv_root" 2>/dev/null || { echo "kamailio did not start:"; tail kamailio.log; exit 1; }
            sleep 0.1
        done
        srv_pids="$srv_root $(pgrep -P "$srv_root" | tr '\n' ' ')"
    fi
}
stop_server() { bench_stop_server "$srv_root" $srv_pids; }
bindings_now() { # NAME: bindings the server holds
    if [ "$1" = sipswitch ]; then
        curl -fsS "http://127.0.0.1:$http_port/metrics" | awk '$1 == "sipswitch_registrar_bindings" {print $2}'
    else
        "$kamcmd" -s "unix:$work/kamailio.ctl" stats.get_statistics usrloc: 2>/dev/null |
            awk '$1 == "usrloc:location_contacts" {print $3}'
    fi
}
live_transactions() {
    curl -fsS "http://127.0.0.1:$http_port/metrics" | awk '/^sipswitch_sip_transactions\{/ {s += $2} END {print s + 0}'
}

# ---- sipp ----------------------------------------------------------------------------------
sipp_cpu=0 sipp_wall_ms=0
now_ms() { echo $(($(date +%s%N) / 1000000)); }
run_sipp() { # NAME TAG INJECTION COUNT RATE: registers COUNT devices at RATE/s, to the end; its CPU in sipp_cpu
    local n=$1 t=$2 inf=$3 m=$4 r=$5 pid sp= i c t0
    rm -f "sipp_$t.csv" "sipp_$t.err"
    t0=$(now_ms)
    timeout $((m / r + 60)) sipp -sf "$scenario" -inf "$inf" -i 127.0.0.1 -p 0 -nostdin -buff_size $bufsz \
        -m "$m" -r "$r" -rp 1000 -l "$m" -timeout "$((m / r + 30))s" \
        -trace_stat -stf "sipp_$t.csv" -fd 1 -trace_err -error_file "sipp_$t.err" \
        "127.0.0.1:${sip_port[$n]}" >/dev/null 2>&1 </dev/null &
    pid=$!
    sipp_cpu=0
    for i in $(seq 1 20); do sp=$(pgrep -P "$pid" | head -n1 || true); [ -n "$sp" ] && break; sleep 0.05; done
    while kill -0 "$pid" 2>/dev/null; do # sipp's CPU, sampled until it exits (timeout's child)
        c=$(bench_cpu_ticks $sp)
        [ "$c" -gt "$sipp_cpu" ] && sipp_cpu=$c
        sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
    sipp_wall_ms=$(($(now_ms) - t0))
}
us_per() { echo "scale=1; $1 * 1000000 / $hz / $2" | bc; } # TICKS COUNT
ratio() { case "$1$2" in *'<'* | *'>'* | *'?'*) echo "?" ;; *) echo "scale=2; $1 / $2" | bc ;; esac; }

echo "sipswitch $("$work/sipswitch" --version 2>/dev/null | head -n1) vs kamailio $kam_version," \
    "$(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -n1); $(nproc) CPUs; mode $mode; $n_users accounts"
echo "a registration = REGISTER -> 401 -> REGISTER with digest (MD5, qop=auth) -> 200; each device once"
echo

# ---- 1. CPU per registration ---------------------------------------------------------------
declare -A cpu_list ratio_list
if [ -z "$only" ] || [ "$only" = cpu ]; then
    echo "1. server CPU per registration at $(echo "$rates" | sed 's/ /, /g')/s, ${cpu_s} s each, $rounds round(s), servers alternated"
    for r in $(seq 1 "$rounds"); do
        for rate in $rates; do
            order=("${servers[@]}")
            [ $((r % 2)) = 0 ] && order=(kamailio sipswitch)
            declare -A us=()
            for n in "${order[@]}"; do
                t="cpu${r}_${rate}_$n" m=$((rate * cpu_s))
                start_server "$n"
                read -r u0 s0 <<<"$(bench_cpu_split $srv_pids)"
                main0=0
                [ "$n" = sipswitch ] && main0=$(awk '{print $14 + $15}' /proc/"$srv_root"/task/"$srv_root"/stat)
                run_sipp "$n" "$t" users.csv "$m" "$rate"
                sleep 0.5
                read -r u1 s1 <<<"$(bench_cpu_split $srv_pids)"
                extra=
                if [ "$n" = sipswitch ]; then
                    main1=$(awk '{print $14 + $15}' /proc/"$srv_root"/task/"$srv_root"/stat)
                    extra=" (other threads, db writer: $(us_per $((u1 + s1 - u0 - s0 - main1 + main0)) "$m") us)"
                fi
                stop_server
                us[$n]=$(us_per $((u1 + s1 - u0 - s0)) "$m")
                cpu_list[$n@$rate]="${cpu_list[$n@$rate]:-} ${us[$n]}"
                printf '  round %d %5d/s %-9s %7s us/registration (user %s, sys %s)%s | ok %d/%d failed %d retrans %d | sipp %s us/registration\n' \
                    "$r" "$rate" "$n" "${us[$n]}" "$(us_per $((u1 - u0)) "$m")" "$(us_per $((s1 - s0)) "$m")" "$extra" \
                    "$(bench_sipp_col "sipp_$t.csv" 16)" "$m" "$(bench_sipp_col "sipp_$t.csv" 18)" \
                    "$(bench_sipp_col "sipp_$t.csv" 58)" "$(us_per "$sipp_cpu" "$m")"
            done
            rt=$(ratio "${us[sipswitch]}" "${us[kamailio]}")
            ratio_list[$rate]="${ratio_list[$rate]:-} $rt"
            echo "  round $r $rate/s: sipswitch/kamailio = $rt"
        done
    done
fi

# ---- 2. highest zero-failure rate -------------------------------------------------------------
declare -A maxrate
if [ -z "$only" ] || [ "$only" = rate ]; then
    echo
    echo "2. highest rate with zero failed registrations: bisection $rate_lo..$rate_hi/s, $steps steps, ${probe_s} s of registrations per probe"
    probe_n=0
    probe_once() { # NAME RATE: 0 when the attempt passes; prints a line
        local n=$1 r=$2 t m c0 c1 ok fail retr cs why wall
        probe_n=$((probe_n + 1)); t="p${probe_n}_$n" m=$((r * probe_s))
        start_server "$n"
        c0=$(bench_cpu_ticks $srv_pids)
        run_sipp "$n" "$t" users.csv "$m" "$r"
        c1=$(bench_cpu_ticks $srv_pids)
        stop_server
        ok=$(bench_sipp_col "sipp_$t.csv" 16) fail=$(bench_sipp_col "sipp_$t.csv" 18)
        retr=$(bench_sipp_col "sipp_$t.csv" 58) cs=$(bench_sipp_creation_s "sipp_$t.csv" "$m")
        why=
        [ "$ok" -eq "$m" ] || why="$why successful=$ok/$m"
        [ "$fail" -eq 0 ] || why="$why failed=$fail"
        if [ "$cs" = inf ] || [ "$(echo "$m / $cs < 0.9 * $r" | bc -l)" = 1 ]; then
            why="$why sipp-started-only=$([ "$cs" = inf ] && echo "?" || echo "$m / $cs" | bc)/s"
        fi
        # a server that kept up answers in time: sipp resends a REGISTER after 500 ms
        [ "$retr" -le $((m / 100)) ] || why="$why retransmissions=$retr (over 1 %)"
        wall=$sipp_wall_ms
        printf '  %-9s %6d/s %6d registrations: %s%s | over %.1f s: CPU%% server %d sipp %d | retrans %d\n' \
            "$n" "$r" "$m" "$([ -z "$why" ] && echo PASS || echo FAIL)" "$why" "$(echo "scale=1; $wall / 1000" | bc)" \
            $(((c1 - c0) * 100 * 1000 / hz / wall)) $((sipp_cpu * 100 * 1000 / hz / wall)) "$retr"
        [ -z "$why" ]
    }
    probe() { probe_once "$1" "$2" || probe_once "$1" "$2"; }
    declare -A lo hi
    for n in "${servers[@]}"; do lo[$n]=$rate_lo hi[$n]=$rate_hi; done
    for s in $(seq 1 "$steps"); do
        for n in "${servers[@]}"; do
            mid=$(echo "sqrt(${lo[$n]} * ${hi[$n]}) / 10" | bc); mid=$((mid * 10))
            if probe "$n" "$mid"; then lo[$n]=$mid; else hi[$n]=$mid; fi
        done
    done
    for n in "${servers[@]}"; do
        maxrate[$n]=${lo[$n]}
        [ "${lo[$n]}" = $rate_lo ] && maxrate[$n]="<$rate_lo"
        [ "${hi[$n]}" = $rate_hi ] && maxrate[$n]=">=${lo[$n]}"
    done
fi

# ---- 3. memory per binding ----------------------------------------------------------------
declare -A mem marg
if [ -z "$only" ] || [ "$only" = mem ]; then
    echo
    echo "3. memory per binding: $n_bind devices register in two halves of $half at $fill_rate/s; memory read once each half has settled"
    settle() { # NAME: until sipswitch's transactions are gone (bounded); Kamailio keeps none
        local i
        if [ "$1" = sipswitch ]; then
            for i in $(seq 1 $((settle_max_s * 2))); do
                [ "$(live_transactions)" -eq 0 ] && break
                sleep 0.5
            done
        fi
        sleep 1
    }
    mem_of() { # NAME: the figure compared: VmRSS for sipswitch, PSS summed for Kamailio
        local pss rss
        read -r pss rss <<<"$(bench_mem_kb $srv_pids)"
        [ "$1" = sipswitch ] && echo "$rss" || echo "$pss"
    }
    for n in "${servers[@]}"; do
        if [ "$n" = kamailio ]; then start_server "$n" "$work/stats"; else start_server "$n"; fi
        sleep 1
        k0=$(mem_of "$n")
        run_sipp "$n" "mem_a_$n" mem_a.csv "$half" "$fill_rate"
        peak=$(mem_of "$n")
        settle "$n"
        k1=$(mem_of "$n") b1=$(bindings_now "$n")
        run_sipp "$n" "mem_b_$n" mem_b.csv "$half" "$fill_rate"
        settle "$n"
        k2=$(mem_of "$n") b2=$(bindings_now "$n")
        read -r pss rss <<<"$(bench_mem_kb $srv_pids)"
        trimmed=
        if [ "$n" = sipswitch ] && command -v gdb >/dev/null; then
            # what is left once malloc gives back the pages it holds free (the
            # transactions' peak): the live memory, not a figure of the target
            # (mimalloc's mi_collect when the daemon runs on it, glibc's malloc_trim else)
            if "$work/sipswitch" --version | grep -q '^allocator: mimalloc'; then
                gdb -p "$srv_root" -batch -ex 'call (void) mi_collect(1)' >/dev/null 2>&1 || true
            else
                gdb -p "$srv_root" -batch -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 || true
            fi
            trimmed=" | free pages given back (gdb): VmRSS $(mem_of "$n") kB => $((($(mem_of "$n") - k0) * 1024 / (2 * half))) B/binding live"
        fi
        stop_server
        failed=$(($(bench_sipp_col "sipp_mem_a_$n.csv" 18) + $(bench_sipp_col "sipp_mem_b_$n.csv" 18)))
        mem[$n]=$(((k2 - k0) * 1024 / (2 * half)))
        marg[$n]=$(((k2 - k1) * 1024 / half))
        printf '  %-9s %s kB: idle %d | %d bindings: %d at the end of the fill, %d settled | %d bindings: %d settled => %d B/binding, marginal %d B/binding | PSS %d kB, RSS %d kB (summed) | failed %d%s\n' \
            "$n" "$([ "$n" = sipswitch ] && echo VmRSS || echo PSS)" "$k0" "${b1:-0}" "$peak" "$k1" "${b2:-0}" "$k2" \
            "${mem[$n]}" "${marg[$n]}" "$pss" "$rss" "$failed" "$trimmed"
        [ "${b2:-0}" -ge $((2 * half)) ] || echo "  warning: $n holds ${b2:-0} of $((2 * half)) bindings: the figure is per asked binding"
    done
fi

# ---- 4. instructions per registration (--callgrind) -----------------------------------------
declare -A instr
[ "$only" = callgrind ] && cg=1
if [ "$cg" = 1 ]; then
    command -v valgrind >/dev/null || { echo "--callgrind needs valgrind (apt-get install valgrind)" >&2; exit 1; }
    echo
    echo "4. user-space instructions per registration: both servers under callgrind (counters zeroed once up," \
        "dumped after the last registration), $cg_n registrations at $cg_rate/s, $cg_n accounts"
    mkdir -p cg
    head -n "$cg_n" numbers.txt >cg/numbers.txt
    { echo SEQUENTIAL; awk '{print "u" $1 ";pw" $1}' cg/numbers.txt; } >cg/users.csv
    user_tables cg/numbers.txt "$work/cg"
    sw_cfg "$work/cg"
    kam_cfg "$work/cg" "$cg_n"
    for n in "${servers[@]}"; do
        rm -f cg/dump_"$n".*
        start_server "$n" "$work/cg" valgrind --tool=callgrind --trace-children=yes \
            --callgrind-out-file="$work/cg/dump_$n.%p.out"
        sleep 2
        for p in $srv_pids; do callgrind_control -z "$p" >/dev/null 2>&1 || true; done
        run_sipp "$n" "cg_$n" cg/users.csv "$cg_n" "$cg_rate"
        for p in $srv_pids; do callgrind_control -d "$p" >/dev/null 2>&1 || true; done
        sleep 2
        stop_server
        total=$(cat cg/dump_"$n".*.out.* 2>/dev/null | awk '/^summary:/ {s += $2} END {print s + 0}')
        instr[$n]=$((total / cg_n))
        printf '  %-9s %d instructions per registration (ok %d/%d)\n' "$n" "${instr[$n]}" \
            "$(bench_sipp_col "sipp_cg_$n.csv" 16)" "$cg_n"
        if [ "$n" = sipswitch ] && command -v callgrind_annotate >/dev/null; then
            dump=$(ls -S cg/dump_"$n".*.out.* | head -n1)
            echo "  its largest inclusive shares, per registration:"
            callgrind_annotate --inclusive=yes "$dump" 2>/dev/null |
                awk -v n="$cg_n" '/^ *[0-9,]+ \([ 0-9.]+%\) / {
                        v = $1; gsub(/,/, "", v); $1 = ""; sub(/^ +\([ 0-9.]+%\) +/, ""); sub(/^ +/, "")
                        if ($0 ~ /(PROGRAM TOTALS|sw_daemon_run|uv_run|:main |libc_start|below main|\?\?\?:0x|on_poll|handle_datagram|clone|start_thread)/) next
                        printf "    %8d  %s\n", v / n, $0; if (++k == 20) exit }' || true
        fi
    done
    echo "  sipswitch/kamailio = $(echo "scale=2; ${instr[sipswitch]} / ${instr[kamailio]}" | bc)"
fi

# ---- table ----------------------------------------------------------------------------------
echo
hdr="server"
for rate in $rates; do hdr="$hdr | us/reg @$rate"; done
echo "$hdr | max zero-failure reg/s | B/binding ($n_bind) | marginal B/binding"
for n in "${servers[@]}"; do
    line=$(printf '%-48s' "${label[$n]}")
    for rate in $rates; do line="$line | $(printf '%-12s' "$(bench_median ${cpu_list[$n@$rate]:-?})")"; done
    echo "$line | $(printf '%-22s' "${maxrate[$n]:-}") | $(printf '%-18s' "${mem[$n]:-}") | ${marg[$n]:-}"
done
line=$(printf '%-48s' "sipswitch/kamailio (median of round ratios)")
for rate in $rates; do line="$line | $(printf '%-12s' "$(bench_median ${ratio_list[$rate]:-?})")"; done
echo "$line | $(printf '%-22s' "$(ratio "${maxrate[sipswitch]:-?}" "${maxrate[kamailio]:-?}")") | $(printf '%-18s' "$(ratio "${mem[sipswitch]:-?}" "${mem[kamailio]:-?}")") | $(ratio "${marg[sipswitch]:-?}" "${marg[kamailio]:-?}")"
echo
targets="targets:"
for rate in $rates; do targets="$targets CPU/registration @$rate <= 0.5 x Kamailio: $(bench_median ${ratio_list[$rate]:-?});"; done
echo "$targets <= 1024 B/binding: ${mem[sipswitch]:-?} (marginal ${marg[sipswitch]:-?})"
[ "$cg" = 1 ] && echo "instructions per registration (callgrind, user space): sipswitch ${instr[sipswitch]}, kamailio ${instr[kamailio]}"
true
