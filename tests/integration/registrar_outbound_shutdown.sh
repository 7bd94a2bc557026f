#!/usr/bin/env bash
# SS_SIP_USER_AGENT_SEND_UNREGISTER at shutdown: a registration bound at a
# sipp carrier (scenarios/registrar_outbound_unregister.xml) gets a REGISTER
# with Expires: 0, with credentials for the carrier's last challenge (no
# round trip: nobody is left to answer a new challenge). The registrar sends
# it from its stop hook (module ABI 1.1), while the sockets are still open;
# the core keeps the loop running until it is answered (2 s at most), so the
# switch still stops within 2 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
TRACE="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_outbound_trace.py"
CARRIER_PORT=$(free_port)

(cd "$WORK" && exec timeout 30 "$SIPP" -sf "$SC/registrar_outbound_unregister.xml" -i 127.0.0.3 -p "$CARRIER_PORT" \
    -m 1 -nostdin -trace_msg -message_file carrier.msg -trace_err -error_file carrier.err >"$WORK/carrier.out" 2>&1) \
    </dev/null &
CARRIER_PID=$!
sleep 0.3
write_cfg "load = registrar"
printf '[registrar]\ndb =\n[registration carrier1]\nregistrar = 127.0.0.3:%s\nuser = 4420\npassword = s3cret\n' \
    "$CARRIER_PORT" >>"$WORK/sipswitch.cfg"
start_switch || exit 1
registered() {
    local i
    for i in $(seq 1 50); do
        curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/registrations/outbound/carrier1" | grep -q '"state":"registered"' &&
            return 0
        sleep 0.1
    done
    return 1
}
check "registered at the carrier" registered
t0=$(date +%s.%N)
stop_switch
rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
check "SIGTERM: the switch stops within 2 s ($took s, exit $rc)" \
    all_of [ $rc -eq 0 ] :: awk -v t="$took" 'BEGIN { exit !(t < 2) }'
# the carrier's scenario ends when it has answered the unregister
i=0
while kill -0 "$CARRIER_PID" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
kill "$CARRIER_PID" 2>/dev/null
wait "$CARRIER_PID" 2>/dev/null
$TRACE "$WORK/carrier.msg" --user 4420 --password s3cret >"$WORK/trace.txt"
cat "$WORK/trace.txt"
grep "unregister" "$WORK/sipswitch.log"
check "the carrier got Expires: 0 with valid credentials (nonce count 2)" \
    grep -q 'cseq=3 expires=0 auth=ok alg=MD5 nc=2$' "$WORK/trace.txt"

# ---- a carrier that never answers the unregister: the switch waits 2 s at
# most for it, and a call arriving meanwhile gets 503 with Retry-After ----
sed '/<Reference variables="gone"\/>/,/<\/scenario>/{/<Reference/!d}' "$SC/registrar_outbound_unregister.xml" \
    >"$WORK/silent_unregister.xml"
echo '</scenario>' >>"$WORK/silent_unregister.xml"
rm -f "$WORK/carrier.msg"
(cd "$WORK" && exec timeout 30 "$SIPP" -sf "$WORK/silent_unregister.xml" -i 127.0.0.3 -p "$CARRIER_PORT" \
    -m 1 -nostdin >/dev/null 2>&1) </dev/null &
CARRIER_PID=$!
sleep 0.3
printf '[mapping customer]\nsource = 127.0.0.1\n' >>"$WORK/sipswitch.cfg"
start_switch || exit 1
check "registered at the silent carrier" registered
t0=$(date +%s.%N)
kill -TERM "$SW_PID"
sleep 0.3
request_msg INVITE >"$WORK/invite.txt"
answer=$(sip_udp "$WORK/invite.txt" --template --timeout 1 || true)
check "an INVITE during the shutdown's wait: 503 with Retry-After ($(echo "$answer" | head -n1))" \
    all_of [ "$(echo "$answer" | first_code)" = 503 ] :: grep -q '^Retry-After: ' <<<"$answer"
stop_switch
rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
check "unanswered unregister: the switch still stops, in 2 to 3 s ($took s, exit $rc)" \
    all_of [ $rc -eq 0 ] :: awk -v t="$took" 'BEGIN { exit !(t >= 1.9 && t < 3) }'
check "the wait is logged" grep -q "last requests still pending after" "$WORK/sipswitch.log"
kill "$CARRIER_PID" 2>/dev/null
wait "$CARRIER_PID" 2>/dev/null
finish
