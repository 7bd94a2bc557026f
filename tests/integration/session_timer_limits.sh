#!/usr/bin/env bash
# The session_timer module (RFC 4028, PARAMETERS.md section 2) at its
# limits, on real calls (sipp as the caller and the gateways, short
# intervals through allow_short_intervals); session_timer.sh covers the
# refreshes.
#   5. 422: a caller offering too small an interval gets 422 with Min-SE; a
#      gateway asking for more makes the next gateway get that much
#   6. a leg without timer: the call ends at no_timer_reinvite_interval,
#      both legs BYEd, the CDR says why
#   7. the far end as refresher: its choice is kept, and a session it does
#      not refresh is ended before it expires
#   8. cfg: a short interval without the opt-in is refused with file:line,
#      at reload (old settings kept) and at start-up
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
. "$(dirname "$0")/session_timer_lib.sh"
setup
start_switch || { fail "start"; finish; }

# ---- 5. 422 --------------------------------------------------------------------------
listen A
caller st_caller_422.xml; rc=$?
check "5 caller offering Session-Expires 1 < Min-SE 2: 422 with Min-SE: 2 ($rc)" [ $rc -eq 0 ]
check "5 no gateway was tried" [ "$(heard A)" = 0 ]
rec=$(cdr_of caller.msg)
check "5 CDR: final code 422 ($(cdr_field "$rec" final_code))" [ "$(cdr_field "$rec" final_code)" = 422 ]
check "5 CDR: end reason rejected_by_module ($(cdr_field "$rec" end_reason))" [ "$(cdr_field "$rec" end_reason)" = rejected_by_module ]
# a gateway asking for more: the switch cannot re-send it an INVITE (module
# API), so the attempt fails and the next gateway is offered that much
gateway A st_gw_422.xml; gateway B st_gw_plain.xml
sleep 0.3
caller st_caller_hold.xml -s 4422 -d 500; rc=$?
check "5 gateway A answered 422 (Min-SE 8); B answered; the call connected ($rc)" [ $rc -eq 0 ]
wait_gw A; wait_gw B
b_invite=$(message gw_B.msg received '^INVITE ')
check "5 gateway B was offered the interval A asked for: Session-Expires 8;refresher=uac, Min-SE 8" \
    all_of has "$b_invite" '^Session-Expires: 8;refresher=uac' :: has "$b_invite" '^Min-SE: 8'
check "5 metrics: one caller refused, one gateway 422" \
    all_of [ "$(metric too_small_total)" = 1 ] :: [ "$(metric gateway_422_total)" = 1 ]

# ---- 6. a leg without timer: max duration ---------------------------------------------
setup st:"no_timer_reinvite_interval = 3"
gateway A st_gw_plain.xml
sleep 0.3
caller call_uac_bye_in.xml; rc=$?
check "6 caller: got the switch's BYE ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "6 gateway: got the switch's BYE ($rc)" [ $rc -eq 0 ]
answered=$(first_time caller.msg received '^SIP/2.0 200 ')
to_caller=$(delta "$answered" "$(first_time caller.msg received '^BYE ')")
to_gateway=$(delta "$answered" "$(first_time gw_A.msg received '^BYE ')")
check "6 both legs BYEd at no_timer_reinvite_interval = 3 s after the answer (caller $to_caller s, gateway $to_gateway s)" \
    all_of between 2.9 3.6 "$to_caller" :: between 2.9 3.6 "$to_gateway"
rec=$(cdr_of caller.msg)
check "6 CDR: end reason max_duration_no_timer ($(cdr_field "$rec" end_reason))" \
    [ "$(cdr_field "$rec" end_reason)" = max_duration_no_timer ]
check "6 metrics: one call ended at the max duration; no refresh sent on legs without timer" \
    all_of [ "$(metric 'calls_ended_total{reason="max_duration_no_timer"}')" = 1 ] :: \
    [ "$(metric 'sessions_total{leg="caller",timer="no"}')" -ge 1 ] :: \
    [ "$(metric 'sessions_total{leg="gateway",timer="no"}')" -ge 1 ]

# ---- 7. the far end as refresher ----------------------------------------------------
setup
gateway A st_gw_plain.xml
sleep 0.3
caller st_caller_refresher.xml; rc=$?
check "7 caller asking refresher=uac: 200 keeps it (4;refresher=uac, Require: timer); no refresh from the switch; BYE ($rc)" \
    [ $rc -eq 0 ]
wait_gw A; rc=$?
check "7 gateway: got the BYE too ($rc)" [ $rc -eq 0 ]
answered=$(first_time caller.msg received '^SIP/2.0 200 ')
bye=$(first_time caller.msg received '^BYE ')
check "7 not refreshed: BYE at the interval minus a third (2.67 s) after the answer ($(delta "$answered" "$bye") s)" \
    between 2.5 3.3 "$(delta "$answered" "$bye")"
rec=$(cdr_of caller.msg)
check "7 CDR: end reason session_timer_expired ($(cdr_field "$rec" end_reason))" \
    [ "$(cdr_field "$rec" end_reason)" = session_timer_expired ]

# ---- 8. cfg --------------------------------------------------------------------------
# a reload with a short interval and no opt-in is refused, naming the line;
# the running settings stay
write_cfg "load = gw_switch, session_timer, cdr" "[mapping customer]" "source = 127.0.0.1" \
    "[gateway A]" "address = 127.0.0.1:$GW_A" "[gateway B]" "address = 127.0.0.1:$GW_B" \
    "[cdr]" "dir = $CDR" "[session_timer]" "session_ttl = 4"
line=$(grep -n '^session_ttl = 4' "$WORK/sipswitch.cfg" | cut -d: -f1)
code=$(http_post /api/v1/reload)
check "8 reload with session_ttl = 4 and no allow_short_intervals: the module refuses it, naming sipswitch.cfg:$line" \
    grep -q "module 'session_timer' refused the reload.*sipswitch.cfg:$line: session_ttl = 4 is below 90 s" \
    "$WORK/sipswitch.log"
check "8 the API answers 200 (cfg applied) and lists the module's refusal as a warning ($code)" all_of \
    [ "$code" = 200 ] :: grep -q '"ok":true,"warnings":\["module '"'"'session_timer'"'"' refused the reload' "$WORK/http.body"
caller st_caller_422.xml; rc=$?
check "8 the running settings stayed (min_se 2: a 1 s offer still gets 422 with Min-SE: 2) ($rc)" [ $rc -eq 0 ]
check "8 the warning for the opt-in was logged at start" \
    grep -q "allow_short_intervals: accepting intervals below RFC 4028" "$WORK/sipswitch.log"
check "clean shutdown" stop_switch
"$SW_BIN" -c "$WORK/sipswitch.cfg" --module-path "$top_builddir/modules" >"$WORK/refused.log" 2>&1 &
pid=$!
for i in $(seq 1 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill $pid; wait $pid; }
wait $pid; rc=$?
check "8 start-up with it refused ($rc), naming sipswitch.cfg:$line" \
    all_of [ $rc -ne 0 ] :: grep -q "sipswitch.cfg:$line: session_ttl = 4 is below 90 s" "$WORK/refused.log"
finish
