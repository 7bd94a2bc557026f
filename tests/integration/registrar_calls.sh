#!/usr/bin/env bash
# Calls and the registrar: a registered phone calls (its INVITE is
# challenged, it answers with its digest, and the call is routed as its
# account's: call.account in the script, no [mapping] needed), with 401 and
# with 407; a phone that is not where it registered is not taken for the
# account; and a call to a registered phone behind NAT, routed by the
# script with sw.registrar.lookup, reaches the phone's NAT address with its
# registered contact as Request-URI. sipp plays the phones, the customer
# switch and the carrier; registrar_ua.py registers the phones.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
UA="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_ua.py --server 127.0.0.1:$SIP_PORT"
GW_gw=$(free_port)
PHONE_PORT=$(free_port)

registrar_cfg() { # extra [registrar] lines
    write_cfg "load = registrar"
    {
        printf '[registrar]\ndb =\n'
        for l in "$@"; do echo "$l"; done
        printf '[account 1001]\npassword = secret1001\n[account 2000]\npassword = secret2000\n'
        printf '[gateway gw]\naddress = 127.0.0.1:%s\n' "$GW_gw"
        printf '[mapping customer]\nsource = 127.0.0.2\n'
    } >>"$WORK/sipswitch.cfg"
}
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call)
  if call.account then
    if call.account ~= "1001" or call.source ~= "1001" then return call:reject(403, "unexpected account") end
    return { "gw" }
  end
  local device = sw.registrar.lookup(call.callee)
  if device then return { device } end
  return call:reject(404, "Not registered")
end
LUA
registrar_cfg
start_switch || exit 1
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="sipswitch_registrar_$1" '$1==m {print $2}'; }
# answering NAME PORT HOST:PORT: a sipp phone/gateway on PORT answering one
# call whose Request-URI must name HOST:PORT
answering() {
    sed "s/CONTACT_HOST/$(sed 's/\./\\\\./g' <<<"$3")/" "$SC/registrar_device_answer.xml" >"$WORK/answer_$1.xml"
    rm -f "$WORK/$1.msg"
    (cd "$WORK" && exec timeout 30 "$SIPP" -sf "answer_$1.xml" -i 127.0.0.1 -p "$2" -m 1 -nostdin \
        -trace_msg -message_file "$1.msg" -trace_err -error_file "$1.err" >"$WORK/$1.out" 2>&1) </dev/null &
    eval "PID_$1=$!"
    sleep 0.3
}
# phone_calls [SCENARIO]: phone 1001 calls 4420 from 127.0.0.1, answering a challenge
phone_calls() {
    (cd "$WORK" && timeout 30 "$SIPP" -sf "${1:-$SC/registrar_call_auth.xml}" -i 127.0.0.1 -p "$(free_port)" -m 1 \
        -nostdin -s 4420 -key user 1001 -au 1001 -ap secret1001 -trace_msg -message_file phone.msg \
        -trace_err -error_file phone.err "127.0.0.1:$SIP_PORT" >"$WORK/phone.out" 2>&1) </dev/null
}

# 1. a registered phone calls: 401, INVITE with digest, routed as 1001
$UA --user 1001 --password secret1001 >"$WORK/reg1001.out" 2>&1
check "1001 registered from 127.0.0.1" grep -q "^SIP/2.0 200" "$WORK/reg1001.out"
answering gw "$GW_gw" "127.0.0.1:$GW_gw"
phone_calls
rc=$?
wait "$PID_gw"
gw_rc=$?
check "the phone's INVITE is challenged (401) and its digest accepted: the call is answered (sipp $rc)" \
    all_of [ $rc -eq 0 ] :: grep -q "^SIP/2.0 401" "$WORK/phone.msg"
check "the script saw call.account = 1001 and routed it to the carrier (sipp $gw_rc)" [ $gw_rc -eq 0 ]

# 2. the same with SS_SIP_AUTHENTICATION_CODE = 407
registrar_cfg "SS_SIP_AUTHENTICATION_CODE = 407"
http_post /api/v1/reload >/dev/null
sed 's/response="401"/response="407"/' "$SC/registrar_call_auth.xml" >"$WORK/call_auth_407.xml"
answering gw "$GW_gw" "127.0.0.1:$GW_gw"
phone_calls "$WORK/call_auth_407.xml"
rc=$?
wait "$PID_gw"
check "with 407: Proxy-Authenticate, then Proxy-Authorization, answered (sipp $rc)" \
    all_of [ $rc -eq 0 ] :: grep -q "^Proxy-Authenticate: Digest" "$WORK/phone.msg" \
    :: grep -q "^Proxy-Authorization: Digest" "$WORK/phone.msg"
check "two INVITEs authenticated" [ "$(metric invites_authenticated_total)" = 2 ]

# 3. From 1001 but from an address it did not register from, without
# credentials: not challenged, and no [mapping] covers it: 403
(cd "$WORK" && timeout 30 "$SIPP" -sf "$(fails_with 403)" -i 127.0.0.5 -p "$(free_port)" -m 1 -nostdin -s 4420 \
    -trace_msg -message_file stranger.msg "127.0.0.1:$SIP_PORT" >"$WORK/stranger.out" 2>&1) </dev/null
rc=$?
check "an INVITE from 1001 elsewhere, without credentials, is not the account's: 403 (sipp $rc)" \
    all_of [ $rc -eq 0 ] :: [ "$(grep -c '^SIP/2.0 40[17]' "$WORK/stranger.msg")" = 0 ]

# 4. a call to a phone registered from behind NAT, routed by the script's
# lookup: the INVITE goes to the NAT address (the phone's socket), with the
# registered private contact as Request-URI
$UA --user 2000 --password secret2000 --bind "127.0.0.1:$PHONE_PORT" --via-host 192.168.1.20 --via-port 5060 \
    >"$WORK/reg2000.out" 2>&1
check "2000 registered from behind NAT" grep -q "^SIP/2.0 200" "$WORK/reg2000.out"
answering phone "$PHONE_PORT" "192.168.1.20:5060"
(cd "$WORK" && timeout 30 "$SIPP" -sf "$SC/registrar_caller.xml" -i 127.0.0.2 -p "$(free_port)" -m 1 -nostdin \
    -s 2000 -trace_msg -message_file customer.msg -trace_err "127.0.0.1:$SIP_PORT" >"$WORK/customer.out" 2>&1) \
    </dev/null
rc=$?
wait "$PID_phone"
phone_rc=$?
check "the customer's call to 2000 is answered by the phone (sipp $rc)" [ $rc -eq 0 ]
check "the phone got it on its NAT address, Request-URI sip:2000@192.168.1.20:5060 (sipp $phone_rc)" \
    all_of [ $phone_rc -eq 0 ] :: grep -q "^INVITE sip:2000@192.168.1.20:5060 SIP/2.0" "$WORK/phone.msg"
check "the switch is still running" alive
finish
