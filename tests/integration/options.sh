#!/usr/bin/env bash
# The daemon answers OPTIONS (sipp and raw UDP), refuses what it cannot
# route yet with the right codes, and counts everything in /metrics.
. "$(dirname "$0")/lib.sh"
write_cfg "allow_unknown_sources = On"
start_switch || { fail "start"; finish; }

# sipp: 20 OPTIONS at 20/s, each must get 200 with the headers the scenario checks
if [ -n "${SIPP:-}" ]; then
    (cd "$WORK" && timeout 60 "$SIPP" -sf "$top_srcdir/tests/integration/scenarios/options_uac.xml" \
        -i 127.0.0.1 -p "$(free_port)" -m 20 -r 20 -timeout 20s -timeout_error -nostdin \
        -trace_err "127.0.0.1:$SIP_PORT" >"$WORK/sipp_options.out" 2>&1) </dev/null
    check "sipp: 20 OPTIONS answered with 200, Allow, Supported, Accept and a To tag" [ $? -eq 0 ]
    (cd "$WORK" && timeout 60 "$SIPP" -sf "$top_srcdir/tests/integration/scenarios/invite_uac.xml" \
        -i 127.0.0.1 -p "$(free_port)" -m 5 -r 10 -timeout 20s -timeout_error -nostdin \
        -trace_err "127.0.0.1:$SIP_PORT" >"$WORK/sipp_invite.out" 2>&1) </dev/null
    check "sipp: INVITE without a route gets 404 (stateless, ACK absorbed)" [ $? -eq 0 ]
else
    fail "sipp not found (Debian package sip-tester)"
fi

resp=$(options_msg | sip_udp - --template)
check "raw UDP OPTIONS gets 200" [ "$(first_code <<<"$resp")" = 200 ]
check "200 carries Allow" grep -q '^Allow: .*OPTIONS' <<<"$resp"
check "top Via gets rport filled and keeps its branch" grep -qE '^Via: SIP/2.0/UDP 127.0.0.1:[0-9]+;branch=z9hG4bK[0-9a-f]+;rport=[0-9]+' <<<"$resp"
check "response keeps Call-ID and CSeq" grep -q '^CSeq: 1 OPTIONS' <<<"$resp"
check "response carries a Server header" grep -q '^Server: sipswitch/' <<<"$resp"

resp=$(options_msg | sip_tcp - --template)
check "TCP OPTIONS gets 200" [ "$(first_code <<<"$resp")" = 200 ]

# Max-Forwards: 0 on OPTIONS is answered by the switch itself (it is the UAS)
resp=$(request_msg OPTIONS | sed 's/^Max-Forwards: 70/Max-Forwards: 0/' | sip_udp - --template)
check "OPTIONS with Max-Forwards 0 gets 200" [ "$(first_code <<<"$resp")" = 200 ]
resp=$(request_msg INVITE | sed 's/^Max-Forwards: 70/Max-Forwards: 0/' | sip_udp - --template)
check "INVITE with Max-Forwards 0 gets 483" [ "$(first_code <<<"$resp")" = 483 ]

resp=$(request_msg REGISTER | sip_udp - --template)
check "REGISTER without a registrar module gets 405 with Allow" [ "$(first_code <<<"$resp")" = 405 ]
check "405 carries Allow" grep -q '^Allow: ' <<<"$resp"
resp=$(request_msg FOOBAR | sip_udp - --template)
check "unknown method gets 501" [ "$(first_code <<<"$resp")" = 501 ]
resp=$(request_msg BYE | sip_udp - --template)
check "BYE outside a dialog gets 481" [ "$(first_code <<<"$resp")" = 481 ]
resp=$(request_msg CANCEL | sip_udp - --template)
check "CANCEL without a transaction gets 481" [ "$(first_code <<<"$resp")" = 481 ]
resp=$(request_msg ACK | sip_udp - --template --timeout 0.5)
check "a stray ACK gets no answer" [ -z "$resp" ]

# garbage: no answer, no crash
printf 'hello world\r\n\r\n' | sip_udp - --timeout 0.5 >/dev/null
printf '\x00\x01\x02\xff' | sip_udp - --timeout 0.5 >/dev/null
resp=$(options_msg | sip_udp - --template)
check "still answering after garbage" [ "$(first_code <<<"$resp")" = 200 ]

code=$(http_get /metrics)
check "GET /metrics is 200" [ "$code" = 200 ]
n=$(sed -n 's/^sipswitch_sip_requests_received_total{method="OPTIONS"} \([0-9]*\)$/\1/p' "$WORK/http.body")
check "metrics count the OPTIONS received (>= 24, got $n)" [ "${n:-0}" -ge 24 ]
check "metrics count 200 responses sent" grep -qE '^sipswitch_sip_responses_sent_total\{code="200"\} [1-9]' "$WORK/http.body"
check "metrics count 404 responses sent" grep -qE '^sipswitch_sip_responses_sent_total\{code="404"\} [1-9]' "$WORK/http.body"
check "metrics count parse errors" grep -qE '^sipswitch_sip_parse_errors_total [1-9]' "$WORK/http.body"

check "log lines about a request carry its Call-ID" grep -q '\[call-id ' "$WORK/sipswitch.log"
check "clean shutdown" stop_switch
finish
