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
# listen NAME: a silent UDP peer on $GW_<NAME> that only writes down the first
# line of whatever reaches it (listen_<NAME>.log); heard NAME stops it and
# prints how many messages it got. For "this gateway is never contacted":
# with nobody listening the switch would get ICMP errors and fail that
# attempt with 503 instead, which could look like the expected outcome.
listen() {
    local port; eval "port=\$GW_$1"
    : >"$WORK/listen_$1.log"
    ${PYTHON3:-python3} -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); s.settimeout(30)
out = open(sys.argv[2], "w")
try:
    while True:
        out.write(s.recv(65536).split(b"\r\n", 1)[0].decode("latin-1") + "\n"); out.flush()
except socket.timeout:
    pass' "$port" "$WORK/listen_$1.log" &
    eval "LISTEN_PID_$1=$!"
    sleep 0.3
}
heard() {
    local pid; eval "pid=\$LISTEN_PID_$1"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    wc -l <"$WORK/listen_$1.log"
}
# all_of CMD :: CMD ...: true when each command (separated by "::") succeeds,
# so one check can assert several things
all_of() {
    local cmd=() a
    for a in "$@" ::; do
        if [ "$a" = :: ]; then "${cmd[@]}" || return 1; cmd=(); else cmd+=("$a"); fi
    done
}
# trace_first FILE sent|received REGEX: the first message of a sipp trace
# whose first line matches REGEX
trace_first() {
    ${PYTHON3:-python3} - "$@" <<'PY'
import re, sys
path, direction, regex = sys.argv[1:4]
try:
    text = open(path, encoding="latin-1").read()
except OSError:
    text = ""
for block in re.split(r"^-{20,} ", text, flags=re.M)[1:]:
    m = re.match(r"[^\n]*\n\S+ message (sent|received)[^\n]*\n\n", block)
    if m and m.group(1) == direction and re.match(regex, block[m.end():]):
        print(block[m.end():].replace("\r", ""))
        break
PY
}
# rejecting CODE: a gateway scenario answering that code (generated, as sipp
# checks status lines when it loads a scenario)
rejecting() { sed "s/\[code\]/$1/" "$SC/gw_reject.xml" >"$WORK/reject_$1.xml"; echo "$WORK/reject_$1.xml"; }
# fails_with CODE: a caller scenario expecting that final code (sipp takes no
# -key inside a response="" attribute, so the file is generated)
fails_with() { sed "s/\[code\]/$1/" "$SC/call_uac_failed.xml" >"$WORK/fails_$1.xml"; echo "$WORK/fails_$1.xml"; }
# early_then CODE: a gateway sending 183 with SDP, then that code
early_then() { sed "s/\[code\]/$1/" "$SC/gw_early_reject.xml" >"$WORK/early_$1.xml"; echo "$WORK/early_$1.xml"; }
