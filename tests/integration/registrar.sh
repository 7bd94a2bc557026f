#!/usr/bin/env bash
# The registrar module (doc/modules/registrar.md): REGISTER with digest MD5
# and SHA-256, wrong passwords, nonce replays, expiry capped for NAT and
# non-NAT devices, 423, several contacts with q, replace on and off, "*"
# removal, CSeq order, allowed_ips, 407 challenges, TCP, the Lua lookup,
# the management API and the metrics. A python device (registrar_ua.py)
# plays the phones: it can hash SHA-256 and claim a private Via/Contact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
UA="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_ua.py --server 127.0.0.1:$SIP_PORT"

registrar_cfg() { # extra [registrar] lines
    write_cfg "load = registrar"
    {
        echo "[registrar]"
        echo "db ="
        echo "SS_ENDPOINT_EXPIRE = 600"
        echo "SS_ENDPOINT_NAT_EXPIRE = 120"
        echo "min_expires = 30"
        echo "accounts_file = accounts.csv"
        for l in "$@"; do echo "$l"; done
        printf '[account 1001]\npassword = secret1001\n'
        printf '[account 1002]\npassword = secret1002\n'
        printf '[account 1003]\npassword = secret1003\nallowed_ips = 127.0.0.9, 10.0.0.0/8\n'
        printf '[mapping lab]\nsource = 127.0.0.1\n'
    } >>"$WORK/sipswitch.cfg"
}
printf '# name,password[,caller_number[,allowed_ips]]\n3000,secret3000,442070000000\n' >"$WORK/accounts.csv"
# the route script answers with what sw.registrar.lookup gives, in the reason phrase
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call)
  local d = sw.registrar.lookup(call.callee) or {}
  return call:reject(480, table.concat({tostring(d.uri), tostring(d.dest), tostring(d.account), tostring(d.behind_nat),
                                        tostring(d.gateway), math.type(d.expires) or "nil"}, " "))
end
LUA
# bad values: --check names file:line (the line the key is on) and the reason
bad_value() { # DESCRIPTION KEY EXPECTED_REASON [registrar lines...]
    local what=$1 key=$2 want=$3 out rc line; shift 3
    registrar_cfg "$@"
    line=$(grep -n "^$key = " "$WORK/sipswitch.cfg" | head -n1 | cut -d: -f1)
    out=$("$SW_BIN" --check -c "$WORK/sipswitch.cfg" --module-path "$top_builddir/modules" 2>&1); rc=$?
    if [ $rc -eq 1 ] && grep -qF "sipswitch.cfg:$line: $want" <<<"$out"; then pass "$what"; else fail "$what: $out"; fi
}
bad_value "a realm with a quote: file:line" realm '[registrar] realm must be' 'realm = a"b'
bad_value "an unknown digest algorithm: file:line" auth_algorithms \
    "[registrar] auth_algorithms: 'MD4' is not MD5 or SHA-256" 'auth_algorithms = MD4'
bad_value "allowed_ips that is not an address: file:line" allowed_ips \
    "[account 2001] allowed_ips: 'nowhere' is not an IP address or CIDR block" \
    '[account 2001]' 'password = p' 'allowed_ips = nowhere'

registrar_cfg
start_switch || exit 1

# reg NAME ARGS...: runs the device, its responses in $WORK/NAME.out, returns its status
reg() { local n=$1; shift; $UA "$@" >"$WORK/$n.out" 2>&1; }
# nth_response NAME N: the N-th response (1-based) the device printed
nth_response() { awk -v n="$2" 'BEGIN{RS="----\n"} NR==n' "$WORK/$1.out"; }
has() { grep -q -- "$2" "$WORK/$1.out"; }
# response_has NAME N REGEX: the N-th response matches
response_has() { nth_response "$1" "$2" | grep -q -- "$3"; }
json() { ${PYTHON3:-python3} -c "import json,sys; d=json.load(open('$WORK/http.body')); print($1)"; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="sipswitch_registrar_$1" '$1==m {print $2}'; }

# 1. MD5: the challenge offers MD5 first (devices that read only the first
# header know MD5), then SHA-256; the 200 lists the binding, capped to 600 s
reg md5 --user 1001 --password secret1001 --alg MD5 --expires 3600
rc=$?
check "MD5: 401 then 200 (rc $rc)" all_of [ $rc -eq 0 ] :: response_has md5 1 "^SIP/2.0 401"
check "the challenge offers MD5 then SHA-256, qop=auth" \
    grep -Pzq 'WWW-Authenticate: Digest realm="sipswitch", nonce="[0-9a-f]{64}", algorithm=MD5, qop="auth"\r?\nWWW-Authenticate: Digest realm="sipswitch", nonce="[0-9a-f]{64}", algorithm=SHA-256, qop="auth"' \
    "$WORK/md5.out"
check "200 lists the contact with the capped expiry (600, asked 3600) and Date" \
    all_of response_has md5 2 "^SIP/2.0 200" :: has md5 "Contact: <sip:1001@127.0.0.1:[0-9]*>;expires=600" \
    :: has md5 "^Date: .* GMT"

# 2. SHA-256
reg sha --user 1002 --password secret1002 --alg SHA-256 --expires 300
check "SHA-256: 200 (expires 300 as asked)" all_of [ $? -eq 0 ] :: has sha "^SIP/2.0 200" :: has sha ";expires=300"

reg file --user 3000 --password secret3000
check "an account of accounts_file registers" has file "^SIP/2.0 200"

# 3. a wrong password gets a new challenge, and counts as a failure
reg wrong --user 1002 --password nope --alg SHA-256
n1=$(nth_response wrong 1 | grep -o 'nonce="[0-9a-f]*"' | head -1)
n2=$(nth_response wrong 2 | grep -o 'nonce="[0-9a-f]*"' | head -1)
check "wrong password: 401 again, with a fresh nonce" \
    all_of response_has wrong 2 "^SIP/2.0 401" :: [ -n "$n2" ] :: [ "$n1" != "$n2" ]
reg unknown --user 9999 --password x
check "unknown account: 401 again (no hint that it does not exist)" response_has unknown 2 "^SIP/2.0 401"
check "auth failures counted (2)" [ "$(metric auth_failures_total)" = 2 ]

# 4. a replayed nonce count is challenged again, stale=true
reg replay --user 1002 --password secret1002 --alg SHA-256 --replay
check "replay: the second use of nc=00000001 gets 401 stale=true" \
    all_of response_has replay 2 "^SIP/2.0 200" :: response_has replay 3 "^SIP/2.0 401" \
    :: response_has replay 3 "stale=true"

# 5. behind NAT (private Via and Contact): capped to SS_ENDPOINT_NAT_EXPIRE,
# reached at the address it came from
reg nat --user 1002 --password secret1002 --via-host 192.168.1.20 --via-port 5060 --expires 3600 --call-id nat-1
check "NAT device: expiry capped to 120" has nat "Contact: <sip:1002@192.168.1.20:5060>;expires=120"
http_get "/api/v1/registrations?account=1002" >/dev/null
check "API: the NAT binding's dest is its source address" \
    [ "$(json "[ (r['behind_nat'], r['dest'] == 'udp:' + r['source']) for r in d['registrations'] if r['contact'].endswith('192.168.1.20:5060')]")" = "[(True, True)]" ]
reg port --user 1001 --password secret1001 --via-port 5099 --expires 3600 --call-id port-1
check "another Via port than the source port (RFC 3581) is NAT too" has port ";expires=120"

# 6. too short: 423 with Min-Expires
reg brief --user 1001 --password secret1001 --expires 10
check "expires 10 < min_expires: 423 Min-Expires: 30" all_of has brief "^SIP/2.0 423" :: has brief "^Min-Expires: 30"

# 7. several contacts with q values; lookup gives the preferred one
reg multi --user 1001 --password secret1001 --call-id port-1 --cseq 10 --no-contact \
    --contact '<sip:1001@127.0.0.1:5071>;q=0.3' --contact '<sip:1001@127.0.0.1:5072>;q=0.8, <sip:1001@127.0.0.1:5073>' \
    --expires 200
check "three contacts: the 200 lists them all (and the earlier one of this device)" \
    all_of has multi "<sip:1001@127.0.0.1:5071>;expires=200;q=0.300" :: has multi "<sip:1001@127.0.0.1:5072>;expires=200;q=0.800" \
    :: has multi "<sip:1001@127.0.0.1:5073>;expires=200\$" :: [ "$(nth_response multi 2 | grep -c '^Contact:')" = 4 ]
invite_to() { sip_udp - --template <<<"$(request_msg INVITE | sed "s/^INVITE sip:switch@/INVITE sip:$1@/")"; }
out=$(invite_to 1001)
check "lookup: no q counts as 1.0, the best one goes first (udp, its contact)" \
    grep -q "480 sip:1001@127.0.0.1:5073 udp:127.0.0.1:5073 1001 false device:1001 integer" <<<"$out"
out=$(invite_to sip:nobody)
check "lookup of an unregistered user: nil" grep -q "480 nil nil nil nil nil nil" <<<"$out"

# 8. CSeq out of order within one Call-ID: 500, nothing changed
reg order --user 1001 --password secret1001 --call-id port-1 --cseq 3 --no-contact \
    --contact '<sip:1001@127.0.0.1:5071>' --expires 200
check "CSeq lower than stored for the Call-ID: 500" has order "^SIP/2.0 500"

# 9. replace On (default): another device (other Call-ID and contact) replaces the bindings
reg other --user 1001 --password secret1001 --call-id phone-b --via-host 127.0.0.1 --via-port 5090 --expires 300
check "replace On: the new device's binding replaces the four old ones" \
    all_of has other "^SIP/2.0 200" :: [ "$(nth_response other 2 | grep -c '^Contact:')" = 1 ]
# replace Off (reload): a third device is refused while phone-b is bound
registrar_cfg "SS_ENDPOINT_REGISTER_REPLACE = Off"
check "reload with register_replace Off" [ "$(http_post /api/v1/reload)" = 200 ]
reg third --user 1001 --password secret1001 --call-id phone-c --via-port 5091 --expires 300
check "replace Off: another device gets 403" has third "^SIP/2.0 403 Forbidden (registered from another device)"
reg again --user 1001 --password secret1001 --call-id phone-b --cseq 20 --via-host 127.0.0.1 --via-port 5090 --expires 300
check "replace Off: the registered device still refreshes" has again "^SIP/2.0 200"

# 10. "*" removes every binding; "*" without Expires: 0 is refused
reg badstar --user 1001 --password secret1001 --call-id phone-b --cseq 30 --star --expires 60
check "Contact: * without Expires: 0 gets 400" has badstar "^SIP/2.0 400"
reg star --user 1001 --password secret1001 --call-id phone-b --cseq 40 --star --expires 0
check "Contact: * with Expires: 0: 200 without contacts" \
    all_of has star "^SIP/2.0 200" :: [ "$(nth_response star 2 | grep -c '^Contact:')" = 0 ]
http_get "/api/v1/registrations?account=1001" >/dev/null
check "... and the account has no binding left" [ "$(json "d['count']")" = 0 ]

# 11. allowed_ips
reg allowed --user 1003 --password secret1003
check "allowed_ips: another address gets 403 (no challenge)" \
    all_of has allowed "^SIP/2.0 403 Forbidden (address not allowed)" :: [ "$(grep -c '^SIP/2.0' "$WORK/allowed.out")" = 1 ]

# 12. TCP: reached over its connection
reg tcp --tcp --user 1001 --password secret1001 --expires 300 --call-id tcp-1
http_get "/api/v1/registrations?aor=sip:1001@example.com" >/dev/null
check "TCP: 200, dest is tcp: its connection's address" \
    all_of has tcp "^SIP/2.0 200" :: [ "$(json "d['registrations'][0]['dest'] == 'tcp:' + d['registrations'][0]['source']")" = True ]

# 13. the management API (1002: its NAT binding, which replaced the earlier
# ones of other devices; 1001: the TCP one; 3000)
http_get "/api/v1/registrations" >/dev/null
check "GET lists every binding (3)" all_of [ "$(json "d['total']")" = 3 ] :: [ "$(json "d['nat_bindings']")" = 1 ]
check "GET /registrations/<aor> gives that account's" \
    all_of [ "$(http_get /api/v1/registrations/sip:1002@example.com)" = 200 ] :: [ "$(json "d['count']")" = 1 ] \
    :: [ "$(json "d['registrations'][0]['account']")" = 1002 ]
http_get "/api/v1/registrations?account=1001" >/dev/null
id=$(json "d['registrations'][0]['id']")
delete() { curl -s -o "$WORK/http.body" -w '%{http_code}' -X DELETE "http://127.0.0.1:$HTTP_PORT/api/v1/registrations/$1"; }
check "DELETE one binding by id" all_of [ "$(delete "$id")" = 200 ] :: [ "$(json "d['removed']")" = 1 ]
check "DELETE an account's bindings" all_of [ "$(delete 1002)" = 200 ] :: [ "$(json "d['removed']")" = 1 ]
check "DELETE again: 404" [ "$(delete 1002)" = 404 ]
check "GET ?limit=abc: 400" [ "$(http_get "/api/v1/registrations?limit=abc")" = 400 ]
check "DELETE of the whole list: 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE \
    "http://127.0.0.1:$HTTP_PORT/api/v1/registrations")" = 405 ]

# 14. metrics (gauges are refreshed every second)
sleep 1.2
check "metrics: 3000's binding left, registrations and removals counted" \
    all_of [ "$(metric bindings)" = 1 ] :: [ "$(metric nat_bindings)" = 0 ] :: [ "$(metric registrations_total)" -ge 10 ] \
    :: [ "$(metric unregistrations_total)" -ge 6 ]

# 15. SS_SIP_AUTHENTICATION_CODE = 407: Proxy-Authenticate / Proxy-Authorization
registrar_cfg "SS_SIP_AUTHENTICATION_CODE = 407" "auth_algorithms = SHA-256"
http_post /api/v1/reload >/dev/null
reg proxy --user 1002 --password secret1002
check "407: Proxy-Authenticate offering SHA-256 alone, then 200" \
    all_of response_has proxy 1 "^SIP/2.0 407" :: has proxy "^Proxy-Authenticate: Digest .*algorithm=SHA-256" \
    :: [ "$(grep -c Authenticate: "$WORK/proxy.out")" = 1 ] :: response_has proxy 2 "^SIP/2.0 200"

check "the switch is still running" alive
finish
