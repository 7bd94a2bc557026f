#!/usr/bin/env bash
# GET /api/v1/calls and /api/v1/gateways: an answered call (sipp as the
# customer switch and as gateway A) shows in both while it is up, and is gone
# from both after the hangup; bad ?limit= values get 400; every answer is JSON.
. "$(dirname "$0")/lib.sh"
SC="$top_srcdir/tests/integration/scenarios"
GW_A=$(free_port)
CALLER_PORT=$(free_port)
# The caller's Call-ID carries a double quote and a backslash (both legal in
# a Call-ID): the report must escape them to stay valid JSON.
CALL_ID_FMT='api"\call-%u@customer.test'
CALL_ID='api"\call-1@customer.test'
export CALL_ID

# json DESCRIPTION PYTHON_ASSERTIONS: the last body parses as JSON (as d) and
# the assertions hold
json() {
    local d=$1 fails=$FAILS; shift
    check "$d" ${PYTHON3:-python3} -c "
import json, os, sys
d = json.load(open(sys.argv[1]))
$1" "$WORK/http.body"
    [ "$FAILS" = "$fails" ] || { echo "body:"; cat "$WORK/http.body"; }
}
# wait_for PATH PYTHON_CONDITION: polls PATH (5 s at most) until the condition
# on its JSON (as d) holds
wait_for() {
    local i
    for i in $(seq 1 50); do
        http_get "$1" >/dev/null
        ${PYTHON3:-python3} -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" \
            "$WORK/http.body" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# (gw_answer.xml checks the caller's X- header was passed through)
write_cfg "passthrough_headers = P-Asserted-Identity, X-*" "[mapping customer]" "source = 127.0.0.1" "[gateway A]" "address = 127.0.0.1:$GW_A" "description = primary carrier, \"UK\""
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call) return { "A" } end
LUA
start_switch || { fail "start"; finish; }

# ---- no call yet ----------------------------------------------------------------
code=$(http_get /api/v1/calls)
check "GET /api/v1/calls: 200" [ "$code" = 200 ]
json "no call: total 0, nothing truncated" "
assert d['total'] == 0 and d['calls'] == [] and d['truncated'] is False, d
assert d['limit'] == 1000 and d['time'].endswith('Z'), d"
code=$(http_get /api/v1/gateways)
check "GET /api/v1/gateways: 200" [ "$code" = 200 ]
json "gateway A listed with its address, transport, description and no call" "
g = [x for x in d['gateways'] if x['name'] == 'A'][0]
assert g['description'] == 'primary carrier, \\\"UK\\\"', g
assert g['address'] == '127.0.0.1:$GW_A' and g['ip'] == '127.0.0.1' and g['transport'] == 'udp', g
assert g['configured'] is True and g['calls'] == 0 and g['attempting'] == 0 and g['answered'] == 0, g
assert d['calls'] == 0, d"

# ---- bad requests -----------------------------------------------------------------
for q in 'limit=abc' 'limit=-1' 'limit=1.5' 'limit=100001' 'limit=99999999999999999999999' 'limit=' 'limit'; do
    code=$(http_get "/api/v1/calls?$q")
    check "GET /api/v1/calls?$q: 400 ($code)" [ "$code" = 400 ]
done
json "400 body is a JSON error naming the limit" "assert 'limit' in d['error'], d"
code=$(http_get "/api/v1/calls?limit=100000")
check "GET /api/v1/calls?limit=100000 (the maximum): 200" [ "$code" = 200 ]
code=$(curl -sS -o "$WORK/http.body" -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/calls")
check "POST /api/v1/calls: 405" [ "$code" = 405 ]
code=$(curl -sS -o "$WORK/http.body" -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/gateways")
check "POST /api/v1/gateways: 405" [ "$code" = 405 ]

# ---- one answered call, held 4 s ------------------------------------------------------
(cd "$WORK" && exec timeout 30 "$SIPP" -sf "$SC/gw_answer.xml" -i 127.0.0.1 -p "$GW_A" -m 1 -nostdin \
    -trace_err -error_file gw_A.err >"$WORK/gw_A.out" 2>&1) </dev/null &
GW_PID=$!
sleep 0.3
(cd "$WORK" && exec timeout 30 "$SIPP" -sf "$SC/call_uac_long.xml" -i 127.0.0.1 -p "$CALLER_PORT" -m 1 -nostdin \
    -s 4420 -cid_str "$CALL_ID_FMT" -trace_err -error_file caller.err "127.0.0.1:$SIP_PORT" \
    >"$WORK/caller.out" 2>&1) </dev/null &
CALLER_PID=$!

check "the call shows as answered" wait_for /api/v1/calls "d['total'] == 1 and d['calls'][0]['state'] == 'answered'"
json "the answered call: Call-ID, parties, source, gateway A, one attempt answered 200" "
assert d['total'] == 1 and d['returned'] == 1 and d['truncated'] is False, d
c = d['calls'][0]
assert c['call_id'] == os.environ['CALL_ID'], c['call_id']
assert c['state'] == 'answered' and c['gateway'] == 'A', c
assert c['caller'] == '1001' and c['callee'] == '4420', c
assert c['source'] == 'customer' and c['source_ip'] == '127.0.0.1', c
assert isinstance(c['id'], int) and c['id'] >= 1, c
assert c['created'].endswith('Z') and c['answered'].endswith('Z') and c['created'] <= c['answered'], c
assert isinstance(c['age_ms'], int) and 0 <= c['age_ms'] < 10000, c
assert len(c['attempts']) == 1, c
a = c['attempts'][0]
assert a['gateway'] == 'A' and a['callee'] == '4420' and a['code'] == 200 and a['reason'] == 'answered', a
assert a['outcome'] == 'answered', a
assert 0 <= a['started_ms'] <= a['first_response_ms'] <= a['ended_ms'] <= c['age_ms'], a"
check "the Call-ID's quote and backslash are escaped in the raw JSON" grep -qF 'api\"\\call-1@' "$WORK/http.body"
code=$(http_get "/api/v1/calls?limit=0")
json "?limit=0: the count alone, marked truncated" "
assert d['total'] == 1 and d['returned'] == 0 and d['calls'] == [] and d['truncated'] is True, d"
code=$(http_get /api/v1/gateways)
json "gateway A has the call, answered" "
g = [x for x in d['gateways'] if x['name'] == 'A'][0]
assert g['calls'] == 1 and g['answered'] == 1 and g['attempting'] == 0, g
assert d['calls'] == 1 and d['routing'] == 0, d"

# ---- after the hangup -------------------------------------------------------------------
wait "$CALLER_PID"; rc=$?
check "the caller's call completed (200, ACK, BYE answered) ($rc)" [ $rc -eq 0 ]
wait "$GW_PID"; rc=$?
check "gateway A answered and got the BYE ($rc)" [ $rc -eq 0 ]
check "the call is gone from /api/v1/calls" wait_for /api/v1/calls "d['total'] == 0 and d['calls'] == []"
code=$(http_get /api/v1/gateways)
json "gateway A has no call left" "
g = [x for x in d['gateways'] if x['name'] == 'A'][0]
assert g['calls'] == 0 and g['answered'] == 0 and g['attempting'] == 0 and d['calls'] == 0, d"

code=$(http_get /health)
check "still healthy" [ "$code" = 200 ]
check "clean shutdown" stop_switch
finish
