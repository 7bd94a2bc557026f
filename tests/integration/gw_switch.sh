#!/usr/bin/env bash
# The gw_switch module on real calls: sipp as the customer switch (caller)
# and as the carrier gateways, each on its own loopback port; the route
# script picks the chain. Each case changes the module's settings
# (PARAMETERS.md section 1, doc/modules/gw_switch.md) with a reload and
# checks what every side received, the timing where a timeout decides, the
# module's decision (decisions_total{rule}) and its per-gateway metrics.
# calls.sh covers the routing with the defaults (busy, early media,
# on_failure); this file covers each setting that changes them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port); GW_B=$(free_port); GW_C=$(free_port)

# setup [SECTION:LINE]...: the cfg with gateways A, B and C on their ports
# and M on A's port (the metrics case wants fresh counters), each LINE in its
# [gateway SECTION] or, for SECTION gw_switch, in [gw_switch]; then a reload,
# which applies the module's settings. Every cfg sets the global INVITE
# timeout to 4 s, so that a gateway wrongly contacted (a silent `listen`)
# costs 4 s, not 10, and a per-gateway timeout can be told from the global.
setup() {
    local lines=() s l
    for s in A B C M gw_switch; do
        case $s in
            gw_switch) lines+=("[gw_switch]" "invite_timeout = 4") ;;
            M) lines+=("[gateway M]" "address = 127.0.0.1:$GW_A") ;;
            *) eval "lines+=(\"[gateway $s]\" \"address = 127.0.0.1:\$GW_$s\")" ;;
        esac
        for l in "$@"; do [ "${l%%:*}" = "$s" ] && lines+=("${l#*:}"); done
    done
    write_cfg "passthrough_headers = P-Asserted-Identity, X-*" "load = gw_switch" \
        "[mapping customer]" "source = 127.0.0.1" "${lines[@]}"
    if alive; then
        local code; code=$(http_post /api/v1/reload)
        [ "$code" = 200 ] || { fail "reload with $* answered $code: $(cat "$WORK/http.body")"; return 1; }
    fi
}
# metric NAME{LABELS}: its value on /metrics now (0 when absent)
metric() {
    http_get /metrics >/dev/null
    awk -v k="$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$WORK/http.body"
}
decisions() { metric "sipswitch_gw_switch_decisions_total{rule=\"$1\"}"; }
# final_after FILE: seconds from the caller's INVITE to the first final
# response it received, from the times in sipp's message trace
final_after() {
    ${PYTHON3:-python3} - "$1" <<'PY'
import datetime, re, sys
try:
    text = open(sys.argv[1], encoding="latin-1").read()
except OSError:
    text = ""
start = end = None
for stamp, direction, msg in re.findall(
        r"^-{20,} (\S+ \S+)\n\S+ message (sent|received)[^\n]*\n\n(.*?)(?=^-{20,} |\Z)", text, flags=re.M | re.S):
    t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    if start is None and direction == "sent" and msg.startswith("INVITE "):
        start = t
    elif start is not None and direction == "received" and re.match(r"SIP/2\.0 [2-6]\d\d ", msg):
        end = t
        break
print("%.2f" % (end - start).total_seconds() if start and end else "none")
PY
}
# between LOW HIGH VALUE: LOW <= VALUE <= HIGH (VALUE "none" never is)
between() { awk -v lo="$1" -v hi="$2" -v v="$3" 'BEGIN { exit !(v != "none" && v + 0 >= lo && v + 0 <= hi) }'; }
# call_log [TRACE]: the daemon's log lines about the call of a sipp caller
# (its Call-ID), by default the last `caller`'s
call_log() {
    local id; id=$(sed -n 's/^Call-ID: *\([^[:space:]]*\).*/\1/p' "$WORK/${1:-caller.msg}" | head -n1)
    grep -F "[call-id $id]" "$WORK/sipswitch.log"
}
# invites TRACE: how many INVITEs (retransmissions included) a sipp got
invites() { local n; n=$(grep -c '^INVITE ' "$WORK/$1" 2>/dev/null); echo "${n:-0}"; }

# the chain by the number called; the state of the chain's first gateway,
# as sw.gw_switch.status() gives it, is logged at every call
cat >"$WORK/route.lua" <<'LUA'
local chains = { ["4420"] = { "A", "B" }, ["4430"] = { "A", "B", "C" }, ["4440"] = { "M", "B" } }
function on_invite(call)
  local chain = chains[call.callee] or {}
  if chain[1] then
    local state, calls, asr = sw.gw_switch.status(chain[1])
    sw.log("info", string.format("status of %s: %s, %d call(s), ASR %.2f", chain[1], state, calls, asr))
  end
  return chain
end
LUA
setup
start_switch || { fail "start"; finish; }

# 1. A busy. With stop_after_user_busy at its default (On): the caller gets
# 486, B is never contacted. Off: B is tried and answers.
d0=$(decisions user_busy)
gateway A "$(rejecting 486)"
listen B
caller "$(fails_with 486)"; rc=$?
check "busy, default stop_after_user_busy: the caller got 486 ($rc)" [ $rc -eq 0 ]
wait_gw A; check "busy, default: A's 486 was ACKed" [ $? -eq 0 ]
n=$(heard B)
check "busy, default: B never contacted (got $n messages)" [ "$n" -eq 0 ]
d1=$(decisions user_busy)
check "busy, default: gw_switch decided user_busy ($d0 -> $d1)" [ "$d1" -eq $((d0 + 1)) ]

setup "gw_switch:stop_after_user_busy = Off"
gateway A "$(rejecting 486)"
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "busy, stop_after_user_busy = Off: B answered the caller ($rc)" [ $rc -eq 0 ]
wait_gw A; check "busy, Off: A's 486 was ACKed" [ $? -eq 0 ]
wait_gw B; check "busy, Off: B got the INVITE, answered, got the BYE" [ $? -eq 0 ]
check "busy, Off: the caller never saw A's 486" bash -c "! grep -q '^SIP/2.0 486' '$WORK/caller.msg'"

# 2. A sends 183 with SDP, then 480. stop_after_sdp = Off on A: B is tried
# and answers. stop_after_sdp On (default) but switch_until_connect On (here
# under its VOS3000 name): B is tried too. (The defaults, where A's 480 ends
# the call, are calls.sh's case 8.)
setup "A:stop_after_sdp = Off"
gateway A "$(early_then 480)"
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "early media then 480, A stop_after_sdp = Off: B answered the caller ($rc)" [ $rc -eq 0 ]
wait_gw A; check "early media, stop_after_sdp Off: A's 480 was ACKed" [ $? -eq 0 ]
wait_gw B; check "early media, stop_after_sdp Off: B got the INVITE, answered, got the BYE" [ $? -eq 0 ]
check "early media, stop_after_sdp Off: the caller got A's 183, never its 480" all_of \
    grep -q '^SIP/2.0 183 ' "$WORK/caller.msg" :: bash -c "! grep -q '^SIP/2.0 480' '$WORK/caller.msg'"

setup "gw_switch:SS_GATEWAY_SWITCH_UNTIL_CONNECT = On"
gateway A "$(early_then 480)"
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "early media then 480, switch_until_connect = On: B answered the caller ($rc)" [ $rc -eq 0 ]
wait_gw A; check "early media, until connect: A's 480 was ACKed" [ $? -eq 0 ]
wait_gw B; check "early media, until connect: B got the INVITE, answered, got the BYE" [ $? -eq 0 ]

# 3. A 404 with stop_switch_codes = 404 on A: the caller gets 404, B is never
# contacted, and A's failure is counted by code
setup "A:stop_switch_codes = 404, 403"
f0=$(metric 'sipswitch_gw_switch_failures_total{gateway="A",code="404"}')
d0=$(decisions stop_code)
gateway A "$(rejecting 404)"
listen B
caller "$(fails_with 404)"; rc=$?
check "stop code 404 on A: the caller got 404 ($rc)" [ $rc -eq 0 ]
wait_gw A; check "stop code: A's 404 was ACKed" [ $? -eq 0 ]
n=$(heard B)
check "stop code: B never contacted (got $n messages)" [ "$n" -eq 0 ]
f1=$(metric 'sipswitch_gw_switch_failures_total{gateway="A",code="404"}')
d1=$(decisions stop_code)
check "stop code: failures_total{gateway=\"A\",code=\"404\"} counted it ($f0 -> $f1)" [ "$f1" -eq $((f0 + 1)) ]
check "stop code: gw_switch decided stop_code ($d0 -> $d1)" [ "$d1" -eq $((d0 + 1)) ]

# 4. switch_limit = 2 with A, B, C all refusing 503: A and B get one INVITE
# each, C none, the caller gets 503
setup "gw_switch:switch_limit = 2"
d0=$(decisions switch_limit)
r503=$(rejecting 503) # once: a second sed could truncate it while A's sipp reads it
gateway A "$r503"
gateway B "$r503"
listen C
caller "$(fails_with 503)" -s 4430; rc=$?
check "switch_limit 2, A B C all 503: the caller got 503 ($rc)" [ $rc -eq 0 ]
wait_gw A; ra=$?; wait_gw B; rb=$?
na=$(invites gw_A.msg); nb=$(invites gw_B.msg)
check "switch_limit 2: A and B got one INVITE each, ACKed their 503 ($na, $nb; sipp $ra, $rb)" \
    all_of [ "$na" -eq 1 ] :: [ "$nb" -eq 1 ] :: [ $ra -eq 0 ] :: [ $rb -eq 0 ]
n=$(heard C)
check "switch_limit 2: C never contacted (got $n messages)" [ "$n" -eq 0 ]
d1=$(decisions switch_limit)
check "switch_limit 2: gw_switch decided switch_limit ($d0 -> $d1)" [ "$d1" -eq $((d0 + 1)) ]

# 5. stop_after_invite_timeout On with invite_timeout 1 s on A, A silent: the
# caller gets 408 after about 1 s, B is never contacted
setup "A:invite_timeout = 1" "A:stop_after_invite_timeout = On"
d0=$(decisions invite_timeout)
gateway A gw_silent.xml
listen B
caller "$(fails_with 408)"; rc=$?
t=$(final_after "$WORK/caller.msg")
check "stop after INVITE timeout: the caller got 408 ($rc)" [ $rc -eq 0 ]
check "stop after INVITE timeout: 408 after about 1 s, A's invite_timeout (${t} s)" between 0.8 3 "$t"
n=$(heard B)
check "stop after INVITE timeout: B never contacted (got $n messages)" [ "$n" -eq 0 ]
d1=$(decisions invite_timeout)
check "stop after INVITE timeout: gw_switch decided invite_timeout ($d0 -> $d1)" [ "$d1" -eq $((d0 + 1)) ]
wait_gw A

# 6. per-gateway invite_timeout (1 s on A, 4 s in [gw_switch]): A silent, B
# answers; the caller's 200 comes about 1 s after its INVITE
setup "A:invite_timeout = 1"
to0=$(metric 'sipswitch_gw_switch_timeouts_total{gateway="A"}')
gateway A gw_silent.xml
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
t=$(final_after "$WORK/caller.msg")
check "INVITE timeout 1 s on A: B answered the caller ($rc)" [ $rc -eq 0 ]
check "INVITE timeout 1 s on A: the 200 came after about 1 s, not the global 4 s (${t} s)" between 0.8 3 "$t"
wait_gw B; check "INVITE timeout: B got the INVITE, answered, got the BYE" [ $? -eq 0 ]
wait_gw A
n=$(invites gw_A.msg)
check "INVITE timeout: A got the INVITE (and no CANCEL: it never answered) ($n)" \
    all_of [ "${n:-0}" -ge 1 ] :: bash -c "! grep -q '^CANCEL ' '$WORK/gw_A.msg'"
to1=$(metric 'sipswitch_gw_switch_timeouts_total{gateway="A"}')
check "INVITE timeout: timeouts_total{gateway=\"A\"} counted it ($to0 -> $to1)" [ "$to1" -eq $((to0 + 1)) ]

# 7.-9. the trying, session progress and ringing timeouts (1 s on A; the
# defaults are 20, 20 and 120 s): A answers 100 / 183 without SDP (with SDP
# the stop_after_sdp rule would stop switching) / 180, then stays silent;
# the switch gives up on it after 1 s, CANCELs it and B answers
for c in trying:gw_switch_trying_only.xml progress:gw_switch_progress_only.xml ringing:gw_ring_cancel.xml; do
    what=${c%%:*}
    setup "A:${what}_timeout = 1"
    to0=$(metric 'sipswitch_gw_switch_timeouts_total{gateway="A"}')
    gateway A "${c#*:}"
    gateway B gw_answer.xml
    sleep 0.3
    caller call_uac.xml; rc=$?
    t=$(final_after "$WORK/caller.msg")
    check "$what timeout 1 s on A: B answered the caller ($rc)" [ $rc -eq 0 ]
    check "$what timeout: the 200 came after about 1 s (${t} s)" between 0.8 3 "$t"
    wait_gw A; rc=$?
    check "$what timeout: A got a CANCEL, answered it and 487, got the ACK ($rc)" \
        all_of [ $rc -eq 0 ] :: grep -q '^CANCEL ' "$WORK/gw_A.msg"
    wait_gw B; check "$what timeout: B got the INVITE, answered, got the BYE" [ $? -eq 0 ]
    check "$what timeout: gw_switch saw A's ${what}_timeout and moved on" \
        grep -q "attempt 1 (gateway A): ${what}_timeout 408 -> next" <<<"$(call_log)"
    to1=$(metric 'sipswitch_gw_switch_timeouts_total{gateway="A"}')
    check "$what timeout: timeouts_total{gateway=\"A\"} counted it ($to0 -> $to1)" [ "$to1" -eq $((to0 + 1)) ]
done

# 9b. the ringing timeout fires and A's 200 crosses the switch's CANCEL:
# nobody waits for that answer any more, but it is still ACKed and its
# dialog BYEd (RFC 3261 15), so A does not keep (and bill) a call nobody has
setup "A:ringing_timeout = 1"
gateway A gw_ring_cancel_crossing.xml
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "ringing timeout, A answers after the CANCEL: the caller still gets B's answer ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "ringing timeout, A answers after the CANCEL: A's late 200 was ACKed and BYEd ($rc)" \
    all_of [ $rc -eq 0 ] :: grep -q '^BYE ' "$WORK/gw_A.msg" :: grep -q '^ACK ' "$WORK/gw_A.msg"
wait_gw B

# 10. max_calls = 1 on A: one call held through A; meanwhile a second call
# with chain A, B skips A (no INVITE) and B answers; the script saw A at
# max_calls; the slot is given back when the first call ends
setup "A:max_calls = 1"
s0=$(metric 'sipswitch_gw_switch_skipped_total{gateway="A",limit="max_calls"}')
a0=$(metric 'sipswitch_gw_switch_attempts_total{gateway="A"}')
gateway A gw_answer.xml
gateway B gw_answer.xml
sleep 0.3
rm -f "$WORK/held.msg"
(cd "$WORK" && timeout 30 "$SIPP" -sf "$SC/call_uac_long.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -nostdin \
    -s 4420 -trace_msg -message_file held.msg -trace_err -error_file held.err \
    "127.0.0.1:$SIP_PORT" >"$WORK/held.out" 2>&1) </dev/null &
held=$!
for i in $(seq 1 50); do grep -q '^SIP/2.0 200 ' "$WORK/held.msg" 2>/dev/null && break; sleep 0.1; done
c1=$(metric 'sipswitch_gw_switch_calls{gateway="A"}')
check "max_calls: the first call is up through A (calls{gateway=\"A\"} $c1)" [ "$c1" = 1 ]
caller call_uac.xml; rc=$?
check "max_calls: the second call, A full, was answered by B ($rc)" [ $rc -eq 0 ]
check "max_calls: the script saw A at max_calls, with its one call" \
    grep -q 'status of A: max_calls, 1 call(s)' <<<"$(call_log)"
s1=$(metric 'sipswitch_gw_switch_skipped_total{gateway="A",limit="max_calls"}')
a1=$(metric 'sipswitch_gw_switch_attempts_total{gateway="A"}')
check "max_calls: skipped_total{gateway=\"A\",limit=\"max_calls\"} counted the skip ($s0 -> $s1)" [ "$s1" -eq $((s0 + 1)) ]
check "max_calls: attempts_total{gateway=\"A\"} counted the first call only ($a0 -> $a1)" [ "$a1" -eq $((a0 + 1)) ]
wait "$held"; rc=$?
check "max_calls: the held call connected and ended normally ($rc)" [ $rc -eq 0 ]
wait_gw A; ra=$?; n=$(invites gw_A.msg)
check "max_calls: A got one INVITE, the held call's ($n; sipp $ra)" all_of [ "$n" -eq 1 ] :: [ $ra -eq 0 ]
wait_gw B; check "max_calls: B got the second call, answered, got the BYE" [ $? -eq 0 ]
c2=$(metric 'sipswitch_gw_switch_calls{gateway="A"}')
check "max_calls: A's slot was given back (calls{gateway=\"A\"} $c2)" [ "$c2" = 0 ]
check "max_calls: the script saw A ok, with no call, for the held call" \
    grep -q 'status of A: ok, 0 call(s)' <<<"$(call_log held.msg)"

# 11. metrics after a few calls through M (fresh counters): M refuses 503 and
# B answers; then M answers. M: 2 attempts, 1 answered, one 503, ASR 50 %.
setup
gateway A "$(rejecting 503)"
gateway B gw_answer.xml
sleep 0.3
caller call_uac.xml -s 4440; rc=$?
check "metrics: M refused 503, B answered ($rc)" [ $rc -eq 0 ]
wait_gw A; wait_gw B
gateway A gw_answer.xml
sleep 0.3
caller call_uac.xml -s 4440; rc=$?
check "metrics: M answered ($rc)" [ $rc -eq 0 ]
wait_gw A
http_get /metrics >/dev/null
check "metrics: M has 2 attempts, 1 answered, one 503, no timeout, ASR 50 %, no call in progress" all_of \
    grep -qx 'sipswitch_gw_switch_attempts_total{gateway="M"} 2' "$WORK/http.body" :: \
    grep -qx 'sipswitch_gw_switch_answered_total{gateway="M"} 1' "$WORK/http.body" :: \
    grep -qx 'sipswitch_gw_switch_failures_total{gateway="M",code="503"} 1' "$WORK/http.body" :: \
    grep -qx 'sipswitch_gw_switch_timeouts_total{gateway="M"} 0' "$WORK/http.body" :: \
    grep -qx 'sipswitch_gw_switch_asr_percent{gateway="M"} 50' "$WORK/http.body" :: \
    grep -qx 'sipswitch_gw_switch_calls{gateway="M"} 0' "$WORK/http.body"
check "metrics: the script saw M's ASR of the first call (0 of 1) at the second" \
    grep -q 'status of M: ok, 0 call(s), ASR 0.00' <<<"$(call_log)"

check "clean shutdown" stop_switch
finish
