# Sourced by the bench scripts.

# A private work directory under /var/tmp, entered; on exit every background
# job is killed and the directory removed (kept, and named, when keep=1).
bench_workdir() { # PREFIX
    work=$(mktemp -d "/var/tmp/$1.XXXXXX")
    trap bench_cleanup EXIT
    cd "$work"
}
bench_cleanup() {
    local p
    for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null || true; done
    if [ "${keep:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}

# The calls benchmarks' sipswitch: the route script returns the chain
# {"A","B"}, gw_switch is loaded as in the default cfg (BENCH_LOAD, e.g.
# "gw_switch, cdr, session_timer, privacy", loads more: cdr writes into the
# work dir, privacy sends PAI and passes Privacy), 127.0.0.1 is the
# customer. Writes $work/route.lua and the cfg file.
bench_sipswitch_cfg() { # CFG_FILE SIP_PORT HTTP_PORT GW_A_PORT GW_B_PORT
    printf 'function on_invite(call) return { "A", "B" } end\n' >"$work/route.lua"
    cat >"$1" <<CFG
[core]
listen = udp:127.0.0.1:$2
http = 127.0.0.1:$3
script = $work/route.lua
log_level = warn
load = ${BENCH_LOAD:-gw_switch}
[mapping customer]
source = 127.0.0.1
[gateway A]
address = 127.0.0.1:$4
[gateway B]
address = 127.0.0.1:$5
CFG
    case ${BENCH_LOAD:-} in *cdr*) printf '[cdr]\ndir = %s/cdr\n' "$work" >>"$1" ;; esac
    case ${BENCH_LOAD:-} in *privacy*) printf '[privacy]\nprivacy = Passthrough\npai = Caller\n' >>"$1" ;; esac
    return 0
}
# Every bench listens on fixed loopback ports (each script its own range);
# BENCH_PORT_OFFSET (default 0) moves them all, so that two benches of the
# same kind can run at once without swapping each other's traffic.
bench_port() { echo $(($1 + ${BENCH_PORT_OFFSET:-0})); }

# The modules BENCH_LOAD names, one per line.
bench_modules() { echo "${BENCH_LOAD:-gw_switch}" | tr ', ' '\n\n' | sed '/^$/d'; }

# ---- generic helpers ----

# utime+stime ticks summed over PIDS (a gone pid counts 0); "USER SYS" with bench_cpu_split.
bench_cpu_ticks() {
    local t=0 p f
    for p in "$@"; do
        if read -r -a f 2>/dev/null </proc/"$p"/stat; then t=$((t + f[13] + f[14])); fi
    done
    echo $t
}
bench_cpu_split() {
    local u=0 s=0 p f
    for p in "$@"; do
        if read -r -a f 2>/dev/null </proc/"$p"/stat; then u=$((u + f[13])) s=$((s + f[14])); fi
    done
    echo "$u $s"
}
# "PSS_kB RSS_kB" summed over PIDS: PSS counts memory shared between them
# (Kamailio's shm) once, RSS once per process.
bench_mem_kb() {
    local p pss=0 rss=0 a b
    for p in "$@"; do
        a=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        b=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
        pss=$((pss + ${a:-0})) rss=$((rss + ${b:-0}))
    done
    echo "$pss $rss"
}
bench_median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Field N of the last line of a sipp stat file, 0 if none. Columns (sipp
# 3.6): 13 TotalCallCreated 14 CurrentCall 16 SuccessfulCall(C)
# 18 FailedCall(C) 58 Retransmissions(C).
bench_sipp_col() {
    local v
    v=$(tail -n1 "$1" 2>/dev/null | awk -F';' -v n="$2" '{print $n}')
    case $v in '' | *[!0-9]*) echo 0 ;; *) echo "$v" ;; esac
}
# The instant (s after sipp's start) it had created COUNT calls, from its
# 1 s stat lines, interpolated; "inf" when it never did.
bench_sipp_creation_s() { # STAT_FILE COUNT
    awk -F';' -v m="$2" '
        function secs(s,  a) { split(s, a, ":"); return a[1]*3600 + a[2]*60 + a[3] + a[4]/1e6 }
        NR > 1 && $13 ~ /^[0-9]+$/ {
            t = secs($5); c = $13
            if (c >= m) { if (c > pc) t = pt + (t - pt) * (m - pc) / (c - pc); printf "%.2f\n", t; found = 1; exit }
            pt = t; pc = c }
        END { if (!found) print "inf" }' "$1"
}
# Stops a server: SIGTERM to its main process, up to 5 s to end, then
# SIGKILL to every process it had.
bench_stop_server() { # MAIN_PID [ALL_PIDS...]
    local main=$1 p i
    kill -TERM "$main" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$main" 2>/dev/null || break; sleep 0.1; done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$main" 2>/dev/null || true
}
# Kamailio from Debian's package (installed here if missing, as root): sets
# kam, kamcmd, kam_mpath (its modules) and kam_version.
bench_kamailio() {
    if ! command -v kamailio >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kamailio >/dev/null
    fi
    kam=$(command -v kamailio || echo /usr/sbin/kamailio)
    kamcmd=$(command -v kamcmd || echo /usr/sbin/kamcmd)
    kam_mpath=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio*' | head -n1)")
    kam_version=$("$kam" -v 2>/dev/null | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')
}
