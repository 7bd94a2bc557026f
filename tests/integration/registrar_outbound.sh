#!/usr/bin/env bash
# Outbound registration against a sipp carrier registrar on 127.0.0.3
# (scenarios/registrar_outbound_carrier.xml): the first REGISTER is
# challenged and the answer's digest is right (checked by
# registrar_outbound_trace.py, MD5 then SHA-256 when both are offered); the
# carrier grants 4 s and the switch refreshes at half of it with the next
# nonce count; a 403 makes it retry after the retry delay (2 s in the test)
# plus at most 1 s of jitter; one Call-ID throughout, CSeq growing; a reload
# that drops the registration sends Expires: 0. Meanwhile an INVITE from
# the carrier for the registered contact is a call from the registration
# (call.account, no challenge, no [mapping]), and one for another user gets
# 403. Bad [registration] values stop --check naming file:line, section and key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
TRACE="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_outbound_trace.py"
CARRIER_PORT=$(free_port)
GW_gw=$(free_port)

# outbound_cfg [with-registration] [extra [registrar] lines...]
outbound_cfg() {
    local with=$1; shift
    write_cfg "load = registrar" "passthrough_headers = X-Customer-Ref" # gw_answer.xml checks it
    {
        printf '[registrar]\ndb =\nuser_agent_retry_delay = 2\nallow_short_intervals = On\n'
        for l in "$@"; do echo "$l"; done
        if [ "$with" = with-registration ]; then
            printf '[registration carrier1]\nregistrar = 127.0.0.3:%s\nuser = 4420\nauth_user = acct-77\n' \
                "$CARRIER_PORT"
            printf 'password = s3cret\ncontact_user = trunk1\nprivacy = id\n'
        fi
        printf '[gateway gw]\naddress = 127.0.0.1:%s\n' "$GW_gw"
    } >>"$WORK/sipswitch.cfg"
}
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call)
  if call.account == "carrier1" and call.source == "carrier1" then return { "gw" } end
  return call:reject(480, "not from the carrier")
end
LUA

# ---- bad values: --check names the file:line, the section and the key ---------------------------
# check_bad DESCRIPTION EXPECTED_REGEX [registration lines...]; "@KEY@" in the
# regex stands for the line number where "KEY =" was written
check_bad() {
    local what=$1 want=$2 out rc key n; shift 2
    write_cfg "load = registrar"
    printf '[registrar]\ndb =\n[account 1001]\npassword = x\n[registration %s]\n' "${NAME:-c1}" >>"$WORK/sipswitch.cfg"
    for l in "$@"; do echo "$l" >>"$WORK/sipswitch.cfg"; done
    while [[ $want =~ @([a-zA-Z_]+)@ ]]; do
        key=${BASH_REMATCH[1]}
        n=$(grep -n "^$key =" "$WORK/sipswitch.cfg" | tail -n1 | cut -d: -f1)
        want=${want//@$key@/$n}
    done
    out=$("$SW_BIN" --check -c "$WORK/sipswitch.cfg" --module-path "$top_builddir/modules" 2>&1); rc=$?
    if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qE "$want"; then pass "$what"; else fail "$what: exit $rc: $out"; fi
}
check_bad "a registrar that does not resolve is refused" \
    "sipswitch.cfg:@registrar@: \[registration c1\] registrar = 'nosuchhost.invalid': 'nosuchhost.invalid' does not resolve" \
    "registrar = nosuchhost.invalid" "user = 1" "password = p"
check_bad "a registrar with a bad port is refused" "sipswitch.cfg:@registrar@: \[registration c1\] registrar = '127.0.0.3:0'" \
    "registrar = 127.0.0.3:0" "user = 1" "password = p"
check_bad "SS_SIP_USER_AGENT_EXPIRE out of 20-7200 is refused" \
    "sipswitch.cfg:@SS_SIP_USER_AGENT_EXPIRE@: \[registration c1\] user_agent_expire = '10': Auto or 20-7200" \
    "registrar = 127.0.0.3" "user = 1" "password = p" "SS_SIP_USER_AGENT_EXPIRE = 10"
check_bad "a user that cannot stand in a URI is refused" "sipswitch.cfg:@user@: \[registration c1\] user = 'a b'" \
    "registrar = 127.0.0.3" "user = a b" "password = p"
check_bad "a missing password is refused with its line" "sipswitch.cfg:[0-9]+: .*password" \
    "registrar = 127.0.0.3" "user = 1"
NAME=1001 check_bad "a registration named like an account is refused" \
    "sipswitch.cfg:@registrar@: \[registration 1001\] an \[account 1001\] has the same name" "registrar = 127.0.0.3" "user = 1" "password = p"
write_cfg "load = registrar"
printf '[registrar]\ndb =\nSS_SIP_USER_AGENT_RETRY_DELAY = 2\n' >>"$WORK/sipswitch.cfg"
out=$("$SW_BIN" --check -c "$WORK/sipswitch.cfg" --module-path "$top_builddir/modules" 2>&1)
check "a retry delay below 30 s needs allow_short_intervals" \
    grep -qE "sipswitch.cfg:[0-9]+: \[registrar\] user_agent_retry_delay = 2 is below 30 s \(VOS3000 minimum\); allow_short_intervals = On" <<<"$out"

# ---- the registration ---------------------------------------------------------------------------
(cd "$WORK" && exec timeout 50 "$SIPP" -sf "$SC/registrar_outbound_carrier.xml" -i 127.0.0.3 -p "$CARRIER_PORT" \
    -m 1 -nostdin -key grant 4 -trace_msg -message_file carrier.msg -trace_err -error_file carrier.err \
    >"$WORK/carrier.out" 2>&1) </dev/null &
CARRIER_PID=$!
sleep 0.3
outbound_cfg with-registration
start_switch || exit 1

# ob FIELD: a field of GET /api/v1/registrations/outbound/carrier1
ob() {
    curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/registrations/outbound/carrier1" |
        ${PYTHON3:-python3} -c "import json,sys; v=json.load(sys.stdin).get('$1'); print('null' if v is None else v)"
}
# wait_for FIELD VALUE SECONDS
wait_for() {
    local i
    for i in $(seq 1 $(($3 * 10))); do [ "$(ob "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="sipswitch_registrar_$1" '$1==m {print $2}'; }

check "registered after the challenge: 4 s granted (the carrier's Contact expires)" \
    all_of wait_for state registered 5 :: wait_for expires 4 1 :: wait_for last_code 200 1
check "a 403 to a refresh: failed with last code 403, a retry planned within 3 s" \
    all_of wait_for state failed 10 :: wait_for last_code 403 1 :: wait_for next_action retry 1 :: wait_for failures 1 1
left=$(ob next_action_in)
check "  the retry is 2-3 s away ($left s)" awk -v l="$left" 'BEGIN { exit !(l > 0 && l <= 3.0) }'
check "registered again after the retry, granted 3600 s" all_of wait_for state registered 6 :: wait_for expires 3600 1
check "metrics: 1 registered, 0 failed, 6 REGISTERs sent, 1 failure" \
    all_of [ "$(metric outbound_registered)" = 1 ] :: [ "$(metric outbound_failed)" = 0 ] \
    :: [ "$(metric outbound_register_sent_total)" = 6 ] :: [ "$(metric outbound_failures_total)" = 1 ]
http_get /api/v1/registrations/outbound >/dev/null
check "GET /api/v1/registrations/outbound lists it" \
    ${PYTHON3:-python3} -c "import json; d=json.load(open('$WORK/http.body')); assert d['count'] == 1 and \
d['outbound'][0]['name'] == 'carrier1' and d['outbound'][0]['registrar'] == '127.0.0.3:$CARRIER_PORT'"
check "an unknown registration is 404" [ "$(http_get /api/v1/registrations/outbound/nope)" = 404 ]

# a reload the registrar refuses leaves the registration running as it was
call_id=$(ob call_id)
sed -i 's/^registrar = 127.0.0.3:.*/registrar = nosuchhost.invalid/' "$WORK/sipswitch.cfg"
http_post /api/v1/reload >/dev/null
check "a reload with a registrar that does not resolve is refused by the module, naming it" \
    grep -q "module 'registrar' refused the reload.*nosuchhost.invalid' does not resolve" "$WORK/sipswitch.log"
check "  and the registration runs on, unchanged" \
    all_of [ "$(ob state)" = registered ] :: [ "$(ob call_id)" = "$call_id" ] :: [ "$(ob in_flight)" = False ]
outbound_cfg with-registration

# ---- calls from the carrier ----------------------------------------------------------------------
carrier_calls() { # USER SCENARIO: an INVITE for sip:USER@switch from the carrier's address
    (cd "$WORK" && timeout 30 "$SIPP" -sf "$2" -i 127.0.0.3 -p "$(free_port)" -m 1 -nostdin -s "$1" -trace_msg \
        -message_file "call_$1.msg" -trace_err -error_file "call_$1.err" "127.0.0.1:$SIP_PORT" \
        >"$WORK/call_$1.out" 2>&1) </dev/null
}
for user in trunk1 4420; do
    gateway gw gw_answer.xml
    carrier_calls "$user" "$SC/call_uac.xml"
    rc=$?
    wait_gw gw
    gw_rc=$?
    check "an INVITE from the carrier for $user is the registration's call, not challenged (sipp $rc, gw $gw_rc)" \
        all_of [ $rc -eq 0 ] :: [ $gw_rc -eq 0 ] :: [ "$(grep -c '^SIP/2.0 40[17]' "$WORK/call_$user.msg")" = 0 ]
done
carrier_calls 9999 "$(fails_with 403)"
rc=$?
check "an INVITE from the carrier for another user is refused: 403 (sipp $rc)" [ $rc -eq 0 ]

# ---- a reload drops it: Expires: 0 ------------------------------------------------------------
outbound_cfg without
check "the reload is accepted" [ "$(http_post /api/v1/reload)" = 200 ]
wait "$CARRIER_PID"
carrier_rc=$?
check "the carrier's scenario ran to its end: unregister answered (sipp $carrier_rc)" [ $carrier_rc -eq 0 ]
check "the registration is gone from the API" [ "$(ob name)" = null ]

# ---- what the carrier saw ---------------------------------------------------------------------
$TRACE "$WORK/carrier.msg" --user acct-77 --password s3cret >"$WORK/trace.txt"
rc=$?
check "one Call-ID, CSeq growing (RFC 3261 10.2.4)" [ $rc -eq 0 ]
cat "$WORK/trace.txt"
register() { awk -v n="$1" '/recv REGISTER/ { if (++k == n) { print; exit } }' "$WORK/trace.txt"; }
sent() { awk -v c="$1" -v n="$2" '$2 == "sent" && $3 == c { if (++k == n) { print $1; exit } }' "$WORK/trace.txt"; }
at() { register "$1" | awk '{print $1}'; }
within() { awk -v a="$1" -v b="$2" -v lo="$3" -v hi="$4" 'BEGIN { d = b - a; exit !(d >= lo && d <= hi) }'; }
check "7 REGISTERs" [ "$(grep -c 'recv REGISTER' "$WORK/trace.txt")" = 7 ]
check "1: no credentials, Expires 3600 (Auto)" grep -q 'cseq=1 expires=3600 auth=none$' <<<"$(register 1)"
check "2: answers the MD5 challenge right (nc 1)" grep -q 'cseq=2 expires=3600 auth=ok alg=MD5 nc=1$' <<<"$(register 2)"
check "3: the refresh carries credentials with the next nonce count" \
    grep -q 'cseq=3 expires=3600 auth=ok alg=MD5 nc=2$' <<<"$(register 3)"
check "5: the retry after the 403 starts afresh" grep -q 'cseq=5 expires=3600 auth=none$' <<<"$(register 5)"
check "6: answers with SHA-256 when MD5 and SHA-256 are offered" \
    grep -q 'cseq=6 expires=3600 auth=ok alg=SHA-256 nc=1$' <<<"$(register 6)"
check "7: the unregister: Expires 0, with credentials" grep -q 'cseq=7 expires=0 auth=ok alg=SHA-256 nc=2$' <<<"$(register 7)"
check "refresh at half the 4 s granted: $(awk -v a="$(sent 200 1)" -v b="$(at 3)" 'BEGIN{print b-a}') s" \
    within "$(sent 200 1)" "$(at 3)" 1.9 2.4
check "and again: $(awk -v a="$(sent 200 2)" -v b="$(at 4)" 'BEGIN{print b-a}') s" within "$(sent 200 2)" "$(at 4)" 1.9 2.4
check "retry 2-3 s after the 403: $(awk -v a="$(sent 403 1)" -v b="$(at 5)" 'BEGIN{print b-a}') s" \
    within "$(sent 403 1)" "$(at 5)" 1.95 3.3
check "Privacy: id on every REGISTER (privacy = Id)" [ "$(grep -c '^Privacy: id' "$WORK/carrier.msg")" = 7 ]
check "To/From are the user at the registrar, the Contact the contact_user at the switch" \
    all_of grep -q "^To: <sip:4420@127.0.0.3:$CARRIER_PORT>" "$WORK/carrier.msg" \
    :: grep -q "^Contact: <sip:trunk1@127.0.0.1:$SIP_PORT>;expires=3600" "$WORK/carrier.msg"
check "the switch is still running" alive
stop_switch
rc=$?
check "SIGTERM: a clean exit (status $rc; under ASan: no leak)" [ $rc -eq 0 ]
finish
