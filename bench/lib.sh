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
# The modules BENCH_LOAD names, one per line.
bench_modules() { echo "${BENCH_LOAD:-gw_switch}" | tr ', ' '\n\n' | sed '/^$/d'; }
