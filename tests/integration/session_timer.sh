#!/usr/bin/env bash
# The session_timer module (RFC 4028, PARAMETERS.md section 2) refreshing
# sessions on real calls: sipp as the caller and as the gateways, the switch
# in between as a B2BUA that negotiates each leg on its own. Intervals of a
# few seconds through allow_short_intervals (session_ttl 4 s, refresh every
# 2 s). Each case checks what both ends received, headers and timing
# included, and the module's metrics; the cdr module records why the switch
# ended a call. session_timer_limits.sh covers 422, the max duration of a
# leg without timer and the cfg checks.
#   1. refresh answered: UPDATEs every 2 s on both legs, the call stays up
#   2. refresh unanswered: both legs BYEd after the refresh period + grace
#   3. UPDATE answered 501: re-INVITEs with the same SDP from then on
#   4. far-end refresh: answered by the switch (not relayed), timer reset;
#      a real media change is still relayed
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
. "$(dirname "$0")/session_timer_lib.sh"
setup
start_switch || { fail "start"; finish; }

# ---- 1. refresh answered ------------------------------------------------------------
gateway A st_gw_refresh.xml
sleep 0.3
caller st_caller_refresh.xml; rc=$?
# (the scenarios check the headers: st_caller_refresh.xml, st_gw_refresh.xml)
check "1 caller: 200 with Session-Expires 4;refresher=uas, Require: timer; 3 UPDATEs (4;refresher=uac) ($rc)" \
    [ $rc -eq 0 ]
wait_gw A; rc=$?
check "1 gateway: INVITE with Supported: timer, Session-Expires 4;refresher=uac, Min-SE 2; UPDATEs ($rc)" \
    [ $rc -eq 0 ]
gw_updates=$(times gw_A.msg received '^UPDATE ' | wc -l)
check "1 gateway: at least 3 UPDATE refreshes before the BYE (got $gw_updates)" [ "$gw_updates" -ge 3 ]
answered=$(first_time caller.msg received '^SIP/2.0 200 ')
u1=$(nth_time 1 caller.msg received '^UPDATE '); u2=$(nth_time 2 caller.msg received '^UPDATE ')
u3=$(nth_time 3 caller.msg received '^UPDATE ')
d1=$(delta "$answered" "$u1"); d2=$(delta "$u1" "$u2"); d3=$(delta "$u2" "$u3")
check "1 caller: refreshes every TTL/segment = 2 s from the answer ($d1, $d2, $d3 s)" \
    all_of between 1.7 2.6 "$d1" :: between 1.7 2.6 "$d2" :: between 1.7 2.6 "$d3"
g0=$(first_time gw_A.msg sent '^SIP/2.0 200 '); g1=$(nth_time 1 gw_A.msg received '^UPDATE ')
g2=$(nth_time 2 gw_A.msg received '^UPDATE ')
check "1 gateway: refreshes every 2 s too ($(delta "$g0" "$g1"), $(delta "$g1" "$g2") s)" \
    all_of between 1.7 2.6 "$(delta "$g0" "$g1")" :: between 1.7 2.6 "$(delta "$g1" "$g2")"
bye=$(first_time caller.msg sent '^BYE ')
check "1 the call stayed up past three refresh periods ($(delta "$answered" "$bye") s)" \
    between 6.0 9.0 "$(delta "$answered" "$bye")"
sent=$(metric 'refreshes_sent_total{method="UPDATE"}') ok=$(metric 'refreshes_ok_total{method="UPDATE"}')
check "1 metrics: UPDATE refreshes sent and answered on both legs (sent $sent, ok $ok)" \
    all_of [ "$sent" -ge 6 ] :: [ "$ok" = "$sent" ] :: \
    [ "$(metric 'sessions_total{leg="caller",timer="yes"}')" = 1 ] :: \
    [ "$(metric 'sessions_total{leg="gateway",timer="yes"}')" = 1 ] :: \
    [ "$(metric 'timed_sessions{leg="caller"}')" = 0 ]

# ---- 2. refresh unanswered ----------------------------------------------------------
# a caller without timer (its leg limited to the default 7200 s) and a
# gateway that goes silent at its first refresh; 1 s of grace. Gateway C:
# the core keeps retransmitting the unanswered UPDATE after the call (the
# transaction's 32 s), which must not reach the gateways of later cases
setup st:"session_timeout_early_hangup = 1"
gateway C st_gw_refresh_silent.xml
sleep 0.3
caller call_uac_bye_in.xml -s 4433; rc=$?
check "2 caller: got the switch's BYE and answered it ($rc)" [ $rc -eq 0 ]
wait_gw C; rc=$?
check "2 gateway: got a refresh it never answered, then the switch's BYE ($rc)" [ $rc -eq 0 ]
refresh=$(first_time gw_C.msg received '^UPDATE '); gw_bye=$(first_time gw_C.msg received '^BYE ')
caller_bye=$(first_time caller.msg received '^BYE ')
check "2 both legs BYEd 2 s (TTL/segment) + 1 s (grace) after the unanswered refresh (gateway $(delta "$refresh" "$gw_bye") s, caller $(delta "$refresh" "$caller_bye") s)" \
    all_of between 2.8 3.6 "$(delta "$refresh" "$gw_bye")" :: between 2.8 3.6 "$(delta "$refresh" "$caller_bye")"
rec=$(cdr_of caller.msg)
check "2 CDR: session_timer_expired, hung up by the switch ($(cdr_field "$rec" end_reason), $(cdr_field "$rec" hung_up_by))" \
    all_of [ "$(cdr_field "$rec" end_reason)" = session_timer_expired ] :: [ "$(cdr_field "$rec" hung_up_by)" = switch ]
check "2 metrics: one call ended by the timer, one UPDATE refresh failed" \
    all_of [ "$(metric 'calls_ended_total{reason="session_timer_expired"}')" = 1 ] :: \
    [ "$(metric 'refreshes_failed_total{method="UPDATE"}')" = 1 ]

# ---- 3. UPDATE answered 501: re-INVITE from then on ----------------------------------
setup
gateway A st_gw_update_501.xml
sleep 0.3
caller st_caller_hold.xml -d 5500; rc=$?
check "3 caller: a leg without timer gets no refresh; its BYE after 5.5 s is answered ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "3 gateway: UPDATE answered 501, then only re-INVITEs: SDP unchanged (o=caller 1 1), 4;refresher=uac ($rc)" \
    [ $rc -eq 0 ]
upd=$(first_time gw_A.msg received '^UPDATE '); inv1=$(nth_time 2 gw_A.msg received '^INVITE ')
inv2=$(nth_time 3 gw_A.msg received '^INVITE ')
check "3 the fallback re-INVITE at once ($(delta "$upd" "$inv1") s), the next a period later ($(delta "$inv1" "$inv2") s)" \
    all_of between 0 0.5 "$(delta "$upd" "$inv1")" :: between 1.7 2.6 "$(delta "$inv1" "$inv2")"
reinvite=$(message gw_A.msg received '^INVITE (?s:.)*CSeq: 3 INVITE')
check "3 the re-INVITE carries Supported: timer, Min-SE 2 and the Content-Type of its SDP" \
    all_of has "$reinvite" '^Supported: timer' :: has "$reinvite" '^Min-SE: 2' :: has "$reinvite" '^Content-Type: application/sdp'
check "3 caller: received no re-INVITE and no UPDATE" [ "$(times caller.msg received '^(INVITE|UPDATE) ' | wc -l)" = 0 ]
check "3 metrics: one fallback, re-INVITE refreshes answered" \
    all_of [ "$(metric refresh_fallbacks_total)" = 1 ] :: [ "$(metric 'refreshes_ok_total{method="INVITE"}')" -ge 2 ]

# ---- 4. far-end refresh --------------------------------------------------------------
# the gateway leg is left alone (session_timer Off for A): only the caller's
# leg has a timer, and the gateway must see the media change but not the refresh
setup A:"session_timer = Off"
refreshes_before=$(metric far_end_refreshes_total)
gateway A st_gw_plain.xml
sleep 0.3
caller st_caller_far_refresh.xml; rc=$?
# (st_caller_far_refresh.xml checks the 200: Session-Expires 4;refresher=uas,
# Require: timer, the gateway's SDP v1; then the media change gets its v2)
check "4 caller: its same-SDP re-INVITE answered by the switch; UPDATE refresh; media change relayed ($rc)" \
    [ $rc -eq 0 ]
wait_gw A; rc=$?
check "4 gateway: the media change (v2) arrived, the refresh did not ($rc)" [ $rc -eq 0 ]
check "4 gateway: two INVITEs in all (the call's and the media change)" [ "$(times gw_A.msg received '^INVITE ' | wc -l)" = 2 ]
invite=$(message gw_A.msg received '^INVITE ')
check "4 gateway with session_timer Off: no Session-Expires, Min-SE or timer tag in its INVITE" \
    lacks "$invite" '^(Session-Expires|Min-SE|x):|timer'
answered=$(first_time caller.msg received '^SIP/2.0 200 .*(?s:.)*CSeq: 1 INVITE')
refreshed=$(first_time caller.msg received '^SIP/2.0 200 .*(?s:.)*CSeq: 2 INVITE')
update=$(first_time caller.msg received '^UPDATE ')
check "4 timer reset: the next refresh a period after the caller's ($(delta "$refreshed" "$update") s), not the answer ($(delta "$answered" "$update") s)" \
    all_of between 1.7 2.6 "$(delta "$refreshed" "$update")" :: between 2.9 4.0 "$(delta "$answered" "$update")"
check "4 metrics: one far-end refresh answered, one media change relayed" \
    all_of [ "$(metric far_end_refreshes_total)" = $((refreshes_before + 1)) ] :: [ "$(metric media_changes_total)" = 1 ]

check "clean shutdown" stop_switch
finish
