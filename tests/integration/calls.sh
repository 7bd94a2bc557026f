#!/usr/bin/env bash
# Calls through the B2BUA: sipp as the customer switch (caller) and as the
# carrier gateways, each on its own loopback port; the route script picks the
# chain. Each case checks what every side received (sipp's exit status covers
# the codes and the headers its scenario asserts).
. "$(dirname "$0")/lib.sh"
SC="$top_srcdir/tests/integration/scenarios"
GW_A=$(free_port); GW_B=$(free_port)

# gateway NAME SCENARIO [sipp args...]: a sipp UAS in the background; its pid in GW_PID_<NAME>
gateway() {
    local name=$1 scen=$2; shift 2
    local port; [ "$name" = A ] && port=$GW_A || port=$GW_B
    case "$scen" in /*) ;; *) scen="$SC/$scen" ;; esac
    (cd "$WORK" && exec timeout 30 "$SIPP" -sf "$scen" -i 127.0.0.1 -p "$port" -m 1 -nostdin \
        -trace_msg -message_file "gw_$name.msg" -trace_err -error_file "gw_$name.err" "$@" \
        >"$WORK/gw_$name.out" 2>&1) </dev/null &
    eval "GW_PID_$name=$!"
}
# caller SCENARIO [sipp args...]: one call from the customer switch; returns sipp's status
caller() {
    local scen=$1; shift
    case "$scen" in /*) ;; *) scen="$SC/$scen" ;; esac
    (cd "$WORK" && timeout 30 "$SIPP" -sf "$scen" -i 127.0.0.1 -p "$(free_port)" -m 1 -nostdin \
        -s 4420 -trace_err -error_file caller.err "$@" "127.0.0.1:$SIP_PORT" >"$WORK/caller.out" 2>&1) </dev/null
}
wait_gw() { local pid; eval "pid=\$GW_PID_$1"; wait "$pid"; }
# rejecting CODE: a gateway scenario answering that code (generated, as sipp
# checks status lines when it loads a scenario)
rejecting() { sed "s/\[code\]/$1/" "$SC/gw_reject.xml" >"$WORK/reject_$1.xml"; echo "$WORK/reject_$1.xml"; }
# fails_with CODE: a caller scenario expecting that final code (sipp takes no
# -key inside a response="" attribute, so the file is generated)
fails_with() { sed "s/\[code\]/$1/" "$SC/call_uac_failed.xml" >"$WORK/fails_$1.xml"; echo "$WORK/fails_$1.xml"; }
script() { cat >"$WORK/route.lua"; http_post /api/v1/reload >/dev/null; }

write_cfg "passthrough_headers = P-Asserted-Identity, X-*" \
    "[mapping customer]" "source = 127.0.0.1" \
    "[gateway A]" "address = 127.0.0.1:$GW_A" "[gateway B]" "address = 127.0.0.1:$GW_B"
script <<'LUA'
function on_invite(call) return { "A", "B" } end
LUA
start_switch || { fail "start"; finish; }

# 1. gateway A answers; the caller hangs up
gateway A gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "answered call: caller saw 200 with the switch's Contact and the gateway's SDP, BYE answered ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "answered call: gateway got the caller's SDP, MF 69, pass-through headers, ACK and BYE ($rc)" [ $rc -eq 0 ]
# the caller's Call-ID is N-PID@..., its tag ...SIPpTag..., its port in Via/Contact: none may reach the gateway
check "no topology leak: the gateway saw none of the caller's Call-ID, tag, Via or Contact" bash -c \
    "! grep -qE '^Call-ID: [0-9]+-[0-9]+@|SIPpTag|sip:1001@127.0.0.1:' '$WORK/gw_A.msg' && [ \$(grep -c '^Via:' '$WORK/gw_A.msg') -ge 1 ]"

# 2. A refuses with 503, B answers
gateway A "$(rejecting 503)"
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "failover: A 503 then B answers ($rc)" [ $rc -eq 0 ]
wait_gw A; check "failover: A got the INVITE and ACKed its 503" [ $? -eq 0 ]
wait_gw B; check "failover: B answered and got the BYE" [ $? -eq 0 ]

# 3. A busy: the caller gets 486 and B is never tried
gateway A "$(rejecting 486)"
caller "$(fails_with 486)"; rc=$?
check "busy stops switching: caller got 486 ($rc)" [ $rc -eq 0 ]
wait_gw A

# 4. the script rejects
script <<'LUA'
function on_invite(call)
  if call.callee:find("^4420") then return call:reject(403, "Barred") end
  return { "A" }
end
LUA
caller "$(fails_with 403)"; rc=$?
check "script reject: caller got 403 ($rc)" [ $rc -eq 0 ]

# 5. a script error answers 500 and the next call still works
script <<'LUA'
function on_invite(call)
  if call.callee == "4420" then error("boom") end
  return { "A" }
end
LUA
caller "$(fails_with 500)"; rc=$?
check "script runtime error: caller got 500 ($rc)" [ $rc -eq 0 ]
check "the traceback is logged with the Call-ID" grep -q '\[call-id .*boom' "$WORK/sipswitch.log"
gateway A gw_answer.xml
caller call_uac.xml -s 4421; rc=$?
check "after the error the next call connects ($rc)" [ $rc -eq 0 ]
wait_gw A

# 6. INVITE timeout: A silent, B answers after invite_timeout; A saw retransmissions
script <<'LUA'
function on_invite(call) return { { gateway = "A", invite_timeout = 2 }, "B" } end
LUA
gateway A gw_silent.xml
gateway B gw_answer.xml
t0=$(date +%s%N)
caller call_uac.xml; rc=$?
t1=$(date +%s%N)
check "INVITE timeout: A silent, B answered ($rc)" [ $rc -eq 0 ]
wait_gw A; wait_gw B
n=$(grep -c '^INVITE ' "$WORK/gw_A.msg" 2>/dev/null)
check "A got the INVITE and its retransmissions (0.5,1 s: 3 copies in 2 s; got $n)" [ "${n:-0}" -ge 3 ]

# 7. unknown source: 403 (no mapping covers 127.0.0.2)
printf 'INVITE sip:4420@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKunknown;rport\r\nFrom: <sip:1@x>;tag=u1\r\nTo: <sip:4420@127.0.0.1>\r\nCall-ID: unknown-src@test\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' >"$WORK/unknown.sip"
resp=$(${PYTHON3:-python3} - "$WORK/unknown.sip" "$SIP_PORT" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.2", 0)); s.settimeout(2)
s.sendto(open(sys.argv[1], "rb").read(), ("127.0.0.1", int(sys.argv[2])))
try:
    while True:
        d = s.recv(65536).decode("latin-1")
        if not d.startswith("SIP/2.0 100"):
            print(d.split("\r\n")[0]); break
except socket.timeout:
    print("none")
PY
)
check "INVITE from an address no mapping covers: 403 ($resp)" grep -q '^SIP/2.0 403' <<<"$resp"

http_get /metrics >/dev/null
check "metrics count INVITEs sent to gateways" grep -qE '^sipswitch_sip_requests_sent_total\{method="INVITE"\} [1-9]' "$WORK/http.body"
check "clean shutdown" stop_switch
finish
