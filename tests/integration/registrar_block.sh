#!/usr/bin/env bash
# Brute-force protection of the registrar (PARAMETERS.md section 4):
# SS_ENDPOINT_REGISTER_RETRY failed registrations of an account from one IP
# suspend that account from that IP; SS_AUTHENTICATION_MAX_RETRY failed
# authentications (REGISTER or INVITE) from one IP block the IP: everything
# it sends is dropped silently, until SS_AUTHENTICATION_FAILED_SUSPEND ends
# or the block is lifted through the API. Attackers play from 127.0.0.3 and
# 127.0.0.4; the suspend times are the shortest allowed (60 s), so this test
# waits about a minute for them to end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
UA="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_ua.py --server 127.0.0.1:$SIP_PORT --timeout 1"

write_cfg "load = registrar"
cat >>"$WORK/sipswitch.cfg" <<EOF
[registrar]
db =
SS_AUTHENTICATION_MAX_RETRY = 3
SS_AUTHENTICATION_FAILED_SUSPEND = 60
SS_ENDPOINT_REGISTER_RETRY = 2
SS_ENDPOINT_REGISTER_SUSPEND = 60
[account 1001]
password = secret1001
[account 1002]
password = secret1002
EOF
printf 'function on_invite(call) return call:reject(480, "authenticated as " .. tostring(call.account)) end\n' \
    >"$WORK/route.lua"
start_switch || exit 1

reg() { local n=$1; shift; $UA "$@" >"$WORK/$n.out" 2>&1; }
responses() { grep -c '^SIP/2.0' "$WORK/$1.out"; }
has() { grep -q -- "$2" "$WORK/$1.out"; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="sipswitch_registrar_$1" '$1==m {print $2}'; }
json() { ${PYTHON3:-python3} -c "import json,sys; d=json.load(open('$WORK/http.body')); print($1)"; }
options_from() { $UA --bind "$1:0" --method OPTIONS --user probe --no-contact >/dev/null 2>&1; }
ignored_from() { ! options_from "$1"; }

# two wrong passwords for 1001 from 127.0.0.3: 1001 is suspended from there
reg w1 --bind 127.0.0.3:0 --user 1001 --password wrong
reg w2 --bind 127.0.0.3:0 --user 1001 --password wrong
check "two wrong passwords: answered 401 each time" all_of [ "$(responses w1)" = 2 ] :: [ "$(responses w2)" = 2 ]
reg s1 --bind 127.0.0.3:0 --user 1001 --password secret1001
check "1001 suspended from 127.0.0.3: 403 at once, even with the right password" \
    all_of has s1 "^SIP/2.0 403 Forbidden (registration suspended)" :: [ "$(responses s1)" = 1 ]
reg ok1 --bind 127.0.0.1:0 --user 1001 --password secret1001
check "1001 still registers from another IP" has ok1 "^SIP/2.0 200"

# a third failure from 127.0.0.3 (another account): the IP is blocked, this
# very request is not answered, nor anything after it
reg w3 --bind 127.0.0.3:0 --user 1002 --password wrong
rc=$?
blocked_at=$(date +%s)
check "third failure from the IP: no answer to it (blocked)" all_of [ $rc -eq 3 ] :: [ "$(responses w3)" = 1 ]
check "a blocked IP gets nothing, even for OPTIONS" ignored_from 127.0.0.3
reg d1 --bind 127.0.0.3:0 --user 1002 --password secret1002
check "... nor for a REGISTER with the right password" [ "$(responses d1)" = 0 ]
check "another IP is served" options_from 127.0.0.1

# INVITEs count too: 1002 registers from 127.0.0.4, then its INVITEs are
# challenged and three wrong passwords block 127.0.0.4
reg r4 --bind 127.0.0.4:0 --user 1002 --password secret1002
check "1002 registers from 127.0.0.4" has r4 "^SIP/2.0 200"
reg i4 --bind 127.0.0.4:0 --user 1002 --password secret1002 --method INVITE --ruri "sip:4420@127.0.0.1:$SIP_PORT"
check "an INVITE of a registered device is challenged, then taken as the account's call" \
    all_of has i4 "^SIP/2.0 401" :: has i4 "^SIP/2.0 480 authenticated as 1002"
for i in 1 2 3; do
    reg iw$i --bind 127.0.0.4:0 --user 1002 --password wrong --method INVITE --ruri "sip:4420@127.0.0.1:$SIP_PORT"
done
check "three INVITEs with a wrong password: 401, 401, then silence" \
    all_of [ "$(responses iw1)" = 2 ] :: [ "$(responses iw2)" = 2 ] :: [ "$(responses iw3)" = 1 ]
check "127.0.0.4 is blocked" ignored_from 127.0.0.4

sleep 1.2 # gauges are refreshed every second
check "metrics: 2 blocked IPs, 1 suspension, dropped requests counted" \
    all_of [ "$(metric blocked_ips)" = 2 ] :: [ "$(metric suspended_accounts)" = 1 ] \
    :: [ "$(metric blocked_requests_total)" -ge 3 ] :: [ "$(metric auth_failures_total)" = 6 ]
check "GET /api/v1/registrations/blocked" [ "$(http_get /api/v1/registrations/blocked)" = 200 ]
check "... lists both IPs with their failures and time left" \
    [ "$(json "sorted((b['ip'], b['failures'], 0 < b['seconds_left'] <= 60) for b in d['blocked_ips'])")" = \
      "[('127.0.0.3', 3, True), ('127.0.0.4', 3, True)]" ]
check "... and the suspension of 1001 from 127.0.0.3" \
    [ "$(json "[(s['account'], s['ip']) for s in d['suspended']]")" = "[('1001', '127.0.0.3')]" ]

# lifted by the API
check "DELETE /api/v1/registrations/blocked/127.0.0.4" [ "$(curl -s -o "$WORK/http.body" -w '%{http_code}' \
    -X DELETE "http://127.0.0.1:$HTTP_PORT/api/v1/registrations/blocked/127.0.0.4")" = 200 ]
check "127.0.0.4 is served again at once" options_from 127.0.0.4
check "DELETE of an IP that is not blocked: 404" [ "$(curl -s -o /dev/null -w '%{http_code}' \
    -X DELETE "http://127.0.0.1:$HTTP_PORT/api/v1/registrations/blocked/192.0.2.99")" = 404 ]
check "127.0.0.3 is still blocked" ignored_from 127.0.0.3

# the suspend time ends the block and the suspension by itself
while [ $(($(date +%s) - blocked_at)) -lt 61 ]; do sleep 1; done
check "after SS_AUTHENTICATION_FAILED_SUSPEND 127.0.0.3 is served again" options_from 127.0.0.3
reg back --bind 127.0.0.3:0 --user 1001 --password secret1001
check "after SS_ENDPOINT_REGISTER_SUSPEND 1001 registers from 127.0.0.3 again" has back "^SIP/2.0 200"
sleep 1.2
check "metrics: nothing blocked or suspended any more" \
    all_of [ "$(metric blocked_ips)" = 0 ] :: [ "$(metric suspended_accounts)" = 0 ]
check "the switch is still running" alive
finish
