#!/usr/bin/env bash
# The cdr module on real calls: one record per call whatever its outcome,
# with the right fields (end reason, final code, attempts, hold time, the
# script's custom field); 1,000 calls of mixed outcomes give exactly 1,000
# records; after kill -9 under load every call that ended more than 1 s
# before the kill has its record (the journal replays at the restart), and
# none is written twice; the VOS3000 pipe format.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port); GW_B=$(free_port)
CDR="$WORK/cdr"

# cfg FORMAT: gateways A and B, gw_switch and cdr writing to $CDR every second
cfg() {
    write_cfg "load = gw_switch, cdr" "[mapping customer]" "source = 127.0.0.1" \
        "[gateway A]" "address = 127.0.0.1:$GW_A" "[gateway B]" "address = 127.0.0.1:$GW_B" \
        "[gw_switch]" "invite_timeout = 1" \
        "[cdr]" "dir = $CDR" "format = $1" "write_interval = 1" "extra_columns = account, route" \
        "SERVER_BILLING_HOLD_TIME_PRECISION = 50ms"
}
# records: every CSV record of $CDR as JSON lines (header skipped), via python
records() {
    ${PYTHON3:-python3} - "$CDR" <<'PY'
import csv, glob, json, sys
for path in sorted(glob.glob(sys.argv[1] + "/cdr-*.csv")):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            print(json.dumps(row))
PY
}
# wait_records N: until at least N records are in the CDR files (10 s at most)
wait_records() {
    local i n
    for i in $(seq 1 100); do
        n=$(records | wc -l)
        [ "$n" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "only $n records, wanted $1"; return 1
}
# check_records NAME PYTHON: asserts over `recs` (list of dicts, in seq order)
check_records() {
    local out
    if out=$(records | ${PYTHON3:-python3} -c "
import json, sys
recs = [json.loads(l) for l in sys.stdin]
recs.sort(key=lambda r: int(r['seq']))
$2" 2>&1); then pass "$1"; else fail "$1"; echo "$out" | tail -n 8; fi
}

cfg csv
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call)
  call:cdr_set("account", "acme")
  if call.callee == "4499" then call:set_callee("0044990000") end
  return { "A", "B" }
end
LUA
start_switch || { fail "start"; finish; }

# ---- one call of each outcome ------------------------------------------------------
gateway A gw_answer.xml                          # 1. answered by A, caller hangs up after ~1 s
caller call_uac.xml -s 4499; wait_gw A
gateway A "$(rejecting 486)"                     # 2. busy: stops at A
caller "$(fails_with 486)"; wait_gw A
gateway A "$(rejecting 503)"; gateway B gw_answer.xml   # 3. failover A 503 -> B answers
caller call_uac.xml; wait_gw A; wait_gw B
gateway A gw_ring_cancel.xml                     # 4. the caller cancels while A rings
caller call_uac_cancel.xml; wait_gw A
gateway A gw_silent.xml; gateway B gw_silent.xml # 5. both silent: INVITE timeouts, 408
caller "$(fails_with 408)"; wait_gw A; wait_gw B
check "five calls: five records in the CDR file" wait_records 5
check_records "answered call: reason, hung up by the caller, A, 200, hold time at 50 ms, numbers in and out, custom field" "
r = recs[0]
assert r['end_reason'] == 'normal_caller' and r['hung_up_by'] == 'caller' and r['final_code'] == '200', r
assert r['final_gateway'] == 'A' and r['attempt_count'] == '1' and r['attempts'].startswith('A:200:answered:'), r
assert 900 <= int(r['hold_ms']) <= 2500 and int(r['hold_ms']) % 50 == 0, r
assert r['callee_in'] == '4499' and r['callee_out'] == '0044990000' and r['caller_in'] == '1001', r
assert r['source'] == 'customer' and r['source_ip'] == '127.0.0.1' and r['account'] == 'acme' and r['route'] == '', r
assert r['setup_time'] <= r['ring_time'] <= r['answer_time'] <= r['end_time'], r"
check_records "busy call: all_gateways_failed, 486, one attempt, no answer time, hold 0" "
r = recs[1]
assert r['end_reason'] == 'all_gateways_failed' and r['final_code'] == '486' and r['final_gateway'] == '', r
assert r['attempts'].startswith('A:486:response:') and r['answer_time'] == '' and r['hold_ms'] == '0', r"
check_records "failover: two attempts A 503 then B 200, final gateway B" "
r = recs[2]
assert r['attempt_count'] == '2' and r['attempts'].split(';')[0].startswith('A:503:response:'), r
assert r['attempts'].split(';')[1].startswith('B:200:answered:') and r['final_gateway'] == 'B', r"
check_records "cancelled call: cancelled, by the caller, 487" "
r = recs[3]
assert r['end_reason'] == 'cancelled' and r['hung_up_by'] == 'caller' and r['final_code'] == '487', r"
check_records "timeouts: invite_timeout, 408, both attempts timed out" "
r = recs[4]
assert r['end_reason'] == 'invite_timeout' and r['final_code'] == '408', r
assert [a.split(':')[2] for a in r['attempts'].split(';')] == ['invite_timeout', 'invite_timeout'], r"
check_records "seq numbers are consecutive" "
s = [int(r['seq']) for r in recs]
assert s == list(range(s[0], s[0] + len(s))), s"

# ---- 1,000 calls, mixed outcomes: exactly 1,000 more records ---------------------------
# batch TAG N GW_SCENARIO_A [GW_SCENARIO_B]: N calls at 200/s, each with its own gateway call
batch() {
    local n=$2
    (cd "$WORK" && timeout 60 "$SIPP" -sf "$3" -i 127.0.0.1 -p "$GW_A" -m "$n" -nostdin >/dev/null 2>&1) </dev/null &
    local pa=$! pb=
    if [ -n "${4:-}" ]; then
        (cd "$WORK" && timeout 60 "$SIPP" -sf "$4" -i 127.0.0.1 -p "$GW_B" -m "$n" -nostdin >/dev/null 2>&1) </dev/null &
        pb=$!
    fi
    sleep 0.3
    (cd "$WORK" && timeout 60 "$SIPP" -sf "$5" -i 127.0.0.1 -p "$(free_port)" -m "$n" -r 200 -nostdin \
        -s 4420 "127.0.0.1:$SIP_PORT" >"$WORK/batch_$1.out" 2>&1) </dev/null
    local rc=$?
    wait $pa $pb
    return $rc
}
sed 's/<pause milliseconds="1000"\/>/<pause milliseconds="10"\/>/' "$SC/call_uac.xml" >"$WORK/short_call.xml"
before=$(records | wc -l)
batch answered 400 "$SC/gw_answer.xml" "" "$WORK/short_call.xml"; r1=$?
batch busy 300 "$(rejecting 486)" "" "$(fails_with 486)"; r2=$?
batch failover 300 "$(rejecting 503)" "$SC/gw_answer.xml" "$WORK/short_call.xml"; r3=$?
check "1,000 calls placed: 400 answered, 300 busy, 300 failed over (sipp $r1 $r2 $r3)" all_of [ $r1 -eq 0 ] :: [ $r2 -eq 0 ] :: [ $r3 -eq 0 ]
check "1,000 calls: 1,000 more records" wait_records $((before + 1000))
check_records "1,000 calls: exactly 1,000 new records, with the outcome mix and no Call-ID twice" "
new = recs[$before:]
assert len(new) == 1000, len(new)
assert len({r['call_id'] for r in new}) == 1000
kinds = {}
for r in new:
    k = (r['end_reason'], r['final_code'], r['final_gateway'])
    kinds[k] = kinds.get(k, 0) + 1
assert kinds == {('normal_caller', '200', 'A'): 400, ('all_gateways_failed', '486', ''): 300,
                 ('normal_caller', '200', 'B'): 300}, kinds"

# ---- kill -9 under load: nothing lost that ended > 1 s before the kill ----------------------
before=$(records | wc -l)
batch killed_before 200 "$SC/gw_answer.xml" "" "$WORK/short_call.xml"
sleep 1.2
# more calls in flight at the kill (their records may or may not exist: they had not ended)
( (cd "$WORK" && timeout 20 "$SIPP" -sf "$SC/gw_answer.xml" -i 127.0.0.1 -p "$GW_A" -m 500 -nostdin >/dev/null 2>&1) & \
  sleep 0.3; cd "$WORK" && timeout 20 "$SIPP" -sf "$WORK/short_call.xml" -i 127.0.0.1 -p "$(free_port)" -m 500 -r 200 \
  -nostdin -s 4420 "127.0.0.1:$SIP_PORT" >/dev/null 2>&1 ) </dev/null &
load_pid=$!
sleep 1
kill -9 "$SW_PID"; wait "$SW_PID" 2>/dev/null; SW_PID=
# the load's sipps must not talk to the restarted switch
pkill -f "sipp -sf $WORK/short_call.xml" 2>/dev/null; pkill -f "sipp.*-p $GW_A " 2>/dev/null
wait "$load_pid" 2>/dev/null
sleep 0.5
start_switch || fail "restart after kill -9"
check "after kill -9 and restart: the 200 calls that ended before the kill all have their record" \
    wait_records $((before + 200))
check_records "after kill -9: no record written twice (seq and Call-ID unique)" "
assert len({r['seq'] for r in recs}) == len(recs)
assert len({r['call_id'] for r in recs}) == len(recs)"
http_get /metrics >/dev/null
check "metrics: records written, pending, journal size exported" all_of \
    grep -qE '^sipswitch_cdr_records_written_total [0-9]+' "$WORK/http.body" :: \
    grep -qE '^sipswitch_cdr_pending [0-9]+' "$WORK/http.body" :: \
    grep -qE '^sipswitch_cdr_journal_bytes [0-9]+' "$WORK/http.body" :: \
    grep -q '^sipswitch_cdr_backlog_alarm 0' "$WORK/http.body"
# the module's own management resource (api->http_route): the same figures read together
code=$(http_get /api/v1/cdr)
check "GET /api/v1/cdr: 200 with the store's figures ($code)" ${PYTHON3:-python3} -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert sys.argv[2] == '200', sys.argv[2]
assert d['format'] == 'csv' and d['dir'].endswith('cdr'), d
assert d['records_written'] >= d['recovered'] and d['pending'] == 0 and d['backlog_alarm'] is False, d
" "$WORK/http.body" "$code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$HTTP_PORT/api/v1/cdr")
check "DELETE /api/v1/cdr: 405 ($code)" [ "$code" = 405 ]
code=$(http_get /api/v1/cdr/nothing)
check "GET /api/v1/cdr/nothing: 404 ($code)" [ "$code" = 404 ]
code=$(http_get /api/v1/modules)
check "GET /api/v1/modules names every hook of cdr ($code)" all_of \
    grep -q '"on_call_new","on_call_end"' "$WORK/http.body" :: bash -c "! grep -q null '$WORK/http.body'"
check "clean shutdown" stop_switch

# ---- the VOS3000 pipe format ---------------------------------------------------------------
rm -rf "$CDR"
cfg vos
start_switch || fail "start with format = vos"
gateway A gw_answer.xml
caller call_uac.xml; wait_gw A
check "clean shutdown writes the pending record" stop_switch
line=$(cat "$CDR"/cdr-*.vos 2>/dev/null | head -n1)
check "pipe format: one line, 22 fields + 2 extra columns, caller, callee, hold in seconds, reason 1, final code 200 ($line)" \
    ${PYTHON3:-python3} -c "
import sys
f = sys.argv[1].rstrip('\r\n').split('|')
assert len(f) == 24, len(f)
assert f[0] == '1001' and f[1] == '4420' and f[5] == '1' and f[12] == '200' and f[8] == 'A', f
assert f[21] == 'normal_caller' and f[22] == 'acme' and f[23] == '', f
assert 1 <= int(f[4]) <= 3, f" "$line"
finish
