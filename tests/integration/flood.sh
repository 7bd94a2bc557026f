#!/usr/bin/env bash
# Overload and flood protection end to end (doc/robustness.md, "Overload and
# flood protection"). A customer switch (sipp from 127.0.0.3, a [mapping]
# source) places calls to a carrier (sipp) through the switch while
#  1. an unknown address (127.0.0.2) floods 50 000 INVITEs a second
#     (tests/tools/sipflood, sendmmsg; FLOOD_PPS=0: as fast as it goes),
#     past the ~20 000 new INVITEs a second the switch can answer and 5
#     times its call rate: it must be blocked by the rate limit and cost the
#     switch a hash probe a packet. (The rate is kept at half a core: make
#     check runs another test beside this one on a 2-core machine.)
#  2. a trusted address (127.0.0.4, another mapping, exempt from the rate
#     limit) sends 10 times the INVITEs the switch can route: the script
#     spends 2 ms of CPU on each (a costly routing), so it routes 500 a
#     second, and 5000 a second come. The signaling thread falls behind:
#     new INVITEs must get 503 + Retry-After at once (stateless, so the
#     flood leaves no transactions behind) while the calls in progress
#     complete.
# Every normal call must be answered or refused with 503, never time out;
# the switch stays up, its memory bounded, and after the floods calls go
# through as before. Prints the figures doc/robustness.md quotes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
# under AddressSanitizer freed memory waits in a quarantine (256 MB by
# default) that would read as growth: keep it small here
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
FLOOD="$top_builddir/tests/tools/sipflood"
FLOOD_SECONDS=${FLOOD_SECONDS:-20}
FLOOD_PPS=${FLOOD_PPS:-50000}
OVERLOAD_SECONDS=${OVERLOAD_SECONDS:-8}
OVERLOAD_PPS=${OVERLOAD_PPS:-5000}
CALL_RATE=10
GW_A=$(free_port)
[ -x "$FLOOD" ] || { fail "tests/tools/sipflood is not built (make check builds it)"; finish; }

write_cfg "max_transactions = 20000" "[mapping customer]" "source = 127.0.0.3" \
    "[mapping flooder]" "source = 127.0.0.4" "[gateway A]" "address = 127.0.0.1:$GW_A"
# per-message debug lines would cost more than the messages under a flood
sed -i 's/^log_level = debug/log_level = notice/' "$WORK/sipswitch.cfg"
script <<'LUA'
function on_invite(call)
  if call.callee == "flood" then return call:reject(404, "No Such Number") end
  if call.callee == "costly" then
    local t = os.clock()
    repeat until os.clock() - t >= 0.002
    return call:reject(404, "No Such Number")
  end
  return { "A" }
end
LUA
start_switch || { fail "start"; finish; }

metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m { print $2; exit }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SW_PID/status"; }
# CPU time the switch used so far, in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$SW_PID/stat"; }
# refused NAME: how many of that sipp run's calls got 503 (its final screen)
refused() { awk '$1 == "503" && $2 ~ /^<-/ { print $3; exit }' "$WORK/caller_$1.out"; }
# callers N SCENARIO: N calls at CALL_RATE from the customer's address; sipp's status
callers() {
    (cd "$WORK" && timeout 60 "$SIPP" -sf "$2" -i 127.0.0.3 -p "$(free_port)" -m "$1" -r "$CALL_RATE" -l 100 \
        -s 4420 -nostdin -recv_timeout 8000 -trace_err -error_file "caller_$3.err" \
        "127.0.0.1:$SIP_PORT" >"$WORK/caller_$3.out" 2>&1) </dev/null
}
# the carrier answers every call until the end of the test
(cd "$WORK" && exec timeout 90 "$SIPP" -sf "$SC/gw_answer.xml" -i 127.0.0.1 -p "$GW_A" -nostdin \
    -trace_err -error_file gw.err >"$WORK/gw.out" 2>&1) </dev/null &
GW_PID=$!
sleep 0.3

# warm-up: the switch's memory after its first calls is the baseline
callers 5 "$SC/call_uac.xml" warmup; rc=$?
check "before the flood: 5 calls answered ($rc)" [ $rc -eq 0 ]
rss_before=$(rss_kb)

# ---- 1. an unknown address floods -------------------------------------------
cpu_before=$(cpu_ms)
"$FLOOD" --from 127.0.0.2 --to "127.0.0.1:$SIP_PORT" --rate "$FLOOD_PPS" --seconds "$FLOOD_SECONDS" >"$WORK/flood.out" 2>&1 &
flood_pid=$!
callers $((FLOOD_SECONDS * CALL_RATE)) "$SC/flood_uac.xml" flood &
callers_pid=$!
sleep $((FLOOD_SECONDS / 2))
health=$(http_get /health)
blocked_json=$(curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/blocked")
blocked_gauge=$(metric sipswitch_blocked_sources)
wait $flood_pid
wait $callers_pid; rc=$?
cpu=$(( $(cpu_ms) - cpu_before ))
calls=$((FLOOD_SECONDS * CALL_RATE))
refused=$(refused flood); refused=${refused:-0}
rate_dropped=$(metric 'sipswitch_sip_dropped_total{reason="rate_limited"}')
echo "# flood: $(cat "$WORK/flood.out"); switch dropped ${rate_dropped:-0} (rate_limited) using $cpu ms of CPU in ${FLOOD_SECONDS} s"
echo "# normal calls during the flood: $calls placed, $((calls - refused)) answered, $refused refused 503"
check "flood: the switch stayed up (/health $health during the flood)" all_of alive :: [ "$health" = 200 ]
check "flood: every normal call answered or refused 503, none timed out (sipp $rc)" [ $rc -eq 0 ]
check "flood: 127.0.0.2 listed by GET /api/v1/blocked" grep -q '"ip":"127.0.0.2"' <<<"$blocked_json"
check "flood: blocked sources gauge 1 during the flood (got $blocked_gauge)" [ "${blocked_gauge:-0}" -eq 1 ]
sent=$(sed -n 's/^sent \([0-9]*\) packets.*/\1/p' "$WORK/flood.out")
check "flood: nearly all of the ${sent:-0} flood packets were dropped unparsed (${rate_dropped:-0})" \
    [ "${rate_dropped:-0}" -gt $(( ${sent:-0} / 2 )) ]

# ---- 2. a trusted address overloads the signaling thread ---------------------
# the caller starts first: the calls answered in that second hang up during the overload
calls=$(( (OVERLOAD_SECONDS + 2) * CALL_RATE))
callers $calls "$SC/flood_uac.xml" overload &
callers_pid=$!
sleep 1
"$FLOOD" --from 127.0.0.4 --to "127.0.0.1:$SIP_PORT" --rate "$OVERLOAD_PPS" --seconds "$OVERLOAD_SECONDS" \
    --to-user costly >"$WORK/overload.out" 2>&1 &
flood_pid=$!
sleep $((OVERLOAD_SECONDS / 2))
delay=$(metric sipswitch_sip_message_delay_milliseconds)
wait $flood_pid
wait $callers_pid; rc=$?
shed=$(metric sipswitch_sip_overload_rejected_total)
tx_cap=$(metric 'sipswitch_sip_limit_hits_total{limit="transactions"}')
refused=$(refused overload); refused=${refused:-0}
echo "# overload: $(cat "$WORK/overload.out"); ${shed:-0} INVITEs shed for age, ${tx_cap:-0} at max_transactions; message delay ${delay:-?} ms at mid-flood"
echo "# normal calls during the overload: $calls placed, $((calls - refused)) answered, $refused refused 503"
check "overload: the switch stayed up" alive
check "overload: new INVITEs were shed with 503 for their age (${shed:-0})" [ "${shed:-0}" -gt 0 ]
check "overload: every normal call answered or refused 503 with Retry-After, none timed out (sipp $rc)" [ $rc -eq 0 ]
check "overload: calls in progress completed ($((calls - refused)) answered and hung up)" [ $((calls - refused)) -gt 0 ]

# ---- after: memory bounded, service normal, the block can be lifted ----------
sleep 1
rss_after=$(rss_kb)
echo "# VmRSS: ${rss_before} kB before the floods, ${rss_after} kB after"
check "memory bounded: VmRSS grew by $(( (rss_after - rss_before) / 1024 )) MB (< 64 MB)" \
    [ $(( rss_after - rss_before )) -lt 65536 ]
callers 10 "$SC/call_uac.xml" after; rc=$?
check "after the floods: 10 calls answered ($rc)" [ $rc -eq 0 ]
code=$(curl -s -o "$WORK/http.body" -w '%{http_code}' -X DELETE "http://127.0.0.1:$HTTP_PORT/api/v1/blocked/127.0.0.2")
check "DELETE /api/v1/blocked/127.0.0.2: 200 ($code)" [ "$code" = 200 ]
code=$(curl -s -o "$WORK/http.body" -w '%{http_code}' -X DELETE "http://127.0.0.1:$HTTP_PORT/api/v1/blocked/127.0.0.2")
check "a second DELETE: 404, not blocked any more ($code)" [ "$code" = 404 ]
"$FLOOD" --from 127.0.0.2 --to "127.0.0.1:$SIP_PORT" --method OPTIONS --rate 20 --seconds 1 >"$WORK/unblocked.out"
check "127.0.0.2 is answered again once unblocked ($(cat "$WORK/unblocked.out"))" \
    bash -c "! grep -q ' 0 responses' '$WORK/unblocked.out'"
kill $GW_PID 2>/dev/null; wait $GW_PID 2>/dev/null
check "stops cleanly" stop_switch
finish
