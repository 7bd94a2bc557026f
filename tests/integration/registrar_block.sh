#!/usr/bin/env bash
# Brute-force protection of the registrar (PARAMETERS.md section 4), carried
# out by the core: SS_AUTHENTICATION_MAX_RETRY failed authentications
# (REGISTER or INVITE) from one IP block it in the core's per-source table,
# so everything it sends is dropped before parsing (not even a 400 for
# garbage) until SS_AUTHENTICATION_FAILED_SUSPEND ends or
# DELETE /api/v1/blocked/<ip> lifts it; SS_ENDPOINT_REGISTER_RETRY failed
# registrations of an account from one IP suspend that pair, listed in the
# same GET /api/v1/blocked and lifted by DELETE /api/v1/blocked/<key>. A
# [mapping] source is never blocked. The suspend times are short
# (allow_short_intervals, for tests only) so the test sees a block end.
#
# Addresses: .3 blocked, ends by itself; .4 blocked through INVITEs, lifted
# by the API; .5 a [mapping] source (trusted); .6 an account suspended and
# lifted; .7 blocked and lifted through the registrar's old resource.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
UA="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_ua.py --server 127.0.0.1:$SIP_PORT --timeout 1"
SUSPEND=15

write_cfg "load = registrar" "[mapping trunk]" "source = 127.0.0.5"
cat >>"$WORK/sipswitch.cfg" <<EOF
[registrar]
db =
SS_AUTHENTICATION_MAX_RETRY = 3
SS_AUTHENTICATION_FAILED_SUSPEND = $SUSPEND
SS_ENDPOINT_REGISTER_RETRY = 2
SS_ENDPOINT_REGISTER_SUSPEND = $SUSPEND
[account 1001]
password = secret1001
[account 1002]
password = secret1002
EOF
printf 'function on_invite(call) return call:reject(480, "authenticated as " .. tostring(call.account)) end\n' \
    >"$WORK/route.lua"

# suspend times below 60 s need the opt-in
out=$("$SW_BIN" --check -c "$WORK/sipswitch.cfg" --module-path "$top_builddir/modules" 2>&1); rc=$?
check "suspend times below 60 s are refused without allow_short_intervals ($out)" \
    all_of [ $rc -ne 0 ] :: grep -qE "sipswitch.cfg:[0-9]+: \[registrar\] auth_failed_suspend = $SUSPEND is below 60 s.*allow_short_intervals = On" <<<"$out"
sed -i 's/^\[registrar\]$/[registrar]\nallow_short_intervals = On/' "$WORK/sipswitch.cfg"
start_switch || exit 1
check "allow_short_intervals: warned in the log" grep -q "allow_short_intervals: accepting suspend times below 60 s" \
    "$WORK/sipswitch.log"

reg() { local n=$1; shift; $UA "$@" >"$WORK/$n.out" 2>&1; }
responses() { grep -c '^SIP/2.0' "$WORK/$1.out"; }
has() { grep -q -- "$2" "$WORK/$1.out"; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
json() { ${PYTHON3:-python3} -c "import json,sys; d=json.load(open('$WORK/http.body')); print($1)"; }
blocked_json() { http_get /api/v1/blocked >/dev/null; json "$1"; }
options_from() { $UA --bind "$1:0" --method OPTIONS --user probe --no-contact >/dev/null 2>&1; }
ignored_from() { ! options_from "$1"; }
http_delete() { curl -s -o "$WORK/http.body" -w '%{http_code}' -X DELETE "http://127.0.0.1:$HTTP_PORT$1"; }
# garbage_from IP: a request with a CSeq that is no number from IP; prints
# the first line of the answer (the core answers it 400), or nothing
garbage_from() {
    ${PYTHON3:-python3} - "$1" "$SIP_PORT" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.settimeout(1.0)
port = s.getsockname()[1]
s.sendto(("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKjunk\r\n"
          "Max-Forwards: 70\r\nFrom: <sip:junk@127.0.0.1>;tag=j\r\nTo: <sip:x@127.0.0.1>\r\n"
          "Call-ID: junk@%s\r\nCSeq: many OPTIONS\r\nContent-Length: 0\r\n\r\n" % (sys.argv[1], port, sys.argv[1])
         ).encode(), ("127.0.0.1", int(sys.argv[2])))
try:
    print(s.recv(65535).decode(errors="replace").split("\r\n")[0])
except socket.timeout:
    pass
PY
}

check "before any failure, garbage from 127.0.0.3 gets 400" grep -q "^SIP/2.0 400 " <<<"$(garbage_from 127.0.0.3)"

# three failures from 127.0.0.3 (three accounts: none is suspended): the
# third is not answered, nor is anything after it, garbage included
reg w1 --bind 127.0.0.3:0 --user 1001 --password wrong
reg w2 --bind 127.0.0.3:0 --user 1002 --password wrong
check "two wrong passwords: answered 401 each time" all_of [ "$(responses w1)" = 2 ] :: [ "$(responses w2)" = 2 ]
reg w3 --bind 127.0.0.3:0 --user intruder --password wrong
rc=$?
blocked_at=$(date +%s.%N)
check "third failure from the IP: no answer to it (blocked)" all_of [ $rc -eq 3 ] :: [ "$(responses w3)" = 1 ]
check "a blocked IP's garbage gets no answer at all (dropped before parsing)" [ -z "$(garbage_from 127.0.0.3)" ]
check "... nor its OPTIONS" ignored_from 127.0.0.3
reg d1 --bind 127.0.0.3:0 --user 1002 --password secret1002
check "... nor a REGISTER with the right password" [ "$(responses d1)" = 0 ]
check "another IP is served" options_from 127.0.0.1
check "GET /api/v1/blocked lists 127.0.0.3: reason auth_failures, module registrar, time left" \
    [ "$(blocked_json "[(b['ip'], b['reason'], b['module'], 0 < b['remaining_seconds'] <= $SUSPEND, b['dropped'] >= 3)
                        for b in d['blocked']]")" = "[('127.0.0.3', 'auth_failures', 'registrar', True, True)]" ]
check "the core logs the block" grep -q "source 127.0.0.3 blocked by registrar (auth_failures) for $SUSPEND s" \
    "$WORK/sipswitch.log"
sleep 1.1 # gauges are refreshed every second
check "metrics: 1 address blocked, its drops counted as blocked, the registrar's gauge" \
    all_of [ "$(metric sipswitch_blocked_sources)" = 1 ] \
    :: [ "$(metric 'sipswitch_sip_dropped_total{reason="blocked"}')" -ge 3 ] \
    :: [ "$(metric sipswitch_registrar_blocked_ips)" = 1 ]
check "127.0.0.3 is still blocked" ignored_from 127.0.0.3

# INVITEs count too: 1002 registers from 127.0.0.4, its INVITEs are
# challenged, three wrong passwords block 127.0.0.4; the API lifts it
reg r4 --bind 127.0.0.4:0 --user 1002 --password secret1002
reg i4 --bind 127.0.0.4:0 --user 1002 --password secret1002 --method INVITE --ruri "sip:4420@127.0.0.1:$SIP_PORT"
check "an INVITE of a registered device is challenged, then taken as the account's call" \
    all_of has r4 "^SIP/2.0 200" :: has i4 "^SIP/2.0 401" :: has i4 "^SIP/2.0 480 authenticated as 1002"
for i in 1 2 3; do
    reg iw$i --bind 127.0.0.4:0 --user 1002 --password wrong --method INVITE --ruri "sip:4420@127.0.0.1:$SIP_PORT"
done
check "three INVITEs with a wrong password: 401, 401, then silence" \
    all_of [ "$(responses iw1)" = 2 ] :: [ "$(responses iw2)" = 2 ] :: [ "$(responses iw3)" = 1 ]
check "DELETE /api/v1/blocked/127.0.0.4: 200" [ "$(http_delete /api/v1/blocked/127.0.0.4)" = 200 ]
check "... it was the address's block" [ "$(json "(d['unblocked'], d['address'])")" = "(True, True)" ]
check "127.0.0.4 is served again at once" options_from 127.0.0.4
reg iw4 --bind 127.0.0.4:0 --user 1002 --password wrong --method INVITE --ruri "sip:4420@127.0.0.1:$SIP_PORT"
check "its failure count went with the block: one more failure is challenged, not dropped" [ "$(responses iw4)" = 2 ]
check "DELETE of an address that is not blocked: 404" [ "$(http_delete /api/v1/blocked/192.0.2.99)" = 404 ]

# two wrong passwords for 1001 from 127.0.0.6 suspend 1001 from there
reg s1 --bind 127.0.0.6:0 --user 1001 --password wrong
reg s2 --bind 127.0.0.6:0 --user 1001 --password wrong
reg s3 --bind 127.0.0.6:0 --user 1001 --password secret1001
check "1001 suspended from 127.0.0.6: 403 at once, even with the right password" \
    all_of has s3 "^SIP/2.0 403 Forbidden (registration suspended)" :: [ "$(responses s3)" = 1 ]
check "GET /api/v1/blocked lists the suspension" \
    [ "$(blocked_json "[(s['key'], s['account'], s['ip'], s['reason'], s['module'], s['failures'],
                         0 < s['remaining_seconds'] <= $SUSPEND) for s in d['suspended']]")" = \
      "[('1001@127.0.0.6', '1001', '127.0.0.6', 'register_failures', 'registrar', 2, True)]" ]
# (127.0.0.3's own block may have ended by now on a slow machine: only the
# suspended device's address matters here)
check "... and not as a blocked address" [ "$(json "'127.0.0.6' in [b['ip'] for b in d['blocked']]")" = False ]
check "DELETE /api/v1/blocked/1001@127.0.0.6: 200" [ "$(http_delete /api/v1/blocked/1001@127.0.0.6)" = 200 ]
check "... one suspension lifted" [ "$(json "(d['unblocked'], d['address'], d['suspensions'])")" = "(True, False, 1)" ]
reg s4 --bind 127.0.0.6:0 --user 1001 --password secret1001
check "1001 registers from 127.0.0.6 again" has s4 "^SIP/2.0 200"

# a [mapping] source is never blocked: six failures (two thresholds) from
# 127.0.0.5, each answered; the core says so once
for i in 1 2 3 4 5 6; do reg t$i --bind 127.0.0.5:0 --user "nobody$i" --password wrong; done
check "a [mapping] source: six failures, each challenged again" \
    all_of [ "$(cat "$WORK"/t?.out | grep -c '^SIP/2.0 401')" = 12 ]
check "... still served" options_from 127.0.0.5
check "... not listed" [ "$(blocked_json "[b['ip'] for b in d['blocked'] if b['ip'] == '127.0.0.5']")" = "[]" ]
check "... the core warned once" [ "$(grep -c "registrar asked to block 127.0.0.5 (auth_failures): not blocked, it is a trusted address" \
    "$WORK/sipswitch.log")" = 1 ]

# the registrar's own resource still lists and lifts (kept for scripts)
for u in 1001 1002 intruder; do reg a$u --bind 127.0.0.7:0 --user $u --password wrong; done
check "127.0.0.7 blocked" ignored_from 127.0.0.7
check "GET /api/v1/registrations/blocked (the module's view) lists 127.0.0.7" \
    all_of [ "$(http_get /api/v1/registrations/blocked)" = 200 ] :: \
    [ "$(json "[(b['ip'], b['failures']) for b in d['blocked_ips'] if b['ip'] == '127.0.0.7']")" = "[('127.0.0.7', 3)]" ]
check "DELETE /api/v1/registrations/blocked/127.0.0.7: 200" \
    [ "$(http_delete /api/v1/registrations/blocked/127.0.0.7)" = 200 ]
check "... lifts the core's block" options_from 127.0.0.7

sleep 1.1
check "metrics: the suspension lifted, the two refusals for a trusted address counted" \
    all_of [ "$(metric sipswitch_registrar_suspended_accounts)" = 0 ] \
    :: [ "$(metric sipswitch_registrar_trusted_not_blocked_total)" = 2 ]

# the suspend time ends 127.0.0.3's block by itself
${PYTHON3:-python3} -c "import time; time.sleep(max(0, $blocked_at + $SUSPEND + 0.3 - time.time()))"
check "after SS_AUTHENTICATION_FAILED_SUSPEND 127.0.0.3 is served again" options_from 127.0.0.3
reg back --bind 127.0.0.3:0 --user 1002 --password secret1002
check "... and registers" has back "^SIP/2.0 200"
check "... and is no longer listed" [ "$(blocked_json "d['count']")" = 0 ]
sleep 1.1
check "metrics: nothing blocked any more" \
    all_of [ "$(metric sipswitch_blocked_sources)" = 0 ] :: [ "$(metric sipswitch_registrar_blocked_ips)" = 0 ]
check "the switch is still running" alive
finish
