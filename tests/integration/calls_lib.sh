# Helpers shared by the call tests (sourced after lib.sh): sipp as gateways
# and as the customer switch, each on its own loopback port.
SC="$top_srcdir/tests/integration/scenarios"

# gateway NAME SCENARIO [sipp args...]: a sipp UAS on port $GW_<NAME> in the
# background, its pid in GW_PID_<NAME>, its messages in gw_<NAME>.msg
gateway() {
    local name=$1 scen=$2; shift 2
    local port; eval "port=\$GW_$name"
    case "$scen" in /*) ;; *) scen="$SC/$scen" ;; esac
    rm -f "$WORK/gw_$name.msg"
    (cd "$WORK" && exec timeout 30 "$SIPP" -sf "$scen" -i 127.0.0.1 -p "$port" -m 1 -nostdin \
        -trace_msg -message_file "gw_$name.msg" -trace_err -error_file "gw_$name.err" "$@" \
        >"$WORK/gw_$name.out" 2>&1) </dev/null &
    eval "GW_PID_$name=$!"
}
# caller SCENARIO [sipp args...]: one call from the customer switch, its
# messages in caller.msg; returns sipp's status
caller() {
    local scen=$1; shift
    case "$scen" in /*) ;; *) scen="$SC/$scen" ;; esac
    rm -f "$WORK/caller.msg"
    (cd "$WORK" && timeout 30 "$SIPP" -sf "$scen" -i 127.0.0.1 -p "$(free_port)" -m 1 -nostdin \
        -s 4420 -trace_msg -message_file caller.msg -trace_err -error_file caller.err "$@" \
        "127.0.0.1:$SIP_PORT" >"$WORK/caller.out" 2>&1) </dev/null
}
wait_gw() { local pid; eval "pid=\$GW_PID_$1"; wait "$pid"; }
# script: replaces the route script from stdin and reloads it
script() { cat >"$WORK/route.lua"; http_post /api/v1/reload >/dev/null; }
