#!/usr/bin/env bash
# SS_SIP_USER_AGENT_SEND_UNREGISTER at shutdown: a registration bound at a
# sipp carrier (scenarios/registrar_outbound_unregister.xml) gets a REGISTER
# with Expires: 0, with credentials for the carrier's last challenge (no
# round trip: nobody is left to answer a new challenge), and the switch
# stops at once: the unregister is fire-and-forget.
#
# Expected to fail (XFAIL_TESTS in Makefile.am) until the core lets modules
# send while its sockets are open at shutdown: today a module's destroy runs
# after sw_transport_stop(), request_send finds no socket and the switch logs
# "shutdown: unregister sent for 0 registration(s), 1 could not be sent".
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
finish
