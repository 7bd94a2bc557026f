#!/usr/bin/env bash
# Calls through the B2BUA: sipp as the customer switch (caller) and as the
# carrier gateways, each on its own loopback port; the route script picks the
# chain. Each case checks what every side received (sipp's exit status covers
# the codes and the headers its scenario asserts; message traces the rest).
# This file covers routing: chains, failover and the switching rules, the
# codes the caller gets, the script's hooks and overrides. calls_dialog.sh
# covers what happens inside the dialogs, CANCEL, TCP and timers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port); GW_B=$(free_port); GW_C=$(free_port)

write_cfg "passthrough_headers = P-Asserted-Identity, X-*" "load = gw_switch" \
    "[mapping customer]" "source = 127.0.0.1" \
    "[gateway A]" "address = 127.0.0.1:$GW_A" "[gateway B]" "address = 127.0.0.1:$GW_B" \
    "[gateway C]" "address = 127.0.0.1:$GW_C" \
    "[gateway carrierA]" "address = 127.0.0.1:$GW_A" "[gateway carrierB]" "address = 127.0.0.1:$GW_B" \
    "[gateway carrierC]" "address = 127.0.0.1:$GW_C"
script <<'LUA'
function on_invite(call) return { "A", "B" } end
LUA
start_switch || { fail "start"; finish; }

# 1. gateway A answers; the caller hangs up
gateway A gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "answered call: caller saw 200 with the switch's Contact and the gateway's SDP, BYE answered ($rc)" [ $rc -eq 0 ]
check "answered call: the caller got 100 Trying from the switch first" \
    grep -q '^SIP/2.0 100 Trying' <<<"$(trace_first "$WORK/caller.msg" received '^SIP/2.0 1')"
wait_gw A; rc=$?
check "answered call: gateway got the caller's SDP, MF 69, pass-through headers, ACK and BYE ($rc)" [ $rc -eq 0 ]
# the caller's Call-ID is N-PID@..., its tag ...SIPpTag..., its port in Via/Contact: none may reach the gateway
check "no topology leak: the gateway saw none of the caller's Call-ID, tag, Via or Contact" bash -c \
    "! grep -qE '^Call-ID: [0-9]+-[0-9]+@|SIPpTag|sip:1001@127.0.0.1:' '$WORK/gw_A.msg' && [ \$(grep -c '^Via:' '$WORK/gw_A.msg') -ge 1 ]"
# the transaction layer counts what it sends: one call is one INVITE, one ACK, one BYE
http_get /metrics >/dev/null
check "metrics: the call counted one INVITE, one ACK and one BYE sent" all_of \
    grep -q '^sipswitch_sip_requests_sent_total{method="INVITE"} 1$' "$WORK/http.body" :: \
    grep -q '^sipswitch_sip_requests_sent_total{method="ACK"} 1$' "$WORK/http.body" :: \
    grep -q '^sipswitch_sip_requests_sent_total{method="BYE"} 1$' "$WORK/http.body"

# 2. A refuses with 503, B answers
gateway A "$(rejecting 503)"
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "failover: A 503 then B answers ($rc)" [ $rc -eq 0 ]
wait_gw A; check "failover: A got the INVITE and ACKed its 503" [ $? -eq 0 ]
wait_gw B; check "failover: B answered and got the BYE" [ $? -eq 0 ]

# 3. A busy: the caller gets 486 and B is never tried; the decision is the
# rules' (step 4), so on_failure is not asked
script <<'LUA'
function on_invite(call) return { "A", "B" } end
function on_failure(call, attempt) sw.log("info", "on_failure asked about " .. attempt.code) end
LUA
gateway A "$(rejecting 486)"
listen B
caller "$(fails_with 486)"; rc=$?
check "busy stops switching: caller got 486 ($rc)" [ $rc -eq 0 ]
wait_gw A
n=$(heard B)
check "busy stops switching: B never contacted (got $n messages)" [ "$n" -eq 0 ]
check "busy stops switching: on_failure not asked" bash -c "! grep -q 'on_failure asked' '$WORK/sipswitch.log'"

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
# malformed chain elements are script errors too (and leave nothing behind:
# the ASan build checks the shutdown)
for bad in '{ gateway = "A", callee = "44 20" }' '{ gateway = "A", invite_timeout = 0/0 }' '{ callee = "4420" }' '42'; do
    printf 'function on_invite(call) return { %s } end\n' "$bad" | script
    caller "$(fails_with 500)"; rc=$?
    check "chain element $bad: the caller gets 500 ($rc)" [ $rc -eq 0 ]
done

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

# 7. a gateway's challenge is not the caller's business (403), a redirect is
# not followed (480): chain of A alone, so the caller gets A's code mapped
script <<'LUA'
function on_invite(call) return { "A" } end
LUA
for pair in 401:403 407:403 302:480; do
    gateway A "$(rejecting "${pair%:*}")"
    caller "$(fails_with "${pair#*:}")"; rc=$?
    check "A answers ${pair%:*}: the caller gets ${pair#*:} ($rc)" [ $rc -eq 0 ]
    wait_gw A; check "A answers ${pair%:*}: its final response was ACKed" [ $? -eq 0 ]
    check "A answers ${pair%:*}: no ${pair%:*} and no challenge reached the caller" \
        bash -c "! grep -qE '^(SIP/2.0 ${pair%:*} |(WWW|Proxy)-Authenticate)' '$WORK/caller.msg'"
done

# 8. early media then failure: A sends 183 with SDP, then 480. The switch
# committed to A (SS_SIP_STOP_SWITCH_AFTER_SDP, default On): the caller gets
# the 183 with A's SDP, then 480, and B is not tried
script <<'LUA'
function on_invite(call) return { "A", "B" } end
LUA
gateway A "$(early_then 480)"
listen B
caller "$(fails_with 480)"; rc=$?
check "early media then 480: the caller got 480 ($rc)" [ $rc -eq 0 ]
wait_gw A; check "early media then 480: A's 480 was ACKed" [ $? -eq 0 ]
n=$(heard B)
check "early media then 480: B never contacted (got $n messages)" [ "$n" -eq 0 ]
early=$(trace_first "$WORK/caller.msg" received '^SIP/2.0 183 ')
check "early media then 480: the caller got the 183 with A's SDP" grep -q '^o=gateway ' <<<"$early"

# 9. per-attempt overrides: the callee number of one chain element, and the
# caller number set by the script for every attempt
script <<'LUA'
function on_invite(call)
  call:set_caller("3312345")
  return { { gateway = "A", callee = "00442079460000" }, "B" }
end
LUA
gateway A gw_answer.xml
caller call_uac.xml; rc=$?
check "overrides: the call connected through A ($rc)" [ $rc -eq 0 ]
wait_gw A
invite=$(trace_first "$WORK/gw_A.msg" received '^INVITE ')
check "overrides: A got the element's callee in the Request-URI and To" \
    bash -c "head -n1 <<<\"\$1\" | grep -q '^INVITE sip:00442079460000@127.0.0.1:$GW_A SIP/2.0' && grep -q '^To: <sip:00442079460000@' <<<\"\$1\"" _ "$invite"
check "overrides: A got set_caller's number in From, with the caller's display name" \
    grep -q '^From: "Alice" <sip:3312345@' <<<"$invite"

# 9b. a chain element that names its target itself (what the registrar's
# lookup gives for a device behind NAT): the INVITE carries that URI and goes
# to `dest`, whatever the URI's host says; a bad dest is a script error
cat >"$WORK/uri_route.lua" <<LUA
function on_invite(call)
  return { { uri = "sip:2000@192.0.2.99:5080;ob", dest = "udp:127.0.0.1:$GW_C", gateway = "alice-phone" } }
end
LUA
script <"$WORK/uri_route.lua"
gateway C gw_answer.xml
caller call_uac.xml; rc=$?
check "uri target: the call connected through dest ($rc)" [ $rc -eq 0 ]
wait_gw C
invite=$(trace_first "$WORK/gw_C.msg" received '^INVITE ')
check "uri target: the device got its own URI as Request-URI and To" \
    bash -c "head -n1 <<<\"\$1\" | grep -q '^INVITE sip:2000@192.0.2.99:5080;ob SIP/2.0' && grep -q '^To: <sip:2000@192.0.2.99:5080;ob>' <<<\"\$1\"" _ "$invite"
for bad in '{ uri = "sip:2000@x" }' '{ uri = "sip:2000@x", dest = "udp:phone.example:5060" }' \
    '{ uri = "tel:2000", dest = "127.0.0.1:5060" }' '{ uri = "sip:2000@x", dest = "127.0.0.1:0" }'; do
    printf 'function on_invite(call) return { %s } end\n' "$bad" | script
    caller "$(fails_with 500)"; rc=$?
    check "uri target $bad: the caller gets 500 ($rc)" [ $rc -eq 0 ]
done

# 10. on_failure returns "stop": the caller gets A's code, B is never contacted;
# the hook saw the attempt's fields
script <<'LUA'
function on_invite(call) return { "A", "B" } end
function on_failure(call, a)
  sw.log("info", string.format("on_failure: gateway=%s code=%d reason=%s callee=%s early_media=%s index=%d caller=%s outcome=%s",
    a.gateway, a.code, a.reason, a.callee, tostring(a.early_media), a.index, call.caller, a.outcome))
  return "stop", 480
end
LUA
gateway A "$(rejecting 503)"
listen B
caller "$(fails_with 480)"; rc=$?
check "on_failure \"stop\", 480: the caller got the script's 480, not A's 503 ($rc)" [ $rc -eq 0 ]
wait_gw A
n=$(heard B)
check "on_failure \"stop\": B never contacted (got $n messages)" [ "$n" -eq 0 ]
check "on_failure got the attempt: gateway, code, reason, callee, early_media, index, outcome" grep -q \
    'on_failure: gateway=A code=503 reason=Refused by test gateway callee=4420 early_media=false index=1 caller=1001 outcome=response' \
    "$WORK/sipswitch.log"

# 11. on_failure returns a new chain: after A fails, B (with its own caller
# number) replaces the rest of the chain, so C is never contacted
script <<'LUA'
function on_invite(call) return { "A", "C" } end
function on_failure(call, a)
  if a.gateway == "A" then return { { gateway = "B", caller = "5550000" } } end
end
LUA
gateway A "$(rejecting 503)"
gateway B gw_answer.xml
listen C
caller call_uac.xml; rc=$?
check "on_failure new chain: B answered after A's 503 ($rc)" [ $rc -eq 0 ]
wait_gw A; wait_gw B
n=$(heard C)
check "on_failure new chain: C (the old rest of the chain) never contacted (got $n messages)" [ "$n" -eq 0 ]
check "on_failure new chain: B got the element's caller number" \
    grep -q '^From: "Alice" <sip:5550000@' <<<"$(trace_first "$WORK/gw_B.msg" received '^INVITE ')"

# 12. the call object dies with its hook: a script that keeps it from
# on_invite and uses it in on_failure errs, and the caller gets 500
script <<'LUA'
local kept
function on_invite(call) kept = call; return { "A", "B" } end
function on_failure(call, a) return { kept.callee } end
LUA
gateway A "$(rejecting 503)"
listen B
caller "$(fails_with 500)"; rc=$?
check "call object used after its hook: on_failure errs, the caller gets 500 ($rc)" [ $rc -eq 0 ]
wait_gw A
n=$(heard B)
check "call object used after its hook: B never contacted (got $n messages)" [ "$n" -eq 0 ]
check "call object used after its hook: the error is logged" grep -q 'call object used after its hook' "$WORK/sipswitch.log"

# 12b. an on_failure that always gives a new chain cannot loop for ever: at
# most 100 attempts per call, then the caller gets the last attempt's code
script <<'LUA'
function on_invite(call) return { "A", "A" } end
function on_failure(call, a) return { "A", "A" } end
LUA
gateway A "$(rejecting 503)" -m 100
caller "$(fails_with 503)"; rc=$?
check "attempt limit: the caller got 503 after on_failure kept adding gateways ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
n=$(grep -c '^INVITE ' "$WORK/gw_A.msg")
check "attempt limit: A got exactly 100 INVITEs, all ACKed (got $n; sipp $rc)" all_of [ "$n" -eq 100 ] :: [ $rc -eq 0 ]
check "attempt limit: logged" grep -q 'stopped after A 503 .*attempt_limit' "$WORK/sipswitch.log"

# 13. a prefix table chooses the chain: the longest prefix of 4420... wins
printf 'prefix,chain\n44,A\n4420,B|A\n' >"$WORK/routes.csv"
script <<'LUA'
local routes = sw.prefix.load("routes.csv")
function on_invite(call)
  local chain = routes:lookup(call.callee)
  if not chain then return call:reject(404, "No route") end
  local out = {}
  for gw in chain:gmatch("[^|]+") do out[#out + 1] = gw end
  return out
end
LUA
gateway B gw_answer.xml
listen A
caller call_uac.xml; rc=$?
check "prefix table: 4420 routed to B|A, B answered ($rc)" [ $rc -eq 0 ]
wait_gw B
n=$(heard A)
check "prefix table: A (prefix 44, and second in 4420's chain) never contacted (got $n messages)" [ "$n" -eq 0 ]
caller "$(fails_with 404)" -s 3312345; rc=$?
check "prefix table: a number no prefix covers gets the script's 404 ($rc)" [ $rc -eq 0 ]

# 14. the example script scripts/examples/failover.lua, as shipped: --check
# accepts it with a cfg that defines its gateways, and a UK national number
# reaches carrierA as 0044... (its per-attempt callee override)
{
    echo "[core]"; echo "listen = udp:127.0.0.1:5060"; echo "script = $top_srcdir/scripts/examples/failover.lua"
    for g in A B C; do echo "[gateway carrier$g]"; echo "address = 192.0.2.1"; done
} >"$WORK/failover-check.cfg"
out=$("$SW_BIN" --check -c "$WORK/failover-check.cfg" 2>&1); rc=$?
check "scripts/examples/failover.lua passes --check ($rc: $out)" [ $rc -eq 0 ]
cp "$top_srcdir/scripts/examples/failover.lua" "$WORK/route.lua"
http_post /api/v1/reload >/dev/null
gateway A gw_answer.xml
caller call_uac.xml -s 02079460000; rc=$?
check "failover.lua: the UK call connected through carrierA ($rc)" [ $rc -eq 0 ]
wait_gw A
check "failover.lua: carrierA got 00442079460000" \
    grep -q '^INVITE sip:00442079460000@' <<<"$(trace_first "$WORK/gw_A.msg" received '^INVITE ')"

# 15. unknown source: 403 (no mapping covers 127.0.0.2)
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
