#!/usr/bin/env bash
# The cdr module's back-pressure: with a pending list of 10 records (the
# journal commits every 100 ms) and calls ending at 300/s, the list fills
# again and again. Calls arriving while it is full get 503 (counted), their
# records and those of calls ending meanwhile wait in the module's overflow
# and are retried until the store takes them: every call, answered or
# refused, has exactly one record, and once the load stops nothing is
# pending and the alarm is down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port)
CDR="$WORK/cdr"
CALLS=600
write_cfg "load = gw_switch, cdr" "[mapping customer]" "source = 127.0.0.1" \
    "[gateway A]" "address = 127.0.0.1:$GW_A" \
    "[cdr]" "dir = $CDR" "write_interval = 1" "max_pending = 10"
printf 'function on_invite(call) return { "A" } end\n' >"$WORK/route.lua"
start_switch || { fail "start"; finish; }

(cd "$WORK" && timeout 40 "$SIPP" -sf "$SC/gw_answer.xml" -i 127.0.0.1 -p "$GW_A" -nostdin >/dev/null 2>&1) </dev/null &
gw=$!
sleep 0.3
(cd "$WORK" && timeout 40 "$SIPP" -sf "$SC/call_uac_or_503.xml" -i 127.0.0.1 -p "$(free_port)" -m $CALLS -r 300 \
    -nostdin -s 4420 "127.0.0.1:$SIP_PORT" -trace_stat -stf "$WORK/caller_stat.csv" >"$WORK/caller.out" 2>&1) </dev/null
rc=$?
kill "$gw" 2>/dev/null; wait "$gw" 2>/dev/null
check "$CALLS calls placed, each answered or refused with 503 (sipp rc $rc)" [ $rc -eq 0 ]

# metric NAME: its value on /metrics
metric() { http_get /metrics >/dev/null; sed -n "s/^sipswitch_cdr_$1 \([0-9]*\).*/\1/p" "$WORK/http.body"; }
refused=$(metric calls_refused_total) held=$(metric records_held_total)
check "the pending list filled: calls refused with 503 ($refused) and records held back ($held)" \
    all_of [ "${refused:-0}" -gt 0 ] :: [ "${held:-0}" -gt 0 ]
records() { cat "$CDR"/cdr-*.csv 2>/dev/null | grep -vc '^seq,' || true; }
for i in $(seq 1 50); do [ "$(records)" -ge $CALLS ] && break; sleep 0.1; done
n=$(records)
check "every call has its record: $n of $CALLS" [ "$n" -eq $CALLS ]
refused_records=$(cat "$CDR"/cdr-*.csv | grep -c ',overload,' || true)
check "the refused calls' records say overload: $refused_records of $refused" [ "$refused_records" -eq "$refused" ]
# the gauges are refreshed once a second
settled() {
    local i
    for i in $(seq 1 30); do
        [ "$(metric pending)" = 0 ] && [ "$(metric backlog_alarm)" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}
check "after the load: nothing pending, the alarm is down" settled
finish
