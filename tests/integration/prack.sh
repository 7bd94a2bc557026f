#!/usr/bin/env bash
# 100rel/PRACK (RFC 3262) through the B2BUA. A caller that supports 100rel
# gets the gateway's reliable 183 reliably, under the A leg's own RSeq, and
# its PRACK reaches the gateway with the RAck mapped back to the gateway's
# RSeq. A caller without 100rel gets an ordinary 183 and the switch PRACKs
# the gateway itself, so the gateway still answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port)

write_cfg "load = gw_switch" "[mapping customer]" "source = 127.0.0.1" "[gateway A]" "address = 127.0.0.1:$GW_A"
printf 'function on_invite(call) return { "A" } end\n' >"$WORK/route.lua"
start_switch || { fail "start"; finish; }

# 1. pass-through: the caller PRACKs, the gateway gets it with its own RSeq
gateway A gw_answer_100rel.xml
sleep 0.3
caller call_uac_prack.xml; rc=$?
check "100rel caller: got a reliable 183 with the gateway's SDP, its PRACK was answered 200, the call connected ($rc)" \
    [ $rc -eq 0 ]
wait_gw A; rc=$?
check "gateway: got the PRACK with RAck 77 1 INVITE, then ACK and BYE ($rc)" [ $rc -eq 0 ]
invite=$(grep -A30 '^INVITE ' "$WORK/gw_A.msg" | sed -n '1,/^$/p')
check "gateway: the INVITE offered 100rel (Supported: 100rel)" grep -q '^Supported: 100rel' <<<"$invite"
rseq=$(grep -m1 '^RSeq:' "$WORK/caller.msg" | tr -dc 0-9)
check "caller: the 183's RSeq is the A leg's own number, not the gateway's 77 (got $rseq)" \
    all_of [ -n "$rseq" ] :: [ "$rseq" != 77 ]
check "gateway: the PRACK came inside its early dialog (its Contact, its To tag)" \
    grep -qE '^PRACK sip:gw@127\.0\.0\.1:'"$GW_A"' SIP/2.0' "$WORK/gw_A.msg"

# 2. a caller without 100rel: no Supported: 100rel toward the gateway; if
# the gateway sends a reliable 183 anyway, the switch PRACKs it and the
# caller gets an ordinary 183
gateway A gw_answer_100rel.xml
sleep 0.3
caller call_uac.xml; rc=$?
check "caller without 100rel: the call connected ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "gateway: the switch PRACKed its reliable 183 itself (RAck 77 1 INVITE) ($rc)" [ $rc -eq 0 ]
check "gateway: the INVITE did not offer 100rel" bash -c "! grep -q '^Supported: 100rel' '$WORK/gw_A.msg'"
check "caller: its 183 carried no Require: 100rel and no RSeq" bash -c "! grep -qE '^(RSeq|Require: 100rel)' '$WORK/caller.msg'"

# 3. a PRACK for a reliable provisional that does not exist gets 481
gateway A gw_ring_cancel.xml
sleep 0.3
sed -e 's/RAck: \[\$rseq\] 1 INVITE/RAck: 999999 1 INVITE/' -e 's/<recv response="183" rrs="true">/<recv response="180" rrs="true">/' \
    -e '/Require: 100rel" search_in/d' -e '/RSeq: (\[0-9\]+)/d' -e '/o=gateway" search_in="body"/d' \
    -e 's/<Reference variables="req,rseqline,early"\/>//' \
    "$SC/call_uac_prack.xml" >"$WORK/bad_prack.xml"
# after the 481 the caller gives up: end the scenario there
${PYTHON3:-python3} - "$WORK/bad_prack.xml" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
i = s.index('<recv response="200"/>')
s = s[:i] + '<recv response="481"/>\n</scenario>\n'
open(p, "w").write(s)
PY
caller "$WORK/bad_prack.xml"; rc=$?
check "a PRACK naming no reliable provisional: 481 ($rc)" [ $rc -eq 0 ]
# the call still rings: shutdown CANCELs the gateway's INVITE
check "clean shutdown" stop_switch
wait_gw A
finish
